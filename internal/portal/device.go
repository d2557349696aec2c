package portal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"hash"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

// DevicePath is the RFC 8628 verification page (the device flow's
// verification_uri): GET shows the code entry form, or with ?user_code=
// the consent screen; POST records the signed-in user's decision.
const DevicePath = "/device"

// Defaults and limits of the device page.
const (
	// DefaultDeviceMaxFailures is DeviceConfig.MaxFailures when zero.
	DefaultDeviceMaxFailures = 10
	// DefaultDeviceFailureWindow is DeviceConfig.FailureWindow when zero.
	DefaultDeviceFailureWindow = 10 * time.Minute
	// MinCSRFKeySize is the smallest DeviceConfig.CSRFKey accepted, in
	// bytes.
	MinCSRFKeySize = 32

	// deviceMaxTracked bounds the rate limiter's table (users and client
	// addresses together).
	deviceMaxTracked = 10000
	// deviceMaxBody bounds the decision form's body.
	deviceMaxBody = 4 << 10
	// csrfContext separates the decision form's MAC from any other use of
	// the key.
	csrfContext = "gatehouse portal device decision v1"
)

// Form and query fields of the device page.
const (
	fieldUserCode = "user_code"
	fieldCSRF     = "csrf_token"
	fieldDecision = "decision"
)

// DeviceApprover is the approval side of the device flow;
// *oauth.DeviceVerifier implements it.
type DeviceApprover interface {
	// Lookup returns the pending, unexpired device authorization with
	// userCode. It returns an error wrapping oauth.ErrInvalidUserCode for
	// a malformed code and one wrapping oauth.ErrNotFound when there is no
	// such pending authorization (unknown, expired or already decided).
	// Any other error is a failure of the lookup itself.
	Lookup(ctx context.Context, userCode string) (oauth.DevicePrompt, error)
	// Decide records userID's approval or denial of the pending
	// authorization with userCode. Errors are those of Lookup, or one
	// wrapping oauth.ErrConflict when it was decided concurrently.
	Decide(ctx context.Context, userCode, userID string, approve bool) error
}

// DeviceConfig configures Portal.DeviceHandler.
type DeviceConfig struct {
	// Approver looks up and decides device authorizations. Required.
	Approver DeviceApprover
	// ExternalURL is the gateway's external URL, e.g.
	// https://gw.example.com. Its scheme and host are the origin a
	// decision must come from when the browser sends an Origin header.
	// Required.
	ExternalURL string
	// CSRFKey keys the HMAC-SHA256 that binds the decision form to the
	// signed-in user and the user code: secret, random, at least
	// MinCSRFKeySize bytes, and the same on every instance that serves
	// DevicePath. The handler keeps a copy.
	CSRFKey []byte
	// MaxFailures is how many lookups of unknown or expired codes a
	// signed-in user, and separately a client address, may make at once;
	// after that one more is allowed every FailureWindow/MaxFailures.
	// Zero means DefaultDeviceMaxFailures.
	MaxFailures int
	// FailureWindow is how long it takes a user or an address to recover
	// from MaxFailures failures. Zero means DefaultDeviceFailureWindow.
	FailureWindow time.Duration
}

// deviceHandler serves DevicePath.
type deviceHandler struct {
	p        *Portal
	approver DeviceApprover
	origin   string
	csrfKey  []byte
	limit    *ratelimit.Failures
}

