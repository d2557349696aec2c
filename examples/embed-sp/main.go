// Command embed-sp shows how to embed Gatehouse's IdP-facing SAML service
// provider (package sp) in an ordinary net/http server: the handlers go on a
// http.ServeMux, the stores are the example's own (store.go), and
// sp.SP.Authenticate protects an application page.
//
// Run it with no arguments and it also starts a demo identity provider
// (saml/samltest.LoginHandler) on the same server under /idp/, and prints a
// demo user to sign in with:
//
//	go run ./examples/embed-sp
//	# open http://127.0.0.1:8090/me and sign in as the printed user
//
// To sign in through a real IdP instead, register the SP with it (its
// metadata is at /saml/metadata, the ACS at /saml/acs), export the IdP's
// metadata and pass the file:
//
//	go run ./examples/embed-sp -idp-metadata idp.xml
//
// Routes: /login starts SP-initiated sign-in (?return_to=/local/path),
// /saml/acs consumes the Response, /me shows the signed-in user, POST /logout
// ends the session, /api/session is sp.SP.SessionHandler. Users are created
// at first sign-in (JIT provisioning) from the email, displayName and groups
// attributes.
//
// The demo runs over plain http, which the sp package allows only on
// loopback addresses, so -addr must be a loopback address. In production
// serve the same mux over TLS at a stable https URL.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// demoUserName is the account of the built-in demo IdP.
const demoUserName = "alice"

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (loopback only: the demo serves plain http)")
	idpMetadata := flag.String("idp-metadata", "", "IdP metadata XML file; empty starts a demo IdP under /idp/")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *idpMetadata, log); err != nil {
		log.Error("embed-sp", "err", err)
		os.Exit(1)
	}
}

func run(addr, idpMetadataFile string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := serverConfig{Logger: log}
	if idpMetadataFile != "" {
		md, err := metadata.LoadFile(idpMetadataFile, 0)
		if err != nil {
			return err
		}
		cfg.IdPMetadata = md
	} else {
		cfg.DemoPassword = rand.Text()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	cfg.BaseURL = "http://" + ln.Addr().String()
	h, err := newServer(cfg)
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
	fmt.Printf("Sign in:      %s/me\nSP metadata:  %s/saml/metadata\n", cfg.BaseURL, cfg.BaseURL)
	if cfg.DemoPassword != "" {
		fmt.Printf("Demo IdP:     %s/idp/metadata\nDemo user:    %s / %s\n", cfg.BaseURL, demoUserName, cfg.DemoPassword)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serverConfig configures newServer.
type serverConfig struct {
	// BaseURL is the external URL of the server, for example
	// http://127.0.0.1:8090 (no trailing slash).
	BaseURL string
	// IdPMetadata is the trusted IdP's metadata. Empty: serve a demo IdP
	// under /idp/ whose user demoUserName signs in with DemoPassword.
	IdPMetadata  []byte
	DemoPassword string
	Logger       *slog.Logger
}

// newServer wires an sp.SP, and optionally a demo IdP, into one mux.
func newServer(cfg serverConfig) (http.Handler, error) {
	mux := http.NewServeMux()
	entityID := cfg.BaseURL + "/saml/metadata"
	acsURL := cfg.BaseURL + "/saml/acs"

	if cfg.IdPMetadata == nil {
		demo, err := samltest.NewIdP(cfg.BaseURL + "/idp/metadata")
		if err != nil {
			return nil, err
		}
		ssoURL := cfg.BaseURL + "/idp/sso"
		login, err := samltest.LoginHandler(samltest.IdPHandlerConfig{
			IdP:        demo,
			SSOURL:     ssoURL,
			AllowedACS: []string{acsURL},
			Audience:   entityID,
			Users: map[string]samltest.DemoUser{demoUserName: {
				Password: cfg.DemoPassword, Email: "alice@example.com",
				DisplayName: "Alice Liddell", Groups: []string{"engineering"},
			}},
		})
		if err != nil {
			return nil, err
		}
		cfg.IdPMetadata = demo.Metadata(ssoURL)
		mux.Handle("/idp/sso", login)
		mux.HandleFunc("GET /idp/metadata", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/samlmetadata+xml")
			_, _ = w.Write(cfg.IdPMetadata)
		})
	}

	idpMD, err := metadata.ParseIdP(cfg.IdPMetadata, time.Now())
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	store := newMemStore()
	s, err := sp.New(sp.Config{
		EntityID:        entityID,
		Regions:         []sp.Region{{Name: "local", ACSURL: acsURL}},
		IdP:             sp.IdentityProviderFromMetadata(idpMD),
		JITProvisioning: true,
		Attributes:      sp.AttributeMap{Email: "email", DisplayName: "displayName", Groups: "groups"},
		DefaultReturnTo: "/me",
		Requests:        store,
		Replay:          store,
		Sessions:        store,
		Users:           store,
		Logger:          cfg.Logger,
	})
	if err != nil {
		return nil, err
	}

	mux.Handle("GET /login", s.LoginHandler())
	for _, path := range s.ACSPaths() { // one per regional ACS URL; here /saml/acs
		mux.Handle(path, s.ACSHandler())
	}
	mux.Handle("GET /saml/metadata", s.MetadataHandler())
	mux.Handle("GET /api/session", s.SessionHandler())
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := s.EndSession(w, r); err != nil {
			http.Error(w, "sign-out is temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /me", requireUser(s, mePage()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<!DOCTYPE html><p><a href="/me">Who am I?</a> (signs you in first)</p>`)
	})
	return mux, nil
}

// userKey is the context key under which requireUser stores the user.
type userKey struct{}

// requireUser lets through requests with a valid session, with the user in
// the context; others go to sign-in and come back to the same path.
func requireUser(s *sp.SP, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, user, err := s.Authenticate(r)
		switch {
		case errors.Is(err, sp.ErrNoSession):
			q := url.Values{"return_to": {r.URL.RequestURI()}}
			http.Redirect(w, r, "/login?"+q.Encode(), http.StatusFound)
		case err != nil:
			http.Error(w, "the session store is unavailable", http.StatusServiceUnavailable)
		default:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
		}
	})
}

// mePage shows the signed-in user; html/template escapes every field.
func mePage() http.Handler {
	tmpl := template.Must(template.New("me").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signed in</title></head><body>
<h1>Hello, {{.DisplayName}}</h1>
<dl><dt>User name</dt><dd id="user_name">{{.UserName}}</dd>
<dt>E-mail</dt><dd id="email">{{.Email}}</dd>
<dt>Groups</dt><dd id="groups">{{range .Groups}}{{.}} {{end}}</dd></dl>
<form method="post" action="/logout"><button>Sign out</button></form>
</body></html>`))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := r.Context().Value(userKey{}).(sp.User)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = tmpl.Execute(w, user)
	})
}
