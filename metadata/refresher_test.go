package metadata

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docServer serves whatever document or status it was last told to.
type docServer struct {
	mu     sync.Mutex
	body   []byte
	status int
	hits   int
}

func (s *docServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, []byte(body)
}

func (s *docServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func (s *docServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}

// testDocs returns the base document, a second valid copy of the same entity
// with another signing key, and the signing certificates' common names.
func testDocs(t testing.TB) (docA, docB string) {
	docA, certs := baseIdP(t)
	docB = strings.Replace(docA, b64(certs["test-idp"]), b64(certs["okta"]), 1)
	require.NotEqual(t, docA, docB)
	return docA, docB
}

func signerCN(md *IdPMetadata) string {
	if md == nil {
		return "<nil>"
	}
	return strings.TrimSuffix(md.SigningCertificates[0].Subject.CommonName, ".metadata.test")
}

// logBuffer is a concurrency-safe slog destination.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNewRefresherValidation(t *testing.T) {
	valid := func() RefresherConfig { return RefresherConfig{URL: "https://idp.example.com/metadata"} }
	tests := []struct {
		name   string
		mutate func(c *RefresherConfig)
		ok     bool
	}{
		{"url", func(*RefresherConfig) {}, true},
		{"file", func(c *RefresherConfig) { c.URL, c.File = "", "idp.xml" }, true},
		{"loopback http", func(c *RefresherConfig) { c.URL = "http://127.0.0.1:9/md" }, true},
		{"neither", func(c *RefresherConfig) { c.URL = "" }, false},
		{"both", func(c *RefresherConfig) { c.File = "idp.xml" }, false},
		{"http url", func(c *RefresherConfig) { c.URL = "http://idp.example.com/metadata" }, false},
		{"interval below a minute", func(c *RefresherConfig) { c.Interval = 59 * time.Second }, false},
		{"interval of a minute", func(c *RefresherConfig) { c.Interval = time.Minute }, true},
		{"negative interval", func(c *RefresherConfig) { c.Interval = -time.Hour }, false},
		{"staleness below twice the interval", func(c *RefresherConfig) { c.Interval, c.MaxStaleness = time.Hour, 119*time.Minute }, false},
		{"staleness twice the interval", func(c *RefresherConfig) { c.Interval, c.MaxStaleness = time.Hour, 2*time.Hour }, true},
		{"default staleness below twice a long interval", func(c *RefresherConfig) { c.Interval = 4 * 24 * time.Hour }, false},
		{"negative timeout", func(c *RefresherConfig) { c.Timeout = -time.Second }, false},
		{"negative max bytes", func(c *RefresherConfig) { c.MaxBytes = -1 }, false},
		{"cache path equals file", func(c *RefresherConfig) { c.URL, c.File, c.CachePath = "", "idp.xml", "idp.xml" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mutate(&cfg)
			r, err := NewRefresher(cfg)
			if tc.ok {
				require.NoError(t, err)
				assert.Nil(t, r.Current(), "nothing is loaded before Load")
				assert.True(t, r.LastSuccess().IsZero())
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, r)
		})
	}
}

