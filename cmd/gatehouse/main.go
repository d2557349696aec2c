// Command gatehouse is the reference Gatehouse gateway: a workforce identity
// federation gateway with an IdP-facing SAML service provider, an app-facing
// SAML identity provider and an OAuth 2.0 token service.
//
// Commands: serve, check-config, demo, version, login, credentials,
// accounts, logout and admin (run "gatehouse help").
//
// Security model: serve validates the whole config, reporting every problem,
// before it opens any listener; X-Forwarded-* headers are honoured only from
// trusted_proxies; every listener has read, write, idle and header timeouts;
// SIGTERM and SIGINT stop accepting connections and give in-flight requests
// a bounded time to finish. Logs are JSON on stderr and never contain
// secrets, cookies, tokens or request bodies. The admin command reads the
// admin token from a file or GATEHOUSE_ADMIN_TOKEN, never from a flag; it
// calls only https URLs (http only to a loopback address), follows no
// redirects and bounds each request to 30 s.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Garbage-collector defaults, used unless GOGC or GOMEMLIMIT is set. SAML
// verification allocates about 1 MB per response over a small live heap, so
// Go's default GOGC=100 collects several hundred times a second under load;
// the sign-in load run (internal/tools/loadsignin) measured 1.5x the
// sign-ins per CPU-second at GOGC=400 with peak RSS under 75 MiB. The soft
// memory limit makes the collector work harder, not the process fail, as the
// heap nears it.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 384 << 20
)

// tuneGC applies the collector defaults unless the environment sets them.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, ok := lookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGCPercent)
	}
	if _, ok := lookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var re *reportedError
		if errors.As(err, &re) {
			os.Exit(re.code)
		}
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}
