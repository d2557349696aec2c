package main

import (
	"database/sql"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	gw "github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

func testPlan(t *testing.T, users, count int) (tokenPlan, jwk.Key) {
	t.Helper()
	priv, pub, err := newIssuerKey()
	require.NoError(t, err)
	return tokenPlan{Key: priv, Users: users, Count: count, Now: time.Now().UTC().Truncate(time.Second),
		Lifetime: 10 * time.Minute, Workers: 2}, pub
}

func TestPresignBuildsDistinctValidTokens(t *testing.T) {
	plan, pub := testPlan(t, 3, 7)
	bodies, err := presign(t.Context(), plan, nil)
	require.NoError(t, err)
	require.Len(t, bodies, 7)

	jtis := map[string]bool{}
	for i, b := range bodies {
		form, err := url.ParseQuery(string(b))
		require.NoError(t, err)
		assert.Equal(t, oauth.GrantTokenExchange, form.Get("grant_type"))
		assert.Equal(t, oauth.TokenTypeJWT, form.Get("subject_token_type"))
		assert.Equal(t, serviceURL, form.Get("audience"))
		assert.Equal(t, serviceScope, form.Get("scope"))
		assert.Len(t, form, 5)

		tok, err := jwt.Parse([]byte(form.Get("subject_token")), jwt.WithKey(jwa.ES256, pub),
			jwt.WithIssuer(issuerURL), jwt.WithAudience(tokenAudience), jwt.WithClock(jwt.ClockFunc(func() time.Time { return plan.Now.Add(time.Minute) })))
		require.NoError(t, err, "token %d", i)
		email, _ := tok.Get("email")
		assert.Equal(t, userEmail(i%3), email)
		assert.Equal(t, plan.Now.Add(10*time.Minute), tok.Expiration().UTC())
		assert.False(t, jtis[tok.JwtID()], "jti %s repeated", tok.JwtID())
		jtis[tok.JwtID()] = true
	}

	// A token of another key does not verify with pub: the check above
	// is a real one.
	other, _ := testPlan(t, 1, 1)
	ob, err := presign(t.Context(), other, nil)
	require.NoError(t, err)
	form, err := url.ParseQuery(string(ob[0]))
	require.NoError(t, err)
	_, err = jwt.Parse([]byte(form.Get("subject_token")), jwt.WithKey(jwa.ES256, pub))
	assert.Error(t, err)
}

func TestPresignRejectsBadPlans(t *testing.T) {
	good, _ := testPlan(t, 1, 1)
	_, err := presign(t.Context(), good, nil)
	require.NoError(t, err, "positive control")
	for name, edit := range map[string]func(*tokenPlan){
		"no key":      func(p *tokenPlan) { p.Key = nil },
		"no users":    func(p *tokenPlan) { p.Users = 0 },
		"no lifetime": func(p *tokenPlan) { p.Lifetime = 0 },
		"count < 0":   func(p *tokenPlan) { p.Count = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			p := good
			edit(&p)
			_, err := presign(t.Context(), p, nil)
			assert.EqualError(t, err, "presign: key, users and lifetime are required")
		})
	}
}

func TestBasicAuth(t *testing.T) {
	h := basicAuth("a:b", "p&=ss")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	require.NoError(t, err)
	assert.Equal(t, "a%3Ab:p%26%3Dss", string(raw), "each part form-encoded (RFC 6749 section 2.3.1)")
	s1, err := newSecret()
	require.NoError(t, err)
	s2, err := newSecret()
	require.NoError(t, err)
	assert.NotEqual(t, s1, s2)
	assert.Len(t, s1, 32)
}

// TestRunFilesUsersAndTokensExchange builds the gateway from the run
// folder the tool writes, on the SQLite database createUsers filled, and
// sends pre-signed exchanges through its handler (no load): a wrong client
// secret and a token naming a user not created are refused, so the
// positive case is a real one.
func TestRunFilesUsersAndTokensExchange(t *testing.T) {
	s := site{loadkit.Site{Port: 18443}}
	priv, pub, err := newIssuerKey()
	require.NoError(t, err)
	jwks, err := jwksJSON(pub)
	require.NoError(t, err)
	dir := t.TempDir()
	path, err := writeRunFiles(dir, s, "ES256", testIdP(t).Metadata(idpSSOURL), jwks)
	require.NoError(t, err)
	require.NoError(t, createUsers(t.Context(), dir, loadkit.StoreSection{Driver: loadkit.StoreSQLite, DSN: loadkit.DatabaseFile}, 2))

	secret, err := newSecret()
	require.NoError(t, err)
	cfg, err := config.Load(path, secretOnly(secret))
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.NoError(t, os.MkdirAll(cfg.Keys.Dir, 0o700))
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.Store.DSN.Value()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(t.Context(), db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	g, err := gw.New(t.Context(), cfg, gw.Options{Store: st})
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })

	// Three tokens for "3 users": the third names user 2, never created.
	plan := tokenPlan{Key: priv, Users: 3, Count: 3, Now: time.Now().UTC().Truncate(time.Second), Lifetime: tokenLifetime, Workers: 1}
	bodies, err := presign(t.Context(), plan, nil)
	require.NoError(t, err)
	exchange := func(auth string, body []byte) string {
		req := httptest.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, req)
		return classify(rec.Code, rec.Body.Bytes())
	}
	auth := basicAuth(clientID, secret)
	assert.Equal(t, outcomeOK, exchange(auth, bodies[0]))
	assert.Equal(t, outcomeOK, exchange(auth, bodies[1]))
	assert.Equal(t, outcomeOK, exchange(auth, bodies[0]), "subject tokens may be exchanged again (timed runs reuse them)")
	assert.Equal(t, `400 Bad Request "invalid_grant"`, exchange(auth, bodies[2]))
	assert.Equal(t, `401 Unauthorized "invalid_client"`, exchange(basicAuth(clientID, secret+"x"), bodies[0]))
}

func TestCreateUsersRejectsNoUsers(t *testing.T) {
	err := createUsers(t.Context(), t.TempDir(), loadkit.StoreSection{Driver: loadkit.StoreSQLite, DSN: "x.db"}, 0)
	assert.EqualError(t, err, "create users: the number of users must be positive")
}
