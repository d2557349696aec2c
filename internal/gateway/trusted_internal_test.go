package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// testJWKS is a JWK Set of one ES256 public key with the given members
// set (nil values removed).
func testJWKS(t testing.TB, members map[string]any) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := jwk.FromRaw(priv.Public())
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, "k1"))
	require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.ES256))
	for name, v := range members {
		if v == nil {
			require.NoError(t, k.Remove(name))
			continue
		}
		require.NoError(t, k.Set(name, v))
	}
	set := jwk.NewSet()
	require.NoError(t, set.AddKey(k))
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return b
}

func TestCheckJWKSURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://idp.example.com/jwks":      true,
		"http://127.0.0.1:8080/jwks":        true,
		"http://localhost/jwks":             true,
		"http://[::1]:9000/jwks":            true,
		"http://idp.example.com/jwks":       false,
		"http://127.0.0.1.example.com/jwks": false,
		"ftp://idp.example.com/jwks":        false,
		"https://u:p@idp.example.com/jwks":  false,
		"/jwks":                             false,
		"https:///jwks":                     false,
	} {
		_, err := checkJWKSURL(raw)
		assert.Equal(t, ok, err == nil, "%s: %v", raw, err)
	}
}

// TestRemoteJWKSFetch starts from a server answering a valid JWK Set and
// changes one thing.
func TestRemoteJWKSFetch(t *testing.T) {
	valid := testJWKS(t, nil)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantErr string // empty: keys
	}{
		{"positive control", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(valid) }, ""},
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "x", http.StatusInternalServerError) }, "status 500"},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[],"x":"` + strings.Repeat("a", maxJWKSFile) + `"}`))
		}, "larger than"},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html/>")) }, "not a JWK Set"},
		{"only a key without alg", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(testJWKS(t, map[string]any{jwk.AlgorithmKey: nil}))
		}, "no usable key"},
		{"only an encryption key", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(testJWKS(t, map[string]any{jwk.KeyUsageKey: "enc"}))
		}, "no usable key"},
		{"redirect to plain http off loopback", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://jwks.example.com/jwks", http.StatusFound)
		}, "must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			r, err := newRemoteJWKS("corp", srv.URL, nil, nil, nil)
			require.NoError(t, err)
			keys, err := r.Keys(t.Context())
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Len(t, keys, 1)
				assert.Equal(t, []jwa.SignatureAlgorithm{jwa.ES256}, keys[0].Algorithms)
				return
			}
			require.Error(t, err)
			assert.Nil(t, keys)
			assert.ErrorContains(t, err, `trusted token issuer "corp"`)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestRemoteJWKSStaleness: last good keys are kept for jwksMaxStaleness
// after the last successful fetch, then refused; attempts are spaced by
// jwksMinRefreshGap; a cancelled caller does not poison the cache.
func TestRemoteJWKSStaleness(t *testing.T) {
	var fail atomic.Bool
	var calls atomic.Int32
	set := testJWKS(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		if fail.Load() {
			http.Error(w, "x", http.StatusBadGateway)
			return
		}
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r, err := newRemoteJWKS("corp", srv.URL, nil, clock, nil)
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = r.Keys(cancelled)
	require.NoError(t, err, "the fetch does not inherit the caller's cancellation")
	require.EqualValues(t, 1, calls.Load())

	now = now.Add(jwksRefreshInterval - time.Second)
	_, err = r.Keys(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, calls.Load(), "cached")

	fail.Store(true)
	now = now.Add(time.Second)
	_, err = r.Keys(t.Context())
	require.NoError(t, err, "last good keys kept")
	require.EqualValues(t, 2, calls.Load(), "refresh attempted")
	now = now.Add(jwksMinRefreshGap - time.Second)
	_, err = r.Keys(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2, calls.Load(), "no attempt within the gap")

	now = now.Add(jwksMaxStaleness) // beyond the staleness bound
	_, err = r.Keys(t.Context())
	require.Error(t, err)
	assert.ErrorContains(t, err, "older than")
	assert.ErrorContains(t, err, "status 502")

	fail.Store(false)
	now = now.Add(jwksMinRefreshGap)
	_, err = r.Keys(t.Context())
	require.NoError(t, err, "recovers")
}

// TestRemoteJWKSRefreshDoesNotBlock: while one caller refreshes from a
// slow JWKS host, the others answer from the cached keys instead of
// waiting for the fetch.
func TestRemoteJWKSRefreshDoesNotBlock(t *testing.T) {
	set := testJWKS(t, nil)
	var calls atomic.Int32
	second := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 2 {
			close(second)
			<-release
		}
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, err := newRemoteJWKS("corp", srv.URL, nil, clock, nil)
	require.NoError(t, err)
	_, err = r.Keys(t.Context())
	require.NoError(t, err)

	mu.Lock()
	now = now.Add(jwksRefreshInterval) // a refresh is due
	mu.Unlock()
	refreshed := make(chan error, 1)
	go func() { _, err := r.Keys(context.Background()); refreshed <- err }()
	<-second // the refresh is stuck at the host

	got := make(chan error, 1)
	go func() { _, err := r.Keys(context.Background()); got <- err }()
	select {
	case err := <-got:
		require.NoError(t, err, "the cached keys serve while the refresh runs")
	case <-time.After(10 * time.Second):
		t.Fatal("Keys waited for another caller's fetch")
	}
	close(release)
	require.NoError(t, <-refreshed)
	assert.EqualValues(t, 2, calls.Load(), "one refresh, not one per caller")
}

func TestSPVerifiers(t *testing.T) {
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	desc := sp.IdentityProvider{
		EntityID:     "https://idp.example.com/metadata",
		Certificates: []*x509.Certificate{idp.Certificate()},
		SSOURLs:      []string{"https://idp.example.com/sso"},
	}
	st := memory.New()
	s, err := sp.New(sp.Config{
		EntityID: "https://gatehouse.example.com/saml/sp/metadata",
		Regions:  []sp.Region{{Name: "eu", ACSURL: "https://gatehouse.example.com/saml/acs"}},
		IdP:      desc,
		Requests: st, Replay: st, Sessions: st, Users: st,
	})
	require.NoError(t, err)
	fresh := true
	v := spVerifiers{sp: s, fresh: func() bool { return fresh }}

	v1, err := v.Verifier()
	require.NoError(t, err)
	assert.Same(t, s.AssertionVerifier(), v1, "the ACS's own verifier")

	require.NoError(t, s.UpdateIdP(desc))
	v2, err := v.Verifier()
	require.NoError(t, err)
	assert.NotSame(t, v1, v2, "follows a metadata refresh")

	fresh = false
	_, err = v.Verifier()
	require.ErrorContains(t, err, "staleness", "stale metadata: no verifier")
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(testJWKS(f, nil))
	f.Add(testJWKS(f, map[string]any{jwk.AlgorithmKey: nil}))
	f.Add(testJWKS(f, map[string]any{jwk.AlgorithmKey: jwa.HS256}))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA","alg":"HS256"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, strict := range []bool{true, false} {
			keys, _, err := parseJWKS(b, strict)
			if err != nil {
				if keys != nil {
					t.Fatal("keys returned with an error")
				}
				continue
			}
			if len(keys) == 0 {
				t.Fatal("no error and no keys")
			}
			for _, k := range keys {
				if len(k.Algorithms) != 1 || k.Algorithms[0] == "" || strings.HasPrefix(strings.ToUpper(string(k.Algorithms[0])), "HS") ||
					strings.EqualFold(string(k.Algorithms[0]), "none") {
					t.Fatalf("key %q with algorithms %v accepted", k.ID, k.Algorithms)
				}
			}
		}
	})
}

func FuzzCheckIDToken(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, h := range []string{`{"alg":"ES256"}`, `{"alg":"ES256","typ":"JWT"}`, `{"alg":"ES256","typ":"at+jwt"}`, `{"typ":null}`, `[]`, `{"typ":1}`} {
		f.Add(enc(h) + ".e30.sig")
	}
	f.Fuzz(func(t *testing.T, token string) {
		err := checkIDToken(token, "sub", time.Unix(1700000000, 0))
		if err == nil {
			hdr, _, _ := strings.Cut(token, ".")
			b, derr := base64.RawURLEncoding.DecodeString(hdr)
			var h map[string]any
			if derr != nil || json.Unmarshal(b, &h) != nil {
				t.Fatalf("accepted an undecodable header %q", hdr)
			}
			if typ, ok := h["typ"]; ok && typ != nil {
				s, _ := typ.(string)
				if !strings.EqualFold(strings.TrimPrefix(strings.ToLower(s), "application/"), "jwt") {
					t.Fatalf("accepted typ %v", typ)
				}
			}
		}
		if oe := oauth.AsError(checkIDToken(token, "", time.Unix(1700000000, 0))); oe == nil || oe.Code != oauth.ErrInvalidGrant {
			t.Fatal("an ID token without sub is accepted")
		}
	})
}
