package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// OAuthSigningRing is the key ring in keys.dir that signs issued access
// tokens.
const OAuthSigningRing = "oauth-signing"

// oauthServer is the assembled authorization server.
type oauthServer struct {
	ring     *keys.Ring
	jwks     http.Handler
	metadata http.Handler
	token    http.Handler
}

// ringAlgorithm maps oauth.signing_alg to the key ring's algorithm.
func ringAlgorithm(alg string) (string, error) {
	switch alg {
	case config.AlgES256:
		return keys.AlgorithmECDSAP256, nil
	case config.AlgRS256:
		return keys.AlgorithmRSA2048, nil
	case config.AlgEdDSA:
		return keys.AlgorithmEd25519, nil
	default:
		return "", fmt.Errorf("gateway: oauth.signing_alg: unsupported algorithm %q", alg)
	}
}

// jwsAlgorithm is the JWS algorithm a ring key signs with.
func jwsAlgorithm(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwa.ES256, nil
		}
	case *rsa.PublicKey:
		return jwa.RS256, nil
	case ed25519.PublicKey:
		return jwa.EdDSA, nil
	}
	return "", fmt.Errorf("gateway: oauth signing key: %s keys cannot sign access tokens", keys.Algorithm(pub))
}

// certKID is the stable kid of a ring key: a prefix of the SHA-256 of its
// certificate.
func certKID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:12])
}

// ringSigner signs with the ring's current key.
type ringSigner struct{ ring *keys.Ring }

func (s ringSigner) SigningKey(ctx context.Context) (string, jwa.SignatureAlgorithm, crypto.Signer, error) {
	key, cert, err := s.ring.SigningKey(ctx)
	if err != nil {
		return "", "", nil, err
	}
	alg, err := jwsAlgorithm(cert.PublicKey)
	if err != nil {
		return "", "", nil, err
	}
	return certKID(cert), alg, key, nil
}

// ringKeys are the ring's published public keys (current and next), read
// at each call so a rotation is published as soon as the ring reloads.
type ringKeys struct{ ring *keys.Ring }

func (k ringKeys) Keys(ctx context.Context) ([]oauth.Key, error) {
	certs, err := k.ring.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]oauth.Key, 0, len(certs))
	for _, c := range certs {
		alg, err := jwsAlgorithm(c.PublicKey)
		if err != nil {
			return nil, err
		}
		out = append(out, oauth.Key{ID: certKID(c), Algorithms: []jwa.SignatureAlgorithm{alg}, Public: c.PublicKey})
	}
	return out, nil
}

// configClients is the client store built from oauth.clients.
type configClients map[string]*oauth.Client

func newConfigClients(cs []config.OAuthClientConfig) configClients {
	out := make(configClients, len(cs))
	for _, c := range cs {
		cl := &oauth.Client{
			ID:         c.ID,
			GrantTypes: slices.Clone(c.GrantTypes),
			Audiences:  slices.Clone(c.Audiences),
			Scopes:     slices.Clone(c.Scopes),
		}
		if s := c.Secret.Value(); s != "" {
			cl.SecretHash = oauth.HashSecret(s)
		}
		out[c.ID] = cl
	}
	return out
}

func (c configClients) Client(_ context.Context, id string) (*oauth.Client, error) {
	cl, ok := c[id]
	if !ok {
		return nil, fmt.Errorf("gateway: client %q: %w", id, oauth.ErrUnknownClient)
	}
	cp := *cl
	cp.SecretHash = slices.Clone(cl.SecretHash)
	cp.GrantTypes = slices.Clone(cl.GrantTypes)
	cp.Audiences = slices.Clone(cl.Audiences)
	cp.Scopes = slices.Clone(cl.Scopes)
	return &cp, nil
}

// jtiStore records used JWT IDs in the store's replay cache, under issuers
// prefixed "jti:" so they never meet SAML assertion IDs.
type jtiStore struct{ replay sp.ReplayCache }

func (j jtiStore) MarkJTIUsed(ctx context.Context, issuer, jti string, expiresAt, now time.Time) error {
	err := j.replay.MarkAssertionUsed(ctx, "jti:"+issuer, jti, expiresAt, now)
	if errors.Is(err, sp.ErrReplay) {
		return fmt.Errorf("%w: %w", oauth.ErrJTIReplayed, err)
	}
	return err
}

// userGetter is the store method storeUsers needs.
type userGetter interface {
	GetUser(ctx context.Context, id string) (sp.User, error)
}

// storeUsers is the oauth.UserLookup on the identity store.
type storeUsers struct{ users userGetter }

func (s storeUsers) UserByID(ctx context.Context, id string) (oauth.Subject, error) {
	u, err := s.users.GetUser(ctx, id)
	if errors.Is(err, sp.ErrNotFound) {
		return oauth.Subject{}, fmt.Errorf("%w: %w", oauth.ErrUnknownUser, err)
	}
	if err != nil {
		return oauth.Subject{}, err
	}
	return subjectOf(u), nil
}

func subjectOf(u sp.User) oauth.Subject {
	return oauth.Subject{UserID: u.ID, UserName: u.UserName, Email: u.Email, Groups: slices.Clone(u.Groups), Active: u.Active}
}

// slogAudit logs token endpoint decisions; events never carry token
// values.
type slogAudit struct{ log *slog.Logger }

