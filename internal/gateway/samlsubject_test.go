package gateway_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// tokenAssertionOptions describe a valid RFC 7522 assertion of the
// identity source for the gateway's token endpoint, naming user_name.
func (e *gwEnv) tokenAssertionOptions(userName string) samltest.ResponseOptions {
	return samltest.ResponseOptions{
		Destination: e.base + oauth.PathToken,
		Audience:    e.spEntity,
		NameID:      userName,
		AssertionID: saml.NewID(),
		Attributes:  map[string][]string{"email": {userName + "@example.com"}},
	}
}

// samlToken signs o's assertion with the identity source IdP and returns
// it on its own, base64url-encoded: a saml2 subject token.
func (e *gwEnv) samlToken(t *testing.T, o samltest.ResponseOptions) string {
	t.Helper()
	b, err := e.upstream.Response(o)
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	var a *etree.Element
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "Assertion" {
			a = c.Copy()
		}
	}
	require.NotNil(t, a)
	out := etree.NewDocument()
	out.SetRoot(a)
	raw, err := out.WriteToBytes()
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// postACS posts an IdP-initiated Response to the ACS and returns the
// status (303 on sign-in, 403 on rejection).
func (e *gwEnv) postACS(t *testing.T, o samltest.ResponseOptions) int {
	t.Helper()
	enc, err := e.upstream.EncodedResponse(o)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.base+"/saml/acs",
		strings.NewReader(url.Values{"SAMLResponse": {enc}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// TestSAMLSubjectTokenExchange: a signed assertion of the identity source
// is exchanged at /oauth/token for an access token of the user it names;
// each negative case changes one thing in a valid assertion.
func TestSAMLSubjectTokenExchange(t *testing.T) {
	env, err := startGateway(t, gwOptions{jit: true})
	require.NoError(t, err)
	v, _ := env.validator(t)

	token := env.samlToken(t, env.tokenAssertionOptions("alice"))
	status, body := env.exchangeToken(t, token, oauth.TokenTypeSAML2)
	require.Equal(t, http.StatusOK, status, body)
	at, _ := body["access_token"].(string)
	tok, err := v.Validate(t.Context(), at)
	require.NoError(t, err)
	assert.Equal(t, env.users["alice"], tok.Subject())
	email, _ := tok.Get("email")
	assert.Equal(t, "alice@example.com", email)
	assert.Equal(t, oauth.TokenTypeAccessToken, body["issued_token_type"])

	t.Run("replay", func(t *testing.T) {
		status, body := env.exchangeToken(t, token, oauth.TokenTypeSAML2)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Equal(t, "invalid_grant", body["error"])
	})

	now := time.Now()
	cases := []struct {
		name   string
		change func(o *samltest.ResponseOptions)
		status int
		code   string
	}{
		{"positive control", func(*samltest.ResponseOptions) {}, http.StatusOK, ""},
		{"padded base64url is fine too", nil, http.StatusOK, ""},
		{"unknown user is never provisioned", func(o *samltest.ResponseOptions) { o.NameID = "nobody" }, http.StatusBadRequest, "invalid_grant"},
		{"disabled user", func(o *samltest.ResponseOptions) { o.NameID = "mallory" }, http.StatusBadRequest, "invalid_grant"},
		{"Recipient is the ACS", func(o *samltest.ResponseOptions) { o.Destination = env.base + "/saml/acs" }, http.StatusBadRequest, "invalid_grant"},
		{"wrong audience", func(o *samltest.ResponseOptions) { o.Audience = "https://other-sp.example.com" }, http.StatusBadRequest, "invalid_grant"},
		{"expired", func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore, o.NotOnOrAfter = now.Add(-4*time.Minute), now.Add(-4*time.Minute), now.Add(-2*time.Minute)
		}, http.StatusBadRequest, "invalid_grant"},
		{"unsigned", func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }, http.StatusBadRequest, "invalid_grant"},
		{"answers an AuthnRequest", func(o *samltest.ResponseOptions) { o.InResponseTo = "_0123456789abcdef0123456789abcdef" }, http.StatusBadRequest, "invalid_grant"},
		{"tampered NameID", func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				doc.Root().FindElement("//NameID").SetText("alice")
			}
			o.NameID = "mallory"
		}, http.StatusBadRequest, "invalid_grant"},
		{"too large", func(o *samltest.ResponseOptions) {
			o.Attributes["padding"] = []string{strings.Repeat("x", 64<<10)}
		}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := env.tokenAssertionOptions("alice")
			tok := ""
			if tc.change == nil {
				b, err := base64.RawURLEncoding.DecodeString(env.samlToken(t, o))
				require.NoError(t, err)
				tok = base64.URLEncoding.EncodeToString(b)
			} else {
				tc.change(&o)
				tok = env.samlToken(t, o)
			}
			status, body := env.exchangeToken(t, tok, oauth.TokenTypeSAML2)
			assert.Equal(t, tc.status, status, body)
			if tc.code != "" {
				assert.Equal(t, tc.code, body["error"], body)
				assert.NotContains(t, body, "access_token")
			} else {
				assert.NotEmpty(t, body["access_token"])
			}
		})
	}
	_, err = env.store.LookupExternal(t.Context(), sp.ExternalIdentity{Issuer: env.upstream.EntityID(), NameID: "nobody"})
	require.ErrorIs(t, err, sp.ErrNotFound, "no user was provisioned")
	_, err = env.store.UserByAttribute(t.Context(), "user_name", "nobody")
	require.ErrorIs(t, err, sp.ErrNotFound)

	t.Run("a saml2 token presented as a JWT", func(t *testing.T) {
		status, body := env.exchangeToken(t, env.samlToken(t, env.tokenAssertionOptions("alice")), oauth.TokenTypeJWT)
		assert.Equal(t, http.StatusBadRequest, status, body)
	})
}

