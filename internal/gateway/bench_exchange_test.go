package gateway_test

// The figures of issue 4, in one run:
//
//	go test -run '^$' -bench Exchange -cpu 1,2 -count 6 ./internal/gateway/
//
// BenchmarkExchangeRawSignVerify is the floor: jwx v2 jwt.Sign plus
// jwt.Parse with verification, per algorithm. BenchmarkExchangeGatewaySQLite
// and BenchmarkExchangeGatewayMemory run complete token exchanges through
// the gateway's handler (client_secret_basic, verify the trusted issuer's
// subject token, look the user up by email, authorize, mint an ES256 access
// token, audit) without a network. The ratio "exchange per core / raw
// ES256 per core" compares the serial sub-benchmarks at -cpu 1; the
// parallel ones show what both cores give. The audit log commits in
// groups: serially every exchange waits for its own SQLite transaction,
// with RunParallel the exchanges in flight (GOMAXPROCS of them) share one.
// The user lookup by email scans the users table (no index on email yet),
// so the SQLite figures depend on benchUsers.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Shape of the exchange benchmarks.
const (
	benchBase     = "http://127.0.0.1:8080"
	benchIssuer   = "https://corp-idp.bench.example.com"
	benchAudience = "gatehouse"
	benchService  = "https://warehouse.bench.example.com"
	benchClient   = "bi-tool"
	benchSecret   = "bench-s3cret"
	// benchUsers is the number of users in the store; subject token i
	// names user i mod benchUsers.
	benchUsers = 1000
	// benchTokenLifetime is exp - iat of the subject tokens.
	benchTokenLifetime = 10 * time.Minute
)

// benchClaims builds a token shaped like a Gatehouse access token.
func benchClaims(b *testing.B) jwt.Token {
	b.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(benchBase).Subject("user-0123456789abcdef").Audience([]string{benchService}).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(benchTokenLifetime)).JwtID("0123456789abcdef0123456789abcdef").
		Claim("client_id", benchClient).Claim("scope", "warehouse.read").Claim("email", "user0001@example.com").
		Claim("username", "user0001").Claim("groups", []string{"engineering", "all-staff"}).Build()
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// benchKey is a signing key of one algorithm and its public key.
type benchKey struct {
	name string
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
}

func benchKeys(b *testing.B) []benchKey {
	b.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return []benchKey{{"ES256", jwa.ES256, ec}, {"RS256", jwa.RS256, rs}, {"EdDSA", jwa.EdDSA, ed}}
}

// signVerify signs tok and parses it back with verification and claim
// validation.
func signVerify(tok jwt.Token, k benchKey) error {
	signed, err := jwt.Sign(tok, jwt.WithKey(k.alg, k.priv))
	if err != nil {
		return err
	}
	_, err = jwt.Parse(signed, jwt.WithKey(k.alg, k.priv.Public()), jwt.WithValidate(true))
	return err
}

