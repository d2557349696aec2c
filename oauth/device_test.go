package oauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const verificationURI = ghIssuer + "/device"

var confAuth = basicAuth("conf", "conf-secret")

// deviceFixture wires the device authorization endpoint, the token
// endpoint with the device code and refresh token grants, introspection,
// revocation and the verifier over in-memory stores and a settable clock.
type deviceFixture struct {
	clock                                 *testClock
	clients                               memClients
	users                                 memUsers
	devices                               *memDevices
	refresh                               *memRefresh
	audit                                 *memAudit
	device, token, intro, revoke, noStore http.Handler
	verifier                              *DeviceVerifier
	verify                                *Validator
}

type deviceOpts struct {
	refreshLife, familyLife time.Duration
	rand                    []byte
}

func newDeviceFixture(t *testing.T, opts ...func(*deviceOpts)) *deviceFixture {
	t.Helper()
	var o deviceOpts
	for _, fn := range opts {
		fn(&o)
	}
	k := loadKeys(t)
	clock := &testClock{t: testNow}
	ghKeys := StaticKeys{{ID: "gh1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey}}
	minter, err := NewMinter(MinterConfig{Issuer: ghIssuer, Signer: StaticSigner{KID: "gh1", Alg: jwa.ES256, Key: k.ec}, Now: clock.Now})
	require.NoError(t, err)
	verify, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{"warehouse", "lake"}, Keys: ghKeys,
		Typ: AccessTokenType, RequireJTI: true, Now: clock.Now})
	require.NoError(t, err)
	device := []string{GrantDeviceCode, GrantRefreshToken}
	f := &deviceFixture{
		clock: clock,
		clients: memClients{
			"cli":   {ID: "cli", GrantTypes: device, Audiences: []string{"warehouse"}, Scopes: []string{"read", "write"}},
			"cli2":  {ID: "cli2", GrantTypes: device, Audiences: []string{"warehouse"}, Scopes: []string{"read", "write"}},
			"tv":    {ID: "tv", GrantTypes: []string{GrantDeviceCode}, Audiences: []string{"warehouse"}, Scopes: []string{"read"}},
			"multi": {ID: "multi", GrantTypes: device, Audiences: []string{"warehouse", "lake"}, Scopes: []string{"read"}},
			"conf":  {ID: "conf", SecretHash: HashSecret("conf-secret"), GrantTypes: device, Audiences: []string{"warehouse", "lake"}, Scopes: []string{"read"}},
			"bi":    {ID: "bi", SecretHash: HashSecret("s3cret&="), GrantTypes: []string{GrantTokenExchange}, Audiences: []string{"warehouse"}, Scopes: []string{"read"}},
		},
		users: memUsers{
			"user-1": {UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true},
			"user-2": {UserName: "bob", Active: false},
		},
		devices: newMemDevices(),
		refresh: newMemRefresh(),
		audit:   &memAudit{},
		verify:  verify,
	}
	services := []DataService{
		{Audience: "warehouse", Scopes: []string{"read", "write"}},
		{Audience: "lake", Scopes: []string{"read"}},
		{Audience: "objectstore", Scopes: []string{"read"}},
	}
	var rnd *bytes.Reader
	if o.rand != nil {
		rnd = bytes.NewReader(o.rand)
	}
	dcfg := DeviceConfig{TokenEndpoint: ghTokenURL, Clients: f.clients, JTIs: &memJTIs{}, Devices: f.devices,
		DataServices: services, VerificationURI: verificationURI, Now: clock.Now, Audit: f.audit}
	if rnd != nil {
		dcfg.Rand = rnd
	}
	f.device, err = NewDeviceAuthorizationHandler(dcfg)
	require.NoError(t, err)
	tcfg := TokenHandlerConfig{Issuer: ghIssuer, TokenEndpoint: ghTokenURL, Clients: f.clients, JTIs: &memJTIs{}, Minter: minter,
		DataServices: services, Devices: f.devices, Refresh: f.refresh, Users: f.users,
		RefreshTokenLifetime: o.refreshLife, RefreshFamilyLifetime: o.familyLife, Now: clock.Now, Audit: f.audit}
	f.token, err = NewTokenHandler(tcfg)
	require.NoError(t, err)
	tcfg.Devices, tcfg.Refresh = nil, nil
	f.noStore, err = NewTokenHandler(tcfg)
	require.NoError(t, err)
	own, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{"warehouse", "lake"}, Keys: ghKeys,
		Typ: AccessTokenType, RequireJTI: true, Now: clock.Now})
	require.NoError(t, err)
	icfg := IntrospectionConfig{TokenEndpoint: ghTokenURL, Clients: f.clients, JTIs: &memJTIs{}, Validator: own,
		Revocations: &memRevocations{}, Refresh: f.refresh, Now: clock.Now, Audit: f.audit}
	f.intro, err = NewIntrospectionHandler(icfg)
	require.NoError(t, err)
	f.revoke, err = NewRevocationHandler(icfg)
	require.NoError(t, err)
	f.verifier, err = NewDeviceVerifier(DeviceVerifierConfig{Devices: f.devices, Clients: f.clients, Now: clock.Now, Audit: f.audit})
	require.NoError(t, err)
	return f
}

