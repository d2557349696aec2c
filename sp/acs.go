package sp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// Reason is a bounded label for why a sign-in was rejected. Values from
// saml.Reason are used as they are; the SP adds its own below.
type Reason string

// Rejection reasons the SP adds to saml's.
const (
	ReasonOK               Reason = "ok"
	ReasonNoEndpoint       Reason = "unknown_endpoint"
	ReasonMalformedForm    Reason = "malformed_form"
	ReasonReplay           Reason = "replay"
	ReasonUnknownRequest   Reason = "unknown_request"
	ReasonBrowserMismatch  Reason = "browser_mismatch"
	ReasonRelayState       Reason = "relay_state"
	ReasonUnsolicited      Reason = "unsolicited"
	ReasonUnknownUser      Reason = "unknown_user"
	ReasonInactiveUser     Reason = "inactive_user"
	ReasonStoreUnavailable Reason = "store_unavailable"
)

// rejection is an ACS failure with its bounded reason.
type rejection struct {
	reason Reason
	region string
	err    error
	status int
}

func (e *rejection) Error() string { return fmt.Sprintf("sp: %s: %v", e.reason, e.err) }
func (e *rejection) Unwrap() error { return e.err }

func reject(reason Reason, err error) *rejection {
	return &rejection{reason: reason, err: err, status: http.StatusForbidden}
}

func unavailable(err error) *rejection {
	return &rejection{reason: ReasonStoreUnavailable, err: err, status: http.StatusServiceUnavailable}
}

// genericFailure is the one body every rejected sign-in gets, whatever the
// reason, so that nothing about the verification leaks to the sender.
const genericFailure = "Sign-in failed. Please return to the application and try again.\n"

// SignIn is a completed sign-in.
type SignIn struct {
	Session  Session
	User     User
	ReturnTo string
	Region   string
	// Issuer is the IdP entity ID that asserted the sign-in.
	Issuer string
}

// ACSHandler consumes SAML Responses (HTTP-POST binding). Mount it at the path
// of every regional ACS URL (see ACSPaths). Success: the session cookie and a
// 303 to the stored return target. Any rejection: 403 with one generic body;
// store unavailable: 503. Neither sets a session cookie.
func (s *SP) ACSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		in, err := s.Consume(r)
		if err != nil {
			var rj *rejection
			if !errors.As(err, &rj) {
				rj = unavailable(err)
			}
			s.metrics.signins.WithLabelValues("rejected", string(rj.reason), rj.region).Inc()
			s.log.WarnContext(r.Context(), "saml sign-in rejected",
				"reason", string(rj.reason), "region", rj.region, "err", rj.err)
			if s.audit != nil {
				if aerr := s.audit.RecordSignIn(r.Context(), SignInRecord{Reason: rj.reason, Region: rj.region}); aerr != nil {
					s.log.ErrorContext(r.Context(), "saml sign-in rejection not audited", "err", aerr)
				}
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(rj.status)
			if rj.status == http.StatusServiceUnavailable {
				_, _ = w.Write([]byte("Sign-in is temporarily unavailable. Please try again shortly.\n"))
				return
			}
			_, _ = w.Write([]byte(genericFailure))
			return
		}
		if s.audit != nil {
			rec := SignInRecord{Success: true, Reason: ReasonOK, Region: in.Region, UserID: in.User.ID, Issuer: in.Issuer, AuthnContext: in.Session.AuthnContextClassRef}
			if aerr := s.audit.RecordSignIn(r.Context(), rec); aerr != nil {
				// No session without its audit record.
				if derr := s.sm.Delete(r.Context(), in.Session.ID); derr != nil {
					s.log.ErrorContext(r.Context(), "unaudited session could not be deleted", "err", derr)
				}
				s.metrics.signins.WithLabelValues("rejected", string(ReasonStoreUnavailable), in.Region).Inc()
				s.log.ErrorContext(r.Context(), "saml sign-in refused: audit record not stored", "user_id", in.User.ID, "err", aerr)
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("Sign-in is temporarily unavailable. Please try again shortly.\n"))
				return
			}
		}
		s.metrics.signins.WithLabelValues("accepted", string(ReasonOK), in.Region).Inc()
		s.log.InfoContext(r.Context(), "saml sign-in", "user_id", in.User.ID, "region", in.Region)
		s.sm.SetCookie(w, r, in.Session)
		http.Redirect(w, r, in.ReturnTo, http.StatusSeeOther)
	})
}