// BenchmarkExchangeRawSignVerify is the floor of an exchange: one jwx v2
// sign plus one verifying parse, per algorithm; serial (one core) and with
// RunParallel.
func BenchmarkExchangeRawSignVerify(b *testing.B) {
	tok := benchClaims(b)
	for _, k := range benchKeys(b) {
		if err := signVerify(tok, k); err != nil {
			b.Fatalf("%s: %v", k.name, err)
		}
		b.Run(k.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := signVerify(tok, k); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := signVerify(tok, k); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// exchangeBench is a gateway with a trusted issuer and benchUsers users.
type exchangeBench struct {
	handler http.Handler
	extKey  jwk.Key // the trusted issuer's private key
	auth    string  // the Authorization header
}

// newExchangeBench builds the gateway on st (already holding the users) in
// dir.
func newExchangeBench(b *testing.B, dir string, st gateway.Store) *exchangeBench {
	b.Helper()
	writeUpstreamIdP(b, dir, benchBase)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	env := &exchangeBench{auth: "Basic " + basicCredentials(benchClient, benchSecret)}
	if env.extKey, err = jwk.FromRaw(priv); err != nil {
		b.Fatal(err)
	}
	for _, kv := range []struct {
		k string
		v any
	}{{jwk.KeyIDKey, "corp-1"}, {jwk.AlgorithmKey, jwa.ES256}} {
		if err := env.extKey.Set(kv.k, kv.v); err != nil {
			b.Fatal(err)
		}
	}
	writeJWKS(b, dir, "corp-jwks.json", env.extKey)
	cfg := loadGatewayConfig(b, dir, gatewayYAML(benchBase, fmt.Sprintf(`  signing_alg: ES256
  clients:
    - id: %s
      secret: %s
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
      scopes: [warehouse.read, warehouse.write]
`, benchClient, benchSecret, oauth.GrantTokenExchange, benchService, benchIssuer, benchAudience, benchService)))
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := g.Close(); err != nil {
			b.Error(err)
		}
	})
	env.handler = g.Handler()
	return env
}

// basicCredentials is the client_secret_basic credential (RFC 6749 section
// 2.3.1: each part form-encoded, then base64).
func basicCredentials(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// userStore is what the benchmarks need to create users.
type userStore interface {
	CreateUser(ctx context.Context, u sp.User) (sp.User, error)
}

func createBenchUsers(b *testing.B, st userStore) {
	b.Helper()
	ctx := context.Background()
	for i := range benchUsers {
		u := sp.User{UserName: fmt.Sprintf("user%04d", i), Email: benchEmail(i), Groups: []string{"engineering", "all-staff"}, Active: true}
		if _, err := st.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEmail(i int) string { return fmt.Sprintf("user%04d@example.com", i%benchUsers) }

// bodies pre-signs n distinct subject tokens, one per exchange, in
// parallel, and returns the request bodies.
func (e *exchangeBench) bodies(b *testing.B, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tok, err := jwt.NewBuilder().Issuer(benchIssuer).Audience([]string{benchAudience}).Subject(fmt.Sprintf("corp-%d", i)).
					IssuedAt(now).Expiration(now.Add(benchTokenLifetime)).JwtID(fmt.Sprintf("bench-%d", i)).Claim("email", benchEmail(i)).Build()
				if err == nil {
					var signed []byte
					if signed, err = jwt.Sign(tok, jwt.WithKey(jwa.ES256, e.extKey)); err == nil {
						out[i] = []byte(url.Values{
							"grant_type":         {oauth.GrantTokenExchange},
							"subject_token":      {string(signed)},
							"subject_token_type": {oauth.TokenTypeJWT},
							"audience":           {benchService},
						}.Encode())
						continue
					}
				}
				once.Do(func() { firstErr = err })
				return
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return out
}

// do runs one exchange through the handler and checks it succeeded.
func (e *exchangeBench) do(body []byte) error {
	req := httptest.NewRequest(http.MethodPost, benchBase+oauth.PathToken, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", e.auth)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("exchange: status %d: %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), `"access_token"`) {
		return fmt.Errorf("exchange: no access token: %s", rec.Body.String())
	}
	return nil
}

// runExchanges runs the serial and parallel sub-benchmarks on e. Every
// exchange uses its own pre-signed subject token.
func runExchanges(b *testing.B, e *exchangeBench) {
	// Positive control, and the first audit write, before any timing.
	if err := e.do(e.bodies(b, 1)[0]); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		bodies := e.bodies(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := e.do(bodies[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		bodies := e.bodies(b, b.N)
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := e.do(bodies[next.Add(1)-1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkExchangeGatewaySQLite runs token exchanges through the gateway
// on a SQLite file store, opened as cmd/gatehouse opens it.
func BenchmarkExchangeGatewaySQLite(b *testing.B) {
	dir := b.TempDir()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "gatehouse.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(4) // as cmd/gatehouse
	st, err := sqlstore.Open(context.Background(), db, sqlstore.SQLite, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	createBenchUsers(b, st)
	runExchanges(b, newExchangeBench(b, dir, st))
}

// BenchmarkExchangeGatewayMemory is BenchmarkExchangeGatewaySQLite on the
// memory store, for comparison.
func BenchmarkExchangeGatewayMemory(b *testing.B) {
	st := memory.New()
	createBenchUsers(b, st)
	runExchanges(b, newExchangeBench(b, b.TempDir(), st))
}