// authorize starts a device authorization for a public client.
func (f *deviceFixture) authorize(t *testing.T, clientID string, extra url.Values) map[string]any {
	t.Helper()
	form := url.Values{}
	for k, v := range extra {
		form[k] = v
	}
	rec := post(f.device, form, clientAuth(form, clientID))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return decode(t, rec)
}

// clientAuth authenticates clientID: the confidential client "conf" by
// its secret, the others as public clients by client_id.
func clientAuth(form url.Values, clientID string) string {
	if clientID == "conf" {
		return confAuth
	}
	form.Set("client_id", clientID)
	return ""
}

func (f *deviceFixture) poll(clientID, deviceCode string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {deviceCode}}
	return post(f.token, form, clientAuth(form, clientID))
}

func (f *deviceFixture) useRefresh(clientID, rt string, extra url.Values) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	return post(f.token, form, clientAuth(form, clientID))
}

// approved runs a device authorization for clientID up to the user's
// approval, with the clock past the polling interval; it returns the
// device code.
func (f *deviceFixture) approved(t *testing.T, clientID, userID string, extra url.Values) string {
	t.Helper()
	m := f.authorize(t, clientID, extra)
	require.NoError(t, f.verifier.Decide(t.Context(), m["user_code"].(string), userID, true))
	f.clock.Advance(DefaultDeviceInterval)
	return m["device_code"].(string)
}

// grant runs the whole flow and returns the token response.
func (f *deviceFixture) grant(t *testing.T, clientID string, extra url.Values) map[string]any {
	t.Helper()
	code := f.approved(t, clientID, "user-1", extra)
	return requireBearerGrant(t, f.poll(clientID, code))
}

