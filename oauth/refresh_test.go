package oauth

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRefreshRotation(t *testing.T) {
	f := newDeviceFixture(t)
	first := f.grant(t, "cli", nil)["refresh_token"].(string)
	firstStored, ok := f.refresh.byRaw(first)
	require.True(t, ok)

	f.clock.Advance(time.Hour)
	tr := requireBearerGrant(t, f.useRefresh("cli", first, nil))
	assert.Equal(t, "read write", tr["scope"])
	second := tr["refresh_token"].(string)
	require.NotEmpty(t, second)
	assert.NotEqual(t, first, second)
	tok, err := f.verify.Validate(t.Context(), tr["access_token"].(string))
	require.NoError(t, err)
	assert.Equal(t, "user-1", tok.Subject())
	assert.Equal(t, "cli", tokenClientID(tok))
	assert.Equal(t, f.clock.Now().Add(time.Hour).Unix(), tok.Expiration().Unix())
	secondStored, ok := f.refresh.byRaw(second)
	require.True(t, ok)
	assert.Equal(t, firstStored.FamilyID, secondStored.FamilyID)
	assert.Equal(t, firstStored.FamilyExpiresAt, secondStored.FamilyExpiresAt)
	assert.Equal(t, f.clock.Now(), secondStored.IssuedAt)
	ev := f.audit.last()
	assert.Equal(t, AuditEvent{Action: AuditActionToken, Outcome: AuditIssued, GrantType: GrantRefreshToken, ClientID: "cli",
		Subject: "user-1", Audience: []string{"warehouse"}, Scopes: []string{"read", "write"}, RefreshFamily: firstStored.FamilyID}, ev)

	// Reuse of the rotated token revokes the whole family.
	m := requireOAuthError(t, f.useRefresh("cli", first, nil), ErrInvalidGrant)
	assert.Equal(t, "refresh token reused; the grant is revoked", m["error_description"])
	assert.True(t, f.refresh.familyRevoked(firstStored.FamilyID))
	requireOAuthError(t, f.useRefresh("cli", second, nil), ErrInvalidGrant)
}

func TestRefreshRefusals(t *testing.T) {
	tests := []struct {
		name string
		// mod changes one thing; it returns the presenting client, the
		// token and extra parameters.
		mod  func(f *deviceFixture, rt string) (string, string, url.Values)
		want ErrorCode
		// kept: the original token must still work afterwards (no
		// rotation happened).
		kept bool
	}{
		{"control", func(_ *deviceFixture, rt string) (string, string, url.Values) { return "cli", rt, nil }, "", false},
		{"another client", func(_ *deviceFixture, rt string) (string, string, url.Values) { return "cli2", rt, nil }, ErrInvalidGrant, true},
		{"scope escalation", func(_ *deviceFixture, rt string) (string, string, url.Values) {
			return "cli", rt, url.Values{"scope": {"read write"}}
		}, ErrInvalidScope, true},
		{"unknown scope", func(_ *deviceFixture, rt string) (string, string, url.Values) {
			return "cli", rt, url.Values{"scope": {"admin"}}
		}, ErrInvalidScope, true},
		{"other audience", func(_ *deviceFixture, rt string) (string, string, url.Values) {
			return "cli", rt, url.Values{"audience": {"lake"}}
		}, ErrInvalidTarget, true},
		{"disabled user", func(f *deviceFixture, rt string) (string, string, url.Values) {
			f.users["user-1"] = Subject{UserName: "alice", Active: false}
			return "cli", rt, nil
		}, ErrInvalidGrant, false},
		{"expired", func(f *deviceFixture, rt string) (string, string, url.Values) {
			f.clock.Advance(DefaultRefreshTokenLifetime)
			return "cli", rt, nil
		}, ErrInvalidGrant, false},
		{"client lost the audience", func(f *deviceFixture, rt string) (string, string, url.Values) {
			f.clients["cli"].Audiences = []string{"lake"}
			return "cli", rt, nil
		}, ErrInvalidGrant, false},
		{"client lost the refresh grant", func(f *deviceFixture, rt string) (string, string, url.Values) {
			f.clients["cli"].GrantTypes = []string{GrantDeviceCode}
			return "cli", rt, nil
		}, ErrUnauthorizedClient, false},
		{"unknown token", func(_ *deviceFixture, rt string) (string, string, url.Values) {
			return "cli", rt[:len(rt)-2] + "AA", nil
		}, ErrInvalidGrant, true},
		{"oversized token", func(_ *deviceFixture, rt string) (string, string, url.Values) {
			return "cli", rt + strings.Repeat("A", maxOpaqueToken), nil
		}, ErrInvalidRequest, true},
		{"missing token", func(_ *deviceFixture, _ string) (string, string, url.Values) { return "cli", "", nil }, ErrInvalidRequest, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			rt := f.grant(t, "cli", url.Values{"scope": {"read"}})["refresh_token"].(string)
			client, presented, extra := tc.mod(f, rt)
			issued := f.audit.issued()
			rec := f.useRefresh(client, presented, extra)
			if tc.want == "" {
				assert.Equal(t, "read", requireBearerGrant(t, rec)["scope"])
				return
			}
			requireOAuthError(t, rec, tc.want)
			assert.Equal(t, issued, f.audit.issued())
			assert.Equal(t, AuditRefused, f.audit.last().Outcome)
			if tc.kept {
				requireBearerGrant(t, f.useRefresh("cli", rt, nil))
			}
		})
	}
	t.Run("grant disabled", func(t *testing.T) {
		f := newDeviceFixture(t)
		rt := f.grant(t, "cli", nil)["refresh_token"].(string)
		requireOAuthError(t, post(f.noStore, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}, "client_id": {"cli"}}, ""),
			ErrUnsupportedGrantType)
	})
}

