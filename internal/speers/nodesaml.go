package speers

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const nodeInstallHint = "scripts/install-speers.sh (npm ci in internal/speers/node)"

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
	return start(t, NameNodeSAML, o, startNodeSAML)
}

func startNodeSAML(t testing.TB, o SPOptions, idp idpInfo) (*server, error) {
	root := t.TempDir()
	n := &server{name: NameNodeSAML, entityPath: "/metadata", loginPath: "/whoami", acsPath: "/acs"}
	launch := func(port int) error {
		if err := n.setup(root, port, o); err != nil {
			return err
		}
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
		file := filepath.Join(root, "settings.json")
		if err := testpeer.WriteJSON(file, settings); err != nil {
			return err
		}
		proc, err := testpeer.Start(t, testpeer.Command{
			Name: NameNodeSAML,
			Path: "node",
			Args: []string{filepath.Join(nodeDir(), "sp.js"), file},
			Dir:  nodeDir(),
		})
		if err != nil {
			return err
		}
		_, err = proc.WaitHTTP(n.entityID, []byte(n.entityID))
		return err
	}
	if err := testpeer.OnFreePort(launch); err != nil {
		return nil, err
	}
	return n, nil
}
