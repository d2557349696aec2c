package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// maxJWKSFile bounds a trusted issuer's jwks_file, and the body of its
// jwks_url.
const maxJWKSFile = 1 << 20

// Refresh policy of a trusted issuer's jwks_url.
const (
	// jwksRefreshInterval: keys older than this are fetched again at the
	// next exchange.
	jwksRefreshInterval = 5 * time.Minute
	// jwksMaxStaleness: once the last good keys are older than this, the
	// issuer's exchanges fail (temporarily_unavailable) until a fetch
	// succeeds: its keys may have been revoked meanwhile.
	jwksMaxStaleness = time.Hour
	// jwksMinRefreshGap bounds fetch attempts, including those an unknown
	// kid triggers, to one per gap and issuer.
	jwksMinRefreshGap = time.Minute
	// jwksFetchTimeout bounds one fetch, the startup fetch included.
	jwksFetchTimeout = 10 * time.Second
	// jwksMaxRedirects bounds the redirects of one fetch.
	jwksMaxRedirects = 3
)

// userFinder finds an identity store user by attribute (email, user_name
// or id).
type userFinder interface {
	UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error)
}

// trustedIssuer is one oauth.trusted_token_issuers entry.
type trustedIssuer struct {
	name      string
	validator *oauth.Validator
	// remote is the issuer's jwks_url key set; nil for a jwks_file.
	remote    *remoteJWKS
	claim     string
	attribute string
}

// trustedIssuers resolves external JWTs (subject_token_type jwt) and OpenID
// Connect ID tokens (subject_token_type id_token): the token's iss picks
// the issuer, whose validator verifies it; the configured claim then names
// an identity store user.
type trustedIssuers struct {
	byIssuer map[string]trustedIssuer
	users    userFinder
}

// supportedUserAttributes are the user_attribute values the store can
// search.
var supportedUserAttributes = []string{"email", "user_name", "id"}

// trustedIssuerDeps are what newTrustedIssuers needs besides the config.
type trustedIssuerDeps struct {
	users userFinder
	now   func() time.Time
	log   *slog.Logger
	// client fetches jwks_url key sets; nil means a client with
	// jwksFetchTimeout.
	client *http.Client
}