// requireOAuthError asserts an RFC 6749 section 5.2 error with code and
// that no token of any kind was returned.
func requireOAuthError(t *testing.T, rec *httptest.ResponseRecorder, code ErrorCode) map[string]any {
	t.Helper()
	assert.Equal(t, code.Status(), rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	m := decode(t, rec)
	assert.Equal(t, string(code), m["error"])
	assert.NotContains(t, m, "access_token")
	assert.NotContains(t, m, "refresh_token")
	assert.NotContains(t, m, "device_code")
	return m
}

var shownUserCode = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceFlowHappyPath(t *testing.T) {
	f := newDeviceFixture(t)
	m := f.authorize(t, "cli", url.Values{"scope": {"read write"}})
	code, userCode := m["device_code"].(string), m["user_code"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(code)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	assert.Regexp(t, shownUserCode, userCode)
	assert.Equal(t, verificationURI, m["verification_uri"])
	assert.Equal(t, verificationURI+"?user_code="+userCode, m["verification_uri_complete"])
	assert.EqualValues(t, 600, m["expires_in"])
	assert.EqualValues(t, 5, m["interval"])

	// Stored: only the hash of the device code, the user code normalized.
	d, ok := f.devices.get(hashToken(code))
	require.True(t, ok)
	assert.Equal(t, strings.ReplaceAll(userCode, "-", ""), d.UserCode)
	assert.Equal(t, DeviceAuthorization{DeviceCodeHash: hashToken(code), UserCode: d.UserCode, ClientID: "cli", Audience: "warehouse",
		Scopes: []string{"read", "write"}, Status: DevicePending, CreatedAt: testNow, ExpiresAt: testNow.Add(10 * time.Minute),
		Interval: 5 * time.Second}, d)
	ev := f.audit.last()
	assert.Equal(t, AuditActionDeviceAuthorization, ev.Action)
	assert.Equal(t, AuditIssued, ev.Outcome)

	requireOAuthError(t, f.poll("cli", code), ErrAuthorizationPending)
	f.clock.Advance(time.Second)
	requireOAuthError(t, f.poll("cli", code), ErrSlowDown)
	d, _ = f.devices.get(hashToken(code))
	assert.Equal(t, 10*time.Second, d.Interval, "slow_down adds 5 seconds")

	prompt, err := f.verifier.Lookup(t.Context(), " "+strings.ToLower(userCode)+" ")
	require.NoError(t, err)
	assert.Equal(t, DevicePrompt{UserCode: userCode, ClientID: "cli", Audience: "warehouse", Scopes: []string{"read", "write"},
		ExpiresAt: testNow.Add(10 * time.Minute)}, prompt)
	require.NoError(t, f.verifier.Decide(t.Context(), userCode, "user-1", true))
	ev = f.audit.last()
	assert.Equal(t, AuditEvent{Action: AuditActionDeviceDecision, Outcome: AuditApproved, GrantType: GrantDeviceCode,
		ClientID: "cli", Subject: "user-1", Audience: []string{"warehouse"}, Scopes: []string{"read", "write"}}, ev)

	f.clock.Advance(5 * time.Second) // 5s since the last poll, interval is 10s
	requireOAuthError(t, f.poll("cli", code), ErrSlowDown)
	f.clock.Advance(15 * time.Second)
	tr := requireBearerGrant(t, f.poll("cli", code))
	assert.Equal(t, "read write", tr["scope"])
	tok, err := f.verify.Validate(t.Context(), tr["access_token"].(string))
	require.NoError(t, err)
	assert.Equal(t, "user-1", tok.Subject())
	assert.Equal(t, []string{"warehouse"}, tok.Audience())
	assert.Equal(t, "cli", tokenClientID(tok))
	assert.Equal(t, "alice", tok.PrivateClaims()["username"])
	rt := tr["refresh_token"].(string)
	stored, ok := f.refresh.byRaw(rt)
	require.True(t, ok)
	assert.Equal(t, hashToken(rt), stored.Hash)
	assert.Equal(t, "user-1", stored.UserID)
	assert.Equal(t, f.clock.Now().Add(DefaultRefreshTokenLifetime), stored.ExpiresAt)
	assert.Equal(t, f.clock.Now().Add(DefaultRefreshFamilyLifetime), stored.FamilyExpiresAt)
	ev = f.audit.last()
	assert.Equal(t, AuditActionToken, ev.Action)
	assert.Equal(t, AuditIssued, ev.Outcome)
	assert.Equal(t, GrantDeviceCode, ev.GrantType)
	assert.Equal(t, "user-1", ev.Subject)
	assert.Equal(t, stored.FamilyID, ev.RefreshFamily)

	// Single use.
	f.clock.Advance(time.Minute)
	requireOAuthError(t, f.poll("cli", code), ErrInvalidGrant)
	// And the refresh token works.
	requireBearerGrant(t, f.useRefresh("cli", rt, nil))
}

func TestDeviceGrantRefusals(t *testing.T) {
	tests := []struct {
		name string
		// mod changes one thing after the user approved; it returns the
		// client that polls.
		mod  func(t *testing.T, f *deviceFixture, code string) string
		want ErrorCode
	}{
		{"control: approved", func(*testing.T, *deviceFixture, string) string { return "cli" }, ""},
		{"expired", func(_ *testing.T, f *deviceFixture, _ string) string {
			f.clock.Advance(DefaultDeviceCodeLifetime)
			return "cli"
		}, ErrExpiredToken},
		{"wrong client polls", func(*testing.T, *deviceFixture, string) string { return "cli2" }, ErrInvalidGrant},
		{"user disabled after approval", func(_ *testing.T, f *deviceFixture, _ string) string {
			f.users["user-1"] = Subject{UserName: "alice", Active: false}
			return "cli"
		}, ErrInvalidGrant},
		{"user deleted after approval", func(_ *testing.T, f *deviceFixture, _ string) string {
			delete(f.users, "user-1")
			return "cli"
		}, ErrInvalidGrant},
		{"client lost the audience", func(_ *testing.T, f *deviceFixture, _ string) string {
			f.clients["cli"].Audiences = []string{"lake"}
			return "cli"
		}, ErrInvalidGrant},
		{"client lost the grant type", func(_ *testing.T, f *deviceFixture, _ string) string {
			f.clients["cli"].GrantTypes = []string{GrantRefreshToken}
			return "cli"
		}, ErrUnauthorizedClient},
		{"already consumed", func(t *testing.T, f *deviceFixture, code string) string {
			requireBearerGrant(t, f.poll("cli", code))
			f.clock.Advance(time.Minute)
			return "cli"
		}, ErrInvalidGrant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			code := f.approved(t, "cli", "user-1", nil)
			client := tc.mod(t, f, code)
			issued := f.audit.issued()
			rec := f.poll(client, code)
			if tc.want == "" {
				requireBearerGrant(t, rec)
				return
			}
			requireOAuthError(t, rec, tc.want)
			assert.Equal(t, issued, f.audit.issued())
			assert.Equal(t, AuditRefused, f.audit.last().Outcome)
		})
	}
	t.Run("denied", func(t *testing.T) {
		f := newDeviceFixture(t)
		m := f.authorize(t, "cli", nil)
		require.NoError(t, f.verifier.Decide(t.Context(), m["user_code"].(string), "user-1", false))
		assert.Equal(t, AuditDenied, f.audit.last().Outcome)
		requireOAuthError(t, f.poll("cli", m["device_code"].(string)), ErrAccessDenied)
	})
	t.Run("pending then expired", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.authorize(t, "cli", nil)["device_code"].(string)
		requireOAuthError(t, f.poll("cli", code), ErrAuthorizationPending)
		f.clock.Advance(DefaultDeviceCodeLifetime)
		requireOAuthError(t, f.poll("cli", code), ErrExpiredToken)
	})
	t.Run("wrong client does not spoil the code", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.approved(t, "cli", "user-1", nil)
		requireOAuthError(t, f.poll("cli2", code), ErrInvalidGrant)
		requireBearerGrant(t, f.poll("cli", code))
	})
	t.Run("request errors", func(t *testing.T) {
		f := newDeviceFixture(t)
		requireOAuthError(t, f.poll("cli", "unknown-code"), ErrInvalidGrant)
		requireOAuthError(t, f.poll("cli", strings.Repeat("a", maxOpaqueToken+1)), ErrInvalidRequest)
		requireOAuthError(t, post(f.token, url.Values{"grant_type": {GrantDeviceCode}, "client_id": {"cli"}}, ""), ErrInvalidRequest)
		requireOAuthError(t, post(f.token, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {"x"}, "client_id": {"bi"}}, ""), ErrInvalidClient)
		requireOAuthError(t, post(f.noStore, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {"x"}, "client_id": {"cli"}}, ""), ErrUnsupportedGrantType)
	})
}

