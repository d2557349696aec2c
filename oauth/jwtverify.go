package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Key is a trusted public verification key with its explicit algorithm
// allow-list. A token is verified with a key only under one of its
// Algorithms; HMAC algorithms are never used, whatever the list says.
type Key struct {
	ID         string
	Algorithms []jwa.SignatureAlgorithm
	// Public is an *rsa.PublicKey (2048 bits or more), an *ecdsa.PublicKey
	// or an ed25519.PublicKey. Any other type is ignored.
	Public crypto.PublicKey
}

// KeySet supplies the keys a Validator trusts. It is called once per
// Validate; implementations cache (for example a refreshed JWKS).
type KeySet interface {
	Keys(ctx context.Context) ([]Key, error)
}

// StaticKeys is a fixed KeySet (and PublicKeySource).
type StaticKeys []Key

// Keys implements KeySet.
func (s StaticKeys) Keys(context.Context) ([]Key, error) { return s, nil }

// Defaults for ValidatorConfig.
const (
	// DefaultMaxTokenSize bounds the compact serialization, checked before
	// any parsing.
	DefaultMaxTokenSize = 16 << 10
	// DefaultClockSkew is the tolerance for exp, nbf and iat.
	DefaultClockSkew = 60 * time.Second
	// DefaultMaxLifetime bounds exp-iat (or exp-now when iat is absent). Two
	// hours admits Gatehouse's own one-hour tokens and the 60 to 90 minute
	// tokens common corporate IdPs issue, and nothing longer.
	DefaultMaxLifetime = 2 * time.Hour

	maxHeaderSize = 4 << 10
	maxJTILength  = 256
)

// Rejection reasons reported by ValidationError.Reason: a bounded set, safe
// as a metric label.
const (
	ReasonOversized       = "oversized"
	ReasonMalformed       = "malformed"
	ReasonHeader          = "header"
	ReasonAlgNone         = "alg_none"
	ReasonAlgHMAC         = "alg_hmac"
	ReasonAlgNotAllowed   = "alg_not_allowed"
	ReasonHeaderJKU       = "header_jku"
	ReasonHeaderJWK       = "header_jwk"
	ReasonHeaderX5U       = "header_x5u"
	ReasonHeaderX5C       = "header_x5c"
	ReasonHeaderB64       = "header_b64"
	ReasonHeaderCty       = "header_cty"
	ReasonCrit            = "crit"
	ReasonTyp             = "typ"
	ReasonUnknownKID      = "unknown_kid"
	ReasonKeysUnavailable = "keys_unavailable"
	ReasonSignature       = "signature"
	ReasonClaims          = "claims"
	ReasonExpMissing      = "exp_missing"
	ReasonExpired         = "expired"
	ReasonNotYetValid     = "nbf"
	ReasonIATFuture       = "iat_future"
	ReasonLifetime        = "lifetime"
	ReasonIssuer          = "iss"
	ReasonAudience        = "aud"
	ReasonJTI             = "jti"
)

// ErrInvalidToken matches (errors.Is) every ValidationError.
var ErrInvalidToken = errors.New("oauth: invalid token")

// ValidationError is returned by Validator.Validate for every rejection.
// Reason is one of the Reason constants; the wrapped cause is for logs.
// AsError maps it to invalid_grant (temporarily_unavailable when the keys
// could not be obtained); callers validating client assertions map it to
// invalid_client themselves.
type ValidationError struct {
	reason string
	err    error
}

func reject(reason string, err error) *ValidationError {
	return &ValidationError{reason: reason, err: err}
}

// Reason is a short, bounded reason for logs and metrics.
func (e *ValidationError) Reason() string { return e.reason }

func (e *ValidationError) Error() string {
	if e.err != nil {
		return "oauth: invalid token: " + e.reason + ": " + e.err.Error()
	}
	return "oauth: invalid token: " + e.reason
}

// Unwrap returns the cause.
func (e *ValidationError) Unwrap() error { return e.err }

// Is reports whether target is ErrInvalidToken.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidToken }

// ValidatorConfig configures a Validator.
type ValidatorConfig struct {
	// Issuer must equal the iss claim exactly. Required.
	Issuer string
	// Audiences: the token is accepted if any aud value equals one of them.
	// Required.
	Audiences []string
	// Keys supplies the trusted keys. Required.
	Keys KeySet
	// Typ, when set, is the required typ header (compared
	// case-insensitively, an "application/" prefix ignored as RFC 7515
	// section 4.1.9 allows), for example "at+jwt". Empty: typ is not checked.
	Typ string
	// MaxLifetime bounds exp-iat; zero means DefaultMaxLifetime.
	MaxLifetime time.Duration
	// MaxSize bounds the token length in bytes; zero means
	// DefaultMaxTokenSize.
	MaxSize int
	// ClockSkew is the tolerance for time claims; zero means
	// DefaultClockSkew, negative means none.
	ClockSkew time.Duration
	// RequireJTI rejects tokens without a jti claim.
	RequireJTI bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validator verifies compact JWS JWTs strictly. It is safe for concurrent
// use.
type Validator struct {
	issuer      string
	audiences   []string
	keys        KeySet
	typ         string
	maxLifetime time.Duration
	maxSize     int
	skew        time.Duration
	requireJTI  bool
	now         func() time.Time
}

// NewValidator checks cfg and returns a Validator.
func NewValidator(cfg ValidatorConfig) (*Validator, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oauth: validator: issuer is required")
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		return nil, errors.New("oauth: validator: at least one non-empty audience is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("oauth: validator: a key set is required")
	}
	if cfg.MaxLifetime < 0 || cfg.MaxSize < 0 {
		return nil, errors.New("oauth: validator: negative MaxLifetime or MaxSize")
	}
	v := &Validator{
		issuer:      cfg.Issuer,
		audiences:   slices.Clone(cfg.Audiences),
		keys:        cfg.Keys,
		typ:         normalizeTyp(cfg.Typ),
		maxLifetime: cfg.MaxLifetime,
		maxSize:     cfg.MaxSize,
		skew:        cfg.ClockSkew,
		requireJTI:  cfg.RequireJTI,
		now:         cfg.Now,
	}
	if v.maxLifetime == 0 {
		v.maxLifetime = DefaultMaxLifetime
	}
	if v.maxSize == 0 {
		v.maxSize = DefaultMaxTokenSize
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultClockSkew
	case v.skew < 0:
		v.skew = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// protectedHeader is what Gatehouse reads from the JOSE header.
type protectedHeader struct {
	alg    string
	kid    string
	typ    string
	hasTyp bool
}

// Validate verifies raw and returns its claims. Checks run cheap before
// expensive: size and shape, the protected header, key selection, the
// signature, then the claims against the injected clock. Every rejection is
// a *ValidationError.
func (v *Validator) Validate(ctx context.Context, raw string) (jwt.Token, error) {
	now := v.now()
	// Size first (RFC 8725 section 3.x spirit: bounded work), then shape.
	if len(raw) > v.maxSize {
		return nil, reject(ReasonOversized, fmt.Errorf("%d bytes > %d", len(raw), v.maxSize))
	}
	hdrB64, _, sigB64, err := splitCompact(raw)
	if err != nil {
		return nil, reject(ReasonMalformed, err)
	}
	hdr, vErr := parseProtectedHeader(hdrB64)
	if vErr != nil {
		return nil, vErr
	}
	if vErr := v.checkHeader(hdr); vErr != nil {
		return nil, vErr
	}
	if sigB64 == "" {
		return nil, reject(ReasonMalformed, errors.New("empty signature"))
	}
	candidates, vErr := v.selectKeys(ctx, hdr)
	if vErr != nil {
		return nil, vErr
	}
	alg := jwa.SignatureAlgorithm(hdr.alg)
	var payload []byte
	var verifyErrs []error
	for _, k := range candidates {
		// Only the configured key and the header alg already checked
		// against that key's allow-list; never a key from the token.
		p, err := jws.Verify([]byte(raw), jws.WithKey(alg, k.Public), jws.WithCompact())
		if err == nil {
			payload = p
			break
		}
		verifyErrs = append(verifyErrs, err)
	}
	if payload == nil {
		return nil, reject(ReasonSignature, errors.Join(verifyErrs...))
	}
	return v.checkClaims(payload, now)
}

// splitCompact requires exactly three dot-separated parts made only of the
// base64url alphabet (RFC 7515 section 7.1), so that this code and jwx see
// the same bytes.
func splitCompact(raw string) (h, p, s string, err error) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", "", "", fmt.Errorf("invalid character at offset %d", i)
		}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("%d parts, want 3", len(parts))
	}
	if parts[0] == "" || parts[1] == "" {
		return "", "", "", errors.New("empty header or payload")
	}
	return parts[0], parts[1], parts[2], nil
}

