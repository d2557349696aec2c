package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// assertionVerifiers yields the saml.Verifier for the identity source IdP
// as it is trusted at the time of the call (metadata refreshes replace it).
type assertionVerifiers interface {
	Verifier() (*saml.Verifier, error)
}

// samlUsers is what samlSubjects needs of the user directory: the two
// lookups the ACS makes before it would provision.
type samlUsers interface {
	LookupExternal(ctx context.Context, ext sp.ExternalIdentity) (sp.User, error)
	LinkByUserName(ctx context.Context, ext sp.ExternalIdentity) (sp.User, error)
}

// samlSubjects resolves subject_token_type saml2 (RFC 8693 §3, RFC 7522):
// a bare SAML 2.0 assertion of the identity source IdP, base64url-encoded,
// whose bearer Recipient is the token endpoint. It is verified by
// saml.Verifier.VerifyAssertion, recorded as used in the replay cache the
// ACS uses, under the same (issuer, assertion ID) key, so an assertion is
// accepted once, at the ACS or here, and then names an existing user the
// way the ACS finds one, never provisioning one.
type samlSubjects struct {
	verifiers     assertionVerifiers
	replay        sp.ReplayCache
	users         samlUsers
	tokenEndpoint string
	// skew extends the replay record past NotOnOrAfter, as the ACS does.
	skew time.Duration
	now  func() time.Time
}

// ResolveSubject implements oauth.SubjectResolver.
func (s *samlSubjects) ResolveSubject(ctx context.Context, tokenType, token string) (oauth.Subject, error) {
	if tokenType != oauth.TokenTypeSAML2 {
		return oauth.Subject{}, fmt.Errorf("gateway: saml subject tokens: token type %q", tokenType)
	}
	now := s.now()
	v, err := s.verifiers.Verifier()
	if err != nil {
		return oauth.Subject{}, oauth.NewError(oauth.ErrTemporarilyUnavailable, "the identity provider is unavailable").Wrap(err)
	}
	a, err := v.VerifyAssertion(token, saml.Expected{Destination: s.tokenEndpoint, Now: now})
	if err != nil {
		// One public description whatever the reason; the reason is in
		// the wrapped error, for the server log.
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "subject_token is invalid").Wrap(err)
	}
	// Replay: insert-if-absent until the assertion can no longer be
	// accepted; a store error refuses.
	if err := s.replay.MarkAssertionUsed(ctx, a.Issuer(), a.ID(), a.NotOnOrAfter().Add(s.skew), now); err != nil {
		if errors.Is(err, sp.ErrReplay) {
			return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "subject_token was already used").Wrap(err)
		}
		return oauth.Subject{}, oauth.NewError(oauth.ErrTemporarilyUnavailable, "the replay cache is unavailable").Wrap(err)
	}
	ext := sp.ExternalIdentity{Issuer: a.Issuer(), NameID: a.NameID()}
	u, err := s.users.LookupExternal(ctx, ext)
	if errors.Is(err, sp.ErrNotFound) {
		// As at the ACS: link the identity to the existing user whose
		// user_name is the NameID; never create one here.
		u, err = s.users.LinkByUserName(ctx, ext)
	}
	switch {
	case errors.Is(err, sp.ErrNotFound), errors.Is(err, sp.ErrConflict):
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "unknown user").Wrap(err)
	case err != nil:
		return oauth.Subject{}, oauth.NewError(oauth.ErrTemporarilyUnavailable, "user lookup failed").Wrap(err)
	}
	if !u.Active {
		return oauth.Subject{}, oauth.NewError(oauth.ErrInvalidGrant, "user is disabled")
	}
	subj := subjectOf(u)
	subj.Issuer = a.Issuer()
	subj.JTI = a.ID()
	subj.ExpiresAt = a.NotOnOrAfter()
	return subj, nil
}

// spVerifiers hands out the SP's current verifier, so saml2 subject tokens
// are verified with exactly the trust the ACS applies; like the ACS, it
// refuses while the IdP metadata is older than its staleness bound (its
// keys may have been revoked since).
type spVerifiers struct {
	sp    *sp.SP
	fresh func() bool
}

// Verifier implements assertionVerifiers.
func (v spVerifiers) Verifier() (*saml.Verifier, error) {
	if v.fresh != nil && !v.fresh() {
		return nil, errors.New("gateway: IdP metadata is older than its staleness bound")
	}
	return v.sp.AssertionVerifier(), nil
}

// samlSubjectResolver is the saml2 subject token resolver of the identity
// source, or nil when there is no SAML identity source.
func (g *Gateway) samlSubjectResolver(cfg *config.Config) oauth.SubjectResolver {
	samlCfg := cfg.IdentitySource.SAML
	if samlCfg == nil || g.sp == nil {
		return nil
	}
	verifiers := spVerifiers{sp: g.sp}
	if r := g.refresher; r != nil {
		verifiers.fresh = func() bool { return r.Current() != nil }
	}
	return &samlSubjects{
		verifiers:     verifiers,
		replay:        g.store,
		users:         g.store,
		tokenEndpoint: externalURL(cfg.ExternalURL, oauth.PathToken),
		skew:          samlCfg.ClockSkew.Std(),
		now:           g.now,
	}
}