func TestDeviceGrantNarrowing(t *testing.T) {
	t.Run("client scopes narrowed after approval", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.approved(t, "cli", "user-1", nil)
		f.clients["cli"].Scopes = []string{"read"}
		tr := requireBearerGrant(t, f.poll("cli", code))
		assert.Equal(t, "read", tr["scope"])
		stored, ok := f.refresh.byRaw(tr["refresh_token"].(string))
		require.True(t, ok)
		assert.Equal(t, []string{"read"}, stored.Scopes)
	})
	t.Run("client without refresh grant gets no refresh token", func(t *testing.T) {
		f := newDeviceFixture(t)
		tr := f.grant(t, "tv", nil)
		assert.NotContains(t, tr, "refresh_token")
		assert.Zero(t, f.refresh.count())
	})
	t.Run("requested audience and scope", func(t *testing.T) {
		f := newDeviceFixture(t)
		tr := f.grant(t, "multi", url.Values{"resource": {"lake"}})
		tok, err := f.verify.Validate(t.Context(), tr["access_token"].(string))
		require.NoError(t, err)
		assert.Equal(t, []string{"lake"}, tok.Audience())
		assert.Equal(t, "read", tr["scope"])
	})
}

func TestDeviceGrantConcurrentPolls(t *testing.T) {
	f := newDeviceFixture(t)
	code := f.approved(t, "cli", "user-1", nil)
	const n = 8
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := f.poll("cli", code)
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
	assert.Equal(t, 1, ok, "exactly one poll gets the token")
	assert.Equal(t, 1, f.refresh.count(), "exactly one refresh token family")
}

