// Package portal serves the access portal: the page at /portal that lists
// the signed-in user's applications (and, when configured, accounts with
// their roles) with launch links, a search box when the list is long, and a
// sign-out button, plus the signed-out page behind POST /logout, and the
// RFC 8628 device verification page at /device (Portal.DeviceHandler),
// where a signed-in user types the code a device shows and approves or
// denies its request, and, for the built-in directory identity source, the
// sign-in pages under /signin (Portal.SignInHandler): the password form,
// the second-factor page (TOTP code or a WebAuthn key), the first-device
// registration page and /signin/add, where a signed-in user adds a device
// after typing the password again. Portal.AccountsHandler serves the
// account role pages the portal links to (RoleLinks): /portal/aws/console
// signs the user in to the AWS console, /portal/aws/credentials shows
// temporary credentials for the command line.
//
// The page is server-rendered with html/template and works without
// JavaScript: the list is complete, and a GET form (?q=) filters it on the
// server. A small inline script, allowed by a per-response nonce, filters
// the list as the user types. The markup is semantic and keyboard
// accessible: a skip link, labelled inputs, visible focus styles, a live
// status region and a lang attribute.
//
// The portal knows nothing about cookies or storage. A SessionSource says
// who is signed in, an AppLister and an optional AccountLister say what
// they may open; the caller adapts its session store and its assignment
// logic to these small interfaces.
//
// # Security model
//
// The portal shows only what its listers return for the user that the
// SessionSource vouches for; deciding what a user is assigned to, and
// enforcing it at launch time, is the caller's job (a launch link is not an
// authorization). Every failure fails closed: no session, or a session past
// its expiry by the injected clock, redirects to the login URL; a session
// lookup or lister error answers 503 with a generic page and the detail in
// the log. Everything a user or an administrator controls (names, e-mail,
// groups, application and account names, the search query) is rendered as
// text by html/template, never as markup; launch URLs must be local paths
// or http(s) URLs, anything else (javascript:, data:, protocol-relative) is
// shown without a link. Every response carries a Content-Security-Policy
// that allows no external resource at all and only the nonce'd inline
// style and script of that response (a fresh random nonce per response),
// form-action 'self', frame-ancestors 'none' and base-uri 'none', with
// Cache-Control: no-store, X-Content-Type-Options: nosniff and
// Referrer-Policy: same-origin. The sign-out handler accepts only POST and
// rejects cross-origin browser requests (Sec-Fetch-Site / Origin, as
// net/http.CrossOriginProtection checks them) in addition to the SameSite
// session cookie the caller sets. Every page also sends X-Frame-Options:
// DENY.
//
// The device page acts for the user the SessionSource vouches for, and
// only through a DeviceApprover (oauth.DeviceVerifier, which audits every
// decision). A user code from the request is normalized with
// oauth.NormalizeUserCode before it is used anywhere: the login redirect
// carries /device?user_code=XXXX-XXXX only for a well-formed code, and
// nothing else from the request. A decision (POST) is refused with 403,
// before the approver is asked, unless Sec-Fetch-Site (when sent) is
// same-origin, Origin (when sent) is the configured external origin, and
// the form's token is HMAC-SHA256 under DeviceConfig.CSRFKey of the
// session's user ID and the code, compared in constant time. Lookups and
// decisions of unknown or expired codes are limited per user and per
// client address (an IPv6 /64 counts as one address): a burst of
// DeviceConfig.MaxFailures, then one per FailureWindow/MaxFailures. Over
// the limit the answer is 429 and the approver is not asked, so a limited
// client learns nothing about any code. A request is charged before the
// approver is asked and refunded unless the code was unknown or expired,
// so concurrent guesses cannot pass the check together; the limiter's
// table is bounded and refuses new keys when full rather than forget
// failures. The limits are per process: N instances allow N times as
// much. The device pages send Referrer-Policy: no-referrer, except the
// consent screen, which sends same-origin because under no-referrer a
// browser sends "Origin: null" with its form; it loads nothing and links
// nowhere outside the gateway. Logs name the user and at most the first
// two characters of a code; the CSRF token is never logged.
//
// The sign-in pages hold no logic of their own: every decision (password,
// lockout, codes, WebAuthn ceremonies, sessions, audit) is the
// SignInService's, and the pages only carry the flow secret in a cookie
// that is HttpOnly, SameSite=Strict, Secure under https and scoped to
// /signin. Every POST is refused before the service is called when it is
// a cross-origin browser request (net/http.CrossOriginProtection), so no
// other site can sign a browser in as someone else or drive a sign-in in
// progress; bodies are capped at 64 KiB. The return target is used only
// when it is a local path (sp.IsLocalPath), else /portal. The pages add
// "img-src data:" (the QR code, a PNG the gateway made) and
// "connect-src 'self'" (the WebAuthn calls) to the usual CSP; the page
// script only sets textContent and navigates only to a local path the
// gateway returned. Error messages say what the user can do and never
// which of user name or password was wrong.
//
// The account role pages issue nothing themselves: a ConsoleSigner and a
// CredentialVendor (vend.Vendor) check the entitlement of the session's
// user on every request, and vend.ErrNotEntitled becomes one 403 page
// that says nothing about what exists. The account and role parameters
// must match [0-9]{12} and [\w+=,.@-]{1,32} before anything is called.
// Both pages answer GET only (HEAD too is 405, since both issue
// something), and a request another site started (Sec-Fetch-Site
// cross-site or same-site) gets a Continue link instead, so no other site
// can make the gateway issue credentials or console sessions. Both send
// no-store, no-referrer, X-Frame-Options: DENY and frame-ancestors 'none',
// and Cross-Origin-Opener-Policy: same-origin. The console page's CSP
// replaces form-action 'self' with the AWS sign-in origin and the console
// origins it redirects to (browsers apply form-action to a form post's
// redirects), plus the relay state's origin, which is used only when it is
// an https URL that a CSP source can hold; it has no other form. The
// credentials page refuses (503) credentials with characters outside
// [A-Za-z0-9/+=] or already expired, as they are shown in shell lines a
// user pastes; its copy buttons are wired by the nonce'd script, with no
// inline handlers.
package portal
