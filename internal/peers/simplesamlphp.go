package peers

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const (
	sspWWWDir          = "/usr/share/simplesamlphp/www"
	sspModulesDir      = "/usr/share/simplesamlphp/modules"
	sspAttributeMapDir = "/etc/simplesamlphp/attributemap/"
	sspInstallHint     = "apt-get install simplesamlphp php-cli php-xml php-mbstring php-curl"

	sspNameIDAttribute = "gatehouse-peer-nameid"
	rsaSHA256          = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
)

//go:embed assets/simplesamlphp
var sspAssets embed.FS

// StartSimpleSAMLphp runs a SimpleSAMLphp 1.19 IdP under PHP's built-in web
// server on 127.0.0.1 with a configuration of the test's own (never the one
// in /etc/simplesamlphp): an exampleauth:UserPass source with opts.Users, a
// hosted SAML 2.0 IdP with a fresh RSA-2048 key signing with RSA-SHA256, and
// the SP from opts.SPMetadata, parsed by SimpleSAMLphp itself. The server is
// stopped when the test ends; its log is printed if the test failed. A
// missing installation skips the test (fails it when GATEHOUSE_REQUIRE_PEERS
// is set).
func StartSimpleSAMLphp(t testing.TB, opts IdPOptions) IdP {
	t.Helper()
	return start(t, NameSimpleSAMLphp, opts, startSimpleSAMLphp)
}

func startSimpleSAMLphp(t testing.TB, opts IdPOptions) (*server, error) {
	root := t.TempDir()
	dirs := struct{ config, metadata, cert, tmp, data, sessions string }{
		filepath.Join(root, "config"), filepath.Join(root, "metadata"), filepath.Join(root, "cert"),
		filepath.Join(root, "tmp"), filepath.Join(root, "data"), filepath.Join(root, "sessions"),
	}
	if err := mkdirs(dirs.config, dirs.metadata, dirs.cert, dirs.tmp, dirs.data, dirs.sessions); err != nil {
		return nil, err
	}
	if err := copyAssets(sspAssets, "assets/simplesamlphp", root); err != nil {
		return nil, err
	}
	keys, err := newKeyPair(dirs.cert, "SimpleSAMLphp test IdP")
	if err != nil {
		return nil, err
	}
	spFile := filepath.Join(root, "sp-metadata.xml")
	if err := os.WriteFile(spFile, opts.SPMetadata, 0o644); err != nil {
		return nil, fmt.Errorf("peers: write SP metadata: %w", err)
	}
	signResponse, signAssertion := opts.Signing.flags(true, true)
	s := &server{name: NameSimpleSAMLphp, certPEM: keys.certPEM}
	launch := func(port int) error {
		base := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		s.entityID = base + "saml2/idp/metadata.php"
		s.ssoURL = base + "saml2/idp/SSOService.php"
		cfg := map[string]any{
			"baseurl":             base,
			"certdir":             dirs.cert + "/",
			"tmpdir":              dirs.tmp + "/",
			"datadir":             dirs.data + "/",
			"sessiondir":          dirs.sessions,
			"metadatadir":         dirs.metadata + "/",
			"attributenamemapdir": sspAttributeMapDir,
			"secretsalt":          randomHex(16),
			"adminpassword":       randomHex(16),
			"entityid":            s.entityID,
			"nameidformat":        opts.NameIDFormat,
			"privatekey":          keys.keyFile,
			"certificate":         keys.certFile,
			"spmetadata":          spFile,
			"users":               sspUsers(opts),
			"sp": map[string]any{
				"NameIDFormat":          opts.NameIDFormat,
				"attributes.NameFormat": opts.Attributes.NameFormat,
				"saml20.sign.response":  signResponse,
				"saml20.sign.assertion": signAssertion,
				"validate.authnrequest": opts.WantAuthnRequestsSigned,
				"signature.algorithm":   rsaSHA256,
			},
		}
		if err := testpeer.WriteJSON(filepath.Join(dirs.config, "gatehouse-peer.json"), cfg); err != nil {
			return err
		}
		proc, err := testpeer.Start(t, testpeer.Command{
			Name: NameSimpleSAMLphp,
			Path: "php",
			Args: []string{"-S", "127.0.0.1:" + strconv.Itoa(port), "-t", sspWWWDir},
			Dir:  root,
			Env:  []string{"SIMPLESAMLPHP_CONFIG_DIR=" + dirs.config},
		})
		if err != nil {
			return err
		}
		s.metadata, err = proc.WaitHTTP(s.entityID, keys.certB64)
		return err
	}
	if err := testpeer.OnFreePort(launch); err != nil {
		return nil, err
	}
	return s, nil
}

// sspUsers renders the users as exampleauth:UserPass entries
// ("name:password" => attributes).
func sspUsers(opts IdPOptions) map[string]map[string][]string {
	out := make(map[string]map[string][]string, len(opts.Users))
	for _, u := range opts.Users {
		attrs := releasedAttributes(opts.Attributes, u)
		nameID := u.Email
		if opts.NameIDFormat == NameIDFormatPersistent {
			nameID = u.UserName
		}
		attrs[sspNameIDAttribute] = []string{nameID}
		out[u.UserName+":"+u.Password] = attrs
	}
	return out
}

// releasedAttributes maps a user's fields to the configured attribute names,
// leaving out fields with no name and empty values.
func releasedAttributes(names AttributeNames, u User) map[string][]string {
	attrs := map[string][]string{}
	add := func(name string, values ...string) {
		if name == "" {
			return
		}
		for _, v := range values {
			if v != "" {
				attrs[name] = append(attrs[name], v)
			}
		}
	}
	add(names.UserName, u.UserName)
	add(names.Email, u.Email)
	add(names.DisplayName, u.DisplayName)
	add(names.Groups, u.Groups...)
	return attrs
}

// copyAssets writes the embedded tree under prefix into dir.
func copyAssets(fsys embed.FS, prefix, dir string) error {
	return fs.WalkDir(fsys, prefix, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(prefix, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fsys.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
