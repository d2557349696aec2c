package oauth

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRevokeOwnToken(t *testing.T) {
	f := newIntroFixture(t)
	tok := f.mint(t, ghIssuer)
	exchange := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {tok},
		"subject_token_type": {TokenTypeAccessToken}, "audience": {"warehouse"}, "scope": {"read"}}
	// Positive controls: active and exchangeable before revocation.
	require.Equal(t, true, f.introspect(t, tok, biAuth)["active"])
	require.Equal(t, http.StatusOK, post(f.token, exchange, biAuth).Code)

	rec := post(f.revoke, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, biAuth)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	ev := f.audit.last()
	assert.Equal(t, AuditRevoked, ev.Outcome)
	assert.Equal(t, "bi", ev.ClientID)
	assert.Equal(t, "user-1", ev.Subject)

	assert.Equal(t, false, f.introspect(t, tok, biAuth)["active"])
	rec = post(f.token, exchange, biAuth)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	m := decode(t, rec)
	assert.Equal(t, string(ErrInvalidGrant), m["error"])
	assert.NotContains(t, m, "access_token")
	// Revoking again is still 200.
	assert.Equal(t, http.StatusOK, post(f.revoke, url.Values{"token": {tok}}, biAuth).Code)
}

func TestRevokeIgnoredOrRefused(t *testing.T) {
	f := newIntroFixture(t)
	tok := f.mint(t, "warehouse")
	t.Run("another client's token is ignored", func(t *testing.T) {
		rec := post(f.revoke, url.Values{"token": {tok}}, whAuth) // wh may introspect it, not revoke it
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Empty(t, rec.Body.String())
		assert.Equal(t, true, f.introspect(t, tok, biAuth)["active"])
	})
	t.Run("garbage token", func(t *testing.T) {
		rec := post(f.revoke, url.Values{"token": {"garbage"}}, biAuth)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Empty(t, rec.Body.String())
		assert.Equal(t, true, f.introspect(t, tok, biAuth)["active"])
	})
	for name, tc := range map[string]struct {
		form url.Values
		auth string
		code ErrorCode
	}{
		"no client auth": {url.Values{"token": {tok}}, "", ErrInvalidClient},
		"wrong secret":   {url.Values{"token": {tok}}, basicAuth("bi", "nope"), ErrInvalidClient},
		"repeated token": {url.Values{"token": {tok, tok}}, biAuth, ErrInvalidRequest},
		"missing token":  {url.Values{}, biAuth, ErrInvalidRequest},
	} {
		t.Run(name, func(t *testing.T) {
			rec := post(f.revoke, tc.form, tc.auth)
			assert.Equal(t, tc.code.Status(), rec.Code)
			assert.Equal(t, string(tc.code), decode(t, rec)["error"])
			assert.Equal(t, true, f.introspect(t, tok, biAuth)["active"])
		})
	}
	assert.Zero(t, f.audit.countOutcome(AuditRevoked))
}

func (a *memAudit) countOutcome(outcome string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.events {
		if e.Outcome == outcome {
			n++
		}
	}
	return n
}
