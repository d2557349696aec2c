package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJWKSHandler(t *testing.T) {
	k := loadKeys(t)
	srv := httptest.NewServer(JWKSHandler(k.set()))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
	set, err := jwk.ParseReader(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 3, set.Len())
	for _, want := range k.set() {
		key, ok := set.LookupKeyID(want.ID)
		require.True(t, ok, want.ID)
		assert.Equal(t, want.Algorithms[0].String(), key.Algorithm().String())
		assert.Equal(t, "sig", key.KeyUsage())
		isPrivate, err := jwk.IsPrivateKey(key)
		if err == nil {
			assert.False(t, isPrivate)
		}
	}

	// A third party verifies a minted token with the published set.
	m, err := NewMinter(MinterConfig{Issuer: testIssuer, Signer: StaticSigner{KID: "ec1", Alg: jwa.ES256, Key: k.ec}})
	require.NoError(t, err)
	raw, _, err := m.Mint(context.Background(), AccessTokenClaims{Subject: "u", Audience: []string{"a"}, ClientID: "c"})
	require.NoError(t, err)
	_, err = jwt.Parse([]byte(raw), jwt.WithKeySet(set), jwt.WithAcceptableSkew(time.Minute))
	require.NoError(t, err)
}

func TestJWKSHandlerRefuses(t *testing.T) {
	k := loadKeys(t)
	tests := []struct {
		name   string
		keys   PublicKeySource
		method string
		status int
	}{
		{name: "control", keys: k.set(), method: http.MethodGet, status: 200},
		{name: "HEAD", keys: k.set(), method: http.MethodHead, status: 200},
		{name: "POST", keys: k.set(), method: http.MethodPost, status: 405},
		{name: "private key never published", keys: StaticKeys{{ID: "ec1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: k.ec}},
			method: http.MethodGet, status: 500},
		{name: "alg does not fit key", keys: StaticKeys{{ID: "ec1", Algorithms: []jwa.SignatureAlgorithm{jwa.RS256}, Public: &k.ec.PublicKey}},
			method: http.MethodGet, status: 500},
		{name: "no kid", keys: StaticKeys{{Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey}},
			method: http.MethodGet, status: 500},
		{name: "source fails", keys: failingKeys{}, method: http.MethodGet, status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			JWKSHandler(tc.keys).ServeHTTP(rec, httptest.NewRequest(tc.method, PathJWKS, nil))
			assert.Equal(t, tc.status, rec.Code)
			assert.NotContains(t, rec.Body.String(), `"d"`)
		})
	}
}

func TestMetadataHandler(t *testing.T) {
	h, err := MetadataHandler(MetadataConfig{Issuer: "https://gatehouse.example.com",
		DeviceAuthorizationEndpoint: "https://gatehouse.example.com" + PathDeviceAuthorization})
	require.NoError(t, err)
	for _, p := range []string{PathMetadata, PathOpenIDConfiguration} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		require.Equal(t, 200, rec.Code)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
		assert.Equal(t, "https://gatehouse.example.com", doc["issuer"])
		assert.Equal(t, "https://gatehouse.example.com/oauth/token", doc["token_endpoint"])
		assert.Equal(t, "https://gatehouse.example.com/oauth/jwks", doc["jwks_uri"])
		assert.Equal(t, "https://gatehouse.example.com/oauth/device_authorization", doc["device_authorization_endpoint"])
		assert.Equal(t, "https://gatehouse.example.com/oauth/introspect", doc["introspection_endpoint"])
		assert.Equal(t, "https://gatehouse.example.com/oauth/revoke", doc["revocation_endpoint"])
		assert.ElementsMatch(t, []any{GrantTokenExchange, GrantJWTBearer, GrantDeviceCode, GrantRefreshToken}, doc["grant_types_supported"])
		assert.ElementsMatch(t, []any{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}, doc["token_endpoint_auth_methods_supported"])
		assert.ElementsMatch(t, []any{"ES256", "RS256", "EdDSA"}, doc["token_endpoint_auth_signing_alg_values_supported"])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathMetadata, nil))
	assert.Equal(t, 405, rec.Code)

	// Without a device endpoint, neither the endpoint nor the grant is
	// advertised.
	h, err = MetadataHandler(MetadataConfig{Issuer: "https://gatehouse.example.com"})
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMetadata, nil))
	require.Equal(t, 200, rec.Code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	assert.NotContains(t, doc, "device_authorization_endpoint")
	assert.ElementsMatch(t, []any{GrantTokenExchange, GrantJWTBearer, GrantRefreshToken}, doc["grant_types_supported"])

	for name, cfg := range map[string]MetadataConfig{
		"relative":                      {Issuer: "/x"},
		"query":                         {Issuer: "https://g.example.com?x=1"},
		"ftp":                           {Issuer: "ftp://g.example.com"},
		"HMAC alg":                      {Issuer: "https://g.example.com", SigningAlgs: []jwa.SignatureAlgorithm{jwa.HS256}},
		"none alg":                      {Issuer: "https://g.example.com", SigningAlgs: []jwa.SignatureAlgorithm{jwa.NoSignature}},
		"device grant without endpoint": {Issuer: "https://g.example.com", GrantTypes: []string{GrantDeviceCode}},
		"relative device endpoint":      {Issuer: "https://g.example.com", DeviceAuthorizationEndpoint: PathDeviceAuthorization},
	} {
		_, err := MetadataHandler(cfg)
		assert.Error(t, err, name)
	}
}
