// Package propagation carries a Gatehouse user's identity to downstream data
// services: the Identity context type, a Verifier for the RFC 9068 JWT
// access tokens Gatehouse issues at /oauth/token, KeySets for its JWKS, and
// an http.Handler middleware. It imports nothing else from Gatehouse, so a
// data service depends only on this package.
//
// # Usage
//
//	keys, err := propagation.NewRemoteKeySet(propagation.RemoteKeySetConfig{
//		URL: "https://gatehouse.example.com/oauth/jwks",
//	})
//	v, err := propagation.NewVerifier(propagation.VerifierConfig{
//		Issuer:         "https://gatehouse.example.com",
//		Audience:       "https://warehouse.example.com",
//		KeySet:         keys,
//		RequiredScopes: []string{"warehouse:read"},
//	})
//	http.Handle("/rows", propagation.Middleware(v)(rowsHandler))
//	// in rowsHandler:
//	id, _ := propagation.FromContext(r.Context())
//	if id.InGroup("finance") { ... }
//
// # Security model
//
// Verify runs one linear sequence, cheap checks before expensive ones, and
// fails closed with a *ValidationError carrying a bounded Reason: the token
// size is capped; the compact JWS is split and base64url-decoded strictly;
// the header must have typ at+jwt (RFC 9068 §4), an asymmetric alg from a
// fixed allow-list (never none, never HMAC, so a public key can never be
// used as an HMAC secret), and no crit, b64 or zip. jku, jwk, x5u and x5c
// are never read, so keys are never fetched from or trusted because of the
// token. The signature is checked by the KeySet, in which each key is used
// only with the alg it declares itself (keys without alg, symmetric keys,
// RSA keys under 2048 bits and curve/alg mismatches are skipped). Only then
// are claims read, from the verified payload only: iss must equal Issuer,
// aud must contain Audience, exp and iat are required and checked with
// ClockSkew, nbf when present, exp-iat is bounded by MaxLifetime, and sub,
// client_id and jti are required; a claim of the wrong JSON type is an
// error. RequiredScopes are enforced last (ErrInsufficientScope).
//
// RemoteKeySet fetches only from https (http only on loopback, redirects
// included), caps the JWKS size, refreshes lazily after RefreshInterval and
// on an unknown kid at most once per MinRefreshGap, keeps the last good keys
// when a fetch fails, and refuses every token once those keys are older than
// MaxStaleness.
//
// Middleware accepts tokens only from the Authorization header, never from
// the query or body, answers failures without detail in the body, and
// deletes every inbound header carrying the WithIdentityHeaders prefix before
// anything else, so a client cannot forge identity headers.
//
// The caller's job: configure Issuer and Audience for this service, serve
// over TLS, authorize each request with the Identity (groups, scopes,
// attributes) and treat Identity as read-only. Tokens are bearer tokens:
// this package does not detect replay within their lifetime.
package propagation