// Consume verifies the SAML Response posted in r and, when every check
// passes, creates a session. It does not write to any ResponseWriter, so
// embedders can build their own handler around it. Errors carry a bounded
// reason (see ReasonOf) and never a partial sign-in.
func (s *SP) Consume(r *http.Request) (*SignIn, error) {
	now := s.now()
	ctx := r.Context()

	region, ok := s.receivingRegion(r)
	if !ok {
		return nil, reject(ReasonNoEndpoint, errors.New("POST to a URL that is not a configured ACS endpoint"))
	}
	withRegion := func(rj *rejection) *rejection { rj.region = region.Name; return rj }

	if err := r.ParseForm(); err != nil {
		return nil, withRegion(reject(ReasonMalformedForm, err))
	}
	encoded := r.PostForm.Get("SAMLResponse")
	relayState := r.PostForm.Get("RelayState")
	if encoded == "" || len(r.PostForm["SAMLResponse"]) != 1 || len(r.PostForm["RelayState"]) > 1 {
		return nil, withRegion(reject(ReasonMalformedForm, errors.New("exactly one SAMLResponse and at most one RelayState required")))
	}

	idp := s.idp.Load()
	a, err := idp.verifier.VerifyResponse(encoded, saml.Expected{Destination: region.ACSURL, Now: now})
	if err != nil {
		return nil, withRegion(reject(Reason(saml.ReasonOf(err)), err))
	}

	// The first store steps, in one round trip when the store can.
	pre, err := s.startSignIn(ctx, a, now)
	if err != nil {
		return nil, withRegion(unavailable(err))
	}

	// Replay: insert-if-absent until the assertion can no longer be accepted.
	if err := pre.Replay; err != nil {
		if errors.Is(err, ErrReplay) {
			return nil, withRegion(reject(ReasonReplay, err))
		}
		return nil, withRegion(unavailable(err))
	}

	returnTo, rj := s.checkInResponseTo(r, a, relayState, pre)
	if rj != nil {
		return nil, withRegion(rj)
	}

	user, rj := s.resolveUser(ctx, a, now, pre)
	if rj != nil {
		return nil, withRegion(rj)
	}

	sess, err := s.sm.Create(ctx, Session{
		UserID:       user.ID,
		AuthnInstant: a.AuthnInstant(),
		SessionIndex: a.SessionIndex(),
		Method:       "saml",

		AuthnContextClassRef: a.AuthnContextClassRef(),
	})
	if err != nil {
		return nil, withRegion(unavailable(err))
	}
	return &SignIn{Session: sess, User: user, ReturnTo: returnTo, Region: region.Name, Issuer: a.Issuer()}, nil
}

// startSignIn marks the assertion used, consumes the pending request it
// answers (if any) and looks its identity up: in one call when the store
// is a SignInStarter (Config.Starter), else with the three calls, stopping at the first
// that the decision does not get past (a replay, a store failure).
func (s *SP) startSignIn(ctx context.Context, a *saml.Assertion, now time.Time) (SignInStarted, error) {
	st := SignInStart{
		Issuer: a.Issuer(), AssertionID: a.ID(), ReplayUntil: a.NotOnOrAfter().Add(s.skew),
		RequestID: a.InResponseTo(),
		External:  ExternalIdentity{Issuer: a.Issuer(), NameID: a.NameID()},
		Now:       now,
	}
	if s.starter != nil {
		return s.starter.StartSignIn(ctx, st)
	}
	return StartSignInSteps(ctx, st, s.replay, s.requests, s.users)
}

// checkInResponseTo matches the signed InResponseTo against the pending
// request startSignIn consumed (once, atomically), which must be bound to
// this browser, and returns the stored return target. Unsolicited
// responses are accepted only when configured.
func (s *SP) checkInResponseTo(r *http.Request, a *saml.Assertion, relayState string, pre SignInStarted) (string, *rejection) {
	id := a.InResponseTo()
	if id == "" {
		if !s.allowIdPInitiated {
			return "", reject(ReasonUnsolicited, errors.New("unsolicited response and allow_idp_initiated is off"))
		}
		return s.defaultReturnTo, nil
	}
	pending, err := pre.Request, pre.RequestErr
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", reject(ReasonUnknownRequest, errors.New("InResponseTo names no pending request"))
		}
		return "", unavailable(err)
	}
	c, err := r.Cookie(StateCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(bindingHash(c.Value)), []byte(pending.BrowserBinding)) != 1 {
		return "", reject(ReasonBrowserMismatch, errors.New("the response arrived in a browser other than the one that started sign-in"))
	}
	if subtle.ConstantTimeCompare([]byte(relayState), []byte(pending.RelayState)) != 1 {
		return "", reject(ReasonRelayState, errors.New("RelayState does not match the pending request"))
	}
	if !IsLocalPath(pending.ReturnTo) {
		return s.defaultReturnTo, nil
	}
	return pending.ReturnTo, nil
}

