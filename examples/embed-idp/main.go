// Command embed-idp shows how to embed Gatehouse's app-facing SAML identity
// provider (package idp) in an ordinary net/http server, with the embedder
// supplying everything the IdP reads through small interfaces:
//
//   - the identity source (idp.SessionProvider): a hard-coded user table and
//     a trivial login form (identity.go);
//   - the assignments (idp.AccessPolicy): members of the "staff" group may
//     use the application, so alice gets in and bob does not;
//   - the signing key (idp.KeySource): one RSA key and self-signed
//     certificate generated at start-up (stores.go);
//   - the pending sign-ins (idp.SSOStateStore) and the registered
//     applications (idp.ServiceProviderRegistry), in memory (stores.go).
//
// The one registered application is a saml/samltest.SP served by the same
// program under /app/ (app.go). It signs its AuthnRequests, asks for
// encrypted assertions, trusts the IdP through the metadata published at
// /saml/idp/metadata (built by metadata.BuildIdP), verifies every Response
// with samltest.SP.Verify and shows the NameID and attributes it received.
//
//	go run ./examples/embed-idp
//	# open http://127.0.0.1:8091/app/ and sign in as alice / alice-password
//
// IdP-initiated sign-in starts at /saml/idp/launch/demo-app. The demo runs
// over plain http, which the idp package allows only on loopback addresses;
// in production serve the same handlers over TLS.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

// appID is the registered application's ID, as in /saml/idp/launch/{app_id}.
const appID = "demo-app"

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "listen address (loopback only: the demo serves plain http)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("embed-idp", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	h, err := newServer(base, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	fmt.Printf("Application:   %s/app/\n", base)
	fmt.Printf("IdP-initiated: %s/saml/idp/launch/%s\n", base, appID)
	fmt.Printf("IdP metadata:  %s/saml/idp/metadata\n", base)
	fmt.Println("Users:         alice / alice-password (assigned), bob / bob-password (not assigned)")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer wires the IdP, its identity source and the demo application
// into one mux. base is the server's external URL without a trailing slash.
func newServer(base string, log *slog.Logger) (http.Handler, error) {
	entityID := base + "/saml/idp/metadata"
	ssoURL := base + "/saml/idp/sso"
	keys, err := newStaticKeys(entityID)
	if err != nil {
		return nil, err
	}
	// The metadata applications import to trust this IdP. It is built per
	// request from the KeySource so that a key rollover is published.
	idpMetadata := func(ctx context.Context) ([]byte, error) {
		certs, err := keys.Certificates(ctx)
		if err != nil {
			return nil, err
		}
		return metadata.BuildIdP(metadata.IdPConfig{
			EntityID:            entityID,
			SigningCertificates: certs,
			SSOURL:              ssoURL,
			NameIDFormats:       []string{idp.NameIDFormatEmailURI, idp.NameIDFormatPersistentURI},
		})
	}

	app, err := newDemoApp(base, ssoURL, idpMetadata, log)
	if err != nil {
		return nil, err
	}
	appMetadata, err := app.sp.Metadata(true, true) // signed requests, encryption key
	if err != nil {
		return nil, err
	}
	registered, err := idp.NewServiceProvider(appID, appMetadata, idp.ServiceProviderOptions{
		NameIDFormat:      idp.NameIDEmail,
		EncryptAssertions: true,
		Attributes: []idp.AttributeMapping{
			{Name: "email", Field: "email"},
			{Name: "displayName", Field: "display_name"},
			{Name: "groups", Field: "groups"},
		},
	}, time.Now())
	if err != nil {
		return nil, err
	}

	// Persistent NameIDs are derived with this key. A fresh one per run is
	// fine here (the app uses e-mail NameIDs); a real IdP keeps it stable.
	persistentIDKey := make([]byte, 32)
	_, _ = rand.Read(persistentIDKey) // never fails (Go 1.24+)
	users := newUserSource(demoUsers())
	i, err := idp.New(idp.Config{
		EntityID:         entityID,
		SSOURL:           ssoURL,
		ServiceProviders: registry{registered},
		Sessions:         users,
		Access:           groupPolicy("staff"),
		Keys:             keys,
		States:           newStateStore(),
		PersistentIDKey:  persistentIDKey,
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/saml/idp/sso", i.SSOHandler()) // GET (Redirect) and POST bindings
	mux.Handle("GET "+i.ResumePath(), i.ResumeHandler())
	mux.Handle("GET /saml/idp/launch/{app_id}", i.LaunchHandler())
	mux.HandleFunc("GET /saml/idp/metadata", func(w http.ResponseWriter, r *http.Request) {
		md, err := idpMetadata(r.Context())
		if err != nil {
			log.ErrorContext(r.Context(), "idp metadata", "err", err)
			http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(md)
	})
	users.register(mux)
	app.register(mux)
	mux.Handle("GET /{$}", http.RedirectHandler("/app/", http.StatusFound))
	return mux, nil
}
