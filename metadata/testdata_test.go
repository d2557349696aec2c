package metadata

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "regenerate testdata/certs and testdata/*.xml")

// testCertSpecs lists the certificates of the fixtures. Only public
// certificates are kept: metadata signatures are not verified, so no private
// key is needed after generation.
var testCertSpecs = []struct {
	name     string
	key      func() (crypto.Signer, error)
	notAfter time.Time
}{
	{"okta", rsaKey(2048), date(2035, 1, 1)},
	{"entra-current", rsaKey(2048), date(2028, 3, 1)},
	{"entra-next", rsaKey(2048), date(2031, 3, 1)},
	{"adfs-signing", rsaKey(2048), date(2027, 6, 1)},
	{"adfs-signing-next", rsaKey(3072), date(2029, 6, 1)},
	{"adfs-encryption", rsaKey(2048), date(2027, 9, 1)},
	{"keycloak", rsaKey(2048), date(2035, 1, 1)},
	{"shibboleth", ecKey(elliptic.P384()), date(2045, 1, 1)},
	{"test-idp", rsaKey(2048), date(2040, 1, 1)},
	{"test-idp-next", ecKey(elliptic.P256()), date(2041, 1, 1)},
	{"weak-rsa1024", rsaKey(1024), date(2040, 1, 1)},
	{"weak-p224", ecKey(elliptic.P224()), date(2040, 1, 1)},
	{"ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }, date(2040, 1, 1)},
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

// TestTestdata renders testdata/templates/*.xml.tmpl with the certificates in
// testdata/certs and compares the result with testdata/*.xml. With -update it
// first generates fresh certificates, then rewrites the XML files.
func TestTestdata(t *testing.T) {
	if *update {
		require.NoError(t, os.MkdirAll("testdata/certs", 0o755))
		for _, s := range testCertSpecs {
			key, err := s.key()
			require.NoError(t, err)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(time.Now().UnixNano()),
				Subject:      pkix.Name{CommonName: s.name + ".metadata.test"},
				NotBefore:    date(2025, 1, 1),
				NotAfter:     s.notAfter,
				KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			require.NoError(t, err)
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
			require.NoError(t, os.WriteFile(filepath.Join("testdata/certs", s.name+".pem"), pemBytes, 0o644))
		}
	}
	certs := loadTestCerts(t)
	tmpls, err := filepath.Glob("testdata/templates/*.xml.tmpl")
	require.NoError(t, err)
	require.NotEmpty(t, tmpls)
	for _, path := range tmpls {
		got := renderTemplate(t, path, certs)
		out := filepath.Join("testdata", strings.TrimSuffix(filepath.Base(path), ".tmpl"))
		if *update {
			require.NoError(t, os.WriteFile(out, got, 0o644))
			continue
		}
		want, err := os.ReadFile(out)
		require.NoError(t, err, "run go test -run TestTestdata -update")
		require.Equal(t, string(want), string(got), "%s is out of date: run go test -run TestTestdata -update", out)
	}
}

// loadTestCerts returns the fixture certificates by name.
func loadTestCerts(t testing.TB) map[string]*x509.Certificate {
	t.Helper()
	certs := make(map[string]*x509.Certificate, len(testCertSpecs))
	for _, s := range testCertSpecs {
		b, err := os.ReadFile(filepath.Join("testdata/certs", s.name+".pem"))
		require.NoError(t, err)
		blk, _ := pem.Decode(b)
		require.NotNil(t, blk, s.name)
		c, err := x509.ParseCertificate(blk.Bytes)
		require.NoError(t, err)
		certs[s.name] = c
	}
	return certs
}

func b64(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

func renderTemplate(t testing.TB, path string, certs map[string]*x509.Certificate) []byte {
	t.Helper()
	get := func(name string) *x509.Certificate {
		c, ok := certs[name]
		require.True(t, ok, "unknown certificate %q in %s", name, path)
		return c
	}
	funcs := template.FuncMap{
		"cert": func(name string) string { return b64(get(name)) },
		"certWrapped": func(name string) string {
			s := b64(get(name))
			var lines []string
			for len(s) > 64 {
				lines = append(lines, s[:64])
				s = s[64:]
			}
			return strings.Join(append(lines, s), "\n")
		},
	}
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	tm, err := template.New(filepath.Base(path)).Funcs(funcs).Parse(string(src))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, tm.Execute(&buf, nil))
	return buf.Bytes()
}
