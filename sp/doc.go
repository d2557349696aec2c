// Package sp is Gatehouse's IdP-facing SAML 2.0 service provider: it sends
// AuthnRequests to the corporate identity provider over the HTTP-Redirect
// binding and consumes its Responses over HTTP-POST at one or more regional
// Assertion Consumer Service (ACS) endpoints.
//
// An SP is built with New from a Config, which is validated and copied: the
// result is immutable apart from the trusted IdP descriptor, which
// UpdateIdP swaps atomically when the IdP's metadata is refreshed. All
// cross-request state (pending requests, replay records, sessions, users)
// lives behind the small interfaces in store.go, so several instances, in
// several regions, can share one store: a sign-in started at one regional
// endpoint may complete at another, and a replay at any of them is caught.
//
// # Security model
//
// Every Response is verified by saml.Verifier, which accepts exactly one
// signed assertion from the pinned IdP keys and turns every condition
// (audience, time window, Destination, Recipient, issuer, status, algorithm)
// into a hard error. On top of that the SP checks, in order: that the POST
// arrived at a configured regional ACS URL (its scheme, host and path, with
// forwarded headers honoured only through Config.RequestURL), and that
// Destination and Recipient equal that URL exactly; InResponseTo, taken from
// the signed SubjectConfirmationData, against a pending request that is
// consumed atomically and must be bound (by a hash of a state cookie) to the
// browser that started it and carry the same RelayState; unsolicited
// responses only with AllowIdPInitiated; and insert-if-absent replay
// protection keyed on (issuer, assertion ID) until the assertion expires.
// Users are keyed by (issuer, NameID), never by e-mail address alone.
//
// The return target never travels to the IdP: RelayState is an opaque random
// handle and the local path it stands for stays server-side. Every rejection
// returns the same status and body; the reason goes to the log and to the
// gatehouse_sp_signins_total metric with a bounded reason label. When the
// store is unavailable the SP answers 503 and never creates a session.
//
// The caller's job: serve the handlers over TLS in production, set
// Config.RequestURL when behind a proxy (trusting forwarded headers only from
// known proxies), and keep the IdP descriptor current (see package metadata).
package sp
