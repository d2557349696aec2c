// Command data-service is a small HTTP data service that trusts Gatehouse
// for identity: GET /rows returns, as JSON, only the rows of an in-memory
// table whose group the signed-in user is in, plus who asked (user, client
// and the RFC 8693 act chain, if any). Tokens are Gatehouse RFC 9068 access
// tokens, verified with package propagation against the keys Gatehouse
// publishes at its JWKS endpoint; the handler is in package rows.
//
//	go run ./examples/data-service \
//	    -issuer https://gatehouse.example.com \
//	    -audience https://warehouse.example.com
//
// -issuer is Gatehouse's external_url, -audience this service's audience as
// configured in Gatehouse's data_services, -jwks defaults to
// issuer+"/oauth/jwks" and -scope optionally names a scope every token must
// carry. See examples/bi-tool for a client that obtains such a token.
//
// Tokens for another audience, expired tokens and tokens signed by any key
// Gatehouse does not publish are answered 401. Serve it over TLS in
// production; plain http is fine on loopback for the demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/examples/data-service/rows"
	"github.com/gatehouse-dev/gatehouse/propagation"
)

type config struct {
	Addr     string
	Issuer   string
	JWKS     string
	Audience string
	Scope    string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8091", "listen address")
	flag.StringVar(&cfg.Issuer, "issuer", "", "Gatehouse external URL (the iss of its tokens)")
	flag.StringVar(&cfg.JWKS, "jwks", "", "Gatehouse JWKS URL (default issuer+\"/oauth/jwks\")")
	flag.StringVar(&cfg.Audience, "audience", "", "this service's audience")
	flag.StringVar(&cfg.Scope, "scope", "", "a scope every token must carry (optional)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("data-service", "err", err)
		os.Exit(1)
	}
}

// newHandler builds the verifier for cfg and the /rows handler.
func newHandler(cfg config, logger *slog.Logger) (http.Handler, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("-issuer and -audience are required")
	}
	jwksURL := cfg.JWKS
	if jwksURL == "" {
		jwksURL = strings.TrimSuffix(cfg.Issuer, "/") + "/oauth/jwks"
	}
	keys, err := propagation.NewRemoteKeySet(propagation.RemoteKeySetConfig{URL: jwksURL, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var scopes []string
	if cfg.Scope != "" {
		scopes = []string{cfg.Scope}
	}
	v, err := propagation.NewVerifier(propagation.VerifierConfig{
		Issuer:         cfg.Issuer,
		Audience:       cfg.Audience,
		KeySet:         keys,
		RequiredScopes: scopes,
	})
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	return rows.NewHandler(rows.Config{Verifier: v, Logger: logger})
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	h, err := newHandler(cfg, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("data-service listening", "addr", cfg.Addr, "issuer", cfg.Issuer, "audience", cfg.Audience)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
