package speers

import (
	"bytes"
	"embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"text/template"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const (
	shibdBin        = "/usr/sbin/shibd"
	apacheBin       = "/usr/sbin/apache2"
	modShib         = "/usr/lib/apache2/modules/mod_shib.so"
	modCGI          = "/usr/lib/apache2/modules/mod_cgi.so"
	modPrefork      = "/usr/lib/apache2/modules/mod_mpm_prefork.so"
	shibInstallHint = "apt-get install apache2 libapache2-mod-shib (scripts/install-speers.sh)"
)

//go:embed assets/shibboleth
var shibAssets embed.FS

var shibTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"xml": func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s)) // writing to a bytes.Buffer cannot fail
		return b.String()
	},
}).ParseFS(shibAssets, "assets/shibboleth/*.tmpl"))

// StartShibboleth runs Shibboleth SP 3 (shibd -F plus apache2 -DFOREGROUND
// with mod_shib and mod_cgi, prefork) on 127.0.0.1 with a configuration of
// its own in a fresh directory: absolute paths everywhere, its own shibd
// socket, in-memory storage, plain http (handlerSSL off, cookieProps http),
// the IdP metadata as a local file (schema-validated by Shibboleth), an
// attribute map built from SPOptions.AttributeMap (each name under NameFormat
// basic and uri/unspecified; the NameID raw under nameid_<format>),
// requireSignedAssertions, HTTP-Redirect AuthnRequests with
// AssertionConsumerServiceURL (signed RSA-SHA256 when SignAuthnRequests),
// and an encryption key with requireAuthenticatedEncryption (AES-GCM only)
// when EncryptAssertions. Security policy "blockUnsolicited" from
// /etc/shibboleth/security-policy.xml refuses IdP-initiated responses;
// "default" (AllowUnsolicited) accepts them and sends the browser to
// homeURL, the echo page, when there is no RelayState. The protected echo page is
// a CGI script under /secure printing the environment mod_shib set. Apache's
// workers run as www-data. Both processes stop when the test ends; their
// output is printed if the test failed. A missing installation skips the
// test (fails it when GATEHOUSE_REQUIRE_PEERS is set).
func StartShibboleth(t testing.TB, o SPOptions) SP {
	t.Helper()
	return start(t, NameShibboleth, o, startShibboleth)
}

type shibAttr struct{ Name, ID string }

func startShibboleth(t testing.TB, o SPOptions, idp idpInfo) (*server, error) {
	// Not t.TempDir: Apache's workers (www-data) must traverse the path.
	root, err := os.MkdirTemp("", "speers-shibboleth-")
	if err != nil {
		return nil, fmt.Errorf("speers: %w", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	for _, d := range []string{root, filepath.Join(root, "run"), filepath.Join(root, "www"), filepath.Join(root, "www", "secure")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("speers: %w", err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, fmt.Errorf("speers: %w", err)
		}
	}
	var attrs []shibAttr
	var ids []string
	for _, m := range o.AttributeMap {
		ids = append(ids, m.ID)
		for _, n := range m.Names {
			attrs = append(attrs, shibAttr{Name: n, ID: m.ID})
		}
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("speers: %w", err)
	}
	files := []struct {
		name string
		mode os.FileMode
		tmpl string
		data any
	}{
		{"attribute-map.xml", 0o644, "attribute-map.xml.tmpl", map[string]any{"Attributes": attrs}},
		{"shibd.logger", 0o644, "shibd.logger.tmpl", map[string]any{"Root": root}},
		{"www/secure/whoami", 0o755, "whoami.py.tmpl", map[string]any{"IDs": string(idsJSON)}},
	}
	for _, f := range files {
		if err := writeTemplate(filepath.Join(root, f.name), f.mode, f.tmpl, f.data); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"native.logger"} {
		b, err := shibAssets.ReadFile("assets/shibboleth/" + name)
		if err != nil {
			return nil, fmt.Errorf("speers: %w", err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("speers: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "idp-metadata.xml"), o.IdPMetadata, 0o644); err != nil {
		return nil, fmt.Errorf("speers: write IdP metadata: %w", err)
	}

	s := &server{name: NameShibboleth, entityPath: "/shibboleth", loginPath: "/secure/whoami", acsPath: "/Shibboleth.sso/SAML2/POST"}
	launch := func(port int) error {
		if err := s.setup(root, port, o); err != nil {
			return err
		}
		data := map[string]any{
			"Root":             root,
			"Port":             port,
			"EntityID":         s.entityID,
			"HomeURL":          s.LoginURL(),
			"IdPEntityID":      idp.entityID,
			"SignRequests":     o.SignAuthnRequests,
			"Encrypt":          o.EncryptAssertions,
			"AllowUnsolicited": o.AllowUnsolicited,
			"SigningKey":       s.keys.signing.keyFile,
			"SigningCert":      s.keys.signing.certFile,
		}
		if s.keys.encryption != nil {
			data["EncryptionKey"] = s.keys.encryption.keyFile
			data["EncryptionCert"] = s.keys.encryption.certFile
		}
		for name, tmpl := range map[string]string{"shibboleth2.xml": "shibboleth2.xml.tmpl", "httpd.conf": "httpd.conf.tmpl"} {
			if err := writeTemplate(filepath.Join(root, name), 0o644, tmpl, data); err != nil {
				return err
			}
		}
		shibdLog := filepath.Join(root, "shibd.log")
		shibd, err := testpeer.Start(t, testpeer.Command{
			Name:     "shibd",
			Path:     shibdBin,
			Args:     []string{"-F", "-f", "-c", filepath.Join(root, "shibboleth2.xml"), "-p", filepath.Join(root, "run", "shibd.pid")},
			Dir:      root,
			LogFiles: []string{shibdLog},
		})
		if err != nil {
			return err
		}
		// Wait for shibd to say it listens, rather than probing its socket:
		// a connection while shibd is still loading its configuration can
		// crash it (heap corruption seen with 3.4.1).
		if err := shibd.WaitFile(shibdLog, []byte("listener service starting")); err != nil {
			return err
		}
		apache, err := testpeer.Start(t, testpeer.Command{
			Name: "apache2",
			Path: apacheBin,
			Args: []string{"-f", filepath.Join(root, "httpd.conf"), "-DFOREGROUND"},
			Dir:  root,
		})
		if err != nil {
			shibd.Stop()
			return err
		}
		// The Status handler answers once mod_shib reaches shibd; it names the
		// application's entity ID (and so this port's SP).
		if _, err := apache.WaitHTTP(s.base+"/Shibboleth.sso/Status", []byte(s.entityID)); err != nil {
			apache.Stop()
			shibd.Stop()
			return err
		}
		return nil
	}
	if err := testpeer.OnFreePort(launch); err != nil {
		return nil, err
	}
	return s, nil
}

func writeTemplate(path string, mode os.FileMode, name string, data any) error {
	var b bytes.Buffer
	if err := shibTemplates.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("speers: render %s: %w", name, err)
	}
	if err := os.WriteFile(path, b.Bytes(), mode); err != nil {
		return fmt.Errorf("speers: write %s: %w", path, err)
	}
	return os.Chmod(path, mode)
}