// DeviceHandler validates cfg and returns the handler of the RFC 8628
// verification page; register it for GET, HEAD and POST on DevicePath.
//
// A browser without a session (the portal's SessionSource) is sent to the
// login URL, to come back to DevicePath with the user code when the one it
// brought is well-formed. GET shows a form to type the code, and with
// ?user_code= (the verification_uri_complete) the consent screen: client,
// data service, scopes, expiry and the code, with Approve and Deny
// buttons. POST records the decision with Approver.Decide for the session's
// user, after checking Sec-Fetch-Site and Origin (when the browser sends
// them) and a CSRF token bound to the user and the code.
//
// Lookups and decisions of unknown or expired codes are rate-limited per
// user and per client address (r.RemoteAddr, so the gateway must have
// rewritten it from trusted proxies); over the limit the page answers 429
// without asking the Approver. The limiter lives in the returned handler:
// create one handler and register it for every method. As their URL may
// carry the user code, the pages send Referrer-Policy: no-referrer, except
// the consent screen, which sends same-origin so that the browser sends
// its real Origin with the decision (under no-referrer it sends "null").
func (p *Portal) DeviceHandler(cfg DeviceConfig) (http.Handler, error) {
	if cfg.Approver == nil {
		return nil, errors.New("portal: device page: DeviceConfig.Approver is required")
	}
	origin, err := originOf(cfg.ExternalURL)
	if err != nil {
		return nil, fmt.Errorf("portal: device page: DeviceConfig.ExternalURL: %w", err)
	}
	if len(cfg.CSRFKey) < MinCSRFKeySize {
		return nil, fmt.Errorf("portal: device page: DeviceConfig.CSRFKey has %d bytes, at least %d are required", len(cfg.CSRFKey), MinCSRFKeySize)
	}
	if cfg.MaxFailures < 0 || cfg.FailureWindow < 0 {
		return nil, errors.New("portal: device page: DeviceConfig.MaxFailures and FailureWindow must not be negative")
	}
	maxFailures, window := cfg.MaxFailures, cfg.FailureWindow
	if maxFailures == 0 {
		maxFailures = DefaultDeviceMaxFailures
	}
	if window == 0 {
		window = DefaultDeviceFailureWindow
	}
	if window/time.Duration(maxFailures) < time.Millisecond {
		return nil, fmt.Errorf("portal: device page: a failure window of %v for %d failures is too short", window, maxFailures)
	}
	return &deviceHandler{
		p:        p,
		approver: cfg.Approver,
		origin:   origin,
		csrfKey:  bytes.Clone(cfg.CSRFKey),
		limit:    ratelimit.NewFailures(maxFailures, window, deviceMaxTracked),
	}, nil
}

// originOf returns the origin (scheme://host[:port], as a browser sends it
// in the Origin header) of an absolute http(s) URL.
func originOf(external string) (string, error) {
	u, err := url.Parse(external)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", external, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", external)
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case u.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return u.Scheme + "://" + host, nil
}

func (h *deviceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.serveGet(w, r)
	case http.MethodPost:
		h.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.message(w, r, http.StatusMethodNotAllowed, messageView{
			Heading: "Method not allowed", Message: "Open this page in your browser to enter the code shown on your device.",
		})
	}
}

// userCodeParam reads the user code from v: the normalized code (empty
// when it is not one well-formed value) and whether the field was given at
// all.
func userCodeParam(v url.Values) (code string, given bool) {
	vals, given := v[fieldUserCode]
	if !given {
		return "", false
	}
	if len(vals) != 1 {
		return "", true
	}
	code, err := oauth.NormalizeUserCode(vals[0])
	if err != nil {
		return "", true
	}
	return code, true
}

// deviceReturnTo is where the login sends the user back: DevicePath, with
// the code only when it is well-formed (code is normalized or empty), so
// nothing the request brought is reflected as such.
func deviceReturnTo(code string) string {
	if code == "" {
		return DevicePath
	}
	return DevicePath + "?" + url.Values{fieldUserCode: {oauth.FormatUserCode(code)}}.Encode()
}

// Messages of the entry form.
const (
	msgInvalidCode = "That code is not valid. Check the code shown on your device and try again."
	msgUnknownCode = "That code has expired or does not exist. Check the code on your device, or start again there to get a new one."
)

