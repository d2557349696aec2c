package gateway_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// rotationKeyReload is the instances' key reload interval.
const rotationKeyReload = 50 * time.Millisecond

// rotationEnv is two gateway instances sharing one keys.dir and one
// SQLite store file, with one clock.
type rotationEnv struct {
	cfg    *config.Config
	clock  *testClock
	extKey jwk.Key
	bases  [2]string // A, B
}

func newRotationEnv(t *testing.T) *rotationEnv {
	t.Helper()
	dir := t.TempDir()
	srvA, setA := lateServer(t)
	srvB, setB := lateServer(t)
	writeUpstreamIdP(t, dir, srvA.URL)

	env := &rotationEnv{
		clock:  newTestClock(time.Now().Truncate(time.Second)), // testClock: trusted_test.go
		extKey: newSigningJWK(t, "corp-1"),
		bases:  [2]string{srvA.URL, srvB.URL},
	}
	pub, err := env.extKey.PublicKey()
	require.NoError(t, err)
	writeJWKS(t, dir, "corp-jwks.json", pub)
	// Both instances serve the issuer external_url (A's URL), as
	// instances behind one load balancer do.
	env.cfg = loadGatewayConfig(t, dir, gatewayYAML(srvA.URL, fmt.Sprintf(`  signing_alg: ES256
  access_token_lifetime: 1h
  clients:
    - id: agent
      secret: s3cret
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]
  trusted_token_issuers:
    - name: corp
      issuer: %q
      jwks_file: corp-jwks.json
      audiences: [%q]
      claim: email
      user_attribute: email
  data_services:
    - audience: %q
      scopes: [warehouse.read]
`, oauth.GrantTokenExchange, warehouse, extIssuer, extAudience, warehouse)))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i, set := range []func(http.Handler){setA, setB} {
		db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "gatehouse.db")))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		db.SetMaxOpenConns(4) // as cmd/gatehouse
		st, err := sqlstore.Open(ctx, db, sqlstore.SQLite, sqlstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		if i == 0 {
			_, err = st.CreateUser(ctx, sp.User{UserName: "alice", Email: "alice@example.com", Active: true})
			require.NoError(t, err)
		}
		g, err := gateway.New(ctx, env.cfg, gateway.Options{Store: st, Now: env.clock.Now, KeyReloadInterval: rotationKeyReload})
		require.NoError(t, err)
		t.Cleanup(func() { _ = g.Close() })
		g.Start(ctx)
		set(g.Handler())
	}
	return env
}

// setClock moves the shared clock to at.
func (e *rotationEnv) setClock(at time.Time) { e.clock.Advance(at.Sub(e.clock.Now())) }

// issue exchanges a fresh trusted-issuer token at instance i for an
// access token and returns it with its kid.
func (e *rotationEnv) issue(t *testing.T, i int) (token, kid string) {
	t.Helper()
	now := e.clock.Now()
	ext, err := jwt.NewBuilder().Issuer(extIssuer).Audience([]string{extAudience}).Subject("corp-alice").
		IssuedAt(now).Expiration(now.Add(5*time.Minute)).Claim("email", "alice@example.com").Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(ext, jwt.WithKey(jwa.ES256, e.extKey))
	require.NoError(t, err)
	env := &oauthEnv{base: e.bases[i]}
	status, body := env.exchange(t, "s3cret", string(signed), oauth.TokenTypeJWT)
	require.Equal(t, http.StatusOK, status, body)
	token, _ = body["access_token"].(string)
	require.NotEmpty(t, token)
	return token, tokenKID(t, token)
}

