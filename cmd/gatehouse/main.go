// Command gatehouse is the reference Gatehouse gateway: a workforce identity
// federation gateway with an IdP-facing SAML service provider, an app-facing
// SAML identity provider and an OAuth 2.0 token service.
//
// Commands: serve, check-config, demo, version, login, credentials,
// accounts and logout (run "gatehouse help").
//
// Security model: serve validates the whole config, reporting every problem,
// before it opens any listener; X-Forwarded-* headers are honoured only from
// trusted_proxies; every listener has read, write, idle and header timeouts;
// SIGTERM and SIGINT stop accepting connections and give in-flight requests
// a bounded time to finish. Logs are JSON on stderr and never contain
// secrets, cookies, tokens or request bodies.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}