func newTrustedIssuers(cfgs []config.TrustedTokenIssuerConfig, deps trustedIssuerDeps) (*trustedIssuers, error) {
	t := &trustedIssuers{byIssuer: make(map[string]trustedIssuer, len(cfgs)), users: deps.users}
	for i, c := range cfgs {
		p := fmt.Sprintf("gateway: oauth.trusted_token_issuers[%d] (%s)", i, c.Name)
		if !slices.Contains(supportedUserAttributes, c.UserAttribute) {
			return nil, fmt.Errorf("%s: user_attribute %q is not supported yet; use one of %s", p, c.UserAttribute, strings.Join(supportedUserAttributes, ", "))
		}
		ti := trustedIssuer{name: c.Name, claim: c.Claim, attribute: c.UserAttribute}
		var ks oauth.KeySet
		switch {
		case c.JWKSURL != "" && c.JWKSFile != "":
			return nil, fmt.Errorf("%s: set only one of jwks_file, jwks_url", p)
		case c.JWKSURL != "":
			r, err := newRemoteJWKS(c.Name, c.JWKSURL, deps.client, deps.now, deps.log)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			ti.remote, ks = r, r
		default:
			keys, err := loadJWKSFile(c.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			ks = oauth.StaticKeys(keys)
		}
		v, err := oauth.NewValidator(oauth.ValidatorConfig{
			Issuer:    c.Issuer,
			Audiences: slices.Clone(c.Audiences),
			Keys:      ks,
			Now:       deps.now,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		ti.validator = v
		if _, dup := t.byIssuer[c.Issuer]; dup {
			return nil, fmt.Errorf("%s: issuer %q listed twice", p, c.Issuer)
		}
		t.byIssuer[c.Issuer] = ti
	}
	return t, nil
}

// prefetch fetches every jwks_url key set once, concurrently, so that
// keys are ready for the first exchange. A failure is logged by the key
// set and does not stop the gateway: that issuer's exchanges fail until a
// later fetch succeeds, and the other issuers are not affected.
func (t *trustedIssuers) prefetch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ti := range t.byIssuer {
		if ti.remote != nil {
			wg.Go(func() { _, _, _ = ti.remote.get(ctx, false) })
		}
	}
	wg.Wait()
}

// loadJWKSFile reads a JWK Set of public keys, each with an explicit alg.
func loadJWKSFile(path string) ([]oauth.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxJWKSFile+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_file %s: %w", path, err)
	}
	if len(buf) > maxJWKSFile {
		return nil, fmt.Errorf("jwks_file %s: larger than %d bytes", path, maxJWKSFile)
	}
	ks, _, err := parseJWKS(buf, true)
	if err != nil {
		return nil, fmt.Errorf("jwks_file %s: %w", path, err)
	}
	return ks, nil
}

// parseJWKS parses a JWK Set of public signature keys; a key is usable
// only with an explicit asymmetric alg. With strict, the first unusable
// key is an error; otherwise unusable keys are skipped and reported in
// skipped, and a set without any usable key is an error.
func parseJWKS(data []byte, strict bool) (keys []oauth.Key, skipped []error, err error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if set.Len() == 0 {
		return nil, nil, errors.New("the JWK Set has no keys")
	}
	out := make([]oauth.Key, 0, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		key, err := jwksKey(i, k)
		if err != nil {
			if strict {
				return nil, nil, err
			}
			skipped = append(skipped, err)
			continue
		}
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("the JWK Set has no usable key: %w", errors.Join(skipped...))
	}
	return out, skipped, nil
}

// jwksKey converts the i-th key of a JWK Set: a public RSA, EC or OKP key
// with an explicit asymmetric alg and use sig (or none).
func jwksKey(i int, k jwk.Key) (oauth.Key, error) {
	switch k.(type) {
	case jwk.RSAPublicKey, jwk.ECDSAPublicKey, jwk.OKPPublicKey:
	default:
		return oauth.Key{}, fmt.Errorf("key %d (kid %q): not a public RSA, EC or OKP key", i, k.KeyID())
	}
	alg := k.Algorithm().String()
	switch {
	case alg == "":
		return oauth.Key{}, fmt.Errorf("key %d (kid %q): no alg; every key must name its algorithm", i, k.KeyID())
	case strings.HasPrefix(strings.ToUpper(alg), "HS") || strings.EqualFold(alg, "none"):
		return oauth.Key{}, fmt.Errorf("key %d (kid %q): alg %q is not an asymmetric signature algorithm", i, k.KeyID(), alg)
	}
	if u := k.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return oauth.Key{}, fmt.Errorf("key %d (kid %q): use %q is not sig", i, k.KeyID(), u)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return oauth.Key{}, fmt.Errorf("key %d (kid %q): %w", i, k.KeyID(), err)
	}
	return oauth.Key{ID: k.KeyID(), Algorithms: []jwa.SignatureAlgorithm{jwa.SignatureAlgorithm(alg)}, Public: raw}, nil
}

// ResolveSubject implements oauth.SubjectResolver for subject_token_type
// jwt and id_token.
func (t *trustedIssuers) ResolveSubject(ctx context.Context, tokenType, token string) (oauth.Subject, error) {
	if tokenType != oauth.TokenTypeJWT && tokenType != oauth.TokenTypeIDToken {
		return oauth.Subject{}, fmt.Errorf("gateway: trusted issuers: token type %q", tokenType)
	}
	iss, err := unverifiedIssuer(token)
	if err != nil {
		return oauth.Subject{}, err
	}
	ti, ok := t.byIssuer[iss]
	if !ok {
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "token issuer is not trusted")
	}
	tok, err := ti.validator.Validate(ctx, token)
	var ve *oauth.ValidationError
	if errors.As(err, &ve) && ve.Reason() == oauth.ReasonUnknownKID && ti.remote != nil {
		// The issuer may have rotated its keys: fetch them again (at
		// most once per jwksMinRefreshGap) and retry once.
		if _, refreshed, _ := ti.remote.get(ctx, true); refreshed {
			tok, err = ti.validator.Validate(ctx, token)
		}
	}
	if err != nil {
		return oauth.Subject{}, err
	}
	if tokenType == oauth.TokenTypeIDToken {
		if err := checkIDToken(token, tok.Subject(), tok.IssuedAt()); err != nil {
			return oauth.Subject{}, err
		}
	}
	raw, ok := tok.Get(ti.claim)
	value, isString := raw.(string)
	if !ok || !isString || value == "" {
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "token lacks the claim that names the user")
	}
	u, err := t.users.UserByAttribute(ctx, ti.attribute, value)
	switch {
	case errors.Is(err, sp.ErrNotFound):
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "unknown user").Wrap(err)
	case errors.Is(err, sp.ErrConflict):
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "the token names more than one user").Wrap(err)
	case err != nil:
		return oauth.Subject{}, oauth.NewError(oauth.ErrTemporarilyUnavailable, "the user directory is temporarily unavailable").Wrap(err)
	}
	s := subjectOf(u)
	s.Issuer = tok.Issuer()
	s.JTI = tok.JwtID()
	s.ExpiresAt = tok.Expiration()
	return s, nil
}

