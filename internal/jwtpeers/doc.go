// Package jwtpeers checks that the access tokens Gatehouse mints (package
// oauth, RFC 9068 JWTs) are accepted by verifiers nobody on the team wrote,
// fetching keys from /oauth/jwks as a data service would: Node jose
// (jwtVerify with createRemoteJWKSet and typ at+jwt), oauth4webapi
// (validateJwtAccessToken, strict RFC 9068) and PyJWT (PyJWKClient and
// jwt.decode, plus a typ check). Verify runs one of them on one token as a
// child process (node/verify.mjs, verify_pyjwt.py) and reports whether it
// accepted the token and with which claims, or why it refused it.
//
// The libraries are installed by scripts/install-speers.sh (npm ci in
// internal/jwtpeers/node at the versions pinned in its package-lock.json,
// and Debian's python3-jwt). A missing one skips the tests, or fails them
// when GATEHOUSE_REQUIRE_PEERS is set.
//
// # Security model
//
// Nothing here is a security boundary: it is test support code that runs
// third-party verifiers against throwaway keys on 127.0.0.1. What it guards
// is the claim that our tokens are safe to rely on elsewhere: every peer must
// refuse a token for another audience, an expired token, a token signed by a
// key that is not in the JWK Set and a token whose typ is not at+jwt, and
// each refusal is checked for its reason, so that a peer refusing
// everything (or failing to fetch the keys) cannot pass. A peer is told the
// accepted algorithms explicitly, as a careful data service would be.
package jwtpeers
