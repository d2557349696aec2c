package peers

import (
	"context"
	"net/http"
	"testing"
)

// server is a running IdP: the implementations differ only in their name,
// their URLs and how they are started.
type server struct {
	name     string
	entityID string // also where it serves its metadata
	ssoURL   string
	metadata []byte
	certPEM  []byte
}

func (s *server) Name() string           { return s.name }
func (s *server) EntityID() string       { return s.entityID }
func (s *server) SSOURL() string         { return s.ssoURL }
func (s *server) MetadataURL() string    { return s.entityID }
func (s *server) Metadata() []byte       { return append([]byte(nil), s.metadata...) }
func (s *server) CertificatePEM() []byte { return append([]byte(nil), s.certPEM...) }

func (s *server) Login(ctx context.Context, client *http.Client, ssoURL, userName, password string) (PostForm, error) {
	return browserLogin(ctx, client, ssoURL, userName, password)
}

// start is every StartX: it skips t (fails it when RequirePeersEnv is set)
// when the peer is not installed, checks the options, and runs launch,
// failing t on any error.
func start(t testing.TB, name string, opts IdPOptions, launch func(testing.TB, IdPOptions) (*server, error)) IdP {
	t.Helper()
	requireAvailable(t, name)
	opts, err := opts.normalized()
	if err != nil {
		t.Fatal(err)
	}
	idp, err := launch(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return idp
}
