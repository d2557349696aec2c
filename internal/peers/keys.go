package peers

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// keyPair is a freshly generated RSA-2048 signing key and self-signed
// certificate, written as PEM files.
type keyPair struct {
	keyFile, certFile string
	certPEM           []byte
	certB64           []byte // base64 of the DER, as metadata carries it
}

func newKeyPair(dir, commonName string) (keyPair, error) {
	key, cert, err := testpeer.SelfSigned(commonName, x509.KeyUsageDigitalSignature)
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: marshal key: %w", err)
	}
	kp := keyPair{
		keyFile:  filepath.Join(dir, "idp.key"),
		certFile: filepath.Join(dir, "idp.crt"),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		certB64:  []byte(base64.StdEncoding.EncodeToString(cert.Raw)),
	}
	if err := os.WriteFile(kp.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return keyPair{}, fmt.Errorf("peers: write key: %w", err)
	}
	if err := os.WriteFile(kp.certFile, kp.certPEM, 0o644); err != nil {
		return keyPair{}, fmt.Errorf("peers: write certificate: %w", err)
	}
	return kp, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// mkdirs creates each directory (and parents).
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("peers: mkdir %s: %w", d, err)
		}
	}
	return nil
}