func TestDeviceAuthorizationRefusals(t *testing.T) {
	f := newDeviceFixture(t)
	valid := func() (url.Values, string) { return url.Values{"client_id": {"cli"}, "scope": {"read"}}, "" }
	// Positive controls.
	form, auth := valid()
	require.Equal(t, http.StatusOK, post(f.device, form, auth).Code)
	require.Equal(t, http.StatusOK, post(f.device, url.Values{"resource": {"lake"}}, confAuth).Code)
	tests := []struct {
		name string
		mod  func(v url.Values, auth *string)
		want ErrorCode
	}{
		{"client without the device grant", func(v url.Values, a *string) { v.Del("client_id"); *a = biAuth }, ErrUnauthorizedClient},
		{"confidential client without credentials", func(v url.Values, _ *string) { v.Set("client_id", "conf") }, ErrInvalidClient},
		{"wrong secret", func(v url.Values, a *string) { v.Del("client_id"); *a = basicAuth("conf", "nope") }, ErrInvalidClient},
		{"unknown client", func(v url.Values, _ *string) { v.Set("client_id", "ghost") }, ErrInvalidClient},
		{"audience not allowed for client", func(v url.Values, _ *string) { v.Set("audience", "objectstore") }, ErrInvalidTarget},
		{"unknown audience", func(v url.Values, _ *string) { v.Set("audience", "nowhere") }, ErrInvalidTarget},
		{"several audiences, none named", func(v url.Values, _ *string) { v.Set("client_id", "multi") }, ErrInvalidTarget},
		{"audience and resource differ", func(v url.Values, _ *string) { v.Set("audience", "warehouse"); v.Set("resource", "lake") }, ErrInvalidTarget},
		{"scope escalation", func(v url.Values, _ *string) { v.Set("scope", "read admin") }, ErrInvalidScope},
		{"scope the service lacks", func(v url.Values, _ *string) {
			v.Set("client_id", "multi")
			v.Set("audience", "lake")
			v.Set("scope", "write")
		}, ErrInvalidScope},
		{"repeated parameter", func(v url.Values, _ *string) { v.Add("scope", "read") }, ErrInvalidRequest},
		{"two auth methods", func(v url.Values, a *string) {
			v.Set("client_id", "conf")
			v.Set("client_secret", "conf-secret")
			*a = confAuth
		}, ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form, auth := valid()
			tc.mod(form, &auth)
			before := f.devices.count()
			requireOAuthError(t, post(f.device, form, auth), tc.want)
			assert.Equal(t, before, f.devices.count(), "nothing stored")
			ev := f.audit.last()
			assert.Equal(t, AuditActionDeviceAuthorization, ev.Action)
			assert.Equal(t, AuditRefused, ev.Outcome)
			assert.True(t, strings.HasPrefix(ev.Reason, string(tc.want)), ev.Reason)
		})
	}
	t.Run("transport", func(t *testing.T) {
		form, _ := valid()
		for name, req := range map[string]*http.Request{
			"GET":               httptest.NewRequest(http.MethodGet, PathDeviceAuthorization+"?"+form.Encode(), nil),
			"JSON":              httptest.NewRequest(http.MethodPost, PathDeviceAuthorization, strings.NewReader(`{"client_id":"cli"}`)),
			"body over the cap": httptest.NewRequest(http.MethodPost, PathDeviceAuthorization, strings.NewReader(form.Encode()+"&pad="+strings.Repeat("x", DefaultMaxTokenBody))),
		} {
			if name != "JSON" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			f.device.ServeHTTP(rec, req)
			m := decode(t, rec)
			assert.Equal(t, string(ErrInvalidRequest), m["error"], name)
			assert.NotContains(t, m, "device_code", name)
			if name == "GET" {
				assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			} else {
				assert.Equal(t, http.StatusBadRequest, rec.Code, name)
			}
		}
	})
}

