package speers

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

const nodeInstallHint = "scripts/install-speers.sh (npm ci in internal/speers/node)"

type nodeSAML struct {
	base     string
	entityID string
	metadata []byte
	keys     spKeys
}

func (n *nodeSAML) Name() string                          { return NameNodeSAML }
func (n *nodeSAML) EntityID() string                      { return n.entityID }
func (n *nodeSAML) Metadata() []byte                      { return append([]byte(nil), n.metadata...) }
func (n *nodeSAML) LoginURL() string                      { return n.base + "/whoami" }
func (n *nodeSAML) ACSURL() string                        { return n.base + "/acs" }
func (n *nodeSAML) SigningCertificate() *x509.Certificate { return n.keys.signing.cert }
func (n *nodeSAML) EncryptionCertificate() *x509.Certificate {
	if n.keys.encryption == nil {
		return nil
	}
	return n.keys.encryption.cert
}

func (n *nodeSAML) Complete(ctx context.Context, client *http.Client, action, samlResponse, relayState string) (Result, error) {
	return complete(ctx, client, n.base, action, samlResponse, relayState)
}

// StartNodeSAML runs a small Node HTTP server (internal/speers/node/sp.js)
// around @node-saml/node-saml 5 on 127.0.0.1: getAuthorizeUrlAsync for
// SP-initiated sign-in (HTTP-Redirect, signed RSA-SHA256 when
// SignAuthnRequests), validatePostResponseAsync at the ACS with the IdP's
// signing certificates from its metadata, idpIssuer, wantAssertionsSigned,
// audience = its entity ID, InResponseTo validation "always" (an in-memory
// cache of the request IDs it issued; "ifPresent" when AllowUnsolicited),
// and decryptionPvk when EncryptAssertions (the app then also refuses a
// plaintext assertion). The server stops when the test ends; its output is
// printed if the test failed. A missing installation skips the test (fails
// it when GATEHOUSE_REQUIRE_PEERS is set).
func StartNodeSAML(t testing.TB, o SPOptions) SP {
	t.Helper()
	requireAvailable(t, NameNodeSAML)
	sp, err := startNodeSAML(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func startNodeSAML(t testing.TB, o SPOptions) (*nodeSAML, error) {
	o, err := o.normalized()
	if err != nil {
		return nil, err
	}
	idp, err := parseIdPMetadata(o.IdPMetadata)
	if err != nil {
		return nil, err
	}
	root := t.TempDir()
	n := &nodeSAML{}
	launch := func(port int) error {
		n.base = "http://127.0.0.1:" + strconv.Itoa(port)
		n.entityID = n.base + "/metadata"
		if n.keys, err = newSPKeys(root, n.entityID, o.EncryptAssertions); err != nil {
			return err
		}
		n.metadata = spMetadata(n.entityID, n.ACSURL(), n.keys, o.SignAuthnRequests)
		settings := map[string]any{
			"port":              port,
			"entityID":          n.entityID,
			"acsURL":            n.ACSURL(),
			"idpEntityID":       idp.entityID,
			"idpSSO":            idp.ssoRedirect,
			"idpCerts":          idp.certsPEM,
			"allowUnsolicited":  o.AllowUnsolicited,
			"requireEncryption": o.EncryptAssertions,
			"nameIndex":         nameIndex(o.AttributeMap),
			"metadata":          string(n.metadata),
		}
		if o.SignAuthnRequests {
			settings["signingKey"] = string(n.keys.signing.keyPEM)
		}
		if n.keys.encryption != nil {
			settings["decryptionKey"] = string(n.keys.encryption.keyPEM)
		}
		js, err := json.Marshal(settings)
		if err != nil {
			return fmt.Errorf("speers: encode node-saml settings: %w", err)
		}
		file := filepath.Join(root, "settings.json")
		if err := os.WriteFile(file, js, 0o600); err != nil {
			return fmt.Errorf("speers: write node-saml settings: %w", err)
		}
		cmd := exec.Command("node", filepath.Join(nodeDir(), "sp.js"), file)
		cmd.Dir = nodeDir()
		proc, err := startProcess(t, NameNodeSAML, cmd)
		if err != nil {
			return err
		}
		return proc.waitReady(n.entityID, []byte(n.entityID))
	}
	if err := onFreePort(launch); err != nil {
		return nil, err
	}
	return n, nil
}
