package apps_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// spMetadata returns valid SP metadata for entityID with one HTTP-POST ACS.
func spMetadata(t testing.TB, entityID, acsURL string, encryption bool) []byte {
	t.Helper()
	sp, err := samltest.NewSP(entityID, acsURL)
	require.NoError(t, err)
	md, err := sp.Metadata(false, encryption)
	require.NoError(t, err)
	return md
}

// mdServer serves whatever body and status it is set to.
type mdServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   []byte
	hits   atomic.Int64
}

func newMDServer(t testing.TB, body []byte) *mdServer {
	t.Helper()
	s := &mdServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *mdServer) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// logBuffer collects log output safely across goroutines.
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

type harness struct {
	reg   *apps.Registry
	store *memory.Store
	prom  *prometheus.Registry
	logs  *logBuffer
}

// newHarness builds a Registry over a memory store (or the given one)
// with its own metrics registry and log buffer; cfg's Store, Registerer
// and Logger are filled in when empty.
func newHarness(t testing.TB, cfg apps.Config) *harness {
	t.Helper()
	h := &harness{prom: prometheus.NewRegistry(), logs: &logBuffer{}}
	if cfg.Store == nil {
		h.store = memory.New()
		cfg.Store = h.store
	}
	if cfg.Registerer == nil {
		cfg.Registerer = h.prom
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	}
	reg, err := apps.New(cfg)
	require.NoError(t, err)
	h.reg = reg
	return h
}

// metric returns the value of a gatehouse_app_* series for app, and
// whether it exists.
func (h *harness) metric(t testing.TB, name, app string) (float64, bool) {
	t.Helper()
	mfs, err := h.prom.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "app" && l.GetValue() == app {
					if c := m.GetCounter(); c != nil {
						return c.GetValue(), true
					}
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func hasLog(l *logBuffer, substr string) bool { return strings.Contains(l.String(), substr) }
