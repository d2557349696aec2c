package scimtoken

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// protected is a /scim/v2 handler behind f.svc.Require that answers 200
// with the request's audit actor.
func (f *fixture) protected(t *testing.T) (http.Handler, *int) {
	t.Helper()
	calls := 0
	return f.svc.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		info, ok := TokenFrom(r.Context())
		require.True(t, ok)
		w.Header().Set("X-Token-ID", info.ID)
		_, _ = w.Write([]byte(Actor(r.Context())))
	})), &calls
}

func scimRequest(h http.Handler, authorization ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const unauthorizedBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"a valid SCIM bearer token is required"}`

func TestRequire(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{})
	other, err := f.svc.Create(t.Context(), CreateRequest{})
	require.NoError(t, err)
	require.NoError(t, f.svc.Revoke(t.Context(), other.ID))
	unknown, _ := newToken()
	h, calls := f.protected(t)

	for _, tc := range []struct {
		name      string
		headers   []string
		reason    Reason
		challenge string
	}{
		{"valid", []string{"Bearer " + c.Token}, "", ""},
		{"lowercase scheme", []string{"bearer " + c.Token}, "", ""},
		{"missing", nil, ReasonMissing, `Bearer realm="scim"`},
		{"empty header", []string{""}, ReasonMissing, `Bearer realm="scim"`},
		{"basic", []string{"Basic " + c.Token}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"empty bearer", []string{"Bearer "}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"two spaces", []string{"Bearer  " + c.Token}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"trailing data", []string{"Bearer " + c.Token + " x"}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"overlong", []string{"Bearer " + c.Token + strings.Repeat("A", MaxAuthorizationLength)}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"two headers", []string{"Bearer " + c.Token, "Bearer " + c.Token}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"not a token", []string{"Bearer abc"}, ReasonMalformed, `Bearer realm="scim", error="invalid_token"`},
		{"unknown", []string{"Bearer " + unknown}, ReasonUnknown, `Bearer realm="scim", error="invalid_token"`},
		{"revoked", []string{"Bearer " + other.Token}, ReasonRevoked, `Bearer realm="scim", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := *calls
			failures := testutil.ToFloat64(f.svc.failures.WithLabelValues(string(tc.reason)))
			w := scimRequest(h, tc.headers...)
			if tc.reason == "" {
				assert.Equal(t, http.StatusOK, w.Code)
				assert.Equal(t, "scim:"+c.ID, w.Body.String())
				assert.Equal(t, c.ID, w.Header().Get("X-Token-ID"))
				assert.Equal(t, before+1, *calls)
				return
			}
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.JSONEq(t, unauthorizedBody, w.Body.String())
			assert.Equal(t, "application/scim+json; charset=utf-8", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Equal(t, tc.challenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, before, *calls, "the handler did not run")
			assert.Equal(t, failures+1, testutil.ToFloat64(f.svc.failures.WithLabelValues(string(tc.reason))))
		})
	}
}

func TestRequireExpiryAndRevocationAtOnce(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{ExpiresInDays: 1})
	h, _ := f.protected(t)
	require.Equal(t, http.StatusOK, scimRequest(h, "Bearer "+c.Token).Code)
	f.clock.Advance(Day)
	w := scimRequest(h, "Bearer "+c.Token)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.JSONEq(t, unauthorizedBody, w.Body.String())
	lines := logLines(t, f.log.String(), "scimtoken: SCIM request refused")
	require.Len(t, lines, 1)
	assert.Equal(t, "WARN", lines[0]["level"])
	assert.Equal(t, "expired", lines[0]["reason"])
	assert.Equal(t, c.ID, lines[0]["token_id"])

	d := f.create(t, CreateRequest{})
	require.Equal(t, http.StatusOK, scimRequest(h, "Bearer "+d.Token).Code)
	require.NoError(t, f.svc.Revoke(t.Context(), d.ID))
	assert.Equal(t, http.StatusUnauthorized, scimRequest(h, "Bearer "+d.Token).Code, "refused on the next request")
	assert.NotContains(t, f.log.String(), c.Token[len(Prefix):])
	assert.NotContains(t, f.log.String(), d.Token[len(Prefix):])
}

func TestRequireStoreDown(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{})
	h, calls := f.protected(t)
	f.store.setFail("TokenByHash", errDown)
	w := scimRequest(h, "Bearer "+c.Token)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"503","detail":"the service is temporarily unavailable; try again later"}`, w.Body.String())
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "5", w.Header().Get("Retry-After"))
	assert.Zero(t, *calls)
	assert.NotContains(t, w.Body.String(), errDown.Error())
	assert.Equal(t, float64(1), testutil.ToFloat64(f.svc.failures.WithLabelValues(string(ReasonUnavailable))))
	assert.Contains(t, f.log.String(), errDown.Error(), "the cause goes to the log")

	// The last-use write failing refuses as well.
	f.store.setFail("TokenByHash", nil)
	f.store.setFail("TouchToken", errDown)
	f.clock.Advance(2 * time.Minute)
	assert.Equal(t, http.StatusServiceUnavailable, scimRequest(h, "Bearer "+c.Token).Code)
	f.store.setFail("TouchToken", nil)
	assert.Equal(t, http.StatusOK, scimRequest(h, "Bearer "+c.Token).Code, "positive control")
}

func TestActorOutsideRequire(t *testing.T) {
	_, ok := TokenFrom(t.Context())
	assert.False(t, ok)
	assert.Empty(t, Actor(t.Context()))
}
