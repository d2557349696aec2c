package speers

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const pysaml2InstallHint = "apt-get install python3-pysaml2 xmlsec1 (scripts/install-speers.sh)"

//go:embed assets/pysaml2/sp.py
var pysaml2Script []byte

// StartPySAML2 runs a small SP (assets/pysaml2/sp.py, embedded) around
// pysaml2 7's saml2.client.Saml2Client with /usr/bin/python3 on 127.0.0.1:
// prepare_for_authenticate for SP-initiated sign-in (HTTP-Redirect, signed
// RSA-SHA256 when SignAuthnRequests), parse_authn_request_response at the
// ACS against the request IDs it issued (each usable once; any ID or none
// when AllowUnsolicited), the IdP metadata as a local file,
// want_assertions_signed, xmlsec1, accepted_time_diff 60 s, an attribute map
// of its own built from SPOptions.AttributeMap, and encryption_keypairs when
// EncryptAssertions (the app then also refuses a plaintext assertion). The
// server stops when the test ends; its output is printed if the test failed.
// A missing installation skips the test (fails it when
// GATEHOUSE_REQUIRE_PEERS is set).
func StartPySAML2(t testing.TB, o SPOptions) SP {
	t.Helper()
	return start(t, NamePySAML2, o, startPySAML2)
}

func startPySAML2(t testing.TB, o SPOptions, idp idpInfo) (*server, error) {
	root := t.TempDir()
	mapDir := filepath.Join(root, "attributemaps")
	if err := os.MkdirAll(mapDir, 0o755); err != nil {
		return nil, fmt.Errorf("speers: %w", err)
	}
	if err := writePySAML2AttributeMaps(mapDir, o.AttributeMap); err != nil {
		return nil, err
	}
	idpFile := filepath.Join(root, "idp-metadata.xml")
	if err := os.WriteFile(idpFile, o.IdPMetadata, 0o644); err != nil {
		return nil, fmt.Errorf("speers: write IdP metadata: %w", err)
	}
	script := filepath.Join(root, "sp.py")
	if err := os.WriteFile(script, pysaml2Script, 0o644); err != nil {
		return nil, fmt.Errorf("speers: write SP script: %w", err)
	}
	p := &server{name: NamePySAML2, entityPath: "/metadata", loginPath: "/whoami", acsPath: "/acs"}
	launch := func(port int) error {
		if err := p.setup(root, port, o); err != nil {
			return err
		}
		settings := map[string]any{
			"port":              port,
			"entityID":          p.entityID,
			"acsURL":            p.ACSURL(),
			"idpEntityID":       idp.entityID,
			"idpMetadataFile":   idpFile,
			"attributeMapDir":   mapDir,
			"signingKeyFile":    p.keys.signing.keyFile,
			"signingCertFile":   p.keys.signing.certFile,
			"signRequests":      o.SignAuthnRequests,
			"allowUnsolicited":  o.AllowUnsolicited,
			"requireEncryption": o.EncryptAssertions,
			"nameIndex":         nameIndex(o.AttributeMap),
			"metadata":          string(p.metadata),
		}
		if p.keys.encryption != nil {
			settings["encryptionKeyFile"] = p.keys.encryption.keyFile
			settings["encryptionCertFile"] = p.keys.encryption.certFile
		}
		proc, err := testpeer.StartPython(t, NamePySAML2, root, script, settings)
		if err != nil {
			return err
		}
		_, err = proc.WaitHTTP(p.entityID, []byte(p.entityID))
		return err
	}
	if err := testpeer.OnFreePort(launch); err != nil {
		return nil, err
	}
	return p, nil
}

// writePySAML2AttributeMaps writes pysaml2 attribute map modules (one per
// NameFormat: basic, uri, unspecified) turning every mapped SAML Name into
// its local ID. pysaml2 matches names case-insensitively.
func writePySAML2AttributeMaps(dir string, m []AttributeMapping) error {
	fro := map[string]string{}
	to := map[string]string{}
	for _, a := range m {
		for _, n := range a.Names {
			fro[n] = a.ID
		}
		to[strings.ToLower(a.ID)] = a.Names[0]
	}
	for module, format := range map[string]string{
		"gh_basic":       AttrNameFormatBasic,
		"gh_uri":         AttrNameFormatURI,
		"gh_unspecified": AttrNameFormatUnspecified,
	} {
		if err := testpeer.WritePyAttributeMap(dir, module, format, fro, to); err != nil {
			return err
		}
	}
	return nil
}
