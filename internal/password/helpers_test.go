package password

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

// small are cheap parameters for tests where the cost does not matter.
func small() Params {
	return Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

func newHasher(t testing.TB, cfg Config) *Hasher {
	t.Helper()
	h, err := New(cfg)
	require.NoError(t, err)
	return h
}

// kdfCall records the arguments of one key derivation.
type kdfCall struct {
	Params Params
	Pass   string
}

// kdfSpy wraps argon2.IDKey and records every call.
type kdfSpy struct {
	mu    sync.Mutex
	calls []kdfCall
}

func (s *kdfSpy) kdf(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	s.mu.Lock()
	s.calls = append(s.calls, kdfCall{
		Params: Params{Memory: memory, Iterations: time, Parallelism: threads, SaltLength: uint32(len(salt)), KeyLength: keyLen},
		Pass:   string(password),
	})
	s.mu.Unlock()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

func (s *kdfSpy) Calls() []kdfCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]kdfCall(nil), s.calls...)
}

// spied returns a hasher for cfg whose key derivations are recorded.
func spied(t testing.TB, cfg Config) (*Hasher, *kdfSpy) {
	t.Helper()
	h := newHasher(t, cfg)
	spy := &kdfSpy{}
	h.kdf = spy.kdf
	return h, spy
}
