package speers

import (
	"context"
	"crypto/x509"
	"net/http"
	"strconv"
	"testing"
)

// server is a running SP: the three implementations differ only in their
// name, their paths and how they are started.
type server struct {
	name       string
	entityPath string // path of the entity ID under base
	loginPath  string // path of the protected echo page
	acsPath    string
	base       string // http://127.0.0.1:PORT
	entityID   string
	metadata   []byte
	keys       spKeys
}

func (s *server) Name() string                          { return s.name }
func (s *server) EntityID() string                      { return s.entityID }
func (s *server) Metadata() []byte                      { return append([]byte(nil), s.metadata...) }
func (s *server) LoginURL() string                      { return s.base + s.loginPath }
func (s *server) ACSURL() string                        { return s.base + s.acsPath }
func (s *server) SigningCertificate() *x509.Certificate { return s.keys.signing.cert }
func (s *server) EncryptionCertificate() *x509.Certificate {
	if s.keys.encryption == nil {
		return nil
	}
	return s.keys.encryption.cert
}

func (s *server) Complete(ctx context.Context, client *http.Client, action, samlResponse, relayState string) (Result, error) {
	return complete(ctx, client, s.base, action, samlResponse, relayState)
}

// setup points s at port and gives it fresh keys, written to dir, and
// metadata for them.
func (s *server) setup(dir string, port int, o SPOptions) error {
	s.base = "http://127.0.0.1:" + strconv.Itoa(port)
	s.entityID = s.base + s.entityPath
	var err error
	if s.keys, err = newSPKeys(dir, s.entityID, o.EncryptAssertions); err != nil {
		return err
	}
	s.metadata = spMetadata(s.entityID, s.ACSURL(), s.keys, o.SignAuthnRequests)
	return nil
}

// start is every StartX: it skips t (fails it when RequirePeersEnv is set)
// when the SP is not installed, checks the options and the IdP metadata, and
// runs launch, failing t on any error.
func start(t testing.TB, name string, o SPOptions, launch func(testing.TB, SPOptions, idpInfo) (*server, error)) SP {
	t.Helper()
	requireAvailable(t, name)
	o, err := o.normalized()
	if err != nil {
		t.Fatal(err)
	}
	idp, err := parseIdPMetadata(o.IdPMetadata)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := launch(t, o, idp)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}
