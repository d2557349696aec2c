package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver (no cgo)

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// shutdownTimeout bounds the graceful shutdown after SIGTERM or SIGINT, below
// the usual 30 s grace period of orchestrators.
const shutdownTimeout = 25 * time.Second

// serve runs the gateway for a validated config until ctx is done, then
// shuts down gracefully and closes the store.
func serve(ctx context.Context, cfg *config.Config, _, stderr io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := os.MkdirAll(cfg.Keys.Dir, 0o700); err != nil {
		return fmt.Errorf("keys.dir: %w", err)
	}
	// OpenTelemetry reports failed exports through its one global hook:
	// route them to the JSON log. The tracer provider and the W3C
	// propagator are passed explicitly; no other global is set.
	otel.SetErrorHandler(telemetry.ErrorHandler(logger))
	tracer, shutdownTracing, err := telemetry.Setup(ctx, cfg.Tracing, logger)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	// Deferred first, so it runs last: after the gateway has closed and
	// the store with it, flushing the spans of the last requests.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("flushing traces", slog.Any("err", err))
		}
	}()
	st, closeStore, err := openTracedStore(ctx, cfg.Store, logger, tracer)
	if err != nil {
		return err
	}
	defer closeStore()

	gw, err := gateway.New(ctx, cfg, gateway.Options{Store: st, Logger: logger, TracerProvider: tracer, KeyReloadInterval: cfg.Keys.ReloadInterval.Std()})
	if err != nil {
		return err
	}
	return runGateway(ctx, gw, cfg.Listen, cfg.TelemetryListen, logger, nil)
}

// runGateway serves gw on listen (and its telemetry on telemetryListen when
// set) until ctx is done. ready, when set, is called once every address is
// bound.
func runGateway(ctx context.Context, gw *gateway.Gateway, listen, telemetryListen string, logger *slog.Logger, ready func([]server.Bound)) error {
	// After the last request: the audit log stores what is queued before
	// the caller closes the store.
	defer func() {
		if err := gw.Close(); err != nil {
			logger.Error("closing the gateway", slog.Any("err", err))
		}
	}()
	servers := []*http.Server{server.NewHTTPServer(listen, gw.Handler())}
	if telemetryListen != "" {
		servers = append(servers, server.NewHTTPServer(telemetryListen, gw.TelemetryHandler()))
	}
	for _, s := range servers {
		s.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	bound, err := server.Listen(ctx, servers...)
	if err != nil {
		return err
	}
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	gw.Start(bg)
	for _, b := range bound {
		logger.Info("listening", slog.String("addr", b.Listener.Addr().String()))
	}
	if ready != nil {
		ready(bound)
	}
	if err := server.Serve(ctx, shutdownTimeout, bound...); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// openStore opens and migrates the configured store, first waiting up to
// storeStartupWait for it to answer. Only this package imports database
// drivers.
func openStore(ctx context.Context, sc config.StoreConfig, logger *slog.Logger) (*sqlstore.Store, func(), error) {
	return openTracedStore(ctx, sc, logger, nil)
}

// openTracedStore is openStore with the store's operations traced by tp
// (nil: not traced).
func openTracedStore(ctx context.Context, sc config.StoreConfig, logger *slog.Logger, tp trace.TracerProvider) (*sqlstore.Store, func(), error) {
	var (
		db      *sql.DB
		err     error
		dialect sqlstore.Dialect
	)
	switch sc.Driver {
	case config.DriverPostgres:
		dialect = sqlstore.PostgreSQL
		db, err = sql.Open("pgx", sc.DSN.Value())
		if err == nil {
			db.SetMaxOpenConns(20)
			// As many idle as open: with fewer, a busy instance closes and
			// reopens connections (a backend fork each) on every burst.
			db.SetMaxIdleConns(20)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	case config.DriverSQLite, "":
		dialect = sqlstore.SQLite
		db, err = sql.Open("sqlite", sqlstore.SQLiteDSN(sc.DSN.Value()))
		if err == nil {
			// One writer at a time is all SQLite allows; a few
			// connections let reads run beside it under WAL.
			db.SetMaxOpenConns(4)
		}
	default:
		return nil, nil, fmt.Errorf("store.driver: unknown driver %q", sc.Driver)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	if err := waitForStore(ctx, db, storeStartupWait, logger); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("store (%s): %w", dialect, err)
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := sqlstore.Open(openCtx, db, dialect, sqlstore.Options{TracerProvider: tp})
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("store (%s): %w", dialect, err)
	}
	return st, func() {
		if err := st.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse: closing the store:", err)
		}
		if err := db.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
			fmt.Fprintln(os.Stderr, "gatehouse: closing the store:", err)
		}
	}, nil
}