func TestRefreshNarrowsOnlyTheAccessToken(t *testing.T) {
	f := newDeviceFixture(t)
	rt := f.grant(t, "cli", nil)["refresh_token"].(string)
	tr := requireBearerGrant(t, f.useRefresh("cli", rt, url.Values{"scope": {"read"}, "resource": {"warehouse"}}))
	assert.Equal(t, "read", tr["scope"])
	// RFC 6749 section 6: the new refresh token keeps the grant's scope.
	tr = requireBearerGrant(t, f.useRefresh("cli", tr["refresh_token"].(string), nil))
	assert.Equal(t, "read write", tr["scope"])
	// A narrowed client configuration narrows the grant for good.
	f.clients["cli"].Scopes = []string{"write"}
	tr = requireBearerGrant(t, f.useRefresh("cli", tr["refresh_token"].(string), nil))
	assert.Equal(t, "write", tr["scope"])
	f.clients["cli"].Scopes = []string{"read", "write"}
	tr = requireBearerGrant(t, f.useRefresh("cli", tr["refresh_token"].(string), nil))
	assert.Equal(t, "write", tr["scope"])
}

func TestRefreshFamilyLifetime(t *testing.T) {
	f := newDeviceFixture(t, func(o *deviceOpts) { o.refreshLife, o.familyLife = time.Hour, 3*time.Hour })
	rt := f.grant(t, "cli", nil)["refresh_token"].(string)
	first, _ := f.refresh.byRaw(rt)
	famExp := f.clock.Now().Add(3 * time.Hour)
	require.Equal(t, famExp, first.FamilyExpiresAt)
	require.Equal(t, f.clock.Now().Add(time.Hour), first.ExpiresAt)
	for range 3 {
		f.clock.Advance(50 * time.Minute)
		rt = requireBearerGrant(t, f.useRefresh("cli", rt, nil))["refresh_token"].(string)
	}
	last, _ := f.refresh.byRaw(rt)
	assert.Equal(t, famExp, last.ExpiresAt, "a rotated token never outlives its family")
	f.clock.Advance(30 * time.Minute)
	requireOAuthError(t, f.useRefresh("cli", rt, nil), ErrInvalidGrant)
}

func TestRefreshConcurrentUse(t *testing.T) {
	f := newDeviceFixture(t)
	rt := f.grant(t, "cli", nil)["refresh_token"].(string)
	const n = 8
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := f.useRefresh("cli", rt, nil)
			codes[i], bodies[i] = rec.Code, rec.Body.String()
		})
	}
	wg.Wait()
	ok := 0
	for i := range n {
		if codes[i] == http.StatusOK {
			ok++
			continue
		}
		assert.Equal(t, http.StatusBadRequest, codes[i])
		assert.Contains(t, bodies[i], `"error":"invalid_grant"`)
		assert.NotContains(t, bodies[i], "access_token")
	}
	assert.Equal(t, 1, ok, "exactly one use of a refresh token succeeds")
}

