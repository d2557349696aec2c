// Package idp is Gatehouse's app-facing SAML 2.0 identity provider: it
// signs users in to registered applications (service providers) over the
// HTTP-Redirect and HTTP-POST bindings, SP-initiated (SSOHandler,
// ResumeHandler) and IdP-initiated (LaunchHandler), and answers with a
// signed Response posted by an auto-submitting form.
//
// An IdP is built with New from a Config, which is validated and copied.
// Applications are *ServiceProvider values built by NewServiceProvider from
// their SAML metadata (ParseServiceProviderMetadata) and the
// administrator's options; the IdP reads them through the small
// interfaces in store.go (ServiceProviderRegistry, SessionProvider,
// AccessPolicy, KeySource, SSOStateStore), so the identity source, the
// assignments and the storage are the embedder's.
//
// # Security model
//
// Requests are checked in a fixed order, cheap before expensive, and every
// check fails closed: decoding with size caps and the hardened parser
// (saml.CheckXML: no DTD, one root, bounded depth and tokens); the Issuer
// must be a registered application; a Destination, when present, must equal
// the SSO URL; signatures are verified whenever the application requires
// signed requests (and whenever one is present and the application has
// keys): HTTP-Redirect over the exact raw query octets, HTTP-POST with
// goxmldsig against each registered key in turn, allow-listed algorithms
// only (RSA and ECDSA with SHA-256 or stronger), and only the verified
// bytes are read afterwards; IssueInstant must be recent; the ACS comes
// from the application's metadata, never from the request alone: the URL
// must equal a registered HTTP-POST location exactly, or the index must
// exist, never both; registered locations are https (http only on
// loopback). Until the ACS is validated nothing is sent anywhere: the
// browser gets an HTML error page and the reason goes to the log and the
// gatehouse_idp_responses_total metric (bounded labels).
//
// An assertion is issued only to an assigned user (AccessPolicy), as the
// only assertion of a Response that carries Destination, with fresh
// 128-bit random IDs, Audience = the application's entity ID, Recipient =
// the validated ACS, InResponseTo, a lifetime of at most five minutes,
// SubjectConfirmationData Address only when it is a bare IP address,
// signed RSA-SHA256 (ECDSA-SHA256 and up for EC keys) on the assertion,
// the response or both, and optionally encrypted to the application's
// certificate with RSA-OAEP and AES-GCM (AES-256-CBC only when its metadata
// allows nothing else). User data enters the XML and the HTML page as
// escaped text only, never markup; values XML cannot carry are refused. The
// form page has a strict Content-Security-Policy with a per-response nonce
// and is never cached. Persistent NameIDs are an HMAC of the application
// and user IDs under a secret key, so they cannot be linked across
// applications. RelayState is echoed only to the validated ACS.
//
// Single logout (SLOHandler, at the SLO URL, with a SessionTerminator in
// Config) accepts SP-initiated LogoutRequests only from registered
// applications that publish a SingleLogoutService, and only signed ones:
// HTTP-Redirect over the exact raw query octets, HTTP-POST with exactly one
// enveloped signature, keys from the application's metadata, the same
// algorithm allow-list; the request is then read from the verified bytes
// only. A Destination, when present, must equal the SLO URL; IssueInstant
// and NotOnOrAfter are bounded like an AuthnRequest's. The NameID must be
// the one the IdP issued to that application for the signed-in user
// (recomputed for emailAddress, unspecified and persistent; a transient
// NameID is random and unrecorded, so for it, and whenever both carry one,
// the portal session's SessionIndex must be among the request's); a
// mismatch keeps the session and answers Requester/UnknownPrincipal. The
// signed LogoutResponse is built before the session is ended and sent
// only after it was, to the application's registered SLO endpoint (same
// binding as the request when registered): a signed redirect query, or the
// auto-submitting form page with the SSO page's Content-Security-Policy.
// A rejected request gets an error page; the session stays and nothing is
// sent. Known limits: Gatehouse does not initiate logout towards
// applications (it does not record which applications a session signed
// in to), so other applications keep their own sessions and any
// LogoutResponse arriving at the SLO URL is rejected (400); LogoutRequest
// IDs are not replay-cached (a replay within the freshness window ends a
// session only where the subject check passes); answers go to the endpoint's
// Location, as Endpoint does not yet carry ResponseLocation.
//
// The caller's job: serve over TLS, keep the SSO state store shared between
// instances (ConsumeSSOState is single-use and atomic), keep the
// PersistentIDKey secret and stable, publish the next signing key in
// metadata before signing with it, rate-limit the endpoints, and make
// StartLogin accept only the local return paths the IdP gives it; set a
// Terminator whenever SLOURL is published in metadata.
package idp
