package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/examples/data-service/rows"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/propagation"
)

const (
	idpIssuer    = "https://idp.corp.example.com"
	idpAudience  = "gatehouse"
	warehouseAud = "https://warehouse.example.com"
	otherAud     = "https://crm.example.com"
	clientID     = "bi-tool"
	clientSecret = "s3cret with spaces & symbols"
	rowsScope    = "rows:read"
)

// users is the fake identity store, keyed by the IdP token's sub.
var users = map[string]oauth.Subject{
	"alice": {UserID: "u-alice", UserName: "alice", Email: "alice@corp.example.com", Groups: []string{"sales"}, Active: true},
	"bob":   {UserID: "u-bob", UserName: "bob", Email: "bob@corp.example.com", Groups: []string{"finance", "staff"}, Active: true},
}

type clientStore map[string]*oauth.Client

func (s clientStore) Client(_ context.Context, id string) (*oauth.Client, error) {
	c, ok := s[id]
	if !ok {
		return nil, fmt.Errorf("client %q: %w", id, oauth.ErrUnknownClient)
	}
	return c, nil
}

type jtiStore struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *jtiStore) MarkJTIUsed(_ context.Context, iss, jti string, _, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[iss+" "+jti] {
		return oauth.ErrJTIReplayed
	}
	s.seen[iss+" "+jti] = true
	return nil
}

// idpResolver accepts JWTs from the fake corporate IdP, verified with its
// own key, and maps their sub to a user of the fake identity store.
type idpResolver struct{ v *oauth.Validator }

func (r idpResolver) ResolveSubject(ctx context.Context, tokenType, token string) (oauth.Subject, error) {
	if tokenType != oauth.TokenTypeJWT {
		return oauth.Subject{}, fmt.Errorf("unsupported token type %q", tokenType)
	}
	tok, err := r.v.Validate(ctx, token)
	if err != nil {
		return oauth.Subject{}, err
	}
	u, ok := users[tok.Subject()]
	if !ok {
		return oauth.Subject{}, oauth.ErrUnknownUser
	}
	u.Issuer, u.JTI, u.ExpiresAt = tok.Issuer(), tok.JwtID(), tok.Expiration()
	return u, nil
}