func TestRevokeRefreshToken(t *testing.T) {
	f := newDeviceFixture(t)
	rt := f.grant(t, "cli", nil)["refresh_token"].(string)
	stored, _ := f.refresh.byRaw(rt)

	// Another client's revocation is ignored.
	rec := post(f.revoke, url.Values{"token": {rt}, "client_id": {"cli2"}}, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.False(t, f.refresh.familyRevoked(stored.FamilyID))

	// The owner's revokes the family.
	rec = post(f.revoke, url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}, "client_id": {"cli"}}, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.True(t, f.refresh.familyRevoked(stored.FamilyID))
	ev := f.audit.last()
	assert.Equal(t, AuditEvent{Action: AuditActionRevoke, Outcome: AuditRevoked, ClientID: "cli", Subject: "user-1",
		Audience: []string{"warehouse"}, Scopes: []string{"read", "write"}, RefreshFamily: stored.FamilyID}, ev)
	requireOAuthError(t, f.useRefresh("cli", rt, nil), ErrInvalidGrant)

	// Revoking again, or an already rotated token, is still 200.
	assert.Equal(t, http.StatusOK, post(f.revoke, url.Values{"token": {rt}, "client_id": {"cli"}}, "").Code)
	rt2 := f.grant(t, "cli", nil)["refresh_token"].(string)
	requireBearerGrant(t, f.useRefresh("cli", rt2, nil))
	assert.Equal(t, http.StatusOK, post(f.revoke, url.Values{"token": {rt2}, "client_id": {"cli"}}, "").Code)
}

func TestIntrospectRefreshToken(t *testing.T) {
	f := newDeviceFixture(t)
	rt := f.grant(t, "conf", url.Values{"audience": {"warehouse"}})["refresh_token"].(string)
	stored, _ := f.refresh.byRaw(rt)
	rec := post(f.intro, url.Values{"token": {rt}}, confAuth)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"active":true,"token_type":"refresh_token","client_id":"conf","sub":"user-1","scope":"read",
		"aud":"warehouse","exp":`+itoa(stored.ExpiresAt.Unix())+`,"iat":`+itoa(stored.IssuedAt.Unix())+`}`, rec.Body.String())
	ev := f.audit.last()
	assert.Equal(t, AuditIntrospected, ev.Outcome)
	assert.Equal(t, "active", ev.Reason)
	assert.Equal(t, stored.FamilyID, ev.RefreshFamily)

	for name, tc := range map[string]struct{ tok, auth string }{
		"another client's": {rt, biAuth},
		"unknown":          {"garbage", confAuth},
	} {
		rec := post(f.intro, url.Values{"token": {tc.tok}}, tc.auth)
		require.Equal(t, http.StatusOK, rec.Code, name)
		assert.JSONEq(t, `{"active":false}`, rec.Body.String(), name)
	}
	f.clock.Advance(DefaultRefreshTokenLifetime)
	rec = post(f.intro, url.Values{"token": {rt}}, confAuth)
	assert.JSONEq(t, `{"active":false}`, rec.Body.String(), "expired")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNewTokenHandlerValidatesGrants(t *testing.T) {
	f := newTokenFixture(t)
	good := TokenHandlerConfig{Issuer: ghIssuer, TokenEndpoint: ghTokenURL, Clients: memClients{}, JTIs: &memJTIs{}, Minter: f.minter,
		Devices: newMemDevices(), Refresh: newMemRefresh(), Users: memUsers{}}
	_, err := NewTokenHandler(good)
	require.NoError(t, err)
	for name, mod := range map[string]func(*TokenHandlerConfig){
		"devices without users":         func(c *TokenHandlerConfig) { c.Users, c.Refresh = nil, nil },
		"refresh without users":         func(c *TokenHandlerConfig) { c.Users, c.Devices = nil, nil },
		"negative refresh lifetime":     func(c *TokenHandlerConfig) { c.RefreshTokenLifetime = -time.Hour },
		"token outlives family":         func(c *TokenHandlerConfig) { c.RefreshTokenLifetime, c.RefreshFamilyLifetime = 2*time.Hour, time.Hour },
		"default token outlives family": func(c *TokenHandlerConfig) { c.RefreshFamilyLifetime = time.Hour },
		"duplicate data service":        func(c *TokenHandlerConfig) { c.DataServices = []DataService{{Audience: "a"}, {Audience: "a"}} },
		"data service without audience": func(c *TokenHandlerConfig) { c.DataServices = []DataService{{}} },
		"negative family lifetime":      func(c *TokenHandlerConfig) { c.RefreshFamilyLifetime = -time.Hour },
		"negative body":                 func(c *TokenHandlerConfig) { c.MaxBody = -1 },
	} {
		cfg := good
		mod(&cfg)
		_, err := NewTokenHandler(cfg)
		assert.Error(t, err, name)
	}
}
