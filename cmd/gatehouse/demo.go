package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// demoUser is the built-in demo IdP's account.
const demoUser = "demo"

// demo runs the one-command local demo on addr, keeping its state (SQLite
// store, keys, the demo IdP's key) in dataDir. The demo IdP is built on
// saml/samltest and served by the same process under /demo-idp/; the
// gateway trusts it through the ordinary metadata_file path, so sign-in runs
// the real SP flow.
func demo(ctx context.Context, addr, dataDir string, stdout io.Writer) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || port == "" {
		return fmt.Errorf("demo: --addr must be host:port with a fixed port, got %q", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("demo: --addr must be a loopback address (the demo serves plain http), got %q", addr)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("demo: data folder: %w", err)
	}
	base := "http://" + addr
	idp, err := demoIdP(dataDir, base+"/demo-idp/metadata")
	if err != nil {
		return err
	}
	password, err := demoPassword(dataDir)
	if err != nil {
		return err
	}
	app, err := samltest.NewSP(base+"/demo-app/metadata", base+"/demo-app/acs")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	appMD, err := app.Metadata(false, false)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "demo-app-metadata.xml"), appMD, 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	mdPath := filepath.Join(dataDir, "demo-idp-metadata.xml")
	if err := os.WriteFile(mdPath, idp.Metadata(base+"/demo-idp/sso"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	yaml := fmt.Sprintf(`external_url: %q
listen: %q
store:
  driver: sqlite
  dsn: gatehouse.db
keys:
  dir: keys
identity_source:
  saml:
    metadata_file: demo-idp-metadata.xml
    jit_provisioning: true
    acs_endpoints:
      - region: us-east-1
        url: %q
      - region: eu-west-1
        url: %q
applications:
  - id: demo-app
    name: Demo application
    metadata_file: demo-app-metadata.xml
    name_id_format: emailAddress
    attributes:
      email: email
      displayName: display_name
      groups: groups
      "https://aws.amazon.com/SAML/Attributes/AccessControl:Department": attributes.department
    assignments:
      groups: [demo]
`, base, addr, base+"/saml/acs", base+"/eu-west-1/saml/acs")
	cfg, err := config.Parse([]byte(yaml), dataDir, func(string) (string, bool) { return "", false })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("demo: generated config: %w", err)
	}
	if err := os.MkdirAll(cfg.Keys.Dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, closeStore, err := openStore(ctx, cfg.Store, logger)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer closeStore()

	login, err := samltest.LoginHandler(samltest.IdPHandlerConfig{
		IdP:    idp,
		SSOURL: base + "/demo-idp/sso",
		Users: map[string]samltest.DemoUser{demoUser: {
			Password: password, Email: "demo@example.com", DisplayName: "Demo User",
			Groups: []string{"engineering", "demo"},
		}},
		AllowedACS: []string{base + "/saml/acs", base + "/eu-west-1/saml/acs"},
		Audience:   cfg.IdentitySource.SAML.EntityID,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var gw *gateway.Gateway
	demoApplication := &demoApp{
		sp: app, ssoURL: base + "/saml/idp/sso",
		certs: func(r *http.Request) ([]*x509.Certificate, error) { return gw.IdPCertificates(r.Context()) },
	}
	gw, err = gateway.New(ctx, cfg, gateway.Options{
		Store: st, Logger: logger,
		Routes: func(mux *http.ServeMux) {
			demoApplication.routes(mux)
			mux.Handle("/demo-idp/sso", login)
			mux.HandleFunc("GET /demo-idp/metadata", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/samlmetadata+xml")
				_, _ = w.Write(idp.Metadata(base + "/demo-idp/sso"))
			})
		},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	demoApplication.entityID = gw.IdPEntityID()
	return runGateway(ctx, gw, addr, "", logger, func([]server.Bound) {
		fmt.Fprintf(stdout, `Gatehouse demo is running (data in %s).

  Access portal:      %s/portal
  Sign in:            %s/saml/sp/login?return_to=/portal
  SP metadata:        %s/saml/sp/metadata
  Session API:        %s/api/v1/session
  Demo IdP metadata:  %s/demo-idp/metadata
  Demo application:   %s/demo-app/ (a SAML app signing in through Gatehouse's IdP)
  Gatehouse IdP:      %s/saml/idp/metadata
  Regional ACS:       us-east-1 %s/saml/acs
                      eu-west-1 %s/eu-west-1/saml/acs

  Demo IdP user:      %s
  Password:           %s
  Admin API token:    %s (for /api/v1/admin)

Press Ctrl-C to stop.
`, dataDir, base, base, base, base, base, base, base, base, base, demoUser, password, cfg.Admin.TokenFile)
	})
}

// demoIdP loads the demo IdP's RSA key from dataDir, generating it on first
// use, so that restarts keep the same IdP certificate.
func demoIdP(dataDir, entityID string) (*samltest.IdP, error) {
	keyPath := filepath.Join(dataDir, "demo-idp-key.pem")
	var signer crypto.Signer
	raw, err := os.ReadFile(keyPath)
	switch {
	case err == nil:
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, fmt.Errorf("demo: %s: no PEM block", keyPath)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", keyPath, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("demo: %s: not a signing key", keyPath)
		}
		signer = s
	case errors.Is(err, fs.ErrNotExist):
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		signer = k
	default:
		return nil, fmt.Errorf("demo: %w", err)
	}
	now := time.Now()
	certDER, err := samltest.SelfSignedCert("Gatehouse demo IdP", signer, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	idp, err := samltest.NewIdPWithKey(entityID, signer, certDER)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return idp, nil
}

// demoPassword returns the demo user's password, generated on first use and
// kept (0600) in dataDir.
func demoPassword(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "demo-password")
	if b, err := os.ReadFile(p); err == nil {
		if pw := strings.TrimSpace(string(b)); len(pw) >= 12 {
			return pw, nil
		}
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	pw := base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return pw, nil
}