func TestRefresherLoad(t *testing.T) {
	docA, _ := testDocs(t)
	now := testNow
	clock := func() time.Time { return now }

	type setup struct {
		status    int
		body      string
		cache     string        // "" = no cache file
		cacheAge  time.Duration // age of the cache file
		noCache   bool          // no CachePath configured
		entitySel string
	}
	tests := []struct {
		name      string
		setup     setup
		wantErr   error
		errHas    []string // substrings the error must name
		fromCache bool
	}{
		{name: "from source", setup: setup{status: 200, body: docA}},
		{name: "source down, fresh cache", setup: setup{status: 503, cache: docA, cacheAge: time.Hour}, fromCache: true},
		{name: "source down, cache at the bound", setup: setup{status: 503, cache: docA, cacheAge: DefaultMaxStaleness}, fromCache: true},
		{name: "source down, cache too old", setup: setup{status: 503, cache: docA, cacheAge: DefaultMaxStaleness + time.Second},
			wantErr: ErrStale, errHas: []string{"cache.xml", "/md"}},
		{name: "source down, no cache file", setup: setup{status: 503}, wantErr: os.ErrNotExist, errHas: []string{"cache.xml", "/md"}},
		{name: "source down, no cache configured", setup: setup{status: 503, noCache: true}, wantErr: ErrHTTPStatus, errHas: []string{"/md"}},
		{name: "source invalid, fresh cache", setup: setup{status: 200, body: "<nope/>", cache: docA, cacheAge: time.Minute}, fromCache: true},
		{name: "source down, cache invalid", setup: setup{status: 503, cache: "garbage", cacheAge: time.Minute}, wantErr: ErrUnsafeXML},
		{name: "source down, cache expired", setup: setup{status: 503, cacheAge: time.Minute,
			cache: strings.Replace(docA, "2030-01-01T00:00:00Z", "2026-06-01T00:00:00Z", 1)}, wantErr: ErrExpired},
		{name: "source down, cache of another entity", setup: setup{status: 503, cache: docA, cacheAge: time.Minute,
			entitySel: "https://other.test/saml"}, wantErr: ErrEntityNotFound},
		{name: "source expired", setup: setup{status: 200, noCache: true,
			body: strings.Replace(docA, "2030-01-01T00:00:00Z", "2026-06-01T00:00:00Z", 1)}, wantErr: ErrExpired, errHas: []string{"/md"}},
		{name: "source too large", setup: setup{status: 200, noCache: true, body: docA + strings.Repeat(" ", int(DefaultMaxBytes))},
			wantErr: ErrTooLarge, errHas: []string{"/md"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := &docServer{}
			ds.set(tc.setup.status, tc.setup.body)
			srv := httptest.NewServer(ds)
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			cachePath := filepath.Join(dir, "cache.xml")
			if tc.setup.cache != "" {
				require.NoError(t, os.WriteFile(cachePath, []byte(tc.setup.cache), 0o600))
				mt := now.Add(-tc.setup.cacheAge)
				require.NoError(t, os.Chtimes(cachePath, mt, mt))
			}
			cfg := RefresherConfig{URL: srv.URL + "/md", CachePath: cachePath, Now: clock, EntityID: tc.setup.entitySel}
			if tc.setup.noCache {
				cfg.CachePath = ""
			}
			var updates []*IdPMetadata
			cfg.OnUpdate = func(md *IdPMetadata) { updates = append(updates, md) }
			logs := &logBuffer{}
			cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			r, err := NewRefresher(cfg)
			require.NoError(t, err)

			err = r.Load(context.Background())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				for _, s := range tc.errHas {
					assert.Contains(t, err.Error(), s)
				}
				assert.Nil(t, r.Current())
				assert.Empty(t, updates)
				return
			}
			require.NoError(t, err)
			md := r.Current()
			require.NotNil(t, md)
			assert.Equal(t, "https://idp.test/saml", md.EntityID)
			assert.Equal(t, []*IdPMetadata{md}, updates)
			if tc.fromCache {
				assert.Equal(t, now.Add(-tc.setup.cacheAge).Unix(), r.LastSuccess().Unix(), "age counts from the cached fetch")
				assert.Contains(t, logs.String(), "using the cached copy")
				return
			}
			assert.Equal(t, now, r.LastSuccess())
			if cfg.CachePath != "" {
				fi, err := os.Stat(cachePath)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
				assert.Equal(t, now.Unix(), fi.ModTime().Unix(), "cache mtime is the fetch time")
				got, err := os.ReadFile(cachePath)
				require.NoError(t, err)
				assert.Equal(t, docA, string(got))
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				assert.Len(t, entries, 1, "no temporary file left behind")
			}
		})
	}
}

func TestRefresherFileSource(t *testing.T) {
	docA, docB := testDocs(t)
	path := filepath.Join(t.TempDir(), "idp.xml")
	r, err := NewRefresher(RefresherConfig{File: path, Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	err = r.Load(context.Background())
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), path)

	require.NoError(t, os.WriteFile(path, []byte(docA), 0o600))
	require.NoError(t, r.Load(context.Background()))
	assert.Equal(t, "test-idp", signerCN(r.Current()))

	require.NoError(t, os.WriteFile(path, []byte(docB), 0o600))
	require.NoError(t, r.Load(context.Background()))
	assert.Equal(t, "okta", signerCN(r.Current()))

	// A broken file never replaces the good copy.
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(docB, "</md:EntityDescriptor>", "", 1)), 0o600))
	require.ErrorIs(t, r.Load(context.Background()), ErrUnsafeXML)
	assert.Equal(t, "okta", signerCN(r.Current()))
}

