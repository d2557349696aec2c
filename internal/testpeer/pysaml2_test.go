package testpeer

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "settings.json")
	require.NoError(t, WriteJSON(file, map[string]any{"port": 8080, "name": "a\"b"}))
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, map[string]any{"port": 8080.0, "name": "a\"b"}, got)

	require.Error(t, WriteJSON(file, map[string]any{"f": func() {}}), "unencodable")
	require.Error(t, WriteJSON(filepath.Join(t.TempDir(), "no", "dir.json"), 1), "unwritable")
}

func TestWritePyAttributeMap(t *testing.T) {
	dir := t.TempDir()
	fro := map[string]string{"urn:oid:0.9.2342.19200300.100.1.3": "email"}
	to := map[string]string{"email": "urn:oid:0.9.2342.19200300.100.1.3"}
	require.NoError(t, WritePyAttributeMap(dir, "gh_uri", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", fro, to))

	b, err := os.ReadFile(filepath.Join(dir, "gh_uri.py"))
	require.NoError(t, err)
	_, dict, ok := strings.Cut(string(b), "\nMAP = ")
	require.True(t, ok, "a MAP assignment: %s", b)
	var got struct {
		Identifier string            `json:"identifier"`
		Fro        map[string]string `json:"fro"`
		To         map[string]string `json:"to"`
	}
	require.NoError(t, json.Unmarshal([]byte(dict), &got))
	assert.Equal(t, "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", got.Identifier)
	assert.Equal(t, fro, got.Fro)
	assert.Equal(t, to, got.To)
	_, err = os.Stat(filepath.Join(dir, "__init__.py"))
	require.NoError(t, err)
}

func TestStartPython(t *testing.T) {
	ok, hint := Installed("apt-get install python3", PythonBin)
	Require(t, "python3", ok, hint)
	dir := t.TempDir()
	script := filepath.Join(dir, "app.py")
	require.NoError(t, os.WriteFile(script, []byte(`import json, os, sys, time
with open(sys.argv[1]) as fh:
    s = json.load(fh)
with open(s["out"], "w") as fh:
    fh.write("%s %s %s\n" % (s["greeting"], os.environ.get("PYTHONDONTWRITEBYTECODE"), os.getcwd()))
time.sleep(60)
`), 0o644))
	out := filepath.Join(dir, "out")
	p, err := StartPython(t, "app", dir, script, map[string]any{"greeting": "hello", "out": out})
	require.NoError(t, err)
	require.NoError(t, p.WaitFile(out, []byte("\n")))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "hello 1 "+dir+"\n", string(b))
}

func TestSelfSigned(t *testing.T) {
	key, cert, err := SelfSigned("test peer", x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	assert.Equal(t, "test peer", cert.Subject.CommonName)
	assert.Equal(t, x509.KeyUsageKeyEncipherment, cert.KeyUsage)
	assert.Equal(t, 2048, key.N.BitLen())
	assert.True(t, key.PublicKey.Equal(cert.PublicKey.(*rsa.PublicKey)))
	require.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature), "self-signed")
	now := time.Now()
	assert.True(t, cert.NotBefore.Before(now) && cert.NotAfter.After(now))

	_, other, err := SelfSigned("test peer", x509.KeyUsageKeyEncipherment)
	require.NoError(t, err)
	assert.NotEqual(t, cert.SerialNumber, other.SerialNumber)
}
