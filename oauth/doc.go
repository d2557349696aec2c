// Package oauth is Gatehouse's OAuth 2.0 authorization server foundation:
// RFC 6749 section 5.2 errors (Error, AsError, WriteError), a strict JWT
// Validator for every token Gatehouse accepts (subject and actor tokens,
// JWT bearer assertions, client assertions, its own access tokens), a
// Minter of RFC 9068 JWT access tokens, the JWK Set handler for
// /oauth/jwks, the RFC 8414 metadata handler, the token endpoint
// (NewTokenHandler) for token exchange (RFC 8693), JWT bearer (RFC 7523),
// device code (RFC 8628) and refresh token (RFC 6749 section 6) grants with
// client authentication, the device authorization endpoint
// (NewDeviceAuthorizationHandler) and the approval side of the device flow
// (DeviceVerifier), token introspection (RFC 7662) and revocation
// (RFC 7009).
//
// # Security model
//
// Every token is hostile until verified (SECURITY.md class 6, RFC 8725).
// The Validator bounds the size before parsing, requires exactly three
// base64url parts, and reads the protected header itself: alg none and
// every HMAC algorithm are refused (an HMAC keyed with a public key is the
// classic confusion), an algorithm must be on the explicit allow-list of
// the key it selects, and jku, jwk, x5u and x5c are rejected outright,
// never fetched or trusted; any crit is rejected since no extension is
// understood; typ is checked when the profile defines one (at+jwt for
// access tokens). Keys come only from the configured KeySet and are passed
// to jwx one at a time with jws.WithKey, never as a key set derived from
// the token. Claims are read only from the verified payload and checked
// against an injected clock with explicit skew: exp required, nbf and iat
// honoured, the lifetime bounded, iss exact, aud matched against a list,
// jti required where replay protection needs it. Every rejection is a
// *ValidationError with a bounded reason for logs and metrics; clients see
// a generic invalid_grant. Errors written to clients carry only a code and
// a sanitised description, with Cache-Control: no-store; causes stay in
// the logs. The Minter signs only with ES256/384/512, RS/PS (RSA of at
// least 2048 bits) or EdDSA keys matching the algorithm, with a 128-bit
// random jti, and the JWK Set handler refuses to publish anything but
// public keys. The token endpoint authenticates the client by exactly one
// method (secrets compared over hashes in constant time, client
// assertions single-use), accepts each form parameter at most once in a
// capped body, refuses oversized tokens rather than falling back, lets
// audience and scope only narrow (request, client allowance and data
// service intersected), requires an existing, active user, and audits
// every outcome without token values.
//
// Device codes and refresh tokens are 256 random bits handed out once and
// stored only as their SHA-256; user codes are 8 characters from a
// 20-consonant alphabet (20^8 ≈ 2.6e10 values), normalised by ASCII-only
// case folding so no Unicode character maps onto the alphabet, and never
// logged or audited. A device code is bound to the client it was issued
// to, expires, enforces the polling interval (slow_down adds 5 seconds),
// and an approved one is consumed exactly once by an atomic store
// transition, so concurrent polls yield one token. The user named by a
// device approval or a refresh token is looked up again at issuance and
// must exist and be active; the audience and scopes of such an earlier
// grant are intersected again with the client's current allowance, so a
// narrowed configuration takes effect at once. Refresh tokens rotate on
// every use within a family bounded by RefreshFamilyLifetime; presenting
// a rotated token (reuse, or the loser of a race) revokes the whole
// family; a token presented by another client is refused without
// rotating it; the request's scope can only narrow the access token, the
// new refresh token keeps the grant's scope. The revocation endpoint
// revokes a client's own refresh token family. Auditing is fail-closed
// for everything that grants: if the "issued" event of a token (or of a
// device authorization, or a device decision, which is recorded before it
// is stored) cannot be recorded, nothing is handed out or decided, a
// refresh token family created or rotated for the withheld response is
// revoked, and the client gets server_error; failures to record
// refusals, introspections and revocations are logged at error level.
// Device polls answered authorization_pending or slow_down are logged,
// not audited.
//
// The caller's job: resolvers for external token types (trusted issuers),
// persistent client, jti, user, device and refresh token stores with the
// atomicity their interfaces document, rate limits on the device
// verification page (per source and per user) and on the endpoints, the
// verification page itself (it must require a signed-in user and show the
// DevicePrompt before Decide), and TLS. The package holds no global
// mutable state.
package oauth
