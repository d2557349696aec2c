package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Paths of the built-in directory sign-in.
const (
	// SignInPath: GET shows the user name and password form, POST checks
	// it.
	SignInPath = "/signin"
	// SignInMFAPath: the second-factor page (TOTP form, security key).
	SignInMFAPath = "/signin/mfa"
	// SignInRegisterPath: registering a first second factor.
	SignInRegisterPath = "/signin/register"
	// SignInAddPath: a signed-in user adds a second factor (password
	// again, then the registration page).
	SignInAddPath = "/signin/add"
	// signInCancelPath abandons the sign-in in progress (POST).
	signInCancelPath = "/signin/cancel"
	// FlowCookie carries the secret of a sign-in in progress; it is sent
	// only to /signin and only by same-site requests.
	FlowCookie = "gatehouse_signin"
)

// Form fields of the sign-in pages.
const (
	fieldUserName = "user_name"
	fieldPassword = "password"
	fieldReturnTo = "return_to"
	fieldCode     = "code"
	fieldName     = "name"
)

// signInMaxBody bounds sign-in form bodies and WebAuthn responses.
const signInMaxBody = 64 << 10

// SignInService is the directory sign-in logic (signin.Service).
type SignInService interface {
	Start(ctx context.Context, userName, password, returnTo, addr string) (signin.Step, error)
	Flow(ctx context.Context, flowID string) (signin.Step, error)
	Cancel(ctx context.Context, flowID string) error
	VerifyTOTP(ctx context.Context, flowID, code, addr string) (signin.Step, error)
	BeginWebAuthn(ctx context.Context, flowID string) ([]byte, error)
	FinishWebAuthn(ctx context.Context, flowID string, body []byte, addr string) (signin.Step, error)
	StartEnrollment(ctx context.Context, userID, password, returnTo, addr string) (signin.Step, error)
	BeginTOTPRegistration(ctx context.Context, flowID string) (signin.TOTPEnrollment, error)
	FinishTOTPRegistration(ctx context.Context, flowID, code, name, addr string) (signin.Step, error)
	BeginWebAuthnRegistration(ctx context.Context, flowID string) ([]byte, error)
	FinishWebAuthnRegistration(ctx context.Context, flowID string, body []byte, name, addr string) (signin.Step, error)
}

// SessionCookies sets the portal session cookie (sp.SessionManager).
type SessionCookies interface {
	SetCookie(w http.ResponseWriter, r *http.Request, s sp.Session)
}

// SignInConfig configures the sign-in pages.
type SignInConfig struct {
	Service SignInService
	Cookies SessionCookies
	// ExternalURL is the gateway's external URL: form posts must come
	// from its origin, and the flow cookie is Secure when it is https.
	ExternalURL string
}

type signInHandler struct {
	p       *Portal
	svc     SignInService
	cookies SessionCookies
	cop     *http.CrossOriginProtection
	secure  bool
	mux     *http.ServeMux
}

// SignInHandler returns the handler of every path under SignInPath.
func (p *Portal) SignInHandler(cfg SignInConfig) (http.Handler, error) {
	if cfg.Service == nil || cfg.Cookies == nil {
		return nil, errors.New("portal: sign-in: Service and Cookies are required")
	}
	if _, err := originOf(cfg.ExternalURL); err != nil {
		return nil, fmt.Errorf("portal: sign-in: ExternalURL: %w", err)
	}
	u, _ := url.Parse(cfg.ExternalURL)
	h := &signInHandler{p: p, svc: cfg.Service, cookies: cfg.Cookies, cop: http.NewCrossOriginProtection(), secure: u.Scheme == "https", mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+SignInPath, h.serveForm)
	h.mux.HandleFunc("POST "+SignInPath, h.post(h.servePassword))
	h.mux.HandleFunc("GET "+SignInMFAPath, h.serveMFA)
	h.mux.HandleFunc("POST "+SignInMFAPath+"/totp", h.post(h.serveTOTP))
	h.mux.HandleFunc("POST "+SignInMFAPath+"/webauthn/begin", h.post(h.serveWebAuthnBegin(false)))
	h.mux.HandleFunc("POST "+SignInMFAPath+"/webauthn/finish", h.post(h.serveWebAuthnFinish(false)))
	h.mux.HandleFunc("GET "+SignInRegisterPath, h.serveRegister)
	h.mux.HandleFunc("POST "+SignInRegisterPath+"/totp", h.post(h.serveTOTPRegister))
	h.mux.HandleFunc("POST "+SignInRegisterPath+"/webauthn/begin", h.post(h.serveWebAuthnBegin(true)))
	h.mux.HandleFunc("POST "+SignInRegisterPath+"/webauthn/finish", h.post(h.serveWebAuthnFinish(true)))
	h.mux.HandleFunc("POST "+signInCancelPath, h.post(h.serveCancel))
	h.mux.HandleFunc("GET "+SignInAddPath, h.serveAddForm)
	h.mux.HandleFunc("POST "+SignInAddPath, h.post(h.serveAdd))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such sign-in page.")
	})
	return h, nil
}

