package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// registry is the idp.ServiceProviderRegistry: a fixed list of
// applications. A registry that refreshes metadata swaps the
// *idp.ServiceProvider values atomically instead.
type registry []*idp.ServiceProvider

func (r registry) ServiceProviderByEntityID(_ context.Context, entityID string) (*idp.ServiceProvider, error) {
	for _, sp := range r {
		if sp.EntityID == entityID {
			return sp, nil
		}
	}
	return nil, idp.ErrUnknownServiceProvider
}

func (r registry) ServiceProviderByID(_ context.Context, id string) (*idp.ServiceProvider, error) {
	for _, sp := range r {
		if sp.ID == id {
			return sp, nil
		}
	}
	return nil, idp.ErrUnknownServiceProvider
}

// stateStore is the idp.SSOStateStore, in memory. The mutex makes
// ConsumeSSOState atomic: of concurrent calls for one ID at most one gets
// the state. Several IdP instances would share a database instead.
type stateStore struct {
	mu     sync.Mutex
	states map[string]idp.PendingSSO
}

func newStateStore() *stateStore { return &stateStore{states: map[string]idp.PendingSSO{}} }

func (s *stateStore) SaveSSOState(_ context.Context, st idp.PendingSSO) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.states {
		if !old.ExpiresAt.After(st.CreatedAt) {
			delete(s.states, id)
		}
	}
	s.states[st.ID] = st
	return nil
}

func (s *stateStore) ConsumeSSOState(_ context.Context, id string, now time.Time) (idp.PendingSSO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[id]
	delete(s.states, id) // single use, valid or not
	if !ok || !st.ExpiresAt.After(now) {
		return idp.PendingSSO{}, idp.ErrNotFound
	}
	return st, nil
}

// staticKeys is the idp.KeySource: one RSA-2048 key generated at start-up
// with a self-signed certificate. A real key source loads keys from
// storage and, during a rotation, returns the next certificate from
// Certificates before SigningKey starts using it.
type staticKeys struct {
	signer *rsa.PrivateKey
	cert   *x509.Certificate
}

func newStaticKeys(cn string) (*staticKeys, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	der, err := samltest.SelfSignedCert(cn, key, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &staticKeys{signer: key, cert: cert}, nil
}

func (k *staticKeys) SigningKey(context.Context) (crypto.Signer, *x509.Certificate, error) {
	return k.signer, k.cert, nil
}

func (k *staticKeys) Certificates(context.Context) ([]*x509.Certificate, error) {
	return []*x509.Certificate{k.cert}, nil
}
