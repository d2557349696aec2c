package speers

import (
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	pythonBin          = "/usr/bin/python3"
	xmlsecBin          = "/usr/bin/xmlsec1"
	pysaml2InstallHint = "apt-get install python3-pysaml2 xmlsec1 (scripts/install-speers.sh)"
)

//go:embed assets/pysaml2/sp.py
var pysaml2Script []byte

type pySAML2 struct {
	base     string
	entityID string
	metadata []byte
	keys     spKeys
}

func (p *pySAML2) Name() string                          { return NamePySAML2 }
func (p *pySAML2) EntityID() string                      { return p.entityID }
func (p *pySAML2) Metadata() []byte                      { return append([]byte(nil), p.metadata...) }
func (p *pySAML2) LoginURL() string                      { return p.base + "/whoami" }
func (p *pySAML2) ACSURL() string                        { return p.base + "/acs" }
func (p *pySAML2) SigningCertificate() *x509.Certificate { return p.keys.signing.cert }
func (p *pySAML2) EncryptionCertificate() *x509.Certificate {
	if p.keys.encryption == nil {
		return nil
	}
	return p.keys.encryption.cert
}

func (p *pySAML2) Complete(ctx context.Context, client *http.Client, action, samlResponse, relayState string) (Result, error) {
	return complete(ctx, client, p.base, action, samlResponse, relayState)
}

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
	requireAvailable(t, NamePySAML2)
	sp, err := startPySAML2(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func startPySAML2(t testing.TB, o SPOptions) (*pySAML2, error) {
	o, err := o.normalized()
	if err != nil {
		return nil, err
	}
	idp, err := parseIdPMetadata(o.IdPMetadata)
	if err != nil {
		return nil, err
	}
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
	p := &pySAML2{}
	launch := func(port int) error {
		p.base = "http://127.0.0.1:" + strconv.Itoa(port)
		p.entityID = p.base + "/metadata"
		var err error
		if p.keys, err = newSPKeys(root, p.entityID, o.EncryptAssertions); err != nil {
			return err
		}
		p.metadata = spMetadata(p.entityID, p.ACSURL(), p.keys, o.SignAuthnRequests)
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
		js, err := json.Marshal(settings)
		if err != nil {
			return fmt.Errorf("speers: encode pysaml2 settings: %w", err)
		}
		file := filepath.Join(root, "settings.json")
		if err := os.WriteFile(file, js, 0o600); err != nil {
			return fmt.Errorf("speers: write pysaml2 settings: %w", err)
		}
		cmd := exec.Command(pythonBin, "-u", script, file)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		proc, err := startProcess(t, NamePySAML2, cmd)
		if err != nil {
			return err
		}
		return proc.waitReady(p.entityID, []byte(p.entityID))
	}
	if err := onFreePort(launch); err != nil {
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
	for file, format := range map[string]string{
		"gh_basic":       AttrNameFormatBasic,
		"gh_uri":         AttrNameFormatURI,
		"gh_unspecified": AttrNameFormatUnspecified,
	} {
		js, err := json.Marshal(map[string]any{"identifier": format, "fro": fro, "to": to})
		if err != nil {
			return fmt.Errorf("speers: encode attribute map: %w", err)
		}
		// A JSON object of strings is a Python dict literal.
		src := "# Generated by internal/speers.\nMAP = " + string(js) + "\n"
		if err := os.WriteFile(filepath.Join(dir, file+".py"), []byte(src), 0o644); err != nil {
			return fmt.Errorf("speers: write attribute map: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "__init__.py"), nil, 0o644); err != nil {
		return fmt.Errorf("speers: write attribute map: %w", err)
	}
	return nil
}