func (h *signInHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// post wraps a POST handler: the body is capped, and a cross-origin
// browser request (net/http.CrossOriginProtection: Sec-Fetch-Site, else
// Origin against Host) is refused before anything is checked, so no other
// site can sign a browser in (login CSRF) or drive a sign-in in progress.
func (h *signInHandler) post(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.cop.Check(r); err != nil {
			h.p.log.WarnContext(r.Context(), "portal: cross-origin sign-in request refused", "err", err)
			h.p.renderError(w, r, http.StatusForbidden, "Request refused",
				"This request did not come from the sign-in page. Open the sign-in page and try again.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, signInMaxBody)
		next(w, r)
	}
}

// returnTarget is the return_to of r when it is a local path, else the
// portal.
func returnTarget(v string) string {
	if sp.IsLocalPath(v) {
		return v
	}
	return PortalPath
}

// signInView is what the sign-in templates render.
type signInView struct {
	pageBase
	Error    string
	UserName string
	ReturnTo string
	// MFA page.
	TOTP     bool
	WebAuthn bool
	// Register page.
	Secret  string
	QRCode  template.URL
	OTPAuth string
	// Who is signing in (second steps).
	Account string
}

func (h *signInHandler) view(title string) signInView {
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with the form posts, which the origin check refuses.
	b := newPageBase(title + " – Gatehouse")
	b.extraCSP = "img-src data:; connect-src 'self'"
	return signInView{pageBase: b}
}

func (h *signInHandler) render(w http.ResponseWriter, r *http.Request, status int, t *template.Template, v signInView) {
	h.p.render(w, r, status, t, &v)
}

func (h *signInHandler) serveForm(w http.ResponseWriter, r *http.Request) {
	returnTo := returnTarget(r.URL.Query().Get(fieldReturnTo))
	if _, _, err := h.p.sessions.Current(r); err == nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, returnTo, http.StatusFound)
		return
	}
	v := h.view("Sign in")
	v.ReturnTo = returnTo
	h.render(w, r, http.StatusOK, signInPage, v)
}

// serveAddForm asks a signed-in user for the password before adding a
// second factor.
func (h *signInHandler) serveAddForm(w http.ResponseWriter, r *http.Request) {
	user, _, ok := h.p.session(w, r, h.p.now(), SignInAddPath, h.p.renderUnavailable)
	if !ok {
		return
	}
	v := h.view("Add a sign-in device")
	v.Account = firstNonEmpty(user.DisplayName, user.UserName)
	h.render(w, r, http.StatusOK, addPage, v)
}

func (h *signInHandler) serveAdd(w http.ResponseWriter, r *http.Request) {
	user, _, ok := h.p.session(w, r, h.p.now(), SignInAddPath, h.p.renderUnavailable)
	if !ok {
		return
	}
	_ = r.ParseForm()
	pw, _ := single(r.PostForm, fieldPassword)
	step, err := h.svc.StartEnrollment(r.Context(), user.ID, pw, PortalPath, r.RemoteAddr)
	if err != nil {
		v := h.view("Add a sign-in device")
		v.Account = firstNonEmpty(user.DisplayName, user.UserName)
		if status := h.failure(w, r, err, &v); status != 0 {
			if errors.Is(err, signin.ErrInvalidCredentials) {
				v.Error = "The password is not correct."
			}
			h.render(w, r, status, addPage, v)
		}
		return
	}
	h.next(w, r, step)
}

func (h *signInHandler) servePassword(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.p.renderError(w, r, http.StatusBadRequest, "Bad request", "The sign-in form could not be read. Go back and try again.")
		return
	}
	userName, _ := single(r.PostForm, fieldUserName)
	pw, _ := single(r.PostForm, fieldPassword)
	returnTo, _ := single(r.PostForm, fieldReturnTo)
	returnTo = returnTarget(returnTo)
	step, err := h.svc.Start(r.Context(), userName, pw, returnTo, r.RemoteAddr)
	if err != nil {
		v := h.view("Sign in")
		v.UserName, v.ReturnTo = userName, returnTo
		h.renderFailure(w, r, err, signInPage, v)
		return
	}
	h.next(w, r, step)
}

