package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Client authentication methods (RFC 8414 token_endpoint_auth_methods).
const (
	AuthMethodSecretBasic   = "client_secret_basic"
	AuthMethodSecretPost    = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"

	// ClientAssertionTypeJWT is the client_assertion_type of
	// private_key_jwt (RFC 7523 section 2.2).
	ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// MaxClientAssertionLifetime bounds exp-iat of a client assertion.
	MaxClientAssertionLifetime = 5 * time.Minute
)

// ErrUnknownClient is returned by a ClientStore for an unregistered
// client_id.
var ErrUnknownClient = errors.New("oauth: unknown client")

// ErrJTIReplayed is returned by a JTIStore when the (issuer, jti) pair was
// already used.
var ErrJTIReplayed = errors.New("oauth: jti already used")

// Client is a registered OAuth client.
type Client struct {
	ID string
	// SecretHash is the SHA-256 of the client secret; nil for a client
	// without a secret.
	SecretHash []byte
	// GrantTypes the client may use (Grant* constants).
	GrantTypes []string
	// Audiences are the data services (DataService.Audience) the client may
	// obtain tokens for.
	Audiences []string
	// Scopes the client may obtain.
	Scopes []string
	// JWKS are the client's public keys for private_key_jwt; optional.
	JWKS []Key
}

// public reports whether the client has no credentials at all.
func (c *Client) public() bool { return len(c.SecretHash) == 0 && len(c.JWKS) == 0 }

// HashSecret returns the SHA-256 of a client secret, the form stored in
// Client.SecretHash.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ClientStore looks clients up by client_id.
type ClientStore interface {
	// Client returns the client or an error wrapping ErrUnknownClient.
	Client(ctx context.Context, id string) (*Client, error)
}

// JTIStore records used JWT IDs so an assertion is accepted once.
type JTIStore interface {
	// MarkJTIUsed records (issuer, jti) until expiresAt, or returns an
	// error wrapping ErrJTIReplayed when it is already recorded.
	MarkJTIUsed(ctx context.Context, issuer, jti string, expiresAt, now time.Time) error
}

// clientAuthenticator authenticates the client of a token request.
type clientAuthenticator struct {
	clients       ClientStore
	jtis          JTIStore
	tokenEndpoint string
	maxTokenSize  int
}

func invalidClient(cause error) *Error {
	return NewError(ErrInvalidClient, "client authentication failed").Wrap(cause)
}

// authenticate applies exactly one client authentication method to the
// request: client_secret_basic, client_secret_post, private_key_jwt, or
// none for a public client. form is the already parsed body.
func (a *clientAuthenticator) authenticate(ctx context.Context, r *http.Request, form map[string]string, now time.Time) (*Client, string, *Error) {
	authz := r.Header.Get("Authorization")
	_, hasSecret := form["client_secret"]
	_, hasAssertion := form["client_assertion"]
	_, hasAssertionType := form["client_assertion_type"]
	methods := 0
	if authz != "" {
		methods++
	}
	if hasSecret {
		methods++
	}
	if hasAssertion || hasAssertionType {
		methods++
	}
	if methods > 1 {
		return nil, "", NewError(ErrInvalidRequest, "more than one client authentication method")
	}
	formID, hasFormID := form["client_id"]
	switch {
	case authz != "":
		id, secret, err := parseBasic(authz)
		if err != nil {
			return nil, "", invalidClient(err)
		}
		if hasFormID && formID != id {
			return nil, "", invalidClient(errors.New("client_id differs from the Authorization header"))
		}
		c, oe := a.secretClient(ctx, id, secret)
		return c, AuthMethodSecretBasic, oe
	case hasSecret:
		if !hasFormID {
			return nil, "", invalidClient(errors.New("client_secret without client_id"))
		}
		c, err := a.secretClient(ctx, formID, form["client_secret"])
		return c, AuthMethodSecretPost, err
	case hasAssertion || hasAssertionType:
		c, err := a.assertionClient(ctx, form, now)
		return c, AuthMethodPrivateKeyJWT, err
	case hasFormID:
		c, err := a.clients.Client(ctx, formID)
		if err != nil {
			return nil, "", clientLookupError(err)
		}
		if !c.public() {
			return nil, "", invalidClient(errors.New("confidential client sent no credentials"))
		}
		return c, AuthMethodNone, nil
	default:
		return nil, "", invalidClient(errors.New("no client authentication"))
	}
}

