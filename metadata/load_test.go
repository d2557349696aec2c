package metadata

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://idp.example.com/metadata", true},
		{"HTTPS://idp.example.com/metadata", true},
		{"https://idp.example.com:8443/md?x=1", true},
		{"http://127.0.0.1/md", true},
		{"http://127.10.20.30:8080/md", true},
		{"http://localhost:8080/md", true},
		{"http://LOCALHOST/md", true},
		{"http://[::1]:8080/md", true},
		{"http://[::ffff:127.0.0.1]/md", true},
		{"http://idp.example.com/md", false},
		{"http://128.0.0.1/md", false},
		{"http://10.0.0.1/md", false},
		{"http://[::2]/md", false},
		{"http://localhost.evil.test/md", false},
		{"http://127.0.0.1.nip.io/md", false},
		{"http://[::1%25lo]/md", false},
		{"ftp://idp.example.com/md", false},
		{"file:///etc/passwd", false},
		{"https:idp.example.com", false},
		{"//idp.example.com/md", false},
		{"/md", false},
		{"https:///md", false},
		{"https://user:pass@idp.example.com/md", false},
		{"https://idp.example.com/md#frag", false},
		{"https://idp.example.com/md#", false},
		{"", false},
		{"https://idp.example.com/\x7f", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := checkURL(tc.url)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInsecureURL)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "idp.xml")
	require.NoError(t, os.WriteFile(path, []byte("0123456789"), 0o600))

	b, err := LoadFile(path, 10)
	require.NoError(t, err, "exactly at the cap")
	assert.Equal(t, "0123456789", string(b))

	_, err = LoadFile(path, 9)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), path)

	b, err = LoadFile(path, 0)
	require.NoError(t, err, "0 means DefaultMaxBytes")
	assert.Len(t, b, 10)

	big := filepath.Join(dir, "big.xml")
	require.NoError(t, os.WriteFile(big, make([]byte, DefaultMaxBytes+1), 0o600))
	_, err = LoadFile(big, 0)
	require.ErrorIs(t, err, ErrTooLarge)

	_, err = LoadFile(filepath.Join(dir, "missing.xml"), 0)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "missing.xml")

	_, err = LoadFile(dir, 0)
	require.Error(t, err, "a folder is not a metadata file")
	assert.Contains(t, err.Error(), dir)
}

// failTransport fails the test if a request is ever sent.
type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request to %s", r.URL)
	return nil, errors.New("no network in this test")
}

func TestFetch(t *testing.T) {
	const body = "<md:EntityDescriptor/>"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		assert.Contains(t, r.Header.Get("Accept"), "application/samlmetadata+xml")
		_, _ = w.Write([]byte(body))
	})
	mux.HandleFunc("GET /exact", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 101)))
	})
	mux.HandleFunc("GET /big-chunked", func(w http.ResponseWriter, _ *http.Request) {
		for range 101 {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /missing", http.NotFound)
	mux.HandleFunc("GET /error", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /no-content", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /redirect-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("GET /redirect-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://idp.example.com/metadata", http.StatusFound)
	})
	mux.HandleFunc("GET /redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		path string
		max  int64
		want error // nil: body expected
		body string
		msg  string // an error containing msg expected
	}{
		{name: "ok", path: "/ok", body: body},
		{name: "exactly at the cap", path: "/exact", max: 100, body: strings.Repeat("x", 100)},
		{name: "over the cap", path: "/big", max: 100, want: ErrTooLarge},
		{name: "over the cap without Content-Length", path: "/big-chunked", max: 100, want: ErrTooLarge},
		{name: "404", path: "/missing", want: ErrHTTPStatus},
		{name: "500", path: "/error", want: ErrHTTPStatus},
		{name: "204", path: "/no-content", want: ErrHTTPStatus},
		{name: "redirect on loopback", path: "/redirect-local", body: body},
		{name: "redirect to http", path: "/redirect-http", want: ErrInsecureURL},
		{name: "redirect loop", path: "/redirect-loop", msg: "stopped after 5 redirects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := srv.URL + tc.path
			b, err := Fetch(context.Background(), srv.Client(), u, tc.max)
			if tc.msg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)
				return
			}
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Contains(t, err.Error(), u, "errors name the URL")
				assert.Nil(t, b)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(b))
		})
	}

	t.Run("client's own CheckRedirect still runs", func(t *testing.T) {
		c := *srv.Client()
		called := false
		c.CheckRedirect = func(*http.Request, []*http.Request) error {
			called = true
			return errors.New("no redirects here")
		}
		_, err := Fetch(context.Background(), &c, srv.URL+"/redirect-local", 0)
		require.Error(t, err)
		assert.True(t, called)
	})

	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Fetch(ctx, srv.Client(), srv.URL+"/ok", 0)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("nil client", func(t *testing.T) {
		b, err := Fetch(context.Background(), nil, srv.URL+"/ok", 0)
		require.NoError(t, err)
		assert.Equal(t, body, string(b))
	})
}

func TestFetchTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("tls"))
	}))
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "https://"))
	b, err := Fetch(context.Background(), srv.Client(), srv.URL+"/md", 0)
	require.NoError(t, err)
	assert.Equal(t, "tls", string(b))

	// The same server without its test CA: the certificate is verified.
	_, err = Fetch(context.Background(), &http.Client{}, srv.URL+"/md", 0)
	require.Error(t, err)
}

func TestFetchRejectsBeforeDialing(t *testing.T) {
	client := &http.Client{Transport: failTransport{t}}
	for _, u := range []string{
		"http://idp.example.com/metadata",
		"ftp://idp.example.com/metadata",
		"https://user:secret@idp.example.com/metadata",
		"/metadata",
	} {
		_, err := Fetch(context.Background(), client, u, 0)
		require.ErrorIs(t, err, ErrInsecureURL, u)
		assert.NotContains(t, err.Error(), "secret", "passwords are redacted")
	}
}
