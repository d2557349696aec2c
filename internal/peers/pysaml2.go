package peers

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const (
	pysaml2Dir         = "/usr/lib/python3/dist-packages/saml2"
	pysaml2InstallHint = "apt-get install python3-pysaml2 xmlsec1"
)

//go:embed assets/pysaml2/idp.py
var pysaml2Script []byte

// StartPySAML2 runs a small IdP built on pysaml2's saml2.server.Server (the
// script is assets/pysaml2/idp.py) with /usr/bin/python3 on 127.0.0.1: a
// fresh RSA-2048 key signing with RSA-SHA256 and SHA-256 digests, xmlsec1,
// the SP metadata as a local file, and a login form checking opts.Users. The
// server is stopped when the test ends; its log is printed if the test
// failed. A missing installation skips the test (fails it when
// GATEHOUSE_REQUIRE_PEERS is set).
func StartPySAML2(t testing.TB, opts IdPOptions) IdP {
	t.Helper()
	return start(t, NamePySAML2, opts, startPySAML2)
}

type pysaml2User struct {
	UserName   string              `json:"username"`
	Password   string              `json:"password"`
	Email      string              `json:"email"`
	Attributes map[string][]string `json:"attributes"`
}

// Local attribute keys of the script; the attribute map turns them into
// the configured SAML names.
const (
	pyKeyUserName    = "uid"
	pyKeyEmail       = "email"
	pyKeyDisplayName = "displayName"
	pyKeyGroups      = "groups"
)

func startPySAML2(t testing.TB, opts IdPOptions) (*server, error) {
	root := t.TempDir()
	mapDir := filepath.Join(root, "attributemaps")
	if err := mkdirs(mapDir); err != nil {
		return nil, err
	}
	keys, err := newKeyPair(root, "pysaml2 test IdP")
	if err != nil {
		return nil, err
	}
	spFile := filepath.Join(root, "sp-metadata.xml")
	if err := os.WriteFile(spFile, opts.SPMetadata, 0o644); err != nil {
		return nil, fmt.Errorf("peers: write SP metadata: %w", err)
	}
	script := filepath.Join(root, "idp.py")
	if err := os.WriteFile(script, pysaml2Script, 0o644); err != nil {
		return nil, fmt.Errorf("peers: write IdP script: %w", err)
	}
	if err := writePySAML2AttributeMap(mapDir, opts.Attributes); err != nil {
		return nil, err
	}
	users := make([]pysaml2User, 0, len(opts.Users))
	for _, u := range opts.Users {
		attrs := map[string][]string{}
		keep := func(name, key string, values ...string) {
			if name == "" {
				return
			}
			for _, v := range values {
				if v != "" {
					attrs[key] = append(attrs[key], v)
				}
			}
		}
		keep(opts.Attributes.UserName, pyKeyUserName, u.UserName)
		keep(opts.Attributes.Email, pyKeyEmail, u.Email)
		keep(opts.Attributes.DisplayName, pyKeyDisplayName, u.DisplayName)
		keep(opts.Attributes.Groups, pyKeyGroups, u.Groups...)
		users = append(users, pysaml2User{UserName: u.UserName, Password: u.Password, Email: u.Email, Attributes: attrs})
	}
	signResponse, signAssertion := opts.Signing.flags(false, true)
	p := &server{name: NamePySAML2, certPEM: keys.certPEM}
	launch := func(port int) error {
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		p.entityID, p.ssoURL = base+"/metadata", base+"/sso/redirect"
		settings := map[string]any{
			"baseurl":                    base,
			"port":                       port,
			"key_file":                   keys.keyFile,
			"cert_file":                  keys.certFile,
			"sp_metadata":                spFile,
			"attribute_map_dir":          mapDir,
			"attribute_name_format":      opts.Attributes.NameFormat,
			"nameid_format":              opts.NameIDFormat,
			"sign_response":              signResponse,
			"sign_assertion":             signAssertion,
			"want_authn_requests_signed": opts.WantAuthnRequestsSigned,
			"users":                      users,
		}
		proc, err := testpeer.StartPython(t, NamePySAML2, root, script, settings)
		if err != nil {
			return err
		}
		p.metadata, err = proc.WaitHTTP(p.entityID, keys.certB64)
		return err
	}
	if err := testpeer.OnFreePort(launch); err != nil {
		return nil, err
	}
	return p, nil
}

// writePySAML2AttributeMap writes a pysaml2 attribute map module that
// releases the script's local keys under the configured names and format.
func writePySAML2AttributeMap(dir string, names AttributeNames) error {
	fro := map[string]string{}
	to := map[string]string{}
	for key, name := range map[string]string{
		pyKeyUserName:    names.UserName,
		pyKeyEmail:       names.Email,
		pyKeyDisplayName: names.DisplayName,
		pyKeyGroups:      names.Groups,
	} {
		if name == "" {
			continue
		}
		fro[name] = key
		to[strings.ToLower(key)] = name // pysaml2 looks local names up in lower case
	}
	return testpeer.WritePyAttributeMap(dir, "gatehouse", names.NameFormat, fro, to)
}