func TestRefresherCurrentHonoursValidUntil(t *testing.T) {
	docA, _ := testDocs(t)
	doc := strings.Replace(docA, "2030-01-01T00:00:00Z", "2026-06-01T13:00:00Z", 1)
	path := filepath.Join(t.TempDir(), "idp.xml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	now := testNow
	r, err := NewRefresher(RefresherConfig{File: path, Now: func() time.Time { return now }})
	require.NoError(t, err)
	require.NoError(t, r.Load(context.Background()))
	require.NotNil(t, r.Current())
	now = testNow.Add(59 * time.Minute)
	require.NotNil(t, r.Current())
	now = testNow.Add(time.Hour)
	assert.Nil(t, r.Current(), "validUntil has passed")
}

// memListener is an in-memory net.Listener, so that an httptest server can
// run inside a synctest bubble (network I/O is not durably blocking).
type memListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *memListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestRefresherLoop drives the refresh loop with the fake clock of a synctest
// bubble: updates are picked up each Interval, failures keep the last good
// copy and are counted, staleness is bounded, and the loop stops with ctx.
func TestRefresherLoop(t *testing.T) {
	docA, docB := testDocs(t)
	synctest.Test(t, func(t *testing.T) {
		ds := &docServer{}
		ds.set(http.StatusOK, docA)
		ln := newMemListener()
		srv := httptest.NewUnstartedServer(ds)
		require.NoError(t, srv.Listener.Close())
		srv.Listener = ln
		srv.Start()
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{DialContext: ln.DialContext}}
		defer client.CloseIdleConnections()

		var updates []string
		cache := filepath.Join(t.TempDir(), "idp.xml")
		logs := &logBuffer{}
		r, err := NewRefresher(RefresherConfig{
			Logger:       slog.New(slog.NewTextHandler(logs, nil)),
			URL:          srv.URL + "/metadata",
			Client:       client,
			Interval:     time.Hour,
			MaxStaleness: 3 * time.Hour,
			CachePath:    cache,
			OnUpdate:     func(md *IdPMetadata) { updates = append(updates, signerCN(md)) },
		})
		require.NoError(t, err)

		// Nothing runs before Load and Start.
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		assert.Zero(t, ds.requests())
		assert.Nil(t, r.Current())

		start := time.Now()
		require.NoError(t, r.Load(t.Context()))
		assert.Equal(t, 1, ds.requests())
		assert.Equal(t, "test-idp", signerCN(r.Current()))
		assert.Equal(t, start, r.LastSuccess())

		ctx, cancel := context.WithCancel(t.Context())
		r.Start(ctx)
		r.Start(ctx) // a second Start does nothing

		// Just before the first tick, nothing has been fetched again.
		ds.set(http.StatusOK, docB)
		time.Sleep(time.Hour - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 1, ds.requests())
		assert.Equal(t, "test-idp", signerCN(r.Current()))

		// First tick: the new copy replaces the old one.
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 2, ds.requests())
		assert.Equal(t, "okta", signerCN(r.Current()))
		assert.Equal(t, start.Add(time.Hour), r.LastSuccess())
		assert.Equal(t, []string{"test-idp", "okta"}, updates)

		// Unchanged bytes: LastSuccess moves, OnUpdate is not called.
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, start.Add(2*time.Hour), r.LastSuccess())
		assert.Equal(t, []string{"test-idp", "okta"}, updates)
		good := r.Current()

		// Failures of every kind keep the last good copy and are counted.
		failures := []struct {
			status int
			body   string
		}{
			{http.StatusInternalServerError, "down"},
			{http.StatusOK, "<not-metadata/>"},
			{http.StatusOK, strings.Replace(docB, "https://idp.test/saml", "https://other.test/saml", 1)},
		}
		for i, f := range failures {
			ds.set(f.status, f.body)
			time.Sleep(time.Hour)
			synctest.Wait()
			assert.Equal(t, uint64(i+1), r.RefreshFailures())
			if i < 2 {
				assert.Same(t, good, r.Current(), "failure %d must keep the last good copy", i)
			}
		}
		assert.Equal(t, start.Add(2*time.Hour), r.LastSuccess())
		assert.Equal(t, 3, strings.Count(logs.String(), "refresh failed, keeping the last good copy"))
		assert.Contains(t, logs.String(), "entity ID changed")
		// Three failed hours after the last success: past MaxStaleness.
		assert.Equal(t, 3*time.Hour, time.Since(r.LastSuccess()))
		assert.Same(t, good, r.Current(), "exactly at the bound the copy is still usable")
		time.Sleep(time.Second)
		assert.Nil(t, r.Current(), "staleness is bounded")

		got, err := os.ReadFile(cache)
		require.NoError(t, err)
		assert.Equal(t, docB, string(got), "the cache holds the last good copy")

		// Recovery.
		ds.set(http.StatusOK, docA)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, "test-idp", signerCN(r.Current()))
		assert.Equal(t, uint64(3), r.RefreshFailures())
		assert.Equal(t, []string{"test-idp", "okta", "test-idp"}, updates)

		cancel()
		<-r.Done()
		n := ds.requests()
		time.Sleep(10 * time.Hour)
		synctest.Wait()
		assert.Equal(t, n, ds.requests(), "no refresh after ctx is done")
	})
}

func TestRefresherCacheWriteFailureIsNotFatal(t *testing.T) {
	docA, _ := testDocs(t)
	ds := &docServer{}
	ds.set(http.StatusOK, docA)
	srv := httptest.NewServer(ds)
	t.Cleanup(srv.Close)
	logs := &logBuffer{}
	r, err := NewRefresher(RefresherConfig{
		URL:       srv.URL,
		CachePath: filepath.Join(t.TempDir(), "missing-folder", "idp.xml"),
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		Now:       func() time.Time { return testNow },
	})
	require.NoError(t, err)
	require.NoError(t, r.Load(context.Background()))
	assert.NotNil(t, r.Current())
	assert.Contains(t, logs.String(), "writing the cached copy failed")
}
