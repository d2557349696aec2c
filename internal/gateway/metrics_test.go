package gateway_test

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// metricValue is the value of the series of family name whose labels
// include want; ok is false when there is none.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	// A collector that fails (the SCIM token gauges without a database)
	// does not hide the others: Gather returns what it could collect.
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsInclude(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func labelsInclude(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TestTokenGrantMetrics: each token endpoint decision is counted by grant
// type, outcome and OAuth error code; a grant type the gateway does not
// know is "other", never the client's string.
func TestTokenGrantMetrics(t *testing.T) {
	env := startFlowGateway(t)
	reg := env.gw.Registry()
	issued := map[string]string{"grant_type": "token_exchange", "outcome": "issued", "error": "none"}
	_, ok := metricValue(t, reg, "gatehouse_oauth_token_grants_total", issued)
	require.False(t, ok, "nothing counted before the first request")

	env.exchangeJWT(t, "alice@example.com")
	env.exchangeJWT(t, "alice@example.com")
	v, ok := metricValue(t, reg, "gatehouse_oauth_token_grants_total", issued)
	require.True(t, ok)
	assert.Equal(t, 2.0, v)

	// The same exchange with a subject token for another audience.
	status, body := env.post(t, oauth.PathToken, "agent:s3cret", url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {env.externalJWT(t, "alice@example.com", "https://not-trusted.example")},
		"subject_token_type": {oauth.TokenTypeJWT},
		"audience":           {warehouse},
	})
	require.NotEqual(t, http.StatusOK, status)
	code := body["error"].(string)
	v, ok = metricValue(t, reg, "gatehouse_oauth_token_grants_total", map[string]string{"grant_type": "token_exchange", "outcome": "refused", "error": code})
	require.True(t, ok, "refusal counted with error %s", code)
	assert.Equal(t, 1.0, v)

	status, body = env.post(t, oauth.PathToken, "agent:s3cret", url.Values{"grant_type": {"urn:example:made-up"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, string(oauth.ErrUnsupportedGrantType), body["error"])
	v, ok = metricValue(t, reg, "gatehouse_oauth_token_grants_total", map[string]string{"grant_type": "other", "outcome": "refused", "error": string(oauth.ErrUnsupportedGrantType)})
	require.True(t, ok)
	assert.Equal(t, 1.0, v)
	_, ok = metricValue(t, reg, "gatehouse_oauth_token_grants_total", map[string]string{"grant_type": "urn:example:made-up"})
	assert.False(t, ok, "the client's grant_type never becomes a label value")
}

// TestSCIMRequestMetrics: SCIM requests are counted by resource, method
// and status class, those refused for want of a token too.
func TestSCIMRequestMetrics(t *testing.T) {
	env := startFlowGateway(t)
	reg := env.gw.Registry()
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", "")
	require.Equal(t, http.StatusCreated, status, string(body))
	var created map[string]any
	require.NoError(t, json.Unmarshal(body, &created))
	token := created["token"].(string)

	status, _ = env.scimDo(t, token, http.MethodGet, "/Users", "")
	require.Equal(t, http.StatusOK, status)
	status, _ = env.scimDo(t, token, http.MethodGet, "/Users/no-such-user", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = env.scimDo(t, "not-a-token", http.MethodGet, "/Groups", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = env.scimDo(t, token, http.MethodGet, "/Whatever-"+randomID(t), "")
	require.Equal(t, http.StatusNotFound, status)

	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"resource": "Users", "method": "GET", "status_class": "2xx"}, 1},
		{map[string]string{"resource": "Users", "method": "GET", "status_class": "4xx"}, 1},
		{map[string]string{"resource": "Groups", "method": "GET", "status_class": "4xx"}, 1},
		{map[string]string{"resource": "other", "method": "GET", "status_class": "4xx"}, 1},
	} {
		v, ok := metricValue(t, reg, "gatehouse_scim_requests_total", c.labels)
		require.True(t, ok, "%v", c.labels)
		assert.Equal(t, c.want, v, "%v", c.labels)
	}
}

// sqliteGateway builds a gateway on a SQLite store with the clock *now
// and sign_authn_requests on; it returns the gateway and the *sql.DB.
func sqliteGateway(t *testing.T, now *atomic.Pointer[time.Time]) (*gateway.Gateway, *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	writeUpstreamIdP(t, dir, srv.URL)
	cfg := loadGatewayConfig(t, dir, gatewayYAML(srv.URL, "  signing_alg: ES256\n", "sign_authn_requests: true", "metadata_refresh: 30m"))
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.Store.DSN.Value()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(t.Context(), db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	gw, err := gateway.New(t.Context(), cfg, gateway.Options{Store: st, Now: func() time.Time { return *now.Load() }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = gw.Close() })
	setHandler(gw.Handler())
	return gw, db
}

// TestExpiryAndMetadataMetrics: the scrape-time gauges are computed from
// the key rings, the IdP metadata and the clock.
func TestExpiryAndMetadataMetrics(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now().Truncate(time.Second)
	now.Store(&start)
	gw, db := sqliteGateway(t, &now)
	reg := gw.Registry()

	certs, err := gw.IdPCertificates(t.Context())
	require.NoError(t, err)
	require.Len(t, certs, 1)
	later := start.Add(90 * time.Minute)
	now.Store(&later)

	wantDays := certs[0].NotAfter.Sub(later).Hours() / 24
	v, ok := metricValue(t, reg, "gatehouse_certificate_expiry_days", map[string]string{"use": "idp_signing", "state": "current"})
	require.True(t, ok)
	assert.InDelta(t, wantDays, v, 1e-9)
	v, ok = metricValue(t, reg, "gatehouse_signing_key_age_days", map[string]string{"ring": "idp_signing", "state": "current"})
	require.True(t, ok)
	assert.InDelta(t, later.Sub(certs[0].NotBefore).Hours()/24, v, 1e-9)

	for _, use := range []string{"oauth_signing", "sp_signing", "idp_metadata"} {
		v, ok := metricValue(t, reg, "gatehouse_certificate_expiry_days", map[string]string{"use": use})
		require.True(t, ok, use)
		assert.Greater(t, v, 1.0, use)
	}
	_, ok = metricValue(t, reg, "gatehouse_certificate_expiry_days", map[string]string{"state": "next"})
	assert.False(t, ok, "no rotation under way: no next key")

	v, ok = metricValue(t, reg, "gatehouse_idp_metadata_age_seconds", nil)
	require.True(t, ok)
	assert.Equal(t, 5400.0, v, "loaded at start, read 90 minutes later")
	v, ok = metricValue(t, reg, "gatehouse_idp_metadata_refresh_interval_seconds", nil)
	require.True(t, ok)
	assert.Equal(t, 1800.0, v)
	v, ok = metricValue(t, reg, "gatehouse_ready", nil)
	require.True(t, ok)
	assert.Equal(t, 1.0, v)

	// The database goes away: not ready, and the requests that needed it
	// count as store errors.
	require.NoError(t, db.Close())
	v, _ = metricValue(t, reg, "gatehouse_ready", nil)
	assert.Equal(t, 0.0, v)
	req, err := http.NewRequest(http.MethodGet, "http://gatehouse.test/scim/v2/Users", nil)
	require.NoError(t, err)
	// A well-formed token, so that its lookup reaches the store.
	req.Header.Set("Authorization", "Bearer "+scimtoken.Prefix+base64.RawURLEncoding.EncodeToString(make([]byte, 32)))
	rec := &discardWriter{header: http.Header{}}
	gw.Handler().ServeHTTP(rec, req)
	assert.GreaterOrEqual(t, rec.status, 500)
	v, ok = metricValue(t, reg, "gatehouse_store_errors_total", map[string]string{"operation": "scim token by hash"})
	require.True(t, ok)
	assert.Equal(t, 1.0, v)
}

type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// promQLNames returns the metric names an expression refers to: its
// identifiers other than functions, keywords, label names and durations.
func promQLNames(expr string) []string {
	// Strings, label matchers and range/offset durations hold no metric
	// names.
	expr = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`).ReplaceAllString(expr, `""`)
	expr = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(expr, " ")
	expr = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(expr, " ")
	// Label lists of aggregations and vector matching.
	expr = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`).ReplaceAllString(expr, " ")
	keywords := map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true,
	}
	var out []string
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	for _, loc := range ident.FindAllStringIndex(expr, -1) {
		if loc[0] > 0 && strings.ContainsRune("0123456789.", rune(expr[loc[0]-1])) {
			continue // the exponent of a number (1e3)
		}
		name := expr[loc[0]:loc[1]]
		if strings.HasPrefix(strings.TrimLeft(expr[loc[1]:], " \t\n"), "(") || keywords[strings.ToLower(name)] {
			continue // a function call or a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestPromQLNames(t *testing.T) {
	assert.Equal(t, []string{"a_bucket", "b"},
		promQLNames(`histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{x="y",z=~"w"}[5m]))) > 1 and on (route) b offset 5m`))
	assert.Equal(t, []string{"c"}, promQLNames(`time() - max without (instance) (c) > 2 * 1e3`))
}

// registeredName reports whether reg has a metric family called name: a
// collector describing name with another help text is refused only then.
func registeredName(reg *prometheus.Registry, name string) bool {
	probe := probeCollector{prometheus.NewDesc(name, "drift probe", nil, nil)}
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

type probeCollector struct{ d *prometheus.Desc }

func (p probeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.d }
func (p probeCollector) Collect(chan<- prometheus.Metric)    {}

// TestObservabilityExamples: every expression of the example dashboard
// and alert rules names only metrics a gateway registers (histograms
// through their _bucket, _sum and _count series), so the examples cannot
// drift from the code. The gateway is built on SQLite so the store's
// metrics are registered too.
func TestObservabilityExamples(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	gw, _ := sqliteGateway(t, &now)
	reg := gw.Registry()
	// Prometheus adds these to every target.
	external := map[string]bool{"up": true}
	known := func(name string) bool {
		if external[name] || registeredName(reg, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && registeredName(reg, base) {
				return true
			}
		}
		return false
	}
	require.False(t, known("gatehouse_no_such_metric"), "the probe can fail")
	require.True(t, known("gatehouse_http_request_duration_seconds_bucket"))

	dir := filepath.Join("..", "..", "examples", "observability")
	raw, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				W, H int
			} `json:"gridPos"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.Title)
	require.NotEmpty(t, dash.UID)
	require.NotEmpty(t, dash.Panels)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		assert.False(t, ids[p.ID], "panel id %d repeated", p.ID)
		ids[p.ID] = true
		assert.NotEmpty(t, p.Title)
		assert.NotEmpty(t, p.Type, p.Title)
		assert.Positive(t, p.GridPos.W, p.Title)
		assert.Positive(t, p.GridPos.H, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			names := promQLNames(tg.Expr)
			assert.NotEmpty(t, names, "%s: %s", p.Title, tg.Expr)
			for _, n := range names {
				assert.True(t, known(n), "dashboard panel %q: %s is not a gateway metric", p.Title, n)
				used[n] = true
			}
		}
	}

	raw, err = os.ReadFile(filepath.Join(dir, "alerts.yml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rules))
	require.NotEmpty(t, rules.Groups)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			assert.False(t, alerts[r.Alert], "alert %s repeated", r.Alert)
			alerts[r.Alert] = true
			assert.Regexp(t, `^[A-Z][A-Za-z0-9]+$`, r.Alert)
			assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			if r.For != "" {
				_, err := time.ParseDuration(r.For)
				assert.NoError(t, err, r.Alert)
			}
			names := promQLNames(r.Expr)
			assert.NotEmpty(t, names, "%s: %s", r.Alert, r.Expr)
			for _, n := range names {
				assert.True(t, known(n), "alert %s: %s is not a gateway metric", r.Alert, n)
				used[n] = true
			}
		}
	}

	// The list: each is on the dashboard or in an alert.
	for _, n := range []string{
		"gatehouse_sp_signins_total", "gatehouse_oauth_token_grants_total", "gatehouse_scim_requests_total",
		"gatehouse_http_request_duration_seconds_bucket", "gatehouse_store_errors_total",
		"gatehouse_certificate_expiry_days", "gatehouse_signing_key_age_days", "gatehouse_scim_token_expiry_days",
		"gatehouse_idp_metadata_age_seconds", "gatehouse_app_metadata_last_success_timestamp_seconds", "gatehouse_ready",
	} {
		assert.True(t, used[n], "%s is not used by the examples", n)
	}
}