// checkIDToken applies the ID token rules (OpenID Connect Core 1.0 §2,
// §3.1.3.7) the validator does not: sub and iat are required, and typ is
// absent or "JWT" (so that an access token, typ at+jwt, RFC 9068 §2.1, is
// never taken for an ID token). iss, aud (one of the issuer's audiences)
// and exp were checked by the validator. token has been verified, so its
// header is the one the signature covers.
func checkIDToken(token, sub string, iat time.Time) error {
	if sub == "" {
		return oauth.NewError(oauth.ErrInvalidGrant, "ID token without sub")
	}
	if iat.IsZero() {
		return oauth.NewError(oauth.ErrInvalidGrant, "ID token without iat")
	}
	hdr, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return oauth.NewError(oauth.ErrInvalidGrant, "token header is not base64url").Wrap(err)
	}
	var h struct {
		Typ *string `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return oauth.NewError(oauth.ErrInvalidGrant, "token header is not a JSON object").Wrap(err)
	}
	if h.Typ != nil && !strings.EqualFold(strings.TrimPrefix(strings.ToLower(*h.Typ), "application/"), "jwt") {
		return oauth.NewError(oauth.ErrInvalidGrant, "token typ is not that of an ID token")
	}
	return nil
}

// unverifiedIssuer reads iss from an unverified compact JWT, only to pick
// the validator that then verifies it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", oauth.NewError(oauth.ErrInvalidGrant, "token is not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", oauth.NewError(oauth.ErrInvalidGrant, "token payload is not base64url").Wrap(err)
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Iss == "" {
		return "", oauth.NewError(oauth.ErrInvalidGrant, "token without iss")
	}
	return claims.Iss, nil
}

// remoteJWKS is a trusted issuer's jwks_url: an oauth.KeySet that fetches
// the JWK Set lazily, keeps it for jwksRefreshInterval, fetches again when
// it is older or a token names an unknown kid (at most once per
// jwksMinRefreshGap), keeps the last good keys when a fetch fails, and
// fails closed once they are older than jwksMaxStaleness. Fetches are
// serialized per issuer; one issuer's failures never touch another's keys.
// Safe for concurrent use.
type remoteJWKS struct {
	name   string // the issuer's configured name, for logs
	url    string
	logURL string // url without its query, which might hold a secret
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu          sync.Mutex
	keys        []oauth.Key
	fetchedAt   time.Time // last successful fetch
	attemptedAt time.Time // last fetch attempt
	fetching    bool      // a fetch is under way (without mu held)
	lastErr     error
}

func newRemoteJWKS(name, rawURL string, client *http.Client, now func() time.Time, log *slog.Logger) (*remoteJWKS, error) {
	u, err := checkJWKSURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: jwksFetchTimeout}
	if client != nil {
		*c = *client
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= jwksMaxRedirects {
			return fmt.Errorf("stopped after %d redirects", jwksMaxRedirects)
		}
		if _, err := checkJWKSURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &remoteJWKS{name: name, url: u.String(), logURL: u.Scheme + "://" + u.Host + u.EscapedPath(), client: c, now: now, log: log}, nil
}

// checkJWKSURL allows absolute https URLs, and http only on a loopback
// host, without user information.
func checkJWKSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("jwks_url is not an absolute URL")
	}
	if u.User != nil {
		return nil, errors.New("jwks_url must not contain user information")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && config.IsLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("jwks_url %s: must use https (http only on a loopback host)", u.Redacted())
	}
	return u, nil
}

// Keys implements oauth.KeySet. Its errors make the validator refuse with
// ReasonKeysUnavailable, which the token endpoint answers with
// temporarily_unavailable.
func (r *remoteJWKS) Keys(ctx context.Context) ([]oauth.Key, error) {
	keys, _, err := r.get(ctx, false)
	return keys, err
}

// get returns the usable keys, fetching first when they are missing, older
// than jwksRefreshInterval, or force is set, and no attempt was made
// within jwksMinRefreshGap. One caller fetches, without holding the lock;
// the others meanwhile answer from the keys they have (or refuse while
// there are none), so a slow JWKS host does not hold up requests the
// cached keys can serve. refreshed reports a successful fetch by this
// call. The error says why no key can be vouched for.
func (r *remoteJWKS) get(ctx context.Context, force bool) (keys []oauth.Key, refreshed bool, err error) {
	r.mu.Lock()
	now := r.now()
	due := r.keys == nil || force || now.Sub(r.fetchedAt) >= jwksRefreshInterval
	start := due && !r.fetching && (r.attemptedAt.IsZero() || now.Sub(r.attemptedAt) >= jwksMinRefreshGap)
	if start {
		r.attemptedAt, r.fetching = now, true
	}
	r.mu.Unlock()
	if start {
		ks, ferr := r.fetch(ctx)
		r.mu.Lock()
		r.fetching = false
		if ferr != nil {
			r.lastErr = ferr
			r.log.LogAttrs(ctx, slog.LevelError, "trusted token issuer: fetching the JWK Set failed",
				slog.String("issuer", r.name), slog.String("jwks_url", r.logURL),
				slog.Bool("last_good_keys_kept", r.keys != nil && now.Sub(r.fetchedAt) <= jwksMaxStaleness),
				slog.Any("err", ferr))
		} else {
			r.keys, r.fetchedAt, r.lastErr, refreshed = ks, now, nil, true
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(r.now()); err != nil {
		return nil, false, err
	}
	return r.keys, refreshed, nil
}

// unavailable says why no key can be vouched for at now, or nil. The
// caller holds r.mu.
func (r *remoteJWKS) unavailable(now time.Time) error {
	switch {
	case r.keys == nil && r.lastErr == nil:
		return fmt.Errorf("trusted token issuer %q: JWK Set not fetched yet", r.name)
	case r.keys == nil:
		return fmt.Errorf("trusted token issuer %q: JWK Set unavailable: %w", r.name, r.lastErr)
	case now.Sub(r.fetchedAt) > jwksMaxStaleness:
		err := fmt.Errorf("trusted token issuer %q: the last good JWK Set, fetched at %s, is older than %s",
			r.name, r.fetchedAt.UTC().Format(time.RFC3339), jwksMaxStaleness)
		if r.lastErr != nil {
			err = fmt.Errorf("%w: %w", err, r.lastErr)
		}
		return err
	}
	return nil
}

// fetch GETs and parses the JWK Set; keys without an explicit asymmetric
// alg, or not for signing, are skipped (logged), as the issuer, not the
// operator, writes the set.
func (r *remoteJWKS) fetch(ctx context.Context) ([]oauth.Key, error) {
	// A caller's cancellation must not poison the shared cache.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		// Without the URL that *url.Error adds: its query might hold a
		// secret, and the log line names the URL already.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.ContentLength > maxJWKSFile {
		return nil, fmt.Errorf("content length %d exceeds %d bytes", resp.ContentLength, maxJWKSFile)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > maxJWKSFile {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKSFile)
	}
	keys, skipped, err := parseJWKS(body, false)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		r.log.LogAttrs(ctx, slog.LevelWarn, "trusted token issuer: unusable keys in the JWK Set skipped",
			slog.String("issuer", r.name), slog.String("jwks_url", r.logURL), slog.Any("err", errors.Join(skipped...)))
	}
	return keys, nil
}