func (a slogAudit) Record(ctx context.Context, e oauth.AuditEvent) error {
	attrs := []slog.Attr{
		slog.String("outcome", e.Outcome),
		slog.String("grant_type", e.GrantType),
		slog.String("client_id", e.ClientID),
		slog.String("subject", e.Subject),
		slog.Any("audience", e.Audience),
		slog.Any("scopes", e.Scopes),
	}
	if e.Actor != nil {
		attrs = append(attrs, slog.String("actor", e.Actor.Subject))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "oauth token request", attrs...)
	return nil
}

// setupOAuth builds the authorization server from oauth: the signing key
// ring, the minter, JWKS, metadata and the token endpoint.
func (g *Gateway) setupOAuth(cfg *config.Config) error {
	o := cfg.OAuth
	ringAlg, err := ringAlgorithm(o.SigningAlg)
	if err != nil {
		return err
	}
	ring, err := keys.OpenRing(cfg.Keys.Dir, OAuthSigningRing, keys.RingOptions{
		Algorithm: ringAlg, CommonName: "Gatehouse OAuth", Now: g.now, Logger: g.log,
		// A JWT-only ring: an Ed25519 key there is never damage, so that
		// a signing_alg that no longer matches it is reported as such.
		AllowEd25519: true,
	})
	if err != nil {
		return fmt.Errorf("gateway: keys.dir: %w", err)
	}
	if _, cert := ring.Current(); cert == nil || keys.Algorithm(cert.PublicKey) != ringAlg {
		got := "no key"
		if cert != nil {
			got = keys.Algorithm(cert.PublicKey)
		}
		return fmt.Errorf("gateway: oauth.signing_alg is %s but the %s ring's current key is %s", o.SigningAlg, OAuthSigningRing, got)
	}
	signer := ringSigner{ring: ring}
	published := ringKeys{ring: ring}
	minter, err := oauth.NewMinter(oauth.MinterConfig{
		Issuer: cfg.ExternalURL, Signer: signer, Lifetime: o.AccessTokenLifetime.Std(), Now: g.now,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	alg := jwa.SignatureAlgorithm(o.SigningAlg)
	var scopes []string
	services := make([]oauth.DataService, 0, len(o.DataServices))
	audiences := make([]string, 0, len(o.DataServices))
	for _, ds := range o.DataServices {
		services = append(services, oauth.DataService{Audience: ds.Audience, Scopes: slices.Clone(ds.Scopes)})
		audiences = append(audiences, ds.Audience)
		for _, s := range ds.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	md, err := oauth.MetadataHandler(oauth.MetadataConfig{
		Issuer:      cfg.ExternalURL,
		GrantTypes:  []string{oauth.GrantTokenExchange},
		AuthMethods: []string{oauth.AuthMethodSecretBasic, oauth.AuthMethodSecretPost, oauth.AuthMethodNone},
		SigningAlgs: []jwa.SignatureAlgorithm{alg},
		Scopes:      scopes,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	resolvers := map[string]oauth.SubjectResolver{}
	if len(audiences) > 0 {
		own, err := oauth.NewValidator(oauth.ValidatorConfig{
			Issuer:      cfg.ExternalURL,
			Audiences:   audiences,
			Keys:        published,
			Typ:         oauth.AccessTokenType,
			MaxLifetime: max(minter.Lifetime(), oauth.DefaultMaxLifetime),
			Now:         g.now,
		})
		if err != nil {
			return fmt.Errorf("gateway: oauth: %w", err)
		}
		resolvers[oauth.TokenTypeAccessToken] = oauth.OwnAccessTokens{Validator: own, Users: storeUsers{users: g.store}}
	}
	if len(o.TrustedTokenIssuers) > 0 {
		ti, err := newTrustedIssuers(o.TrustedTokenIssuers, trustedIssuerDeps{users: g.store, now: g.now, log: g.log})
		if err != nil {
			return err
		}
		// A jwks_url that cannot be fetched now is logged and fails only
		// its own issuer's exchanges; the gateway starts.
		ti.prefetch(context.Background())
		resolvers[oauth.TokenTypeJWT] = ti
		resolvers[oauth.TokenTypeIDToken] = ti
	}
	if r := g.samlSubjectResolver(cfg); r != nil {
		resolvers[oauth.TokenTypeSAML2] = r
	}
	token, err := oauth.NewTokenHandler(oauth.TokenHandlerConfig{
		Issuer:        cfg.ExternalURL,
		TokenEndpoint: externalURL(cfg.ExternalURL, oauth.PathToken),
		Clients:       newConfigClients(o.Clients),
		JTIs:          jtiStore{replay: g.store},
		Minter:        minter,
		Resolvers:     resolvers,
		DataServices:  services,
		Now:           g.now,
		Logger:        g.log,
		Audit:         slogAudit{log: g.log},
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	g.oauth = &oauthServer{ring: ring, jwks: oauth.JWKSHandler(published), metadata: md, token: token}
	return nil
}

// oauthRoutes registers the authorization server's endpoints.
func (g *Gateway) oauthRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+oauth.PathJWKS, g.oauth.jwks)
	mux.Handle("GET "+oauth.PathMetadata, g.oauth.metadata)
	mux.Handle("GET "+oauth.PathOpenIDConfiguration, g.oauth.metadata)
	mux.Handle("POST "+oauth.PathToken, g.oauth.token)
}
