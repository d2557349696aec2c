package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Signer supplies the current signing key. During rollover the next key is
// published (see JWKSHandler) before a Signer starts returning it.
type Signer interface {
	SigningKey(ctx context.Context) (kid string, alg jwa.SignatureAlgorithm, key crypto.Signer, err error)
}

// StaticSigner is a Signer with one fixed key.
type StaticSigner struct {
	KID string
	Alg jwa.SignatureAlgorithm
	Key crypto.Signer
}

// SigningKey implements Signer.
func (s StaticSigner) SigningKey(context.Context) (string, jwa.SignatureAlgorithm, crypto.Signer, error) {
	return s.KID, s.Alg, s.Key, nil
}

// DefaultAccessTokenLifetime is the lifetime of issued access tokens when
// MinterConfig.Lifetime is zero (CONTRACT.md oauth.access_token_lifetime).
const DefaultAccessTokenLifetime = time.Hour

// AccessTokenType is the typ header of issued access tokens (RFC 9068
// section 2.1).
const AccessTokenType = "at+jwt"

const maxActDepth = 8

// Actor is one link of the RFC 8693 section 4.1 act chain: the party acting
// on behalf of the subject, and, nested, who acted before it.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// AccessTokenClaims are the claims of an issued access token.
type AccessTokenClaims struct {
	Subject  string   // identity store user ID; required
	Audience []string // data service(s); at least one
	ClientID string   // required
	Scope    []string // RFC 6749 scope tokens
	Email    string   // omitted when empty
	Username string
	Groups   []string // always present, [] when none
	Act      *Actor
	// Extra claims; registered and Gatehouse claim names are refused.
	Extra map[string]any
}

// MinterConfig configures a Minter.
type MinterConfig struct {
	Issuer   string // iss, = external_url; required
	Signer   Signer // required
	Lifetime time.Duration
	Now      func() time.Time
}

// Minter issues RFC 9068 JWT access tokens. Safe for concurrent use.
type Minter struct {
	issuer   string
	signer   Signer
	lifetime time.Duration
	now      func() time.Time
}

// NewMinter checks cfg and returns a Minter.
func NewMinter(cfg MinterConfig) (*Minter, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("oauth: minter: issuer %q must be an absolute URL", cfg.Issuer)
	}
	if cfg.Signer == nil {
		return nil, errors.New("oauth: minter: a signer is required")
	}
	if cfg.Lifetime < 0 {
		return nil, errors.New("oauth: minter: negative lifetime")
	}
	m := &Minter{issuer: cfg.Issuer, signer: cfg.Signer, lifetime: cfg.Lifetime, now: cfg.Now}
	if m.lifetime == 0 {
		m.lifetime = DefaultAccessTokenLifetime
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// Issuer returns the iss of minted tokens.
func (m *Minter) Issuer() string { return m.issuer }

// Lifetime returns the lifetime of minted tokens.
func (m *Minter) Lifetime() time.Duration { return m.lifetime }

var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true,
	"jti": true, "client_id": true, "scope": true, "email": true, "username": true,
	"groups": true, "act": true, "cnf": true, "auth_time": true, "acr": true, "amr": true,
}

// Mint signs an access token with header typ at+jwt, kid and alg, and
// claims iss, sub, aud, exp, iat, nbf, jti (128 random bits), client_id,
// scope (space separated), email, username, groups and act.
func (m *Minter) Mint(ctx context.Context, c AccessTokenClaims) (string, time.Time, error) {
	now := m.now().Truncate(time.Second)
	if err := checkClaimsToMint(c); err != nil {
		return "", time.Time{}, err
	}
	kid, alg, key, err := m.signer.SigningKey(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: mint: signing key: %w", err)
	}
	if key == nil {
		return "", time.Time{}, errors.New("oauth: mint: signer returned no key")
	}
	if err := checkSigningKey(alg, key.Public()); err != nil {
		return "", time.Time{}, err
	}
	var jtiBytes [16]byte
	if _, err := rand.Read(jtiBytes[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: mint: jti: %w", err)
	}
	exp := now.Add(m.lifetime)
	claims := make(map[string]any, 14+len(c.Extra))
	for k, v := range c.Extra {
		claims[k] = v
	}
	claims["iss"] = m.issuer
	claims["sub"] = c.Subject
	if len(c.Audience) == 1 {
		claims["aud"] = c.Audience[0]
	} else {
		claims["aud"] = c.Audience
	}
	claims["exp"] = exp.Unix()
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["jti"] = base64.RawURLEncoding.EncodeToString(jtiBytes[:])
	claims["client_id"] = c.ClientID
	claims["scope"] = strings.Join(c.Scope, " ")
	if c.Email != "" {
		claims["email"] = c.Email
	}
	claims["username"] = c.Username
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	claims["groups"] = groups
	if c.Act != nil {
		claims["act"] = c.Act
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: mint: claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, AccessTokenType); err != nil {
		return "", time.Time{}, err
	}
	if kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			return "", time.Time{}, err
		}
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: mint: sign: %w", err)
	}
	return string(signed), exp, nil
}

func checkClaimsToMint(c AccessTokenClaims) error {
	if c.Subject == "" || c.ClientID == "" {
		return errors.New("oauth: mint: subject and client_id are required")
	}
	if len(c.Audience) == 0 {
		return errors.New("oauth: mint: at least one audience is required")
	}
	for _, a := range c.Audience {
		if a == "" {
			return errors.New("oauth: mint: empty audience")
		}
	}
	for _, s := range c.Scope {
		if !validScopeToken(s) {
			return fmt.Errorf("oauth: mint: invalid scope token %q", s)
		}
	}
	depth := 0
	for a := c.Act; a != nil; a = a.Act {
		depth++
		if a.Subject == "" {
			return errors.New("oauth: mint: act without sub")
		}
		if depth > maxActDepth {
			return fmt.Errorf("oauth: mint: act chain deeper than %d", maxActDepth)
		}
	}
	for k := range c.Extra {
		if reservedClaims[k] {
			return fmt.Errorf("oauth: mint: extra claim %q is reserved", k)
		}
	}
	return nil
}

// validScopeToken implements RFC 6749 section 3.3:
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkSigningKey refuses an algorithm the key cannot honestly serve, and
// weak keys.
func checkSigningKey(alg jwa.SignatureAlgorithm, pub crypto.PublicKey) error {
	bad := fmt.Errorf("oauth: mint: key %T does not fit alg %q", pub, alg)
	switch alg {
	case jwa.ES256, jwa.ES384, jwa.ES512:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return bad
		}
		want := map[jwa.SignatureAlgorithm]elliptic.Curve{jwa.ES256: elliptic.P256(), jwa.ES384: elliptic.P384(), jwa.ES512: elliptic.P521()}[alg]
		if k.Curve != want {
			return bad
		}
	case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return bad
		}
		if k.N.BitLen() < 2048 {
			return errors.New("oauth: mint: RSA key shorter than 2048 bits")
		}
	case jwa.EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return bad
		}
	default:
		return fmt.Errorf("oauth: mint: unsupported alg %q", alg)
	}
	return nil
}
