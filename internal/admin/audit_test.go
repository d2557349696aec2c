package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

type fakeAudit struct {
	got  audit.Query
	evs  []audit.Event
	fail error
}

func (f *fakeAudit) Query(_ context.Context, q audit.Query) ([]audit.Event, error) {
	f.got = q
	return f.evs, f.fail
}

const auditToken = "0123456789abcdef0123456789abcdef-audit"

func auditServer(t *testing.T, f *fakeAudit) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	AuditRoutes(mux, NewToken(auditToken), f, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func auditGet(t *testing.T, srv *httptest.Server, query, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+AuditPath+query, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestAuditQueryParameters(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeAudit{}
	srv := auditServer(t, f)
	status, _ := auditGet(t, srv, "?type=oauth.&outcome=failure&actor=client:bi&subject=u1&client_id=bi&since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z&before=42&limit=10", auditToken)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, audit.Query{
		Type: "oauth.", Outcome: audit.Failure, Actor: "client:bi", Subject: "u1", ClientID: "bi",
		Since: since, Until: since.Add(24 * time.Hour), Before: 42, Limit: 10,
	}, f.got)
}

func TestAuditQueryRejects(t *testing.T) {
	for _, tc := range []struct{ query, field string }{
		{"?outcome=maybe", "outcome"},
		{"?since=yesterday", "since"},
		{"?until=2026-11-01", "until"},
		{"?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "until"},
		{"?before=0", "before"},
		{"?before=x", "before"},
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?subject=a&subject=b", "subject"},
		{"?colour=red", "colour"},
		{"?subject=" + strings.Repeat("a", maxAuditParam+1), "subject"},
	} {
		t.Run(tc.query[:min(len(tc.query), 40)], func(t *testing.T) {
			f := &fakeAudit{}
			status, body := auditGet(t, auditServer(t, f), tc.query, auditToken)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_request", body["error"])
			assert.True(t, strings.HasPrefix(body["message"].(string), tc.field+":"), body["message"])
			assert.Equal(t, audit.Query{}, f.got, "the log was not queried")
		})
	}
}

func TestAuditQueryRequiresToken(t *testing.T) {
	f := &fakeAudit{}
	srv := auditServer(t, f)
	for _, tok := range []string{"", "wrong-token-wrong-token-wrong-token"} {
		status, _ := auditGet(t, srv, "", tok)
		assert.Equal(t, http.StatusUnauthorized, status)
	}
}

func TestAuditQueryPaging(t *testing.T) {
	evs := make([]audit.Event, 3)
	for i := range evs {
		evs[i] = audit.Event{ID: int64(10 - i), Type: "oauth.token", Outcome: audit.Success, Subject: "u1", Time: time.Unix(1700000000, 0)}
	}
	f := &fakeAudit{evs: evs}
	srv := auditServer(t, f)
	status, body := auditGet(t, srv, "?limit=3", auditToken)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body["events"], 3)
	assert.Equal(t, "8", body["next"], "a full page names the cursor")

	status, body = auditGet(t, srv, "?limit=4", auditToken)
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "next", "a short page is the last")
}

func TestAuditQueryStoreFailure(t *testing.T) {
	status, body := auditGet(t, auditServer(t, &fakeAudit{fail: errors.New("db down")}), "", auditToken)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "unavailable", body["error"])
	assert.NotContains(t, body["message"], "db down")
}

func FuzzParseAuditQuery(f *testing.F) {
	f.Add("type=oauth.&limit=10")
	f.Add("since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z")
	f.Add("before=9223372036854775807")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseAuditQuery(raw)
		if err != nil {
			return
		}
		if q.Limit < 0 || q.Limit > audit.MaxLimit || q.Before < 0 {
			t.Fatalf("out of range query accepted: %+v", q)
		}
	})
}
