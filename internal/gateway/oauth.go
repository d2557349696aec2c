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
	"net/http"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// OAuthSigningRing is the key ring in keys.dir that signs issued access
// tokens.
const OAuthSigningRing = "oauth-signing"

// oauthServer is the assembled authorization server.
type oauthServer struct {
	ring       *keys.Ring
	jwks       http.Handler
	metadata   http.Handler
	token      http.Handler
	device     http.Handler
	introspect http.Handler // nil without data services
	revoke     http.Handler // nil without data services
	devicePage http.Handler // the RFC 8628 verification page
}

// OAuthRingAlgorithm maps oauth.signing_alg to the algorithm of the
// OAuth signing ring's keys.
func OAuthRingAlgorithm(alg string) (string, error) {
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

// OAuthPreviousGraceMargin is what the OAuth signing ring's previous-key
// grace period adds to oauth.access_token_lifetime and the key reload
// interval: the clock skew data services allow when they check exp (the
// oauth package's validator allows oauth.DefaultClockSkew, others commonly
// a few minutes) and the clock difference between the host that recorded
// the activation and the gateways that count the grace from it.
const OAuthPreviousGraceMargin = 5 * time.Minute

// OAuthPreviousGrace is how long the OAuth signing ring's previous key
// stays in /oauth/jwks after an activation, for access tokens of
// accessTokenLifetime and a ring reloaded every reload (0 means
// keys.DefaultWatchInterval). A gateway that has not reloaded yet signs
// with the previous key for up to reload after the activation, and each
// such token must verify until it expires, at data services that refetch
// /oauth/jwks as well as at the gateway's own introspection and token
// exchange: the grace is the lifetime plus reload plus
// OAuthPreviousGraceMargin, and never less than keys.DefaultPreviousGrace.
// keys.DefaultPreviousGrace alone (sized for SAML assertions) is shorter
// than the default access-token lifetime of an hour.
func OAuthPreviousGrace(accessTokenLifetime, reload time.Duration) time.Duration {
	if reload <= 0 {
		reload = keys.DefaultWatchInterval
	}
	return max(keys.DefaultPreviousGrace, accessTokenLifetime+reload+OAuthPreviousGraceMargin)
}

// OAuthRingOptions are the options the gateway opens the OAuth signing
// ring (OAuthSigningRing in keys.dir) with, for a gateway that reloads it
// every reload (0 means keys.DefaultWatchInterval); the caller sets Now and
// Logger. `gatehouse keys --ring oauth` opens the ring with them too.
func OAuthRingOptions(cfg *config.Config, reload time.Duration) (keys.RingOptions, error) {
	alg, err := OAuthRingAlgorithm(cfg.OAuth.SigningAlg)
	if err != nil {
		return keys.RingOptions{}, err
	}
	return keys.RingOptions{
		Algorithm: alg, CommonName: "Gatehouse OAuth",
		// A JWT-only ring: an Ed25519 key there is never damage, so that
		// a signing_alg that no longer matches it is reported as such.
		AllowEd25519:  true,
		PreviousGrace: OAuthPreviousGrace(cfg.OAuth.AccessTokenLifetime.Std(), reload),
	}, nil
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

// ringKeys are the ring's published public keys (current, next, and
// previous during its grace period: OAuthPreviousGrace), read
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

func newConfigClients(cs []config.OAuthClientConfig) (configClients, error) {
	out := make(configClients, len(cs))
	for i, c := range cs {
		cl := &oauth.Client{
			ID:         c.ID,
			GrantTypes: slices.Clone(c.GrantTypes),
			Audiences:  slices.Clone(c.Audiences),
			Scopes:     slices.Clone(c.Scopes),
		}
		if s := c.Secret.Value(); s != "" {
			cl.SecretHash = oauth.HashSecret(s)
		}
		if c.JWKSFile != "" {
			ks, err := loadJWKSFile(c.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("gateway: oauth.clients[%d] (%s): %w", i, c.ID, err)
			}
			cl.JWKS = ks
		}
		out[c.ID] = cl
	}
	return out, nil
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
	cp.JWKS = slices.Clone(cl.JWKS)
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

// maxSubjectTokenSize bounds subject, actor and assertion tokens: room
// for a signed SAML assertion with a few attributes.
const maxSubjectTokenSize = 64 << 10

// setupOAuth builds the authorization server from oauth: the signing key
// ring, the minter, JWKS, metadata, the token endpoint with its grants,
// device authorization, introspection and revocation.
func (g *Gateway) setupOAuth(ctx context.Context, cfg *config.Config) error {
	o := cfg.OAuth
	ringOpts, err := OAuthRingOptions(cfg, g.keyReload)
	if err != nil {
		return err
	}
	ringAlg := ringOpts.Algorithm
	ringOpts.Now, ringOpts.Logger = g.now, g.log
	ring, err := OpenRing(ctx, cfg, g.store, OAuthSigningRing, ringOpts)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
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
	// With multi-account access, the built-in gatehouse-cli client and its
	// data service are added (cliOAuth).
	clientCfgs, serviceCfgs := cliOAuth(cfg)
	clients, err := newConfigClients(clientCfgs)
	if err != nil {
		return err
	}
	var scopes []string
	services := make([]oauth.DataService, 0, len(serviceCfgs))
	audiences := make([]string, 0, len(serviceCfgs))
	for _, ds := range serviceCfgs {
		services = append(services, oauth.DataService{Audience: ds.Audience, Scopes: slices.Clone(ds.Scopes)})
		audiences = append(audiences, ds.Audience)
		for _, s := range ds.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	tokenEndpoint := externalURL(cfg.ExternalURL, oauth.PathToken)
	deviceEndpoint := externalURL(cfg.ExternalURL, oauth.PathDeviceAuthorization)
	sink := oauthAudit{log: g.audit, metrics: g.metrics}

	resolvers := map[string]oauth.SubjectResolver{}
	// own validates Gatehouse's access tokens: subject and actor tokens,
	// introspection, revocation. With no data service there is no
	// audience it could have issued for.
	var own *oauth.Validator
	if len(audiences) > 0 {
		own, err = oauth.NewValidator(oauth.ValidatorConfig{
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
		resolvers[oauth.TokenTypeAccessToken] = oauth.OwnAccessTokens{Validator: own, Users: storeUsers{users: g.store}, Revocations: g.store}
	}
	grants := []string{oauth.GrantTokenExchange, oauth.GrantDeviceCode, oauth.GrantRefreshToken}
	var assertions oauth.SubjectResolver
	if len(o.TrustedTokenIssuers) > 0 {
		ti, err := newTrustedIssuers(o.TrustedTokenIssuers, trustedIssuerDeps{users: g.store, now: g.now, log: g.log, client: g.jwksClient()})
		if err != nil {
			return err
		}
		// A jwks_url that cannot be fetched now is logged and fails only
		// its own issuer's exchanges; the gateway starts.
		ti.prefetch(context.Background())
		resolvers[oauth.TokenTypeJWT] = ti
		resolvers[oauth.TokenTypeIDToken] = ti
		// RFC 7523 authorization grants come from the same issuers.
		assertions = ti
		grants = append(grants, oauth.GrantJWTBearer)
	}
	if r := g.samlSubjectResolver(cfg); r != nil {
		resolvers[oauth.TokenTypeSAML2] = r
	}
	md, err := oauth.MetadataHandler(oauth.MetadataConfig{
		Issuer:                      cfg.ExternalURL,
		GrantTypes:                  grants,
		DeviceAuthorizationEndpoint: deviceEndpoint,
		AuthMethods:                 []string{oauth.AuthMethodSecretBasic, oauth.AuthMethodSecretPost, oauth.AuthMethodPrivateKeyJWT, oauth.AuthMethodNone},
		SigningAlgs:                 []jwa.SignatureAlgorithm{jwa.SignatureAlgorithm(o.SigningAlg)},
		Scopes:                      scopes,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	token, err := oauth.NewTokenHandler(oauth.TokenHandlerConfig{
		Issuer:                cfg.ExternalURL,
		TokenEndpoint:         tokenEndpoint,
		Clients:               clients,
		JTIs:                  jtiStore{replay: g.store},
		Minter:                minter,
		Resolvers:             resolvers,
		Assertions:            assertions,
		DataServices:          services,
		Devices:               g.store,
		Refresh:               g.store,
		Users:                 storeUsers{users: g.store},
		RefreshTokenLifetime:  o.RefreshTokenLifetime.Std(),
		RefreshFamilyLifetime: o.RefreshFamilyLifetime.Std(),
		MaxTokenSize:          maxSubjectTokenSize,
		Now:                   g.now,
		Logger:                g.log,
		Audit:                 sink,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	device, err := oauth.NewDeviceAuthorizationHandler(oauth.DeviceConfig{
		TokenEndpoint:   tokenEndpoint,
		Clients:         clients,
		JTIs:            jtiStore{replay: g.store},
		Devices:         g.store,
		DataServices:    services,
		VerificationURI: externalURL(cfg.ExternalURL, portal.DevicePath),
		Lifetime:        o.DeviceCodeLifetime.Std(),
		Now:             g.now,
		Logger:          g.log,
		Audit:           sink,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	verifier, err := oauth.NewDeviceVerifier(oauth.DeviceVerifierConfig{
		Devices: g.store, Clients: clients, Now: g.now, Logger: g.log, Audit: sink,
	})
	if err != nil {
		return fmt.Errorf("gateway: oauth: %w", err)
	}
	// The consent form's CSRF key: one secret in keys.dir, so every
	// instance accepts a form another rendered.
	csrfKey, err := keys.LoadOrCreateSecret(cfg.Keys.Dir, "device-csrf", 32)
	if err != nil {
		return fmt.Errorf("gateway: keys.dir: %w", err)
	}
	page, err := g.portal.DeviceHandler(portal.DeviceConfig{Approver: verifier, ExternalURL: cfg.ExternalURL, CSRFKey: csrfKey})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	srv := &oauthServer{ring: ring, jwks: oauth.JWKSHandler(published), metadata: md, token: token, device: device, devicePage: page}
	if own != nil {
		peer := oauth.IntrospectionConfig{
			TokenEndpoint: tokenEndpoint,
			Clients:       clients,
			JTIs:          jtiStore{replay: g.store},
			Validator:     own,
			Revocations:   g.store,
			Refresh:       g.store,
			Now:           g.now,
			Logger:        g.log,
			Audit:         sink,
		}
		if srv.introspect, err = oauth.NewIntrospectionHandler(peer); err != nil {
			return fmt.Errorf("gateway: oauth: %w", err)
		}
		if srv.revoke, err = oauth.NewRevocationHandler(peer); err != nil {
			return fmt.Errorf("gateway: oauth: %w", err)
		}
	}
	g.oauth = srv
	return nil
}

// oauthRoutes registers the authorization server's endpoints.
func (g *Gateway) oauthRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+oauth.PathJWKS, g.oauth.jwks)
	mux.Handle("GET "+oauth.PathMetadata, g.oauth.metadata)
	mux.Handle("GET "+oauth.PathOpenIDConfiguration, g.oauth.metadata)
	mux.Handle("POST "+oauth.PathToken, g.oauth.token)
	mux.Handle("POST "+oauth.PathDeviceAuthorization, g.oauth.device)
	mux.Handle("GET "+portal.DevicePath, g.oauth.devicePage)
	mux.Handle("POST "+portal.DevicePath, g.oauth.devicePage)
	introspect, revoke := g.oauth.introspect, g.oauth.revoke
	if introspect == nil {
		// No data service: no access token of Gatehouse's can exist, so
		// every token is inactive; clients still authenticate.
		introspect = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			oauth.WriteError(w, oauth.NewError(oauth.ErrInvalidRequest, "no data services are configured"))
		})
		revoke = introspect
	}
	mux.Handle("POST "+oauth.PathIntrospect, introspect)
	mux.Handle("POST "+oauth.PathRevoke, revoke)
}
