package saml_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

const (
	idpEntityID = "https://idp.example.com/metadata"
	spEntityID  = "https://sp.example.com/saml/metadata"
	acsURL      = "https://eu.sp.example.com/saml/acs"
	requestID   = "_0123456789abcdef0123456789abcdef"
)

// keys holds the expensive RSA keys, generated once per test binary.
type keys struct {
	idp, idp2, other *samltest.IdP
	spKey            *rsa.PrivateKey
	spCert           *x509.Certificate
}

var update = flag.Bool("update", false, "regenerate the pinned test keys in testdata")

// pinnedKey loads (or with -update, regenerates) an RSA-2048 key and a
// self-signed certificate valid 2025-01-01 to 2045-01-01 from
// testdata/<name>.pem. Fuzz workers and the coordinator must share keys
// for the seed corpus to verify.
func pinnedKey(name string) (*rsa.PrivateKey, *x509.Certificate, error) {
	path := filepath.Join("testdata", name+".pem")
	if *update {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		der, err := samltest.SelfSignedCert(name, key,
			time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return nil, nil, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return nil, nil, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, err
			}
			key, _ = k.(*rsa.PrivateKey)
		case "CERTIFICATE":
			if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
				return nil, nil, err
			}
		}
	}
	if key == nil || cert == nil {
		return nil, nil, errors.New("testdata " + name + ": key or certificate missing")
	}
	return key, cert, nil
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

var testKeys = sync.OnceValues(func() (*keys, error) {
	var k keys
	idpKey, idpCert, err := pinnedKey("idp")
	if err != nil {
		return nil, err
	}
	if k.idp, err = samltest.NewIdPWithKey(idpEntityID, idpKey, idpCert.Raw); err != nil {
		return nil, err
	}
	if k.idp2, err = samltest.NewIdP(idpEntityID); err != nil {
		return nil, err
	}
	if k.other, err = samltest.NewIdP(idpEntityID); err != nil {
		return nil, err
	}
	if k.spKey, k.spCert, err = pinnedKey("sp"); err != nil {
		return nil, err
	}
	return &k, nil
})

func mustKeys(tb testing.TB) *keys {
	tb.Helper()
	k, err := testKeys()
	require.NoError(tb, err)
	return k
}

// testNow is the fixed request time of the tests (inside the generated
// certificates' validity).
func testNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

func baseOptions(now time.Time) samltest.ResponseOptions {
	return samltest.ResponseOptions{
		Now:          now,
		Destination:  acsURL,
		Audience:     spEntityID,
		InResponseTo: requestID,
		NameID:       "alice@example.com",
		NameIDFormat: samltest.NameIDFormatEmail,
		Attributes: map[string][]string{
			"email":       {"alice@example.com"},
			"displayName": {"Alice Example"},
			"groups":      {"admins", "engineering"},
		},
	}
}

func verifierConfig(k *keys) saml.VerifierConfig {
	return saml.VerifierConfig{
		IdPEntityID:    idpEntityID,
		Certificates:   []*x509.Certificate{k.idp.Certificate()},
		Audience:       spEntityID,
		DecryptionKey:  k.spKey,
		DecryptionCert: k.spCert,
	}
}

func newVerifier(tb testing.TB, cfg saml.VerifierConfig) *saml.Verifier {
	tb.Helper()
	v, err := saml.NewVerifier(cfg)
	require.NoError(tb, err)
	return v
}