func TestDeviceAuthorizationCodes(t *testing.T) {
	t.Run("user code by rejection sampling from the configured source", func(t *testing.T) {
		src := make([]byte, 32, 48)
		for i := range src {
			src[i] = byte(i)
		}
		// 240 and above are rejected; 20 maps to B again (20 mod 20).
		src = append(src, 0, 1, 2, 255, 240, 3, 4, 5, 6, 20, 9, 9, 9, 9, 9, 9)
		f := newDeviceFixture(t, func(o *deviceOpts) { o.rand = src })
		m := f.authorize(t, "cli", nil)
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(src[:32]), m["device_code"])
		assert.Equal(t, "BCDF-GHJB", m["user_code"])
	})
	t.Run("collision is retried", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.devices.conflicts = deviceCreateAttempts - 1
		f.authorize(t, "cli", nil)
		assert.Equal(t, deviceCreateAttempts, f.devices.creates)
		assert.Equal(t, 1, f.devices.count())
	})
	t.Run("too many collisions", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.devices.conflicts = deviceCreateAttempts
		requireOAuthError(t, post(f.device, url.Values{"client_id": {"cli"}}, ""), ErrServerError)
		assert.Zero(t, f.devices.count())
	})
	t.Run("random source fails", func(t *testing.T) {
		f := newDeviceFixture(t, func(o *deviceOpts) { o.rand = make([]byte, 40) }) // short: user code read fails
		requireOAuthError(t, post(f.device, url.Values{"client_id": {"cli"}}, ""), ErrServerError)
		_, err := newUserCode(iotest.ErrReader(errors.New("no entropy")))
		assert.Error(t, err)
		_, err = newUserCode(bytes.NewReader(bytes.Repeat([]byte{0xff}, 1024)))
		assert.Error(t, err, "only rejected bytes")
	})
}

func TestNewDeviceAuthorizationHandlerValidates(t *testing.T) {
	good := DeviceConfig{TokenEndpoint: ghTokenURL, Clients: memClients{}, JTIs: &memJTIs{}, Devices: newMemDevices(), VerificationURI: verificationURI}
	_, err := NewDeviceAuthorizationHandler(good)
	require.NoError(t, err)
	for name, mod := range map[string]func(*DeviceConfig){
		"relative token endpoint":  func(c *DeviceConfig) { c.TokenEndpoint = PathToken },
		"no verification URI":      func(c *DeviceConfig) { c.VerificationURI = "" },
		"verification URI query":   func(c *DeviceConfig) { c.VerificationURI = verificationURI + "?x=1" },
		"verification URI scheme":  func(c *DeviceConfig) { c.VerificationURI = "javascript:alert(1)" },
		"no device store":          func(c *DeviceConfig) { c.Devices = nil },
		"no clients":               func(c *DeviceConfig) { c.Clients = nil },
		"no JTI store":             func(c *DeviceConfig) { c.JTIs = nil },
		"negative lifetime":        func(c *DeviceConfig) { c.Lifetime = -time.Second },
		"interval below a second":  func(c *DeviceConfig) { c.Interval = time.Millisecond },
		"interval beyond lifetime": func(c *DeviceConfig) { c.Interval = time.Hour },
		"duplicate data service": func(c *DeviceConfig) {
			c.DataServices = []DataService{{Audience: "a"}, {Audience: "a"}}
		},
	} {
		cfg := good
		mod(&cfg)
		_, err := NewDeviceAuthorizationHandler(cfg)
		assert.Error(t, err, name)
	}
}

