package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// PublicKeySource supplies the public keys to publish: the current signing
// key and the next one (published before it signs anything). StaticKeys
// implements it, so one value can feed both JWKSHandler and a Validator of
// Gatehouse's own tokens.
type PublicKeySource interface {
	Keys(ctx context.Context) ([]Key, error)
}

// JWKSHandler serves the JWK Set (RFC 7517 section 5) of keys at
// /oauth/jwks: each key with kid, alg (its first allowed algorithm) and
// use=sig. Only public key types are accepted; anything else (a private
// key by mistake included) fails the request rather than being published.
func JWKSHandler(keys PublicKeySource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, NewError(ErrInvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed))
			return
		}
		ks, err := keys.Keys(r.Context())
		if err != nil {
			WriteError(w, NewError(ErrTemporarilyUnavailable, "keys unavailable").Wrap(err))
			return
		}
		body, err := MarshalJWKS(ks)
		if err != nil {
			WriteError(w, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// MarshalJWKS renders keys as a JWK Set document.
func MarshalJWKS(keys []Key) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		switch k.Public.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("oauth: jwks: key %q: %T is not a public key", k.ID, k.Public)
		}
		if k.ID == "" || len(k.Algorithms) == 0 {
			return nil, fmt.Errorf("oauth: jwks: key %q needs a kid and an algorithm", k.ID)
		}
		if err := checkSigningKey(k.Algorithms[0], k.Public); err != nil {
			return nil, fmt.Errorf("oauth: jwks: key %q: %w", k.ID, err)
		}
		jk, err := jwk.FromRaw(k.Public)
		if err != nil {
			return nil, fmt.Errorf("oauth: jwks: key %q: %w", k.ID, err)
		}
		for name, val := range map[string]any{
			jwk.KeyIDKey:     k.ID,
			jwk.AlgorithmKey: k.Algorithms[0],
			jwk.KeyUsageKey:  jwk.ForSignature,
		} {
			if err := jk.Set(name, val); err != nil {
				return nil, fmt.Errorf("oauth: jwks: key %q: %w", k.ID, err)
			}
		}
		if err := set.AddKey(jk); err != nil {
			return nil, fmt.Errorf("oauth: jwks: key %q: %w", k.ID, err)
		}
	}
	return json.Marshal(set)
}

// Grant type identifiers (RFC 8693, RFC 7523, RFC 8628, RFC 6749).
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken  = "refresh_token"
)

// Endpoint paths (CONTRACT.md "HTTP endpoints").
const (
	PathToken               = "/oauth/token"
	PathJWKS                = "/oauth/jwks"
	PathDeviceAuthorization = "/oauth/device_authorization"
	PathIntrospect          = "/oauth/introspect"
	PathRevoke              = "/oauth/revoke"
	PathMetadata            = "/.well-known/oauth-authorization-server"
	PathOpenIDConfiguration = "/.well-known/openid-configuration"
)

// MetadataConfig configures MetadataHandler.
type MetadataConfig struct {
	// Issuer is external_url: an absolute http(s) URL without query or
	// fragment. Endpoints are Issuer + the CONTRACT.md paths.
	Issuer string
	// GrantTypes; nil means token exchange, JWT bearer and refresh token,
	// plus the device code grant when DeviceAuthorizationEndpoint is set.
	GrantTypes []string
	// DeviceAuthorizationEndpoint is the absolute URL of the RFC 8628
	// device authorization endpoint (normally Issuer +
	// PathDeviceAuthorization); emitted as device_authorization_endpoint
	// when set. Advertising GrantDeviceCode requires it.
	DeviceAuthorizationEndpoint string
	// AuthMethods (token_endpoint_auth_methods_supported); nil means
	// client_secret_basic, client_secret_post, private_key_jwt and none.
	AuthMethods []string
	// SigningAlgs are the algorithms of issued tokens and accepted client
	// assertions; nil means ES256, RS256 and EdDSA.
	SigningAlgs []jwa.SignatureAlgorithm
	// Scopes (scopes_supported); omitted when empty.
	Scopes []string
}

type metadataDoc struct {
	Issuer                      string   `json:"issuer"`
	TokenEndpoint               string   `json:"token_endpoint"`
	JWKSURI                     string   `json:"jwks_uri"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint,omitempty"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	GrantTypes                  []string `json:"grant_types_supported"`
	ResponseTypes               []string `json:"response_types_supported"`
	AuthMethods                 []string `json:"token_endpoint_auth_methods_supported"`
	AuthSigningAlgs             []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionAuthMethods    []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods       []string `json:"revocation_endpoint_auth_methods_supported"`
	ScopesSupported             []string `json:"scopes_supported,omitempty"`
}

// MetadataHandler serves the RFC 8414 authorization server metadata (the
// same document at both well-known paths). The document is built once.
func MetadataHandler(cfg MetadataConfig) (http.Handler, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oauth: metadata: issuer %q must be an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	base := strings.TrimSuffix(cfg.Issuer, "/")
	if d := cfg.DeviceAuthorizationEndpoint; d != "" {
		du, err := url.Parse(d)
		if err != nil || (du.Scheme != "https" && du.Scheme != "http") || du.Host == "" || du.Fragment != "" {
			return nil, fmt.Errorf("oauth: metadata: device authorization endpoint %q must be an absolute http(s) URL", d)
		}
	}
	grants := cfg.GrantTypes
	if grants == nil {
		grants = []string{GrantTokenExchange, GrantJWTBearer, GrantRefreshToken}
		if cfg.DeviceAuthorizationEndpoint != "" {
			grants = append(grants, GrantDeviceCode)
		}
	}
	if slices.Contains(grants, GrantDeviceCode) && cfg.DeviceAuthorizationEndpoint == "" {
		return nil, errors.New("oauth: metadata: the device code grant needs a device authorization endpoint (RFC 8628 section 4)")
	}
	methods := cfg.AuthMethods
	if methods == nil {
		methods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
	}
	algs := cfg.SigningAlgs
	if algs == nil {
		algs = []jwa.SignatureAlgorithm{jwa.ES256, jwa.RS256, jwa.EdDSA}
	}
	algNames := make([]string, 0, len(algs))
	for _, a := range algs {
		if a == jwa.NoSignature || isHMAC(string(a)) {
			return nil, errors.New("oauth: metadata: none and HMAC algorithms are never supported")
		}
		algNames = append(algNames, string(a))
	}
	doc := metadataDoc{
		Issuer:                      cfg.Issuer,
		TokenEndpoint:               base + PathToken,
		JWKSURI:                     base + PathJWKS,
		DeviceAuthorizationEndpoint: cfg.DeviceAuthorizationEndpoint,
		IntrospectionEndpoint:       base + PathIntrospect,
		RevocationEndpoint:          base + PathRevoke,
		GrantTypes:                  slices.Clone(grants),
		ResponseTypes:               []string{},
		AuthMethods:                 slices.Clone(methods),
		AuthSigningAlgs:             algNames,
		IntrospectionAuthMethods:    slices.Clone(methods),
		RevocationAuthMethods:       slices.Clone(methods),
		ScopesSupported:             slices.Clone(cfg.Scopes),
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, NewError(ErrInvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed))
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}), nil
}
