package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// ErrMalformed is wrapped by every error Verify returns for a stored hash
// that does not parse, is not argon2id version 19, or whose parameters are
// outside the bounds of Params.Validate.
var ErrMalformed = errors.New("password: malformed hash")

// Config configures a Hasher.
type Config struct {
	// Params are the argon2id parameters for new hashes. The zero value
	// means DefaultParams().
	Params Params
	// MaxConcurrent bounds how many hashes run at once; each one takes
	// Params.Memory KiB (or, when verifying, the stored hash's memory, at
	// most MaxMemory). 0 means 2*runtime.GOMAXPROCS(0). It bounds memory
	// and CPU under a flood of sign-ins.
	MaxConcurrent int
	// Policy is the password policy returned by Hasher.Policy; zero fields
	// take their defaults.
	Policy Policy
}

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use.
type Hasher struct {
	params Params
	policy Policy
	// sem holds one token per running hash.
	sem chan struct{}
	// kdf is argon2.IDKey; tests substitute it.
	kdf kdfFunc
	// onWait, when set by tests, is called when a caller has to wait for a
	// concurrency slot, just before it blocks.
	onWait func()
}

// New validates cfg and returns a Hasher. The error names the offending
// field.
func New(cfg Config) (*Hasher, error) {
	params := cfg.Params
	if params == (Params{}) {
		params = DefaultParams()
	}
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("password: Config.Params: %w", err)
	}
	n := cfg.MaxConcurrent
	switch {
	case n < 0:
		return nil, fmt.Errorf("password: Config.MaxConcurrent %d is negative", n)
	case n == 0:
		n = 2 * runtime.GOMAXPROCS(0)
	}
	policy, err := cfg.Policy.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("password: Config.Policy: %w", err)
	}
	return &Hasher{
		params: params,
		policy: policy,
		sem:    make(chan struct{}, n),
		kdf:    argon2.IDKey,
	}, nil
}

// Policy returns the hasher's password policy with defaults filled in.
func (h *Hasher) Policy() Policy { return h.policy }

// Hash normalises password with NFKC and returns its argon2id hash in the
// PHC string format of the reference implementation and passlib:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with unpadded standard base64. It waits for a concurrency slot; if ctx
// ends while it waits, the returned error wraps ctx.Err().
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password (normalised with NFKC) matches encoded,
// comparing keys in constant time. A wrong password gives ok false and a
// nil error. An encoded string that does not parse, is not argon2id
// version 19, or whose parameters fail Params.Validate gives an error
// wrapping ErrMalformed, without hashing. needsRehash is true when ok and
// the stored parameters differ from the hasher's, so the caller should
// store a fresh Hash of the password. If ctx ends while waiting for a
// concurrency slot, err wraps ctx.Err().
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// Equalize does the work of a Verify against a hash with the hasher's
// parameters, and throws the result away. Call it when there is no hash to
// verify against (unknown user name, user without a password) so that the
// response time does not reveal which case occurred. It waits for a
// concurrency slot like Verify and returns early only if ctx ends while
// waiting.
func (h *Hasher) Equalize(ctx context.Context, password string) {
	salt := make([]byte, h.params.SaltLength)
	want := make([]byte, h.params.KeyLength)
	// A random salt and an all-zero key: the comparison cannot succeed in
	// practice, and the result is ignored anyway.
	_, _ = rand.Read(salt)
	got, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return
	}
	_ = subtle.ConstantTimeCompare(got, want)
}

// derive normalises password, waits for a slot and runs argon2id with p.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	pw := norm.NFKC.Bytes([]byte(password))
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	return h.kdf(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

// acquire takes a concurrency slot. A free slot is taken even when ctx is
// already done; only waiting is cancellable.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.onWait != nil {
		h.onWait()
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }
