package propagation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// KeySet verifies the signature of a compact JWS and returns its payload.
// Implementations must use each key only with the algorithm the key itself
// declares, never none or HMAC, and never keys named by the token (jku, jwk,
// x5u, x5c). They return ErrUnknownKey when no key matches the token,
// ErrInvalidSignature when the signature does not verify, and
// ErrKeySetUnavailable when they cannot currently vouch for any key.
type KeySet interface {
	VerifySignature(ctx context.Context, compactJWS string) (payload []byte, err error)
}

// minRSABits is the smallest RSA modulus accepted for verification.
const minRSABits = 2048

type verificationKey struct {
	kid string
	alg jwa.SignatureAlgorithm
	pub any
}

// keyList is an immutable list of usable verification keys.
type keyList []verificationKey

// newKeyList keeps only keys with an explicit allowed alg, use "sig" (or
// none), and a public key of the matching type and size. Symmetric keys and
// keys without alg are skipped. A set with no usable key is an error.
func newKeyList(set jwk.Set) (keyList, error) {
	if set == nil {
		return nil, errors.New("propagation: nil JWK set")
	}
	var out keyList
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok {
			continue
		}
		if vk, ok := usableKey(k); ok {
			out = append(out, vk)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("propagation: JWK set has no usable verification key (each key needs an asymmetric alg)")
	}
	return out, nil
}

func usableKey(k jwk.Key) (verificationKey, bool) {
	alg := jwa.SignatureAlgorithm(k.Algorithm().String())
	if !allowedAlgs[alg] {
		return verificationKey{}, false
	}
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return verificationKey{}, false
	}
	pub, err := jwk.PublicRawKeyOf(k)
	if err != nil {
		return verificationKey{}, false
	}
	if !keyMatchesAlg(pub, alg) {
		return verificationKey{}, false
	}
	return verificationKey{kid: k.KeyID(), alg: alg, pub: pub}, true
}

func keyMatchesAlg(pub any, alg jwa.SignatureAlgorithm) bool {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return p.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jwa.ES256:
			return p.Curve == elliptic.P256()
		case jwa.ES384:
			return p.Curve == elliptic.P384()
		case jwa.ES512:
			return p.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jwa.EdDSA
	}
	return false
}

// verify checks tok against the keys: candidates are the keys with the
// token's kid (every key when the token has none); a candidate is used only
// if its own alg equals the header alg.
func (kl keyList) verify(tok *compactJWS) ([]byte, error) {
	matchedKid := false
	for _, k := range kl {
		if tok.header.Kid != "" && k.kid != tok.header.Kid {
			continue
		}
		if tok.header.Kid == "" && k.alg != tok.header.Alg {
			continue
		}
		matchedKid = true
		if k.alg != tok.header.Alg {
			continue
		}
		v, err := jws.NewVerifier(k.alg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
		}
		if err := v.Verify([]byte(tok.signingInput), tok.signature, k.pub); err == nil {
			return tok.payload, nil
		}
	}
	if !matchedKid {
		return nil, ErrUnknownKey
	}
	return nil, ErrInvalidSignature
}

func verifyWith(kl keyList, compact string) ([]byte, error) {
	tok, verr := parseCompact(compact)
	if verr != nil {
		return nil, verr
	}
	return kl.verify(tok)
}

// StaticKeySet is a fixed KeySet (for example loaded from a JWKS file).
type StaticKeySet struct {
	keys keyList
}

// NewStaticKeySet copies the usable public keys of set. Keys without an
// explicit asymmetric alg are skipped; a set without any usable key is an
// error.
func NewStaticKeySet(set jwk.Set) (*StaticKeySet, error) {
	kl, err := newKeyList(set)
	if err != nil {
		return nil, err
	}
	return &StaticKeySet{keys: kl}, nil
}

// VerifySignature implements KeySet.
func (s *StaticKeySet) VerifySignature(_ context.Context, compact string) ([]byte, error) {
	return verifyWith(s.keys, compact)
}

// RemoteKeySetConfig configures NewRemoteKeySet.
type RemoteKeySetConfig struct {
	// URL of the JWKS: https, or http only on a loopback host.
	URL string
	// Client fetches the JWKS (nil: a client with a 10s timeout). Redirects
	// are held to the same https-or-loopback rule.
	Client *http.Client
	// RefreshInterval: keys older than this are refetched on the next use
	// (default 5m).
	RefreshInterval time.Duration
	// MaxStaleness: after this long without a successful fetch, every
	// verification fails with ErrKeySetUnavailable (default 1h).
	MaxStaleness time.Duration
	// MinRefreshGap bounds fetch attempts, including those triggered by an
	// unknown kid, to one per gap (default 1m).
	MinRefreshGap time.Duration
	// MaxBytes caps the JWKS body (default 256 KiB).
	MaxBytes int64
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger receives fetch failures (nil: discard).
	Logger *slog.Logger
}

