package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// recordingAuditor keeps recorded events; fail makes Record fail.
type recordingAuditor struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (a *recordingAuditor) Record(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.events = append(a.events, e)
	return nil
}

// switchableStore is a memory token store that fails every call while
// down is set.
type switchableStore struct {
	*scimtoken.MemoryStore
	downSwitch
}

var errStoreDown = errors.New("token table is gone")

func (s *switchableStore) InsertToken(ctx context.Context, rec scimtoken.Record, maxActive int) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.InsertToken(ctx, rec, maxActive)
}

func (s *switchableStore) TokenByHash(ctx context.Context, hash string) (scimtoken.Record, error) {
	if err := s.err(); err != nil {
		return scimtoken.Record{}, err
	}
	return s.MemoryStore.TokenByHash(ctx, hash)
}

func (s *switchableStore) ListTokens(ctx context.Context) ([]scimtoken.Record, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.MemoryStore.ListTokens(ctx)
}

func (s *switchableStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.RevokeToken(ctx, id, at)
}

func (s *switchableStore) TouchToken(ctx context.Context, id string, at, staleBefore time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.MemoryStore.TouchToken(ctx, id, at, staleBefore)
}

// scimAPI serves the SCIM token endpoints and, behind the service's
// middleware, GET /scim/v2/Users (answering 200 with the audit actor).
type scimAPI struct {
	h     http.Handler
	store *switchableStore
	audit *recordingAuditor
	log   *bytes.Buffer

	mu  sync.Mutex
	now time.Time
}

func (a *scimAPI) Now() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *scimAPI) advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

func newSCIMAPI(t testing.TB) *scimAPI {
	t.Helper()
	a := &scimAPI{
		store: &switchableStore{MemoryStore: scimtoken.NewMemoryStore(), downSwitch: downSwitch{cause: errStoreDown}},
		audit: &recordingAuditor{}, log: &bytes.Buffer{}, now: testNow,
	}
	logger := slog.New(slog.NewJSONHandler(a.log, nil))
	svc, err := scimtoken.New(scimtoken.Config{Store: a.store, Auditor: a.audit, Now: a.Now, Logger: logger})
	require.NoError(t, err)
	mux := http.NewServeMux()
	SCIMTokenRoutes(mux, NewToken(adminSecret), svc, logger)
	mux.Handle("GET /scim/v2/Users", svc.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, scimtoken.Actor(r.Context()))
	})))
	a.h = mux
	return a
}

// do sends an admin request; contentType "" sends none.
func (a *scimAPI) do(t testing.TB, method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// scim sends GET /scim/v2/Users with a SCIM bearer token.
func (a *scimAPI) scim(token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

type createdToken struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	Name      string    `json:"name"`
}

func (a *scimAPI) create(t testing.TB, body string) createdToken {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	w := a.do(t, http.MethodPost, SCIMTokensPath, ct, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	return decodeJSON[createdToken](t, w)
}

func (a *scimAPI) list(t testing.TB) string {
	t.Helper()
	w := a.do(t, http.MethodGet, SCIMTokensPath, "", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	return w.Body.String()
}

func TestSCIMTokenCreateShowsTokenOnce(t *testing.T) {
	a := newSCIMAPI(t)
	w := a.do(t, http.MethodPost, SCIMTokensPath, "", "")
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw))
	assert.ElementsMatch(t, []string{"id", "token", "expires_at", "created_at"}, keys(raw))
	c := decodeJSON[createdToken](t, w)
	assert.Regexp(t, `^[0-9a-f]{32}$`, c.ID)
	assert.Regexp(t, `^ghscim_[A-Za-z0-9_-]{43}$`, c.Token)
	assert.Equal(t, testNow.Add(365*24*time.Hour), c.ExpiresAt)
	assert.Equal(t, testNow, c.CreatedAt)

	// The token works at once and is never shown again.
	got := a.scim(c.Token)
	assert.Equal(t, http.StatusOK, got.Code)
	assert.Equal(t, "scim:"+c.ID, got.Body.String())
	listed := a.list(t)
	assert.Contains(t, listed, c.ID)
	assert.NotContains(t, listed, c.Token[len("ghscim_"):])
	assert.NotContains(t, a.log.String(), c.Token[len("ghscim_"):])

	require.Len(t, a.audit.events, 1)
	assert.Equal(t, "scim_token.created", a.audit.events[0].Type)
	assert.Equal(t, "admin", a.audit.events[0].Actor)
	assert.Equal(t, c.ID, a.audit.events[0].Details["token_id"])
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSCIMTokenCreateBodies(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		wantName                string
		lifetime                time.Duration
	}{
		{"no body", "", "", "", 365 * 24 * time.Hour},
		{"empty JSON body", "application/json", "", "", 365 * 24 * time.Hour},
		{"empty object", "application/json", "{}", "", 365 * 24 * time.Hour},
		{"null", "application/json", "null", "", 365 * 24 * time.Hour},
		{"name and days", "application/json; charset=utf-8", `{"name":"Okta <prod>","expires_in_days":30}`, "Okta <prod>", 30 * 24 * time.Hour},
		{"one day", "application/json", `{"expires_in_days":1}`, "", 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newSCIMAPI(t)
			w := a.do(t, http.MethodPost, SCIMTokensPath, tc.contentType, tc.body)
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			c := decodeJSON[createdToken](t, w)
			assert.Equal(t, testNow.Add(tc.lifetime), c.ExpiresAt)
			assert.Equal(t, tc.wantName, c.Name)
		})
	}
}

