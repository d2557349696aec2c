package topology_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/peers"
)

const (
	acsPath            = "/saml/acs"
	sessionCookie      = "gatehouse_session"
	clientID           = "agent"
	clientSecret       = "topology-s3cret"
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	warehouse          = "https://warehouse.example.test"
	corpIssuer         = "https://corp.example.test"
	corpAudience       = "gatehouse-topology"
)

// testUser is the account at the peer IdP; JIT provisioning creates it in
// the gateway at its first sign-in.
var testUser = peers.User{UserName: "alice", Password: "correct horse battery", Email: "alice@example.com",
	DisplayName: "Alice Example", Groups: []string{"engineering"}}

// browser is a cookie-keeping client that follows redirects (to and at the
// IdP) but stops at the gateway's answer to a POST.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.Response != nil && req.Response.Request.Method == http.MethodPost {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}
}

// idpLogin starts a sign-in at base (GET /saml/sp/login) and plays the
// browser at the IdP, returning the HTTP-POST form without posting it.
func idpLogin(ctx context.Context, idp peers.IdP, c *http.Client, base string) (peers.PostForm, error) {
	return idp.Login(ctx, c, base+"/saml/sp/login?return_to=/portal", testUser.UserName, testUser.Password)
}

// postACS posts form to the ACS path at base (instead of the form's own
// host), and returns the status, the Location and whether a session cookie
// was set.
func postACS(ctx context.Context, c *http.Client, base string, form peers.PostForm) (int, string, bool, error) {
	action, err := url.Parse(form.Action)
	if err != nil {
		return 0, "", false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+action.Path, strings.NewReader(form.Values().Encode()))
	if err != nil {
		return 0, "", false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	session := false
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" && ck.MaxAge >= 0 {
			session = true
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), session, nil
}

// sessionUser is GET base/api/v1/session: the status and, on 200, the
// user name.
func sessionUser(ctx context.Context, c *http.Client, base string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/session", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		User struct {
			UserName string `json:"user_name"`
			Email    string `json:"email"`
		} `json:"user"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &body); err != nil {
			return resp.StatusCode, "", fmt.Errorf("session body %q: %w", b, err)
		}
	}
	return resp.StatusCode, body.User.Email, nil
}

// corp is the trusted token issuer: its private key signs subject tokens.
type corp struct{ key jwk.Key }

func newCorp(t testing.TB, dir string) *corp {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := jwk.FromRaw(priv)
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, "corp-1"))
	require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.ES256))
	pub, err := k.PublicKey()
	require.NoError(t, err)
	set := jwk.NewSet()
	require.NoError(t, set.AddKey(pub))
	b, err := json.Marshal(set)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "corp-jwks.json"), b, 0o600))
	return &corp{key: k}
}

// subjectToken is a fresh corp JWT for email.
func (c *corp) subjectToken(email string) (string, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(corpIssuer).Audience([]string{corpAudience}).Subject("corp-"+email).
		IssuedAt(now).Expiration(now.Add(5*time.Minute)).JwtID(rand.Text()).Claim("email", email).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, c.key))
	return string(signed), err
}

// exchange is one RFC 8693 token exchange at base; it returns the status
// and, on 200, the access token.
func exchange(ctx context.Context, c *http.Client, base, subject, subjectType string) (int, string, error) {
	form := url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {subject},
		"subject_token_type": {subjectType},
		"audience":           {warehouse},
		"scope":              {"warehouse.read"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", fmt.Errorf("token endpoint: HTTP %d: %s", resp.StatusCode, b)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.AccessToken == "" {
		return resp.StatusCode, "", fmt.Errorf("token endpoint: no access token in %q", b)
	}
	return resp.StatusCode, body.AccessToken, nil
}

// readyz is GET base/readyz's status.
func readyz(ctx context.Context, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
