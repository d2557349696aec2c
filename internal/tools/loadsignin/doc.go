// Command loadsignin measures the gateway's SAML sign-in capacity: completed
// IdP-initiated sign-ins per second, their latency (p50/p90/p99/max) and the
// peak resident memory of the gateway process.
//
// It creates a temporary folder with a test IdP (samltest, RSA-2048), its
// metadata and a gatehouse.yaml with two regional ACS endpoints on one
// loopback port; pre-signs every Response before the run (in parallel, so
// signing never competes with the gateway); starts `gatehouse serve` as a
// child process (GOMAXPROCS inherited, GOGC from -gogc); waits for /readyz;
// sends -warmup uncounted sign-ins and then -n measured ones from -c
// keep-alive workers; and reports. A sign-in counts as completed only on a
// 303 that sets the gatehouse_session cookie; anything else is an error,
// tallied by status, with the gateway's WARN and ERROR log records tallied
// by message and reason.
//
//	go run ./internal/tools/loadsignin -n 20000 -c 16 [-gogc 200] [-json]
//	go run ./internal/tools/loadsignin -n 6000 -warmup 500 -c 16 \
//	    -store postgres -dsn postgres://postgres@127.0.0.1:5432/test [-instances 3]
//
// The second form runs the gateway on a fresh PostgreSQL database (created
// on -dsn's server and dropped at the end) and, with -instances N, runs N
// gateways behind nginx (see package loadkit).
//
// The load generator runs on the same machine as the gateway, so the
// throughput figure is for both sharing the cores; the gateway's own CPU
// time is reported too (sign-ins per gateway CPU-second), which does not
// depend on how the cores were shared.
//
// # Security model
//
// This is a test tool. It talks only to the gateway it started, on
// 127.0.0.1 (every target URL is checked to be loopback before the run),
// ignores proxy settings, and follows no redirects. Its IdP key lives only
// in memory and its folder (config, database, keys) is private (0700) and
// removed at the end unless -keep is given. The run is bounded: it stops
// after -n sign-ins, at -timeout, or before the pre-signed Responses
// expire, whichever comes first, and always stops the gateway it started
// (SIGTERM, then SIGKILL after a grace period).
package main