func TestSCIMTokenCreateRejects(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", MaxSCIMTokenBody) + `"}`
	for _, tc := range []struct {
		name, contentType, body string
		chunked                 bool
		status                  int
		code, message           string
	}{
		{"fraction of a day", "application/json", `{"expires_in_days":0.5}`, false, 400, "invalid_request", "expires_in_days: must be a whole number of days, not number 0.5"},
		{"days as string", "application/json", `{"expires_in_days":"30"}`, false, 400, "invalid_request", "expires_in_days: must be a whole number of days, not string"},
		{"too many days", "application/json", `{"expires_in_days":366}`, false, 400, "invalid_request", "expires_in_days: must be between 1 and 365"},
		{"negative days", "application/json", `{"expires_in_days":-1}`, false, 400, "invalid_request", "expires_in_days: must be between 1 and 365"},
		{"control character", "application/json", `{"name":"a\u0007b"}`, false, 400, "invalid_request", "name: must not contain control characters"},
		{"long name", "application/json", `{"name":"` + strings.Repeat("n", 101) + `"}`, false, 400, "invalid_request", "name: longer than 100 characters"},
		{"name not a string", "application/json", `{"name":5}`, false, 400, "invalid_request", "name: must be a string, not number"},
		{"unknown field", "application/json", `{"colour":"red"}`, false, 400, "invalid_request", "colour: unknown field"},
		{"token given", "application/json", `{"token":"ghscim_mine"}`, false, 400, "invalid_request", "token: unknown field"},
		{"trailing data", "application/json", `{} {}`, false, 400, "invalid_request", "body: holds data after the JSON object"},
		{"array", "application/json", `[]`, false, 400, "invalid_request", "body: must be a JSON object, not array"},
		{"truncated", "application/json", `{"name":`, false, 400, "invalid_request", "body: truncated JSON"},
		{"malformed", "application/json", `{"name" 1}`, false, 400, "invalid_request", "body: malformed JSON at offset 9"},
		{"text body", "text/plain", `{}`, false, 415, "unsupported_media_type", "body: Content-Type must be application/json"},
		{"body without type", "", `{}`, false, 415, "unsupported_media_type", "body: Content-Type must be application/json"},
		{"too large", "application/json", big, false, 413, "request_too_large", "body: larger than 4096 bytes"},
		{"too large, chunked", "application/json", big, true, 413, "request_too_large", "body: larger than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newSCIMAPI(t)
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // unknown length
			}
			r := httptest.NewRequest(http.MethodPost, SCIMTokensPath, body)
			r.Header.Set("Authorization", "Bearer "+adminSecret)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if tc.chunked {
				require.Equal(t, int64(-1), r.ContentLength)
			}
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			e := decodeJSON[map[string]string](t, w)
			assert.Equal(t, map[string]string{"error": tc.code, "message": tc.message}, e)
			assert.JSONEq(t, `{"tokens":[],"max_active":2}`, a.list(t), "nothing was created")
			assert.Empty(t, a.audit.events)
		})
	}
}

func TestSCIMTokenLimit(t *testing.T) {
	a := newSCIMAPI(t)
	first := a.create(t, "")
	a.create(t, `{"name":"second"}`)
	w := a.do(t, http.MethodPost, SCIMTokensPath, "", "")
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Equal(t, map[string]string{
		"error":   "conflict",
		"message": "at most 2 SCIM tokens can be active at once: revoke one (DELETE /api/v1/admin/scim-tokens/{id}) before creating another",
	}, decodeJSON[map[string]string](t, w))

	require.Equal(t, http.StatusNoContent, a.do(t, http.MethodDelete, SCIMTokensPath+"/"+first.ID, "", "").Code)
	a.create(t, "")
}

func TestSCIMTokenList(t *testing.T) {
	a := newSCIMAPI(t)
	long := a.create(t, `{"name":"Okta"}`)
	a.advance(time.Hour)
	soon := a.create(t, `{"name":"Entra","expires_in_days":20}`)
	a.advance(time.Hour)
	require.Equal(t, http.StatusOK, a.scim(soon.Token).Code)
	a.advance(time.Hour)

	assert.JSONEq(t, `{"max_active":2,"tokens":[
		{"id":"`+long.ID+`","name":"Okta","created_at":"2026-05-06T07:08:09Z","expires_at":"2027-05-06T07:08:09Z",
		 "last_used_at":null,"days_left":364,"status":"active"},
		{"id":"`+soon.ID+`","name":"Entra","created_at":"2026-05-06T08:08:09Z","expires_at":"2026-05-26T08:08:09Z",
		 "last_used_at":"2026-05-06T09:08:09Z","days_left":19,"status":"active",
		 "warning":"expires at 2026-05-26T08:08:09Z (in 19 days): create a new token, configure it in the identity provider, then revoke this one"}
	]}`, a.list(t))

	a.advance(20 * 24 * time.Hour)
	var got struct {
		Tokens []map[string]any `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.list(t)), &got))
	require.Len(t, got.Tokens, 2)
	assert.Equal(t, "expired", got.Tokens[1]["status"])
	assert.Equal(t, float64(0), got.Tokens[1]["days_left"])
	assert.Equal(t, "expired at 2026-05-26T08:08:09Z: SCIM requests with this token are refused; create a new token, configure it in the identity provider, then revoke this one", got.Tokens[1]["warning"])
	assert.Equal(t, http.StatusUnauthorized, a.scim(soon.Token).Code)
	assert.Equal(t, http.StatusOK, a.scim(long.Token).Code)
}

