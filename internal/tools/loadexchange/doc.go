// Command loadexchange measures the gateway's OAuth 2.0 token exchange
// capacity (RFC 8693): completed exchanges per second, their latency
// (p50/p90/p99/max), the gateway's CPU time per exchange and its peak
// resident memory.
//
// It creates a temporary folder with a gatehouse.yaml (SQLite store unless
// -store postgres, access tokens signed with -alg, ES256 by default; one
// confidential client; one trusted token issuer with a jwks_file whose
// tokens name users by email; one data service), the issuer's JWK Set (an ES256 key made for the run)
// and the SAML IdP metadata the config requires (never used). It creates
// -users users directly in the store before the gateway starts (the
// gateway has no user-provisioning API yet), pre-signs -tokens distinct
// subject tokens in parallel (so signing never competes with the gateway),
// starts `gatehouse serve` as a child process (GOGC, GOMEMLIMIT and
// GOMAXPROCS inherited or set by flags), waits for /readyz, sends -warmup
// uncounted exchanges and then -n measured ones (or runs for -duration)
// from -c keep-alive workers, authenticating with client_secret_basic, and
// reports. An exchange counts as completed only on a 200 whose JSON body
// has a non-empty access_token, token_type Bearer and issued_token_type
// access_token; anything else is an error, tallied by status and OAuth
// error code, with the gateway's WARN and ERROR log records tallied by
// message and reason.
//
//	go run ./internal/tools/loadexchange -n 20000 -c 16 [-alg ES256] [-gogc 400] [-json]
//	go run ./internal/tools/loadexchange -n 6000 -warmup 500 -c 16 \
//	    -store postgres -dsn postgres://postgres@127.0.0.1:5432/test [-instances 3]
//
// The second form runs the gateway on a fresh PostgreSQL database (created
// on -dsn's server and dropped at the end) and, with -instances N, runs N
// gateways behind nginx (see package loadkit).
//
// Every exchange verifies a subject token, looks its user up by e-mail,
// authorizes the client for the audience and scope, mints and signs an
// access token and stores an audit event (the audit log commits in
// groups). The load generator runs on the same machine as the gateway, so
// the throughput figure is for both sharing the cores; the gateway's own
// CPU time is reported too (milliseconds per exchange, exchanges per
// gateway CPU-second), which does not depend on how the cores were shared.
//
// # Security model
//
// This is a test tool. It talks only to the gateway it started, on
// 127.0.0.1 (every target URL is checked to be loopback before the run),
// ignores proxy settings, and follows no redirects. The issuer's private
// key lives only in memory; the client secret is random per run and
// reaches the gateway through an environment variable
// (LOADEXCHANGE_CLIENT_SECRET), never a file, and is never printed. The
// run folder (config, database, keys, gateway log) is private (0700) and
// removed at the end unless -keep is given. The run is bounded: it stops
// after -n exchanges or -duration, at -timeout, or before the subject
// tokens expire, whichever comes first, and always stops the gateway it
// started (SIGTERM, then SIGKILL after a grace period).
package main
