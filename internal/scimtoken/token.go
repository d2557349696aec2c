package scimtoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Token format.
const (
	// Prefix starts every SCIM bearer token, so a leaked token is
	// recognisable (secret scanners, logs) and never mistaken for another
	// credential.
	Prefix = "ghscim_"
	// secretBytes is the token's random part (256 bits).
	secretBytes = 32
	// TokenLength is the length of a token: Prefix and the unpadded
	// base64url encoding of 32 random bytes.
	TokenLength = len(Prefix) + 43
	// idBytes is the random part of a token ID (128 bits), hex encoded.
	idBytes = 16
	// MaxNameLength caps a token's name, in characters.
	MaxNameLength = 100
	// MaxAuthorizationLength caps the Authorization header the middleware
	// reads; anything longer is refused without further parsing.
	MaxAuthorizationLength = 1024
)

// Record is a stored token. It never holds the token itself: only the
// hex SHA-256 of the token string (prefix included).
type Record struct {
	// ID is public: 32 lowercase hex characters (128 random bits).
	ID string
	// Hash is the lowercase hex SHA-256 of the token string.
	Hash string
	// Name is an optional description for administrators.
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time
	// RevokedAt is zero while the token is not revoked.
	RevokedAt time.Time
	// LastUsedAt is zero until the token is first accepted; it is updated
	// at most once per LastUsedInterval.
	LastUsedAt time.Time
}

// Active reports whether the token is usable at now: not revoked and not
// yet expired (ExpiresAt is the first instant it is refused).
func (r Record) Active(now time.Time) bool {
	return r.RevokedAt.IsZero() && now.Before(r.ExpiresAt)
}

// newToken returns a fresh token and its hash.
func newToken() (token, hash string) {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// newID returns a fresh token ID.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HashToken returns the lowercase hex SHA-256 of token: the value stored
// and looked up in place of the token.
func HashToken(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// wellFormed reports whether token has the shape of a token this package
// issues: Prefix followed by the canonical unpadded base64url encoding of
// 32 bytes.
func wellFormed(token string) bool {
	secret, ok := strings.CutPrefix(token, Prefix)
	if !ok || len(token) != TokenLength {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	return err == nil && len(b) == secretBytes
}

// validID reports whether id has the shape of a token ID.
func validID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Errors of ParseBearer; both are wrapped in a *RefusedError by the
// middleware.
var (
	// ErrNoCredentials: the request has no Authorization header.
	ErrNoCredentials = errors.New("scimtoken: no Authorization header")
	// ErrMalformedCredentials: the Authorization header is not one
	// well-formed Bearer credential.
	ErrMalformedCredentials = errors.New("scimtoken: malformed Authorization header")
)

// ParseBearer returns the token of an Authorization header value of the
// form "Bearer <token>" (RFC 6750 section 2.1). The scheme is matched
// case-insensitively (RFC 9110 section 11.1); exactly one space separates
// it from the token, which must be a non-empty b64token (RFC 6750:
// ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then optional "=").
// An empty value is ErrNoCredentials; anything else, a value longer than
// MaxAuthorizationLength included, is ErrMalformedCredentials.
func ParseBearer(header string) (string, error) {
	if header == "" {
		return "", ErrNoCredentials
	}
	if len(header) > MaxAuthorizationLength {
		return "", ErrMalformedCredentials
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !isB64Token(token) {
		return "", ErrMalformedCredentials
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