// resolveUser maps (issuer, NameID) to an identity store user, starting
// from startSignIn's lookup.
func (s *SP) resolveUser(ctx context.Context, a *saml.Assertion, now time.Time, pre SignInStarted) (User, *rejection) {
	ext := ExternalIdentity{Issuer: a.Issuer(), NameID: a.NameID()}
	user, err := pre.User, pre.UserErr
	if errors.Is(err, ErrNotFound) {
		// First sign-in of this identity: link it to the user whose
		// user_name is the NameID (created by SCIM or an administrator),
		// or, with JIT provisioning, create that user.
		user, err = s.users.LinkByUserName(ctx, ext)
		if errors.Is(err, ErrNotFound) && s.jit {
			user, err = s.users.ProvisionExternal(ctx, ext, s.userAttributes(a), now)
		}
		switch {
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalidAttributes):
			return User{}, reject(ReasonUnknownUser, err)
		case err != nil:
			return User{}, unavailable(err)
		}
	} else if err != nil {
		return User{}, unavailable(err)
	}
	if !user.Active {
		return User{}, reject(ReasonInactiveUser, errors.New("user is deactivated"))
	}
	if attrs := s.userAttributes(a); s.jit && !attributesMatch(user, attrs) {
		if user, err = s.users.UpdateAttributes(ctx, user.ID, attrs, now); err != nil {
			if errors.Is(err, ErrInvalidAttributes) {
				return User{}, reject(ReasonUnknownUser, err)
			}
			return User{}, unavailable(err)
		}
	}
	return user, nil
}

func (s *SP) userAttributes(a *saml.Assertion) UserAttributes {
	var out UserAttributes
	if s.attrs.Email != "" {
		if v := a.Attribute(s.attrs.Email); len(v) > 0 {
			out.Email = v[0]
		}
	}
	if s.attrs.DisplayName != "" {
		if v := a.Attribute(s.attrs.DisplayName); len(v) > 0 {
			out.DisplayName = v[0]
		}
	}
	if s.attrs.Groups != "" {
		if v, ok := a.Attributes()[s.attrs.Groups]; ok {
			out.Groups = make([]string, 0, len(v))
			for _, g := range v {
				if g = strings.TrimSpace(g); g != "" {
					out.Groups = append(out.Groups, g)
				}
			}
		}
	}
	return out
}

// attributesMatch reports whether applying attrs would leave u unchanged,
// so a returning user's sign-in costs no write.
func attributesMatch(u User, attrs UserAttributes) bool {
	if u.Email != attrs.Email || u.DisplayName != attrs.DisplayName {
		return false
	}
	if attrs.Groups == nil {
		return true
	}
	have := slices.Clone(u.Groups)
	want := slices.Clone(attrs.Groups)
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(slices.Compact(have), slices.Compact(want))
}

// receivingRegion returns the region whose ACS URL equals the URL the POST
// arrived at (scheme, host and path).
func (s *SP) receivingRegion(r *http.Request) (Region, bool) {
	u := s.requestURL(r)
	for _, reg := range s.regions {
		if sameOrigin(reg.ACSURL, u.Scheme, u.Host) && acsPath(reg.ACSURL) == u.Path {
			return reg, true
		}
	}
	return Region{}, false
}

func acsPath(raw string) string {
	i := strings.Index(raw, "://")
	rest := raw[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		return "/"
	}
	return rest[j:]
}

// ReasonOf returns the bounded rejection reason of an error from Consume.
func ReasonOf(err error) Reason {
	var rj *rejection
	if errors.As(err, &rj) {
		return rj.reason
	}
	if err == nil {
		return ReasonOK
	}
	return ReasonStoreUnavailable
}