func (h *deviceHandler) serveGet(w http.ResponseWriter, r *http.Request) {
	now := h.p.now()
	ctx := r.Context()
	code, given := userCodeParam(r.URL.Query())
	user, _, ok := h.p.session(w, r, now, deviceReturnTo(code), h.unavailable)
	if !ok {
		return
	}
	if user.ID == "" {
		h.p.log.ErrorContext(ctx, "portal: session source returned a user without an ID")
		h.unavailable(w, r)
		return
	}
	switch {
	case !given:
		h.entryForm(w, r, user, http.StatusOK, "")
		return
	case code == "":
		h.entryForm(w, r, user, http.StatusBadRequest, msgInvalidCode)
		return
	}
	keys := []string{ratelimit.UserKey(user.ID), ratelimit.AddrKey(r.RemoteAddr)}
	if allowed, wait := h.limit.Take(now, keys...); !allowed {
		h.limited(w, r, user, wait)
		return
	}
	prompt, err := h.approver.Lookup(ctx, code)
	switch {
	case err == nil:
		h.limit.Refund(now, keys...)
	case errors.Is(err, oauth.ErrNotFound):
		// The charge stays: this was a failed guess, if a guess.
		h.p.log.LogAttrs(ctx, slog.LevelInfo, "portal: device code lookup failed", slog.String("user_id", user.ID),
			slog.String("code_prefix", code[:2]), slog.Any("err", err))
		h.entryForm(w, r, user, http.StatusNotFound, msgUnknownCode)
		return
	case errors.Is(err, oauth.ErrInvalidUserCode):
		h.limit.Refund(now, keys...)
		h.entryForm(w, r, user, http.StatusBadRequest, msgInvalidCode)
		return
	default:
		h.limit.Refund(now, keys...)
		h.p.log.ErrorContext(ctx, "portal: device code lookup failed", "user_id", user.ID, "err", err)
		h.unavailable(w, r)
		return
	}
	v := h.view(user)
	// Under no-referrer a browser sends "Origin: null" with the decision
	// form's POST, which the origin check must refuse. The consent screen
	// loads nothing and links nowhere outside the gateway (its CSP and
	// template), so same-origin keeps the code in its URL on the gateway
	// just as well.
	v.Referrer = referrerSameOrigin
	v.Consent = &consentView{
		UserCode:    oauth.FormatUserCode(code),
		ClientID:    prompt.ClientID,
		Audience:    prompt.Audience,
		Scopes:      prompt.Scopes,
		ExpiresISO:  prompt.ExpiresAt.UTC().Format(time.RFC3339),
		ExpiresText: prompt.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"),
		// Rounded down: the user must not count on time that is not there.
		Remaining: remaining(prompt.ExpiresAt.Sub(now).Truncate(time.Minute)),
		CSRFToken: h.csrfToken(user.ID, code),
	}
	h.p.render(w, r, http.StatusOK, devicePage, &v)
}

