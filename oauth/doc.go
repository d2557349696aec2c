// Package oauth is Gatehouse's OAuth 2.0 authorization server foundation:
// RFC 6749 section 5.2 errors (Error, AsError, WriteError), a strict JWT
// Validator for every token Gatehouse accepts (subject and actor tokens,
// JWT bearer assertions, client assertions, its own access tokens), a
// Minter of RFC 9068 JWT access tokens, the JWK Set handler for
// /oauth/jwks, the RFC 8414 metadata handler, and the token endpoint
// (NewTokenHandler) for token exchange (RFC 8693) and JWT bearer (RFC 7523)
// grants with client authentication, token introspection (RFC 7662) and
// revocation (RFC 7009).
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
// every outcome without token values. The caller's job: resolvers for
// external token types (trusted issuers), persistent client, jti and user
// stores, and TLS. The package holds no global mutable state.
package oauth