func TestSCIMTokenRevoke(t *testing.T) {
	a := newSCIMAPI(t)
	c := a.create(t, "")
	other := a.create(t, "")
	require.Equal(t, http.StatusOK, a.scim(c.Token).Code)

	w := a.do(t, http.MethodDelete, SCIMTokensPath+"/"+c.ID, "", "")
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, w.Body.String())
	refused := a.scim(c.Token)
	assert.Equal(t, http.StatusUnauthorized, refused.Code, "refused at once")
	assert.JSONEq(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"a valid SCIM bearer token is required"}`, refused.Body.String())
	assert.Equal(t, http.StatusOK, a.scim(other.Token).Code, "the other token still works")

	listed := a.list(t)
	assert.NotContains(t, listed, c.ID)
	assert.Contains(t, listed, other.ID)
	require.Len(t, a.audit.events, 3)
	assert.Equal(t, "scim_token.revoked", a.audit.events[2].Type)
	assert.Equal(t, c.ID, a.audit.events[2].Details["token_id"])

	for name, id := range map[string]string{
		"revoked again": c.ID,
		"unknown":       strings.Repeat("0", 32),
		"malformed":     "not-an-id",
	} {
		w := a.do(t, http.MethodDelete, SCIMTokensPath+"/"+id, "", "")
		assert.Equal(t, http.StatusNotFound, w.Code, name)
		assert.Equal(t, map[string]string{"error": "not_found", "message": "no unrevoked SCIM token has this ID"}, decodeJSON[map[string]string](t, w), name)
	}
	assert.Len(t, a.audit.events, 3)
}

func TestSCIMTokenRequiresAdminToken(t *testing.T) {
	a := newSCIMAPI(t)
	c := a.create(t, "")
	for _, tc := range []struct{ method, path, auth string }{
		{http.MethodPost, SCIMTokensPath, ""},
		{http.MethodGet, SCIMTokensPath, ""},
		{http.MethodDelete, SCIMTokensPath + "/" + c.ID, ""},
		{http.MethodPost, SCIMTokensPath, "Bearer " + c.Token},
		{http.MethodGet, SCIMTokensPath, "Bearer " + c.Token},
		{http.MethodDelete, SCIMTokensPath + "/" + c.ID, "Bearer " + c.Token},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		a.h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusUnauthorized, w.Code, tc.method+" "+tc.auth)
		assert.NotContains(t, w.Body.String(), "ghscim_")
	}
	assert.Len(t, a.audit.events, 1, "nothing changed")
	assert.Equal(t, http.StatusOK, a.scim(c.Token).Code)
}

func TestSCIMTokenStoreDown(t *testing.T) {
	a := newSCIMAPI(t)
	c := a.create(t, "")
	a.store.setDown(true)
	for _, tc := range []struct{ method, path, message string }{
		{http.MethodPost, SCIMTokensPath, "the token store is unavailable; no token was created"},
		{http.MethodGet, SCIMTokensPath, "the token store is unavailable"},
		{http.MethodDelete, SCIMTokensPath + "/" + c.ID, "the token store is unavailable; the token was not revoked"},
	} {
		w := a.do(t, tc.method, tc.path, "", "")
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, tc.method)
		assert.Equal(t, map[string]string{"error": "unavailable", "message": tc.message}, decodeJSON[map[string]string](t, w))
	}
	assert.Contains(t, a.log.String(), errStoreDown.Error(), "the cause goes to the log")
	scim := a.scim(c.Token)
	assert.Equal(t, http.StatusServiceUnavailable, scim.Code, "SCIM fails closed")
	assert.JSONEq(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"the service is temporarily unavailable; try again later"}`, scim.Body.String())

	a.store.setDown(false)
	assert.Equal(t, http.StatusOK, a.scim(c.Token).Code, "positive control")
}