// TestSAMLSubjectTokenSharesTheACSReplayCache: the token endpoint and the
// ACS record assertions in one replay cache under (IdP entity ID,
// assertion ID), so an assertion ID accepted at one is refused at the
// other.
func TestSAMLSubjectTokenSharesTheACSReplayCache(t *testing.T) {
	env, err := startGateway(t, gwOptions{allowIdPInitiated: true})
	require.NoError(t, err)
	acsOptions := func(id string) samltest.ResponseOptions {
		return samltest.ResponseOptions{
			Destination: env.base + "/saml/acs",
			Audience:    env.spEntity,
			NameID:      "alice",
			AssertionID: id,
		}
	}

	// Token endpoint first, then the ACS.
	tokOpts := env.tokenAssertionOptions("alice")
	status, body := env.exchangeToken(t, env.samlToken(t, tokOpts), oauth.TokenTypeSAML2)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, http.StatusSeeOther, env.postACS(t, acsOptions(saml.NewID())), "positive control: the ACS signs in")
	assert.Equal(t, http.StatusForbidden, env.postACS(t, acsOptions(tokOpts.AssertionID)), "an assertion ID consumed at the token endpoint")

	// The ACS first, then the token endpoint.
	id := saml.NewID()
	require.Equal(t, http.StatusSeeOther, env.postACS(t, acsOptions(id)))
	o := env.tokenAssertionOptions("alice")
	o.AssertionID = id
	status, body = env.exchangeToken(t, env.samlToken(t, o), oauth.TokenTypeSAML2)
	assert.Equal(t, http.StatusBadRequest, status, body, "an assertion ID consumed at the ACS")
	assert.Equal(t, "invalid_grant", body["error"])
	status, body = env.exchangeToken(t, env.samlToken(t, env.tokenAssertionOptions("alice")), oauth.TokenTypeSAML2)
	assert.Equal(t, http.StatusOK, status, body, "positive control: a fresh assertion")
}

// TestSignInsAudited: ACS sign-ins and rejections are in the audit log
// (type signin) with the user, the identity source and the reason.
func TestSignInsAudited(t *testing.T) {
	env, err := startGateway(t, gwOptions{allowIdPInitiated: true})
	require.NoError(t, err)
	ok := samltest.ResponseOptions{Destination: env.base + "/saml/acs", Audience: env.spEntity, NameID: "alice"}
	require.Equal(t, http.StatusSeeOther, env.postACS(t, ok))
	bad := ok
	bad.Audience = "https://elsewhere.example.com"
	require.Equal(t, http.StatusForbidden, env.postACS(t, bad))

	evs, err := env.store.QueryAudit(t.Context(), audit.Query{Type: "signin"})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, audit.Failure, evs[0].Outcome)
	assert.Equal(t, "audience", evs[0].Reason)
	assert.Empty(t, evs[0].Subject)
	assert.Equal(t, audit.Success, evs[1].Outcome)
	assert.Equal(t, env.users["alice"], evs[1].Subject)
	assert.Equal(t, "saml", evs[1].Details["identity_source"])
	assert.Equal(t, "external_idp", evs[1].Details["credential"])
	assert.Equal(t, "127.0.0.1", evs[1].Source)
}