func TestAuditFailureWithholdsTokens(t *testing.T) {
	t.Run("token exchange", func(t *testing.T) {
		f := newTokenFixture(t)
		requireIssued(t, f, f.do(f.validExchange())) // positive control
		f.audit.failOn(AuditIssued)
		requireOAuthError(t, f.do(f.validExchange()), ErrTemporarilyUnavailable)
	})
	t.Run("device code grant", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.approved(t, "cli", "user-1", nil)
		f.audit.failOn(AuditIssued)
		requireOAuthError(t, f.poll("cli", code), ErrTemporarilyUnavailable)
		require.Equal(t, 1, f.refresh.count())
		for _, e := range f.refresh.tokens {
			assert.True(t, f.refresh.familyRevoked(e.t.FamilyID), "the withheld refresh token's family is revoked")
		}
		f.audit.fail = nil
		f.clock.Advance(time.Minute)
		requireOAuthError(t, f.poll("cli", code), ErrInvalidGrant) // consumed
	})
	t.Run("refresh grant", func(t *testing.T) {
		f := newDeviceFixture(t)
		rt := f.grant(t, "cli", nil)["refresh_token"].(string)
		stored, _ := f.refresh.byRaw(rt)
		f.audit.failOn(AuditIssued)
		requireOAuthError(t, f.useRefresh("cli", rt, nil), ErrTemporarilyUnavailable)
		assert.True(t, f.refresh.familyRevoked(stored.FamilyID))
	})
	t.Run("device authorization", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.audit.failOn(AuditIssued)
		requireOAuthError(t, post(f.device, url.Values{"client_id": {"cli"}}, ""), ErrTemporarilyUnavailable)
	})
	t.Run("refusal audit failure leaves the answer unchanged", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.audit.failOn(AuditRefused)
		requireOAuthError(t, f.poll("cli", "unknown"), ErrInvalidGrant)
		requireOAuthError(t, post(f.device, url.Values{"client_id": {"bi"}}, ""), ErrInvalidClient)
	})
	t.Run("introspection and revocation audit failures leave the answer unchanged", func(t *testing.T) {
		f := newDeviceFixture(t)
		rt := f.grant(t, "conf", url.Values{"audience": {"warehouse"}})["refresh_token"].(string)
		f.audit.fail = func(AuditEvent) error { return errors.New("audit store down") }
		rec := post(f.intro, url.Values{"token": {rt}}, confAuth)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, true, decode(t, rec)["active"])
		rec = post(f.revoke, url.Values{"token": {rt}}, confAuth)
		require.Equal(t, http.StatusOK, rec.Code)
		stored, _ := f.refresh.byRaw(rt)
		assert.True(t, f.refresh.familyRevoked(stored.FamilyID))
	})
}

// a refused device poll is not audited while pending (protocol noise) but
// every other refusal is.
func TestDevicePollAudit(t *testing.T) {
	f := newDeviceFixture(t)
	code := f.authorize(t, "cli", nil)["device_code"].(string)
	n := len(f.audit.events)
	requireOAuthError(t, f.poll("cli", code), ErrAuthorizationPending)
	requireOAuthError(t, f.poll("cli", code), ErrSlowDown)
	assert.Len(t, f.audit.events, n)
	requireOAuthError(t, f.poll("cli2", code), ErrInvalidGrant)
	assert.Len(t, f.audit.events, n+1)
}

func TestDeviceStoresNeverSeeValues(t *testing.T) {
	f := newDeviceFixture(t)
	m := f.authorize(t, "cli", nil)
	code := m["device_code"].(string)
	for _, d := range f.devices.byHash {
		assert.NotContains(t, d.DeviceCodeHash, code)
		assert.Len(t, d.DeviceCodeHash, 64)
	}
	require.NoError(t, f.verifier.Decide(t.Context(), m["user_code"].(string), "user-1", true))
	f.clock.Advance(DefaultDeviceInterval)
	rt := requireBearerGrant(t, f.poll("cli", code))["refresh_token"].(string)
	for h, e := range f.refresh.tokens {
		assert.NotEqual(t, rt, h)
		assert.Equal(t, hashToken(rt), e.t.Hash)
	}
}
