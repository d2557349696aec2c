package propagation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/gatehouse-dev/gatehouse/propagation"
)

// A data service that returns rows only to members of "finance". In
// production the KeySet is NewRemoteKeySet on Gatehouse's /oauth/jwks; here
// a static set and a locally minted token stand in for Gatehouse.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwk.FromRaw(&key.PublicKey)
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256)
	set := jwk.NewSet()
	_ = set.AddKey(pub)

	// The data service: a verifier for its audience, and the middleware.
	keys, _ := propagation.NewStaticKeySet(set)
	verifier, _ := propagation.NewVerifier(propagation.VerifierConfig{
		Issuer:         "https://gatehouse.example.com",
		Audience:       "https://warehouse.example.com",
		KeySet:         keys,
		RequiredScopes: []string{"warehouse:read"},
	})
	rows := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := propagation.FromContext(r.Context())
		if !id.InGroup("finance") {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "rows for %s via %s", id.UserName, id.ClientID)
	})
	srv := httptest.NewServer(propagation.Middleware(verifier)(rows))
	defer srv.Close()

	// What Gatehouse would issue at /oauth/token.
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://gatehouse.example.com", "aud": "https://warehouse.example.com",
		"sub": "u-1", "username": "alice", "groups": []string{"finance"},
		"client_id": "bi-tool", "scope": "warehouse:read", "jti": "t1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "at+jwt")
	_ = hdr.Set(jws.KeyIDKey, "k1")
	token, _ := jws.Sign(claims, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))

	// Without a token: 401 and a Bearer challenge.
	resp2, err := http.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp2.Body.Close()
	fmt.Println(resp2.StatusCode, resp2.Header.Get("WWW-Authenticate"))
	// Output:
	// 200 rows for alice via bi-tool
	// 401 Bearer
}