type fixture struct {
	gatehouse   *httptest.Server
	dataService *httptest.Server
	issuer      string
	gatehouseSK *ecdsa.PrivateKey
	idpSK       *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// start runs Gatehouse's token and JWKS endpoints (package oauth) and the
// data-service example's handler on two loopback servers.
func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{gatehouseSK: newKey(t), idpSK: newKey(t)}

	f.gatehouse = httptest.NewUnstartedServer(nil)
	f.issuer = "http://" + f.gatehouse.Listener.Addr().String()
	minter, err := oauth.NewMinter(oauth.MinterConfig{
		Issuer: f.issuer,
		Signer: oauth.StaticSigner{KID: "gh-1", Alg: jwa.ES256, Key: f.gatehouseSK},
	})
	require.NoError(t, err)
	idpValidator, err := oauth.NewValidator(oauth.ValidatorConfig{
		Issuer:     idpIssuer,
		Audiences:  []string{idpAudience},
		Keys:       oauth.StaticKeys{{ID: "idp-1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &f.idpSK.PublicKey}},
		RequireJTI: true,
	})
	require.NoError(t, err)
	token, err := oauth.NewTokenHandler(oauth.TokenHandlerConfig{
		Issuer:        f.issuer,
		TokenEndpoint: f.issuer + "/oauth/token",
		Clients: clientStore{clientID: {
			ID:         clientID,
			SecretHash: oauth.HashSecret(clientSecret),
			GrantTypes: []string{oauth.GrantTokenExchange},
			Audiences:  []string{warehouseAud, otherAud},
			Scopes:     []string{rowsScope},
		}},
		JTIs:      &jtiStore{seen: map[string]bool{}},
		Minter:    minter,
		Resolvers: map[string]oauth.SubjectResolver{oauth.TokenTypeJWT: idpResolver{v: idpValidator}},
		DataServices: []oauth.DataService{
			{Audience: warehouseAud, Scopes: []string{rowsScope}},
			{Audience: otherAud, Scopes: []string{rowsScope}},
		},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/oauth/token", token)
	mux.Handle("/oauth/jwks", oauth.JWKSHandler(oauth.StaticKeys{
		{ID: "gh-1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &f.gatehouseSK.PublicKey},
	}))
	f.gatehouse.Config.Handler = mux
	f.gatehouse.Start()
	t.Cleanup(f.gatehouse.Close)

	keys, err := propagation.NewRemoteKeySet(propagation.RemoteKeySetConfig{URL: f.issuer + "/oauth/jwks"})
	require.NoError(t, err)
	v, err := propagation.NewVerifier(propagation.VerifierConfig{
		Issuer:         f.issuer,
		Audience:       warehouseAud,
		KeySet:         keys,
		RequiredScopes: []string{rowsScope},
	})
	require.NoError(t, err)
	h, err := rows.NewHandler(rows.Config{Verifier: v})
	require.NoError(t, err)
	f.dataService = httptest.NewServer(h)
	t.Cleanup(f.dataService.Close)
	return f
}

// idpToken is a token of the fake corporate IdP for sub, signed by key.
func idpToken(t *testing.T, key *ecdsa.PrivateKey, sub string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(idpIssuer).
		Subject(sub).
		Audience([]string{idpAudience}).
		IssuedAt(now).
		Expiration(now.Add(10 * time.Minute)).
		JwtID(rand.Text()).
		Build()
	require.NoError(t, err)
	hdr := jws.NewHeaders()
	require.NoError(t, hdr.Set(jws.KeyIDKey, "idp-1"))
	jk, err := jwk.FromRaw(key)
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, jk, jws.WithProtectedHeaders(hdr)))
	require.NoError(t, err)
	return string(signed)
}

func (f *fixture) config(subjectToken string) config {
	return config{
		Gatehouse:    f.issuer,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		SubjectToken: subjectToken,
		Audience:     warehouseAud,
		Scope:        rowsScope,
		DataService:  f.dataService.URL,
	}
}

func rowIDs(rs []rows.Row) []int {
	ids := []int{}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestExchangeAndQuery(t *testing.T) {
	f := start(t)
	tests := []struct {
		sub      string
		wantUser string
		wantIDs  []int
	}{
		{sub: "alice", wantUser: "alice", wantIDs: []int{1, 2, 5}}, // sales
		{sub: "bob", wantUser: "bob", wantIDs: []int{3, 4}},        // finance
	}
	for _, tc := range tests {
		t.Run(tc.sub, func(t *testing.T) {
			ctx := t.Context()
			token, err := exchange(ctx, http.DefaultClient, f.config(idpToken(t, f.idpSK, tc.sub)))
			require.NoError(t, err)
			body, err := query(ctx, http.DefaultClient, f.dataService.URL, token)
			require.NoError(t, err)
			var resp rows.Response
			require.NoError(t, json.Unmarshal(body, &resp))
			assert.Equal(t, tc.wantUser, resp.User)
			assert.Equal(t, users[tc.sub].UserID, resp.UserID)
			assert.Equal(t, clientID, resp.ClientID)
			assert.Empty(t, resp.Act)
			assert.Equal(t, tc.wantIDs, rowIDs(resp.Rows))
			for _, r := range resp.Rows {
				assert.Contains(t, users[tc.sub].Groups, r.Group)
			}
		})
	}
}

func TestExchangeRefused(t *testing.T) {
	f := start(t)
	ctx := t.Context()

	// Positive control: the same request with the right key and secret.
	_, err := exchange(ctx, http.DefaultClient, f.config(idpToken(t, f.idpSK, "alice")))
	require.NoError(t, err)

	var se *StatusError
	_, err = exchange(ctx, http.DefaultClient, f.config(idpToken(t, newKey(t), "alice")))
	require.ErrorAs(t, err, &se, "IdP token signed by an unknown key")
	assert.Equal(t, http.StatusBadRequest, se.Code)
	assert.Equal(t, "invalid_grant", se.OAuthError)

	cfg := f.config(idpToken(t, f.idpSK, "alice"))
	cfg.ClientSecret = "wrong"
	_, err = exchange(ctx, http.DefaultClient, cfg)
	require.ErrorAs(t, err, &se, "wrong client secret")
	assert.Equal(t, http.StatusUnauthorized, se.Code)
	assert.Equal(t, "invalid_client", se.OAuthError)
}

// TestDataServiceRefuses starts from a valid token minted by Gatehouse's
// key and changes one thing per case.
func TestDataServiceRefuses(t *testing.T) {
	f := start(t)
	gatehouseSigner := oauth.StaticSigner{KID: "gh-1", Alg: jwa.ES256, Key: f.gatehouseSK}
	valid := oauth.AccessTokenClaims{
		Subject:  "u-alice",
		Audience: []string{warehouseAud},
		ClientID: clientID,
		Scope:    []string{rowsScope},
		Username: "alice",
		Groups:   []string{"sales"},
	}
	mint := func(t *testing.T, signer oauth.Signer, now func() time.Time, c oauth.AccessTokenClaims) string {
		t.Helper()
		m, err := oauth.NewMinter(oauth.MinterConfig{Issuer: f.issuer, Signer: signer, Now: now})
		require.NoError(t, err)
		tok, _, err := m.Mint(t.Context(), c)
		require.NoError(t, err)
		return tok
	}
	otherAudience := valid
	otherAudience.Audience = []string{otherAud}
	delegated := valid
	delegated.Act = &oauth.Actor{Subject: "svc-report", ClientID: "scheduler"}

	tests := []struct {
		name    string
		token   string
		want    int
		wantAct []rows.Actor
	}{
		{name: "valid", token: mint(t, gatehouseSigner, nil, valid), want: http.StatusOK},
		{name: "valid with act chain", token: mint(t, gatehouseSigner, nil, delegated), want: http.StatusOK,
			wantAct: []rows.Actor{{Subject: "svc-report", ClientID: "scheduler"}}},
		{name: "other audience", token: mint(t, gatehouseSigner, nil, otherAudience), want: http.StatusUnauthorized},
		{name: "expired", token: mint(t, gatehouseSigner, func() time.Time { return time.Now().Add(-2 * time.Hour) }, valid), want: http.StatusUnauthorized},
		{name: "unpublished key, published kid", token: mint(t, oauth.StaticSigner{KID: "gh-1", Alg: jwa.ES256, Key: newKey(t)}, nil, valid), want: http.StatusUnauthorized},
		{name: "unpublished key and kid", token: mint(t, oauth.StaticSigner{KID: "gh-rogue", Alg: jwa.ES256, Key: newKey(t)}, nil, valid), want: http.StatusUnauthorized},
		{name: "no token", token: "", want: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := query(t.Context(), http.DefaultClient, f.dataService.URL, tc.token)
			if tc.want != http.StatusOK {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.want, se.Code)
				return
			}
			require.NoError(t, err)
			var resp rows.Response
			require.NoError(t, json.Unmarshal(body, &resp))
			assert.Equal(t, []int{1, 2, 5}, rowIDs(resp.Rows))
			assert.Equal(t, "alice", resp.User)
			assert.Equal(t, tc.wantAct, resp.Act)
		})
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://gatehouse.example.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		_, err := checkURL("u", ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"http://gatehouse.example.com", "ftp://127.0.0.1", "/relative", "https://"} {
		_, err := checkURL("u", bad)
		assert.Error(t, err, bad)
	}
}
