package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Pair is a private key and its certificate.
type Pair struct {
	Signer      crypto.Signer
	Certificate *x509.Certificate
}

// LoadOrCreateRSA returns the RSA-2048 pair stored as NAME.key and NAME.crt
// in dir, generating both (the certificate self-signed for commonName,
// valid for validity from now) when neither exists.
func LoadOrCreateRSA(dir, name, commonName string, validity time.Duration, now time.Time) (Pair, error) {
	keyPath := filepath.Join(dir, name+".key")
	certPath := filepath.Join(dir, name+".crt")
	keyPEM, kerr := os.ReadFile(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	switch {
	case kerr == nil && cerr == nil:
		return parsePair(keyPath, keyPEM, certPath, certPEM)
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return Pair{}, fmt.Errorf("keys: %w", kerr)
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return Pair{}, fmt.Errorf("keys: %w", cerr)
	default:
		return Pair{}, fmt.Errorf("keys: %s and %s must both exist or both be absent", keyPath, certPath)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return Pair{}, err
	}
	if err := writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return Pair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %w", err)
	}
	return Pair{Signer: k, Certificate: cert}, nil
}

func parsePair(keyPath string, keyPEM []byte, certPath string, certPEM []byte) (Pair, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return Pair{}, fmt.Errorf("keys: %s: no PKCS#8 PRIVATE KEY block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return Pair{}, fmt.Errorf("keys: %s: not a signing key", keyPath)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return Pair{}, fmt.Errorf("keys: %s: no CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return Pair{}, fmt.Errorf("keys: %s: %w", certPath, err)
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return Pair{}, fmt.Errorf("keys: %s does not match the key in %s", certPath, keyPath)
	}
	return Pair{Signer: signer, Certificate: cert}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// LoadOrCreateSecret returns the random secret stored in dir/NAME.secret,
// creating it (size random bytes, 0600) when absent. A file of another size
// is an error, never replaced: the secret keys values partners depend on
// (persistent NameIDs). Processes creating the same secret at once on a
// shared keys.dir all end up with the one that was written first.
func LoadOrCreateSecret(dir, name string, size int) ([]byte, error) {
	path := filepath.Join(dir, name+".secret")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != size {
			return nil, fmt.Errorf("keys: %s holds %d bytes, want %d", path, len(b), size)
		}
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	b = make([]byte, size)
	_, _ = rand.Read(b)
	created, err := writeNew(path, b)
	if err != nil {
		return nil, err
	}
	if !created {
		// Another process (an instance starting beside this one on a
		// shared keys.dir) created it first: use that one, so every
		// instance holds the same secret.
		return LoadOrCreateSecret(dir, name, size)
	}
	return b, nil
}

// writeNew writes data to path only when path does not exist yet,
// atomically: the file appears complete (hard-linked from a synced
// temporary file) or not at all. It reports whether it created the file;
// false with no error means another writer got there first.
func writeNew(path string, data []byte) (created bool, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return false, fmt.Errorf("keys: %w", err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err = f.Chmod(0o600); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("keys: %w", err)
	}
	return true, nil
}
