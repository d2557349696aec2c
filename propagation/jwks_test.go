package propagation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksServer serves a replaceable JWKS body, or 500 while failing.
type jwksServer struct {
	mu      sync.Mutex
	body    []byte
	failing bool
	hits    int
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		if s.failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(body []byte, failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.failing = body, failing
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func remoteVerifier(t *testing.T, url string, clk *testClock, mut func(*RemoteKeySetConfig)) *Verifier {
	t.Helper()
	cfg := RemoteKeySetConfig{URL: url, Now: clk.now}
	if mut != nil {
		mut(&cfg)
	}
	ks, err := NewRemoteKeySet(cfg)
	require.NoError(t, err)
	return newTestVerifier(t, ks, func(c *VerifierConfig) { c.Now = clk.now })
}

func requireReason(t *testing.T, err error, r Reason) {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, r, ve.Reason, "detail: %v", err)
}

func TestRemoteKeySetRefreshOnUnknownKid(t *testing.T) {
	k1, k2, k3 := newTestKey(t, "k1"), newTestKey(t, "k2"), newTestKey(t, "k3")
	s := newJWKSServer(t, jwksJSON(t, k1))
	clk := &testClock{t: testNow}
	v := remoteVerifier(t, s.srv.URL, clk, nil)
	ctx := context.Background()

	_, err := v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, 1, s.count())

	// Rollover: k2 published; a token with kid k2 triggers one refetch.
	s.set(jwksJSON(t, k1, k2), false)
	clk.advance(2 * time.Minute)
	_, err = v.Verify(ctx, mintToken(t, k2, clk.now(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, 2, s.count())

	// Unknown kid right after: rate-limited, no fetch.
	_, err = v.Verify(ctx, mintToken(t, k3, clk.now(), nil, nil))
	requireReason(t, err, ReasonUnknownKey)
	require.Equal(t, 2, s.count())
	// Known kid still fine without fetching.
	_, err = v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, 2, s.count())

	// After the gap an unknown kid fetches again (and k3 is now published).
	s.set(jwksJSON(t, k1, k2, k3), false)
	clk.advance(61 * time.Second)
	_, err = v.Verify(ctx, mintToken(t, k3, clk.now(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, 3, s.count())
}

func TestRemoteKeySetStaleness(t *testing.T) {
	k1 := newTestKey(t, "k1")
	s := newJWKSServer(t, jwksJSON(t, k1))
	clk := &testClock{t: testNow}
	v := remoteVerifier(t, s.srv.URL, clk, nil)
	ctx := context.Background()

	_, err := v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	require.NoError(t, err)

	// JWKS endpoint fails: last good keys are kept after RefreshInterval.
	s.set(nil, true)
	clk.advance(6 * time.Minute)
	_, err = v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, 2, s.count(), "a refresh was attempted")

	// Past MaxStaleness without a successful fetch: fail closed.
	clk.advance(55 * time.Minute)
	_, err = v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	requireReason(t, err, ReasonKeysUnavailable)
	require.ErrorIs(t, err, ErrKeySetUnavailable)

	// Recovery once the endpoint answers again (after the retry gap).
	s.set(jwksJSON(t, k1), false)
	clk.advance(time.Minute)
	_, err = v.Verify(ctx, mintToken(t, k1, clk.now(), nil, nil))
	require.NoError(t, err)
}

func TestRemoteKeySetNoKeysYet(t *testing.T) {
	k1 := newTestKey(t, "k1")
	s := newJWKSServer(t, nil)
	s.set(nil, true)
	clk := &testClock{t: testNow}
	v := remoteVerifier(t, s.srv.URL, clk, nil)
	_, err := v.Verify(context.Background(), mintToken(t, k1, clk.now(), nil, nil))
	requireReason(t, err, ReasonKeysUnavailable)
}

func TestRemoteKeySetOversizedJWKS(t *testing.T) {
	k1 := newTestKey(t, "k1")
	body := jwksJSON(t, k1)
	s := newJWKSServer(t, body)
	clk := &testClock{t: testNow}
	tok := mintToken(t, k1, clk.now(), nil, nil)

	// Positive control: the cap equal to the body size works.
	ok := remoteVerifier(t, s.srv.URL, clk, func(c *RemoteKeySetConfig) { c.MaxBytes = int64(len(body)) })
	_, err := ok.Verify(context.Background(), tok)
	require.NoError(t, err)

	small := remoteVerifier(t, s.srv.URL, clk, func(c *RemoteKeySetConfig) { c.MaxBytes = int64(len(body)) - 1 })
	_, err = small.Verify(context.Background(), tok)
	requireReason(t, err, ReasonKeysUnavailable)
}

func TestRemoteKeySetRedirectToPlainHTTP(t *testing.T) {
	k1 := newTestKey(t, "k1")
	good := newJWKSServer(t, jwksJSON(t, k1))
	redirect := func(target string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	clk := &testClock{t: testNow}
	tok := mintToken(t, k1, clk.now(), nil, nil)

	// Positive control: a loopback redirect is followed.
	_, err := remoteVerifier(t, redirect(good.srv.URL).URL, clk, nil).Verify(context.Background(), tok)
	require.NoError(t, err)

	_, err = remoteVerifier(t, redirect("http://jwks.example.com/keys").URL, clk, nil).Verify(context.Background(), tok)
	requireReason(t, err, ReasonKeysUnavailable)
}

func TestNewRemoteKeySetURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://gatehouse.example.com/oauth/jwks", true},
		{"http://127.0.0.1:8080/oauth/jwks", true},
		{"http://localhost/oauth/jwks", true},
		{"http://[::1]/oauth/jwks", true},
		{"http://gatehouse.example.com/oauth/jwks", false},
		{"http://10.0.0.1/oauth/jwks", false},
		{"ftp://gatehouse.example.com/jwks", false},
		{"https://user:pw@gatehouse.example.com/jwks", false},
		{"/oauth/jwks", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := NewRemoteKeySet(RemoteKeySetConfig{URL: tt.url})
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
