// Package portal serves the access portal: the page at /portal that lists
// the signed-in user's applications (and, when configured, accounts with
// their roles) with launch links, a search box when the list is long, and a
// sign-out button, plus the signed-out page behind POST /logout, and the
// RFC 8628 device verification page at /device (Portal.DeviceHandler),
// where a signed-in user types the code a device shows and approves or
// denies its request.
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
package portal