func clientLookupError(err error) *Error {
	if errors.Is(err, ErrUnknownClient) {
		return invalidClient(err)
	}
	return NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
}

// parseBasic decodes an RFC 7617 Basic header whose user and password are
// form-urlencoded as RFC 6749 section 2.3.1 requires.
func parseBasic(h string) (id, secret string, err error) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", errors.New("authorization scheme is not Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", fmt.Errorf("basic credentials: %w", err)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("basic credentials without a colon")
	}
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", fmt.Errorf("basic client_id: %w", err)
	}
	if secret, err = url.QueryUnescape(p); err != nil {
		return "", "", fmt.Errorf("basic client_secret: %w", err)
	}
	if id == "" {
		return "", "", errors.New("empty client_id")
	}
	return id, secret, nil
}

// secretClient checks a client secret in constant time over SHA-256
// hashes. An unknown client costs the same hash.
func (a *clientAuthenticator) secretClient(ctx context.Context, id, secret string) (*Client, *Error) {
	got := HashSecret(secret)
	c, err := a.clients.Client(ctx, id)
	if err != nil {
		return nil, clientLookupError(err)
	}
	if len(c.SecretHash) != sha256.Size {
		return nil, invalidClient(errors.New("client has no secret"))
	}
	if subtle.ConstantTimeCompare(got, c.SecretHash) != 1 {
		return nil, invalidClient(errors.New("wrong client secret"))
	}
	return c, nil
}

// assertionClient authenticates private_key_jwt (RFC 7523 section 2.2 and
// 3): iss = sub = client_id, aud = the token endpoint, a short lifetime,
// and a jti used once.
func (a *clientAuthenticator) assertionClient(ctx context.Context, form map[string]string, now time.Time) (*Client, *Error) {
	if form["client_assertion_type"] != ClientAssertionTypeJWT {
		return nil, invalidClient(errors.New("unsupported client_assertion_type"))
	}
	assertion := form["client_assertion"]
	if len(assertion) > a.maxTokenSize {
		return nil, NewError(ErrInvalidRequest, "client_assertion is too large")
	}
	id, hasID := form["client_id"]
	if !hasID {
		var err error
		if id, err = unverifiedIssuer(assertion); err != nil {
			return nil, invalidClient(err)
		}
	}
	c, err := a.clients.Client(ctx, id)
	if err != nil {
		return nil, clientLookupError(err)
	}
	if len(c.JWKS) == 0 {
		return nil, invalidClient(errors.New("client has no keys"))
	}
	v, err := NewValidator(ValidatorConfig{
		Issuer:      c.ID,
		Audiences:   []string{a.tokenEndpoint},
		Keys:        StaticKeys(slices.Clone(c.JWKS)),
		MaxLifetime: MaxClientAssertionLifetime,
		MaxSize:     a.maxTokenSize,
		RequireJTI:  true,
		Now:         func() time.Time { return now },
	})
	if err != nil {
		return nil, invalidClient(err)
	}
	tok, err := v.Validate(ctx, assertion)
	if err != nil {
		return nil, invalidClient(err)
	}
	if tok.Subject() != c.ID {
		return nil, invalidClient(errors.New("client assertion sub is not the client_id"))
	}
	if tok.Expiration().IsZero() {
		return nil, invalidClient(errors.New("client assertion without exp"))
	}
	if err := a.jtis.MarkJTIUsed(ctx, c.ID, tok.JwtID(), tok.Expiration(), now); err != nil {
		if errors.Is(err, ErrJTIReplayed) {
			return nil, invalidClient(err)
		}
		return nil, unavailable().Wrap(err)
	}
	return c, nil
}

// unverifiedIssuer reads iss from an unverified compact JWT, only to find
// which client's keys to verify it with.
func unverifiedIssuer(raw string) (string, error) {
	_, p, _, err := splitCompact(raw)
	if err != nil {
		return "", err
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", fmt.Errorf("client assertion payload: %w", err)
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Iss == "" {
		return "", errors.New("client assertion without iss")
	}
	return claims.Iss, nil
}
