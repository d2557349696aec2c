// Package testpeer is what the interoperability harnesses internal/peers
// (third-party IdPs) and internal/speers (third-party SPs) share: running a
// peer server as a child process for one test, picking free loopback ports,
// waiting until the server is ready, and the rule that turns a peer that is
// not installed into a skipped test, or a failed one when
// GATEHOUSE_REQUIRE_PEERS is set (as CI does). It also holds the small
// pieces both pysaml2 harnesses need (Debian's python3, a JSON settings
// file, an attribute map module) and throwaway self-signed certificates.
// It is test support code: nothing outside tests imports it.
//
// Start runs a Command with its output captured in a bounded buffer and
// registers a cleanup that stops it (SIGTERM to its process group, SIGKILL
// after StopTimeout) and, when the test failed, prints its output and log
// files with t.Log. WaitHTTP and WaitFile poll until the server proves it is
// up, and fail with ErrExited as soon as the process exits, so that
// OnFreePort can retry on another port when one was taken between FreePort
// and the server's bind.
//
// # Security model
//
// Nothing here is a security boundary. Peers listen on 127.0.0.1 only, use
// throwaway keys and passwords, and are killed when the test ends (and, on
// Linux, when the test binary dies, through Pdeathsig). WaitHTTP requires a
// caller-chosen marker in the answer (an entity ID, a certificate) so that a
// test never talks to another process that grabbed the port. Output is kept
// to MaxLogBytes per process and printed only for failed tests; the peers'
// logs carry test keys and assertions, never production secrets.
package testpeer