func (h *deviceHandler) servePost(w http.ResponseWriter, r *http.Request) {
	now := h.p.now()
	ctx := r.Context()
	if reason := h.crossOrigin(r); reason != "" {
		h.p.log.WarnContext(ctx, "portal: cross-origin device decision refused", "reason", reason)
		h.refused(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, deviceMaxBody)
	if err := r.ParseForm(); err != nil {
		h.p.log.InfoContext(ctx, "portal: unreadable device decision form", "err", err)
		h.message(w, r, http.StatusBadRequest, messageView{
			Heading: "Bad request", Message: "The form could not be read. Please enter the code again.",
			LinkText: "Enter the code", LinkURL: DevicePath,
		})
		return
	}
	code, _ := userCodeParam(r.PostForm)
	user, _, ok := h.p.session(w, r, now, deviceReturnTo(code), h.unavailable)
	if !ok {
		return
	}
	if user.ID == "" {
		h.p.log.ErrorContext(ctx, "portal: session source returned a user without an ID")
		h.unavailable(w, r)
		return
	}
	if code == "" {
		h.entryForm(w, r, user, http.StatusBadRequest, msgInvalidCode)
		return
	}
	token, _ := single(r.PostForm, fieldCSRF)
	if !h.validToken(token, user.ID, code) {
		h.p.log.WarnContext(ctx, "portal: device decision with a bad CSRF token refused", "user_id", user.ID)
		h.refused(w, r)
		return
	}
	var approve bool
	switch decision, _ := single(r.PostForm, fieldDecision); decision {
	case "approve":
		approve = true
	case "deny":
	default:
		h.message(w, r, http.StatusBadRequest, messageView{
			Heading: "Bad request", Message: "Choose Approve or Deny.",
			LinkText: "Back to the request", LinkURL: deviceReturnTo(code),
		})
		return
	}
	keys := []string{ratelimit.UserKey(user.ID), ratelimit.AddrKey(r.RemoteAddr)}
	if allowed, wait := h.limit.Take(now, keys...); !allowed {
		h.limited(w, r, user, wait)
		return
	}
	err := h.approver.Decide(ctx, code, user.ID, approve)
	if guessFailed := errors.Is(err, oauth.ErrNotFound) && !errors.Is(err, oauth.ErrConflict); !guessFailed {
		h.limit.Refund(now, keys...)
	}
	switch {
	case err == nil && approve:
		h.message(w, r, http.StatusOK, messageView{
			Heading: "Device approved", HeadID: "device-approved",
			Message:  "Device approved. You can return to your device.",
			LinkText: "Go to the access portal", LinkURL: PortalPath,
		})
	case err == nil:
		h.message(w, r, http.StatusOK, messageView{
			Heading: "Request denied", HeadID: "device-denied",
			Message:  "Request denied. The device gets no access; you can close this page.",
			LinkText: "Go to the access portal", LinkURL: PortalPath,
		})
	case errors.Is(err, oauth.ErrConflict):
		h.message(w, r, http.StatusConflict, messageView{
			Heading: "Code already used", HeadID: "device-used",
			Message:  "This code has already been used: the request was approved or denied before. If that was not you, start again on your device.",
			LinkText: "Enter another code", LinkURL: DevicePath,
		})
	case errors.Is(err, oauth.ErrNotFound):
		h.p.log.LogAttrs(ctx, slog.LevelInfo, "portal: device decision failed", slog.String("user_id", user.ID),
			slog.String("code_prefix", code[:2]), slog.Any("err", err))
		h.message(w, r, http.StatusNotFound, messageView{
			Heading: "Code expired", HeadID: "device-expired",
			Message:  "This code has expired or was already used. Start again on your device to get a new code.",
			LinkText: "Enter another code", LinkURL: DevicePath,
		})
	case errors.Is(err, oauth.ErrInvalidUserCode):
		h.entryForm(w, r, user, http.StatusBadRequest, msgInvalidCode)
	default:
		h.p.log.ErrorContext(ctx, "portal: device decision failed", "user_id", user.ID, "err", err)
		h.unavailable(w, r)
	}
}

// crossOrigin returns why r is not a same-origin browser request, or ""
// when it may be one: Sec-Fetch-Site, when sent, must be same-origin, and
// Origin, when sent, must be the gateway's.
func (h *deviceHandler) crossOrigin(r *http.Request) string {
	if v := r.Header.Values("Sec-Fetch-Site"); len(v) > 0 && (len(v) != 1 || v[0] != "same-origin") {
		return "Sec-Fetch-Site is not same-origin"
	}
	if v := r.Header.Values("Origin"); len(v) > 0 && (len(v) != 1 || v[0] != h.origin) {
		return "foreign Origin"
	}
	return ""
}

// single returns the one value of field in v; a field that is missing or
// repeated gives false.
func single(v url.Values, field string) (string, bool) {
	vals := v[field]
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// csrfMAC is the decision form's MAC for userID and the normalized code.
func (h *deviceHandler) csrfMAC(userID, code string) []byte {
	m := hmac.New(sha256.New, h.csrfKey)
	writeField(m, csrfContext)
	writeField(m, userID)
	writeField(m, code)
	return m.Sum(nil)
}

// writeField writes s length-prefixed, so field boundaries are
// unambiguous.
func writeField(m hash.Hash, s string) {
	_, _ = m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
	_, _ = m.Write([]byte(s))
}

// csrfToken is the decision form's token for userID and the normalized
// code.
func (h *deviceHandler) csrfToken(userID, code string) string {
	return base64.RawURLEncoding.EncodeToString(h.csrfMAC(userID, code))
}

// validToken reports, in constant time once decoded, whether token is the
// decision form's token for userID and the normalized code.
func (h *deviceHandler) validToken(token, userID, code string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, h.csrfMAC(userID, code))
}

// deviceView is what the device page template renders: the entry form,
// or the consent screen when Consent is set. Every string in it is text.
type deviceView struct {
	pageBase
	UserLabel string
	// Error is the entry form's error message.
	Error   string
	Consent *consentView
}

// consentView is the pending authorization the user is asked about.
type consentView struct {
	UserCode    string
	ClientID    string
	Audience    string
	Scopes      []string
	ExpiresISO  string
	ExpiresText string
	Remaining   string
	CSRFToken   string
}

func (h *deviceHandler) view(u User) deviceView {
	return deviceView{
		pageBase:  newSecretURLPageBase("Connect a device – Gatehouse"),
		UserLabel: firstNonEmpty(u.DisplayName, u.UserName, u.Email, u.ID),
	}
}

func (h *deviceHandler) entryForm(w http.ResponseWriter, r *http.Request, u User, status int, errMsg string) {
	v := h.view(u)
	v.Error = errMsg
	h.p.render(w, r, status, devicePage, &v)
}

// message renders v, with a fresh nonce and no referrer, on the plain
// message page.
func (h *deviceHandler) message(w http.ResponseWriter, r *http.Request, status int, v messageView) {
	v.pageBase = newSecretURLPageBase(v.Heading + " – Gatehouse")
	h.p.render(w, r, status, messagePage, &v)
}

func (h *deviceHandler) unavailable(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusServiceUnavailable, messageView{
		Heading: "Temporarily unavailable",
		Message: "Device sign-in is temporarily unavailable. Please try again in a moment.",
	})
}

