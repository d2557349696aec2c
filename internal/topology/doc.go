// Package topology holds the multi-instance test of the real gatehouse
// binary (issue 6): three `gatehouse serve` processes on loopback ports,
// sharing one PostgreSQL database and one keys.dir, behind Debian's nginx,
// trusting a third-party IdP (SimpleSAMLphp, from internal/peers). The
// package has no code of its own; everything is in its tests, which run in
// the normal `go test ./...`.
//
// The test builds cmd/gatehouse once, creates a database gh_topo_<random>
// on the GATEHOUSE_TEST_POSTGRES server (dropped at the end), writes one
// config per instance (same external_url = nginx's address, trusted_proxies
// 127.0.0.1/32, the IdP's metadata, one ACS endpoint at nginx, an OAuth
// client with a trusted token issuer and a data service) and starts nginx
// (`daemon off`, everything under a temporary prefix,
// `underscores_in_headers on`, Host and X-Forwarded-For/-Proto/-Host set,
// `proxy_next_upstream error timeout http_502 http_503 non_idempotent`;
// docs/production.md says why POSTs may be retried). nginx also
// exposes each instance alone on a port of its own, with the same forwarded
// headers, so that a subtest can choose which instance gets a request.
// Without GATEHOUSE_TEST_POSTGRES, nginx (`apt-get install nginx-light`) or
// SimpleSAMLphp the test skips naming what is missing; with
// GATEHOUSE_REQUIRE_PEERS set (CI) it fails instead.
//
// The signing key rings (the IdP's SAML key, the OAuth access-token key)
// live in PostgreSQL (keys.rings defaults to store with PostgreSQL), so the
// instances agree on them through the store alone. keys.dir is shared for
// its fixed secrets only (mfa-seal, device-csrf, persistent-nameid,
// ring-seal, which seals the rings' private keys in the store, and the
// admin token), which never change once created and are created
// first-writer-wins, so instances starting together on an empty keys.dir
// still end up with the same ones. A deployment distributes keys.dir like
// any other secret; the test shares one folder. The instances start one
// after the other anyway, so that each start is checked on its own.
//
// # Security model
//
// What the topology proves, against the real binary and a real reverse
// proxy:
//
//   - a sign-in started at one instance completes at another, and a third
//     accepts the session: all cross-request state (pending AuthnRequest,
//     browser binding, session) is in the shared store, none in memory;
//   - a SAMLResponse consumed at one instance is rejected (4xx, no session
//     cookie) when replayed at another, from the same browser or another:
//     the replay record is shared;
//   - `kill -9` of the instance that served the login page, after the IdP
//     login and before the ACS POST, loses nothing: nginx fails over and
//     the sign-in completes on a surviving instance;
//   - a rolling restart (SIGTERM, exit, start, one instance at a time)
//     under a steady stream of sign-ins, session calls and token exchanges
//     through nginx fails no request: graceful shutdown finishes in-flight
//     requests and nginx retries connection failures on another instance;
//   - the IdP's SAML signing key and the OAuth key roll over under the same
//     stream with no failed request: `gatehouse keys rotate` on one
//     machine, and every instance publishes the next key (after its next
//     reload, keys.reload_interval) while still signing with the current
//     one; `gatehouse keys activate`, and every instance signs with the new
//     key and still publishes the old one, so that access tokens signed by
//     it, minted by any instance, are accepted by every other;
//   - a PostgreSQL outage fails closed and recovers by itself: while the
//     database is down, /readyz, sign-in start, the ACS, the session API and
//     token exchange answer 503 and never create a session; once it is back,
//     without restarting the instance, sessions created before the outage
//     are still valid and a response obtained before it (whose 503 consumed
//     nothing) completes. This subtest does not touch the machine's shared
//     PostgreSQL: it starts a private cluster (initdb as the postgres OS
//     user via runuser, on a free port, in a temporary folder) and stops and
//     starts it with `pg_ctl -m fast`; a fourth instance uses it.
//
// The forwarded headers are honoured only because nginx connects from
// 127.0.0.1, inside trusted_proxies; the gateway's own tests cover that they
// are ignored from anyone else. Everything listens on 127.0.0.1 only and
// uses throwaway keys, passwords and databases.
package topology
