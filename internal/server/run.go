package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server timeouts and limits set by NewHTTPServer.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewHTTPServer returns an http.Server for addr and handler with bounded
// timeouts and header size.
func NewHTTPServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Bound is a server with the listener it will serve on.
type Bound struct {
	Server   *http.Server
	Listener net.Listener
}

// Listen opens a TCP listener on each server's Addr, so that every address
// problem is known before anything is served. On error, the listeners
// already opened are closed.
func Listen(ctx context.Context, servers ...*http.Server) ([]Bound, error) {
	var lc net.ListenConfig
	bound := make([]Bound, 0, len(servers))
	for _, srv := range servers {
		l, err := lc.Listen(ctx, "tcp", srv.Addr)
		if err != nil {
			for _, b := range bound {
				_ = b.Listener.Close()
			}
			return nil, fmt.Errorf("server: listen on %s: %w", srv.Addr, err)
		}
		bound = append(bound, Bound{Server: srv, Listener: l})
	}
	return bound, nil
}

// ErrNoServers is returned by Serve and Run when given nothing to serve.
var ErrNoServers = errors.New("server: no servers to run")

// Serve serves every bound server until ctx is done or one of them fails,
// then shuts them all down gracefully: they stop accepting at once and
// in-flight requests get up to shutdownTimeout to finish, after which the
// remaining connections are closed. It returns the first serve error, or
// else an error if the shutdown did not finish in time, or nil.
func Serve(ctx context.Context, shutdownTimeout time.Duration, bound ...Bound) error {
	if len(bound) == 0 {
		return ErrNoServers
	}
	errc := make(chan error, len(bound))
	for _, b := range bound {
		go func() {
			err := b.Server.Serve(b.Listener)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}

	var first error
	pending := len(bound)
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		shutdownErr error
	)
	for _, b := range bound {
		wg.Go(func() {
			if err := b.Server.Shutdown(sctx); err != nil {
				_ = b.Server.Close()
				mu.Lock()
				shutdownErr = errors.Join(shutdownErr, fmt.Errorf("server: shutdown %s: %w", b.Listener.Addr(), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for ; pending > 0; pending-- {
		if err := <-errc; first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("server: %w", first)
	}
	return shutdownErr
}

// Run is Listen followed by Serve.
func Run(ctx context.Context, shutdownTimeout time.Duration, servers ...*http.Server) error {
	if len(servers) == 0 {
		return ErrNoServers
	}
	bound, err := Listen(ctx, servers...)
	if err != nil {
		return err
	}
	return Serve(ctx, shutdownTimeout, bound...)
}