// failure turns a service error into a status and the view's message; 0
// means it already answered.
func (h *signInHandler) failure(w http.ResponseWriter, r *http.Request, err error, v *signInView) int {
	var retry *signin.RetryError
	switch {
	case errors.Is(err, signin.ErrInvalidCredentials):
		if v.TOTP || v.WebAuthn || v.Secret != "" {
			v.Error = "That code or key was not accepted. Try again."
		} else {
			v.Error = "The user name or password is not correct."
		}
		return http.StatusUnauthorized
	case errors.As(err, &retry):
		w.Header().Set("Retry-After", strconv.FormatInt(int64((retry.RetryAfter+time.Second-1)/time.Second), 10))
		if retry.Locked {
			v.Error = "Too many failed attempts: sign-in for this account is paused. Try again in " + remaining(retry.RetryAfter) + ", or ask your administrator."
		} else {
			v.Error = "Too many failed attempts from your network. Try again in " + remaining(retry.RetryAfter) + "."
		}
		return http.StatusTooManyRequests
	case errors.Is(err, signin.ErrNoDevice):
		v.Error = "Your account needs a second factor (an authenticator app or a security key) and has none. Ask your administrator to set one up."
		return http.StatusForbidden
	case errors.Is(err, signin.ErrNoFlow), errors.Is(err, signin.ErrWrongStage):
		h.clearFlow(w)
		h.p.render(w, r, http.StatusConflict, messagePage, &messageView{
			pageBase: newPageBase("Sign in again – Gatehouse"), Heading: "Sign in again", HeadID: "signin-expired",
			Message: "This sign-in has expired or was already used. Start again.", LinkText: "Sign in", LinkURL: SignInPath,
		})
		return 0
	case errors.Is(err, signin.ErrTooManyDevices):
		v.Error = "You already have the most devices of this kind. Use one of them, or ask your administrator to remove one."
		return http.StatusConflict
	case errors.Is(err, signin.ErrBadRequest):
		v.Error = "That was not accepted: " + strings.TrimPrefix(err.Error(), signin.ErrBadRequest.Error()+": ") + "."
		return http.StatusBadRequest
	default:
		h.p.log.ErrorContext(r.Context(), "portal: sign-in failed", "err", err)
		h.p.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"Sign-in is temporarily unavailable. Please try again in a moment.")
		return 0
	}
}

// next sends the browser to the step after a successful call: the
// session cookie and the return target when done, else the flow cookie
// and the next page.
func (h *signInHandler) next(w http.ResponseWriter, r *http.Request, step signin.Step) {
	w.Header().Set("Cache-Control", "no-store")
	switch step.Stage {
	case signin.StageDone:
		h.clearFlow(w)
		h.cookies.SetCookie(w, r, step.Session)
		http.Redirect(w, r, returnTarget(step.ReturnTo), http.StatusSeeOther)
	case signin.StageMFA:
		h.setFlow(w, step)
		http.Redirect(w, r, SignInMFAPath, http.StatusSeeOther)
	case signin.StageRegister:
		h.setFlow(w, step)
		http.Redirect(w, r, SignInRegisterPath, http.StatusSeeOther)
	}
}

func (h *signInHandler) setFlow(w http.ResponseWriter, step signin.Step) {
	http.SetCookie(w, &http.Cookie{
		Name: FlowCookie, Value: step.FlowID, Path: SignInPath, Expires: step.ExpiresAt,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
}

func (h *signInHandler) clearFlow(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: FlowCookie, Value: "", Path: SignInPath, MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode})
}

func flowID(r *http.Request) string {
	c, err := r.Cookie(FlowCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// flowView loads the flow for a page; on failure it answers and returns
// false.
func (h *signInHandler) flowView(w http.ResponseWriter, r *http.Request, title string, want signin.Stage) (signin.Step, signInView, bool) {
	v := h.view(title)
	step, err := h.svc.Flow(r.Context(), flowID(r))
	if err == nil && step.Stage != want {
		err = signin.ErrWrongStage
	}
	if err != nil {
		h.failure(w, r, err, &v)
		return signin.Step{}, v, false
	}
	v.Account = firstNonEmpty(step.User.DisplayName, step.User.UserName)
	v.ReturnTo = step.ReturnTo
	for _, m := range step.Methods {
		v.TOTP = v.TOTP || m == signin.KindTOTP
		v.WebAuthn = v.WebAuthn || m == signin.KindWebAuthn
	}
	return step, v, true
}

func (h *signInHandler) serveMFA(w http.ResponseWriter, r *http.Request) {
	if _, v, ok := h.flowView(w, r, "Verify it is you", signin.StageMFA); ok {
		h.render(w, r, http.StatusOK, mfaPage, v)
	}
}

func (h *signInHandler) serveTOTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	code, _ := single(r.PostForm, fieldCode)
	step, err := h.svc.VerifyTOTP(r.Context(), flowID(r), code, r.RemoteAddr)
	if err != nil {
		// The page is built only to show the error again.
		if _, v, ok := h.flowView(w, r, "Verify it is you", signin.StageMFA); ok {
			h.renderFailure(w, r, err, mfaPage, v)
		}
		return
	}
	h.next(w, r, step)
}

// renderFailure renders page with the message of err (failure), or lets
// failure answer on its own.
func (h *signInHandler) renderFailure(w http.ResponseWriter, r *http.Request, err error, page *template.Template, v signInView) {
	if status := h.failure(w, r, err, &v); status != 0 {
		h.render(w, r, status, page, v)
	}
}

func (h *signInHandler) serveRegister(w http.ResponseWriter, r *http.Request) {
	if _, v, ok := h.registerView(w, r); ok {
		h.render(w, r, http.StatusOK, registerPage, v)
	}
}

// registerView is the registration page's view with the pending TOTP
// secret.
func (h *signInHandler) registerView(w http.ResponseWriter, r *http.Request) (signin.Step, signInView, bool) {
	step, v, ok := h.flowView(w, r, "Set up a second factor", signin.StageRegister)
	if !ok {
		return step, v, false
	}
	enr, err := h.svc.BeginTOTPRegistration(r.Context(), step.FlowID)
	if err != nil {
		h.failure(w, r, err, &v)
		return step, v, false
	}
	v.Secret = enr.Secret
	v.OTPAuth = enr.URL
	// A data: URL of a PNG the gateway made; the CSP allows data: images
	// only.
	v.QRCode = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(enr.QRCode))
	return step, v, true
}