// parseProtectedHeader decodes the JOSE header itself (RFC 7515 section
// 4) with a size cap, rejecting duplicate members, and rejects before any
// key is chosen every header that would make the token name its own key
// (jku, jwk, x5u, x5c: RFC 8725 section 3.10), any crit (no extension is
// understood: RFC 7515 section 4.1.11), b64 (RFC 7797) and cty (no nested
// JWTs).
func parseProtectedHeader(b64 string) (protectedHeader, *ValidationError) {
	var h protectedHeader
	if len(b64) > maxHeaderSize {
		return h, reject(ReasonHeader, errors.New("header too large"))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(b64)
	if err != nil {
		return h, reject(ReasonMalformed, fmt.Errorf("header base64: %w", err))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, reject(ReasonHeader, errors.New("header is not a JSON object"))
	}
	seen := make(map[string]bool, 4)
	hasAlg := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return h, reject(ReasonHeader, err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return h, reject(ReasonHeader, fmt.Errorf("duplicate header member %q", name))
		}
		seen[name] = true
		switch name {
		case "jku":
			return h, reject(ReasonHeaderJKU, nil)
		case "jwk":
			return h, reject(ReasonHeaderJWK, nil)
		case "x5u":
			return h, reject(ReasonHeaderX5U, nil)
		case "x5c":
			return h, reject(ReasonHeaderX5C, nil)
		case "crit":
			return h, reject(ReasonCrit, nil)
		case "b64":
			return h, reject(ReasonHeaderB64, nil)
		case "cty":
			return h, reject(ReasonHeaderCty, nil)
		case "alg", "kid", "typ":
			var s string
			if err := dec.Decode(&s); err != nil {
				return h, reject(ReasonHeader, fmt.Errorf("header %q is not a string", name))
			}
			switch name {
			case "alg":
				h.alg, hasAlg = s, true
			case "kid":
				h.kid = s
			case "typ":
				h.typ, h.hasTyp = s, true
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return h, reject(ReasonHeader, err)
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return h, reject(ReasonHeader, errors.New("unterminated header"))
	}
	if _, err := dec.Token(); err != io.EOF {
		return h, reject(ReasonHeader, errors.New("trailing data after header"))
	}
	if !hasAlg || h.alg == "" {
		return h, reject(ReasonHeader, errors.New("alg missing"))
	}
	return h, nil
}

func isHMAC(alg string) bool { return strings.HasPrefix(strings.ToUpper(alg), "HS") }

// checkHeader applies the algorithm and typ rules (RFC 8725 sections 3.1,
// 3.2 and 3.11).
func (v *Validator) checkHeader(h protectedHeader) *ValidationError {
	if strings.EqualFold(h.alg, "none") {
		return reject(ReasonAlgNone, nil)
	}
	if isHMAC(h.alg) {
		return reject(ReasonAlgHMAC, fmt.Errorf("alg %q", h.alg))
	}
	if v.typ != "" && (!h.hasTyp || normalizeTyp(h.typ) != v.typ) {
		return reject(ReasonTyp, fmt.Errorf("typ %q, want %q", h.typ, v.typ))
	}
	return nil
}

func normalizeTyp(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// selectKeys picks the trusted keys to try: the key named by kid, or with
// no kid the only key, or every key; each only if its allow-list includes
// the header alg and its type is usable.
func (v *Validator) selectKeys(ctx context.Context, h protectedHeader) ([]Key, *ValidationError) {
	keys, err := v.keys.Keys(ctx)
	if err != nil {
		return nil, reject(ReasonKeysUnavailable, err)
	}
	var pool []Key
	switch {
	case h.kid != "":
		for _, k := range keys {
			if k.ID == h.kid {
				pool = append(pool, k)
			}
		}
		if len(pool) == 0 {
			return nil, reject(ReasonUnknownKID, fmt.Errorf("kid %q", h.kid))
		}
	default:
		pool = keys
	}
	alg := jwa.SignatureAlgorithm(h.alg)
	var out []Key
	for _, k := range pool {
		if slices.Contains(k.Algorithms, alg) && usableKey(k.Public) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, reject(ReasonAlgNotAllowed, fmt.Errorf("alg %q not allowed for the selected key(s)", h.alg))
	}
	return out, nil
}

func usableKey(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k != nil && k.N != nil && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return k != nil && k.Curve != nil
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize
	default:
		return false
	}
}

// checkClaims parses the verified payload (and only it) and checks the
// claims (RFC 7519 section 4.1, RFC 8725 section 3.8 and 3.9).
func (v *Validator) checkClaims(payload []byte, now time.Time) (jwt.Token, error) {
	tok := jwt.New()
	if err := json.Unmarshal(payload, tok); err != nil {
		return nil, reject(ReasonClaims, err)
	}
	if _, ok := tok.Get(jwt.ExpirationKey); !ok {
		return nil, reject(ReasonExpMissing, nil)
	}
	err := jwt.Validate(tok,
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithAcceptableSkew(v.skew),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired()):
		return nil, reject(ReasonExpired, err)
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return nil, reject(ReasonNotYetValid, err)
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return nil, reject(ReasonIATFuture, err)
	default:
		return nil, reject(ReasonClaims, err)
	}
	exp := tok.Expiration()
	if iat := tok.IssuedAt(); !iat.IsZero() {
		if exp.Sub(iat) > v.maxLifetime {
			return nil, reject(ReasonLifetime, fmt.Errorf("exp-iat %s > %s", exp.Sub(iat), v.maxLifetime))
		}
	} else if exp.Sub(now) > v.maxLifetime+v.skew {
		return nil, reject(ReasonLifetime, fmt.Errorf("exp-now %s > %s", exp.Sub(now), v.maxLifetime))
	}
	if tok.Issuer() != v.issuer {
		return nil, reject(ReasonIssuer, fmt.Errorf("iss %q", tok.Issuer()))
	}
	if !slices.ContainsFunc(tok.Audience(), func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, reject(ReasonAudience, fmt.Errorf("aud %q", tok.Audience()))
	}
	jti := tok.JwtID()
	if len(jti) > maxJTILength || (v.requireJTI && jti == "") {
		return nil, reject(ReasonJTI, nil)
	}
	return tok, nil
}