// tokenKID is the kid in a JWS header.
func tokenKID(t *testing.T, token string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	require.NoError(t, err)
	require.Len(t, msg.Signatures(), 1)
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// jwksKIDs fetches /oauth/jwks of instance i, as a data service that
// refetches it would, and returns the kids it publishes.
func (e *rotationEnv) jwksKIDs(t *testing.T, i int) []string {
	t.Helper()
	set, err := jwk.Parse(get(t, e.bases[i]+oauth.PathJWKS))
	require.NoError(t, err)
	var kids []string
	for k := range set.Len() {
		key, _ := set.Key(k)
		kids = append(kids, key.KeyID())
	}
	return kids
}

// verify validates token as a data service would: with the keys /oauth/jwks
// of instance i publishes now, at the test clock's time.
func (e *rotationEnv) verify(t *testing.T, i int, token string) error {
	t.Helper()
	set, err := jwk.Parse(get(t, e.bases[i]+oauth.PathJWKS))
	require.NoError(t, err)
	var ks oauth.StaticKeys
	for k := range set.Len() {
		key, _ := set.Key(k)
		var raw any
		require.NoError(t, key.Raw(&raw))
		ks = append(ks, oauth.Key{ID: key.KeyID(), Algorithms: []jwa.SignatureAlgorithm{jwa.SignatureAlgorithm(key.Algorithm().String())}, Public: raw})
	}
	v, err := oauth.NewValidator(oauth.ValidatorConfig{
		Issuer: e.cfg.ExternalURL, Audiences: []string{warehouse}, Keys: ks, Typ: oauth.AccessTokenType, Now: e.clock.Now,
	})
	require.NoError(t, err)
	_, err = v.Validate(context.Background(), token)
	return err
}

// TestOAuthKeyRotationTwoInstances rolls the OAuth signing key over under
// two instances sharing keys.dir and the store: publish the next key,
// switch, retire. A token signed by the old key verifies against either
// instance's /oauth/jwks until it expires.
func TestOAuthKeyRotationTwoInstances(t *testing.T) {
	env := newRotationEnv(t)
	const A, B = 0, 1
	lifetime := env.cfg.OAuth.AccessTokenLifetime.Std()
	require.Equal(t, time.Hour, lifetime)

	// The operator's `gatehouse keys --ring oauth`, on the same folder,
	// with the ring options the gateway uses.
	opts, err := gateway.OAuthRingOptions(env.cfg, rotationKeyReload)
	require.NoError(t, err)
	grace := opts.PreviousGrace
	require.GreaterOrEqual(t, grace, lifetime+oauth.DefaultClockSkew, "the previous key outlives the tokens it signed")
	opts.Now = env.clock.Now
	ring, err := keys.OpenRing(env.cfg.Keys.Dir, gateway.OAuthSigningRing, opts)
	require.NoError(t, err)
	_, oldCert := ring.Current()

	old, oldKID := env.issue(t, A)
	for _, i := range []int{A, B} {
		require.Equal(t, []string{oldKID}, env.jwksKIDs(t, i))
		require.NoError(t, env.verify(t, i, old))
	}

	// Rotate: both instances publish the next key and still sign with the
	// current one.
	next, err := ring.Rotate()
	require.NoError(t, err)
	require.False(t, next.Equal(oldCert))
	require.Eventually(t, func() bool {
		return len(env.jwksKIDs(t, A)) == 2 && len(env.jwksKIDs(t, B)) == 2
	}, 10*time.Second, rotationKeyReload)
	jwks := env.jwksKIDs(t, B)
	require.Equal(t, oldKID, jwks[0])
	newKID := jwks[1]
	require.NotEqual(t, oldKID, newKID)
	assert.Equal(t, jwks, env.jwksKIDs(t, A))
	_, kid := env.issue(t, B)
	assert.Equal(t, oldKID, kid, "the next key does not sign before the activation")

	// Activate: after their reload, both instances sign with the new key.
	activatedAt := env.clock.Now()
	require.NoError(t, ring.Activate())
	for _, i := range []int{B, A} {
		require.Eventually(t, func() bool {
			_, kid := env.issue(t, i)
			return kid == newKID
		}, 10*time.Second, rotationKeyReload, "instance %d signs with the new key", i)
	}
	fresh, kid := env.issue(t, B)
	require.Equal(t, newKID, kid)
	for _, i := range []int{A, B} {
		assert.Equal(t, []string{newKID, oldKID}, env.jwksKIDs(t, i), "the previous key stays published")
		assert.NoError(t, env.verify(t, i, old), "instance %d", i)
		assert.NoError(t, env.verify(t, i, fresh), "instance %d", i)
	}

	// Past keys.DefaultPreviousGrace, which a ring opened with default
	// options would stop publishing the previous key at (the bug this
	// grace fixes): the old token has not expired and still verifies.
	env.setClock(activatedAt.Add(keys.DefaultPreviousGrace + time.Minute))
	defaults, err := keys.OpenRing(env.cfg.Keys.Dir, gateway.OAuthSigningRing, keys.RingOptions{AllowEd25519: true, Now: env.clock.Now})
	require.NoError(t, err)
	require.Len(t, defaults.PublishedCertificates(), 1, "with the default grace the previous key is gone")
	for _, i := range []int{A, B} {
		assert.Equal(t, []string{newKID, oldKID}, env.jwksKIDs(t, i), "instance %d", i)
		assert.NoError(t, env.verify(t, i, old), "instance %d", i)
	}
	// Gatehouse's own validation (token exchange of an access token)
	// uses the same published keys.
	status, body := (&oauthEnv{base: env.bases[B]}).exchange(t, "s3cret", old, oauth.TokenTypeAccessToken)
	assert.Equal(t, http.StatusOK, status, body)

	// Just before the old token expires (allowing for the data service's
	// clock skew, too): still verifiable at both instances.
	oldTok, err := jwt.ParseInsecure([]byte(old))
	require.NoError(t, err)
	env.setClock(oldTok.Expiration().Add(oauth.DefaultClockSkew - time.Second))
	for _, i := range []int{A, B} {
		require.True(t, slices.Contains(env.jwksKIDs(t, i), oldKID), "instance %d", i)
		assert.NoError(t, env.verify(t, i, old), "instance %d", i)
	}

	// Once the grace is over, only the new key is published: the old
	// token has expired by then anyway.
	env.setClock(activatedAt.Add(grace))
	for _, i := range []int{A, B} {
		assert.Equal(t, []string{newKID}, env.jwksKIDs(t, i), "instance %d", i)
		assert.Error(t, env.verify(t, i, old), "instance %d", i)
	}
	assert.True(t, oldTok.Expiration().Add(oauth.DefaultClockSkew).Before(activatedAt.Add(grace)))
}

func TestOAuthPreviousGrace(t *testing.T) {
	tests := []struct {
		name             string
		lifetime, reload time.Duration
		want             time.Duration
	}{
		{"default lifetime and reload", time.Hour, 0, time.Hour + keys.DefaultWatchInterval + gateway.OAuthPreviousGraceMargin},
		{"explicit reload", time.Hour, 2 * time.Minute, time.Hour + 2*time.Minute + gateway.OAuthPreviousGraceMargin},
		{"maximum lifetime", config.MaxAccessTokenLifetime, 0, config.MaxAccessTokenLifetime + keys.DefaultWatchInterval + gateway.OAuthPreviousGraceMargin},
		{"short lifetime keeps the ring default", time.Minute, 0, keys.DefaultPreviousGrace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := gateway.OAuthPreviousGrace(tc.lifetime, tc.reload)
			assert.Equal(t, tc.want, got)
			assert.Greater(t, got, tc.lifetime+oauth.DefaultClockSkew)
		})
	}
}