// RemoteKeySet fetches a JWKS lazily, caches it, refetches it when it is
// older than RefreshInterval or when a token names an unknown kid (at most
// once per MinRefreshGap), keeps the last good keys when a fetch fails, and
// fails closed once they are older than MaxStaleness. Safe for concurrent
// use; fetches are serialized and verifications wait for a running fetch.
type RemoteKeySet struct {
	url      string
	client   *http.Client
	refresh  time.Duration
	maxStale time.Duration
	minGap   time.Duration
	maxBytes int64
	now      func() time.Time
	log      *slog.Logger

	mu          sync.Mutex
	keys        keyList
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch attempt
	lastErr     error
}

const fetchTimeout = 10 * time.Second

// NewRemoteKeySet validates cfg. It does not fetch; the first verification
// does.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	if err := checkJWKSURL(cfg.URL); err != nil {
		return nil, err
	}
	r := &RemoteKeySet{
		url:      cfg.URL,
		refresh:  cfg.RefreshInterval,
		maxStale: cfg.MaxStaleness,
		minGap:   cfg.MinRefreshGap,
		maxBytes: cfg.MaxBytes,
		now:      cfg.Now,
		log:      cfg.Logger,
	}
	if r.refresh <= 0 {
		r.refresh = 5 * time.Minute
	}
	if r.maxStale <= 0 {
		r.maxStale = time.Hour
	}
	if r.minGap <= 0 {
		r.minGap = time.Minute
	}
	if r.maxBytes <= 0 {
		r.maxBytes = 256 << 10
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.maxStale < r.refresh {
		return nil, fmt.Errorf("propagation: MaxStaleness %v is shorter than RefreshInterval %v", r.maxStale, r.refresh)
	}
	var c http.Client
	if cfg.Client != nil {
		c = *cfg.Client
	} else {
		c.Timeout = fetchTimeout
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("propagation: too many JWKS redirects")
		}
		return checkJWKSURL(req.URL.String())
	}
	r.client = &c
	return r, nil
}

// checkJWKSURL allows https, and http only to a loopback host.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("propagation: JWKS URL: %w", err)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("propagation: JWKS URL %q needs a host and no userinfo", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("propagation: JWKS URL %q: http is allowed only on loopback", raw)
	default:
		return fmt.Errorf("propagation: JWKS URL %q: scheme must be https", raw)
	}
}

// VerifySignature implements KeySet.
func (r *RemoteKeySet) VerifySignature(ctx context.Context, compact string) ([]byte, error) {
	tok, verr := parseCompact(compact)
	if verr != nil {
		return nil, verr
	}
	now := r.now()
	keys, _, err := r.current(ctx, now, false)
	if err != nil {
		return nil, err
	}
	payload, err := keys.verify(tok)
	if !errors.Is(err, ErrUnknownKey) {
		return payload, err
	}
	keys, refreshed, ferr := r.current(ctx, now, true)
	if ferr != nil {
		return nil, ferr
	}
	if !refreshed {
		return nil, err
	}
	return keys.verify(tok)
}

// current returns the usable keys, fetching when they are missing, older
// than RefreshInterval, or force is set, and no attempt was made within
// MinRefreshGap. refreshed reports a successful fetch by this call.
func (r *RemoteKeySet) current(ctx context.Context, now time.Time, force bool) (keyList, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	refreshed := false
	due := r.keys == nil || force || now.Sub(r.fetchedAt) >= r.refresh
	if due && (r.attemptedAt.IsZero() || now.Sub(r.attemptedAt) >= r.minGap) {
		r.attemptedAt = now
		kl, err := r.fetch(ctx)
		if err != nil {
			r.lastErr = err
			r.log.LogAttrs(ctx, slog.LevelWarn, "JWKS fetch failed; keeping last good keys",
				slog.String("url", r.url), slog.Any("error", err))
		} else {
			r.keys, r.fetchedAt, r.lastErr, refreshed = kl, now, nil, true
		}
	}
	if r.keys == nil {
		return nil, false, fmt.Errorf("%w: no keys fetched yet: %w", ErrKeySetUnavailable, r.lastErr)
	}
	if now.Sub(r.fetchedAt) > r.maxStale {
		return nil, false, fmt.Errorf("%w: keys fetched at %s are older than %v: %w",
			ErrKeySetUnavailable, r.fetchedAt.UTC().Format(time.RFC3339), r.maxStale, r.lastErr)
	}
	return r.keys, refreshed, nil
}

func (r *RemoteKeySet) fetch(ctx context.Context) (keyList, error) {
	// A caller's cancellation must not poison the shared cache.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if int64(len(body)) > r.maxBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", r.maxBytes)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	return newKeyList(set)
}