func (h *deviceHandler) refused(w http.ResponseWriter, r *http.Request) {
	h.message(w, r, http.StatusForbidden, messageView{
		Heading: "Request refused", HeadID: "device-refused",
		Message:  "This request did not come from the device page, so nothing was approved or denied. Enter the code again.",
		LinkText: "Enter the code", LinkURL: DevicePath,
	})
}

// limited answers 429 without saying anything about the code.
func (h *deviceHandler) limited(w http.ResponseWriter, r *http.Request, u User, wait time.Duration) {
	h.p.log.WarnContext(r.Context(), "portal: device code attempts rate limited", "user_id", u.ID, "retry_after", wait)
	w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	h.message(w, r, http.StatusTooManyRequests, messageView{
		Heading: "Too many attempts", HeadID: "device-limited",
		Message: "Too many codes that did not work were tried. Wait a few minutes, then try again.",
	})
}

var devicePage = template.Must(template.Must(template.New("device").Parse(layout)).Parse(deviceHTML))

const deviceHTML = `{{template "head" .}}
<body>
{{template "bar" .}}
<main id="main" tabindex="-1">
{{- with .Consent}}
<h1 id="consent-heading">Approve access for a device?</h1>
<p>A device or program is asking to use your account. Approve only if you started this yourself and your device shows the same code.</p>
<dl class="profile">
<dt>Code</dt><dd id="code" class="usercode">{{.UserCode}}</dd>
<dt>Application</dt><dd id="client">{{.ClientID}}</dd>
<dt>Data service</dt><dd id="audience">{{if .Audience}}{{.Audience}}{{else}}not specified{{end}}</dd>
<dt>Permissions</dt><dd id="scopes">{{if .Scopes}}<ul class="scopes">{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>{{else}}none requested{{end}}</dd>
<dt>Request expires</dt><dd id="expires"><time datetime="{{.ExpiresISO}}">{{.ExpiresText}}</time> (in {{.Remaining}})</dd>
</dl>
<form class="decide" method="post" action="` + DevicePath + `">
<input type="hidden" name="` + fieldUserCode + `" value="{{.UserCode}}">
<input type="hidden" name="` + fieldCSRF + `" value="{{.CSRFToken}}">
<button type="submit" class="primary" id="approve" name="` + fieldDecision + `" value="approve">Approve</button>
<button type="submit" id="deny" name="` + fieldDecision + `" value="deny">Deny</button>
</form>
<p><a href="` + DevicePath + `">Enter a different code</a></p>
{{- else}}
<h1>Connect a device</h1>
<p>Enter the code shown on your device to let it use your account.</p>
{{- if .Error}}
<p class="error" id="code-error" role="alert">{{.Error}}</p>
{{- end}}
<form class="codeform" method="get" action="` + DevicePath + `">
<label for="user_code">Code from your device</label>
<input type="text" id="user_code" name="` + fieldUserCode + `" required maxlength="20" autocomplete="off" autocapitalize="characters" autocorrect="off" spellcheck="false" inputmode="text" placeholder="XXXX-XXXX" aria-describedby="code-hint{{if .Error}} code-error{{end}}"{{if .Error}} aria-invalid="true"{{end}}>
<button type="submit" id="continue">Continue</button>
<p class="hint" id="code-hint">8 letters, shown as XXXX-XXXX. Upper or lower case and the dash do not matter.</p>
</form>
{{- end}}
</main>
</body>
</html>
`