func (h *signInHandler) serveTOTPRegister(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	code, _ := single(r.PostForm, fieldCode)
	name, _ := single(r.PostForm, fieldName)
	done, err := h.svc.FinishTOTPRegistration(r.Context(), flowID(r), code, name, r.RemoteAddr)
	if err != nil {
		// The page (and its QR code) is built only to show the error.
		if _, v, ok := h.registerView(w, r); ok {
			h.renderFailure(w, r, err, registerPage, v)
		}
		return
	}
	h.next(w, r, done)
}

func (h *signInHandler) serveCancel(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Cancel(r.Context(), flowID(r)); err != nil {
		h.p.log.ErrorContext(r.Context(), "portal: sign-in cancel failed", "err", err)
	}
	h.clearFlow(w)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, SignInPath, http.StatusSeeOther)
}

// jsonReply answers a WebAuthn call.
func jsonReply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonFailure answers a failed WebAuthn call with a message for the page.
func (h *signInHandler) jsonFailure(w http.ResponseWriter, r *http.Request, err error) {
	var v signInView
	v.WebAuthn = true
	var retry *signin.RetryError
	switch {
	case errors.Is(err, signin.ErrNoFlow), errors.Is(err, signin.ErrWrongStage):
		h.clearFlow(w)
		jsonReply(w, http.StatusConflict, map[string]string{"error": "no_flow", "message": "This sign-in has expired. Start again.", "redirect": SignInPath})
	case errors.Is(err, signin.ErrInvalidCredentials), errors.As(err, &retry),
		errors.Is(err, signin.ErrTooManyDevices), errors.Is(err, signin.ErrBadRequest):
		status := h.failure(w, r, err, &v)
		jsonReply(w, status, map[string]string{"error": "refused", "message": v.Error})
	default:
		h.p.log.ErrorContext(r.Context(), "portal: WebAuthn step failed", "err", err)
		jsonReply(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": "Sign-in is temporarily unavailable. Try again in a moment."})
	}
}

func (h *signInHandler) serveWebAuthnBegin(register bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var opts []byte
		var err error
		if register {
			opts, err = h.svc.BeginWebAuthnRegistration(r.Context(), flowID(r))
		} else {
			opts, err = h.svc.BeginWebAuthn(r.Context(), flowID(r))
		}
		if err != nil {
			h.jsonFailure(w, r, err)
			return
		}
		jsonReply(w, http.StatusOK, json.RawMessage(opts))
	}
}

// webAuthnFinish is the body the page posts: the PublicKeyCredential's
// JSON and, when registering, the name the user gave the key.
type webAuthnFinish struct {
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
}

func (h *signInHandler) serveWebAuthnFinish(register bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var in webAuthnFinish
		if err == nil {
			err = json.Unmarshal(body, &in)
		}
		if err != nil || len(in.Credential) == 0 {
			jsonReply(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": "The response from your key could not be read."})
			return
		}
		var step signin.Step
		if register {
			step, err = h.svc.FinishWebAuthnRegistration(r.Context(), flowID(r), in.Credential, in.Name, r.RemoteAddr)
		} else {
			step, err = h.svc.FinishWebAuthn(r.Context(), flowID(r), in.Credential, r.RemoteAddr)
		}
		if err != nil {
			h.jsonFailure(w, r, err)
			return
		}
		h.clearFlow(w)
		h.cookies.SetCookie(w, r, step.Session)
		jsonReply(w, http.StatusOK, map[string]string{"redirect": returnTarget(step.ReturnTo)})
	}
}