func TestSCIMTokenAuditDown(t *testing.T) {
	a := newSCIMAPI(t)
	c := a.create(t, "")
	a.audit.fail = errors.New("audit store down")

	w := a.do(t, http.MethodPost, SCIMTokensPath, "", "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, map[string]string{"error": "unavailable", "message": "the audit log is unavailable; no token was created"}, decodeJSON[map[string]string](t, w))
	assert.NotContains(t, w.Body.String(), "ghscim_")
	var list struct {
		Tokens []map[string]any `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.list(t)), &list))
	require.Len(t, list.Tokens, 1, "only the first token exists")

	w = a.do(t, http.MethodDelete, SCIMTokensPath+"/"+c.ID, "", "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, map[string]string{"error": "unavailable", "message": "the token is revoked, but the audit log could not record the revocation"}, decodeJSON[map[string]string](t, w))
	assert.Equal(t, http.StatusUnauthorized, a.scim(c.Token).Code, "the revocation stands")
}

// FuzzCreateSCIMToken posts arbitrary JSON bodies: the answer is 201 with
// a token, or a 4xx JSON error; never a 5xx or a panic, and a rejected
// body creates nothing.
func FuzzCreateSCIMToken(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"name":"okta","expires_in_days":30}`, `{"expires_in_days":0}`,
		`{"expires_in_days":1e3}`, `{"name":"\u0000"}`, `{"name":"a"}{}`, `[]`, `"x"`, `{"colour":1}`,
		`{"expires_in_days":9223372036854775807}`, `{"name":"` + strings.Repeat("é", 100) + `"}`,
	} {
		f.Add(s)
	}
	a := newSCIMAPI(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := a.do(t, http.MethodPost, SCIMTokensPath, "application/json", body)
		switch {
		case w.Code == http.StatusCreated:
			c := decodeJSON[createdToken](t, w)
			if !strings.HasPrefix(c.Token, "ghscim_") || c.ID == "" {
				t.Fatalf("201 without a token: %s", w.Body.String())
			}
			// Free the place for the next input.
			if d := a.do(t, http.MethodDelete, SCIMTokensPath+"/"+c.ID, "", ""); d.Code != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", d.Code, d.Body.String())
			}
		case w.Code >= 400 && w.Code < 500:
			if w.Code == http.StatusConflict {
				t.Fatalf("409 although every token was revoked: %s", w.Body.String())
			}
			e := decodeJSON[map[string]string](t, w)
			if e["error"] == "" || !strings.Contains(e["message"], ": ") {
				t.Fatalf("%d with body %s", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
	})
}
