package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on Params. They apply both to the hasher's own configuration and
// to every parameter set read back from a stored hash, so that a tampered
// or corrupted hash cannot make Verify allocate or compute without bound.
const (
	// MaxMemory is the largest accepted argon2id memory cost in KiB (256 MiB).
	MaxMemory = 262144
	// MaxIterations is the largest accepted argon2id time cost.
	MaxIterations = 10
	// MaxParallelism is the largest accepted argon2id lane count.
	MaxParallelism = 16
	// MinSaltLength and MaxSaltLength bound the salt length in bytes.
	MinSaltLength = 16
	MaxSaltLength = 64
	// MinKeyLength and MaxKeyLength bound the derived key length in bytes.
	MinKeyLength = 16
	MaxKeyLength = 64
)

// phcAlgorithm and phcVersion are the only algorithm and version accepted.
const (
	phcAlgorithm = "argon2id"
	phcVersion   = "v=19"
	// maxEncodedLength bounds the size of a stored hash we try to parse:
	// the longest valid encoding (10-digit memory, 86-character salt and
	// key) is well under it.
	maxEncodedLength = 256
)

// Params are argon2id parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultParams returns the OWASP Password Storage Cheat Sheet minimum for
// argon2id: m=19456 KiB (19 MiB), t=2, p=1, with a 16-byte salt and a
// 32-byte key.
func DefaultParams() Params {
	return Params{
		Memory:      19456,
		Iterations:  2,
		Parallelism: 1,
		SaltLength:  16,
		KeyLength:   32,
	}
}

// Validate reports whether p is within the accepted bounds: Memory at least
// 8*Parallelism KiB (the argon2 minimum) and at most MaxMemory, Iterations
// 1..10, Parallelism 1..16, SaltLength 16..64 and KeyLength 16..64. The
// error names the offending field.
func (p Params) Validate() error {
	var errs []error
	if p.Parallelism < 1 || p.Parallelism > MaxParallelism {
		errs = append(errs, fmt.Errorf("Parallelism %d out of range 1..%d", p.Parallelism, MaxParallelism))
	}
	if minMem := 8 * uint32(max(p.Parallelism, 1)); p.Memory < minMem || p.Memory > MaxMemory {
		errs = append(errs, fmt.Errorf("Memory %d KiB out of range %d..%d (at least 8 KiB per lane)", p.Memory, minMem, MaxMemory))
	}
	if p.Iterations < 1 || p.Iterations > MaxIterations {
		errs = append(errs, fmt.Errorf("Iterations %d out of range 1..%d", p.Iterations, MaxIterations))
	}
	if p.SaltLength < MinSaltLength || p.SaltLength > MaxSaltLength {
		errs = append(errs, fmt.Errorf("SaltLength %d out of range %d..%d", p.SaltLength, MinSaltLength, MaxSaltLength))
	}
	if p.KeyLength < MinKeyLength || p.KeyLength > MaxKeyLength {
		errs = append(errs, fmt.Errorf("KeyLength %d out of range %d..%d", p.KeyLength, MinKeyLength, MaxKeyLength))
	}
	return errors.Join(errs...)
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict rejects non-zero trailing bits, so every salt and key has exactly
// one accepted encoding.
var b64 = base64.RawStdEncoding.Strict()

// encodePHC formats an argon2id hash in the PHC string format used by the
// reference implementation and passlib:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
func encodePHC(p Params, salt, key []byte) string {
	var b strings.Builder
	b.Grow(64 + b64.EncodedLen(len(salt)) + b64.EncodedLen(len(key)))
	b.WriteString("$" + phcAlgorithm + "$" + phcVersion + "$m=")
	b.WriteString(strconv.FormatUint(uint64(p.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(p.Iterations), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(p.Parallelism), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(key))
	return b.String()
}

// parsePHC parses an encoding produced by encodePHC. It accepts only
// argon2id version 19 (0x13) with the parameters in the canonical order
// m, t, p, and rejects any parameter set that fails Validate before
// decoding or allocating anything proportional to it. Every error wraps
// ErrMalformed.
func parsePHC(encoded string) (Params, []byte, []byte, error) {
	fail := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if len(encoded) > maxEncodedLength {
		return fail("%d bytes, longer than %d", len(encoded), maxEncodedLength)
	}
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return fail("want 5 '$'-separated fields after a leading '$', got %d", len(fields)-1)
	}
	if fields[1] != phcAlgorithm {
		return fail("algorithm %q, want %q", fields[1], phcAlgorithm)
	}
	if fields[2] != phcVersion {
		return fail("version %q, want %q", fields[2], phcVersion)
	}
	var p Params
	kv := strings.Split(fields[3], ",")
	if len(kv) != 3 {
		return fail("parameters %q: want m=,t=,p=", fields[3])
	}
	m, err := parseParam(kv[0], "m", 32)
	if err != nil {
		return fail("%w", err)
	}
	t, err := parseParam(kv[1], "t", 32)
	if err != nil {
		return fail("%w", err)
	}
	par, err := parseParam(kv[2], "p", 8)
	if err != nil {
		return fail("%w", err)
	}
	p.Memory, p.Iterations, p.Parallelism = uint32(m), uint32(t), uint8(par)

	saltField, keyField := fields[4], fields[5]
	if !isB64(saltField) || !isB64(keyField) {
		return fail("salt or key is not unpadded standard base64")
	}
	// Bound the lengths before decoding: nothing is allocated for a field
	// that could not pass Validate anyway.
	p.SaltLength = uint32(b64.DecodedLen(len(saltField)))
	p.KeyLength = uint32(b64.DecodedLen(len(keyField)))
	if err := p.Validate(); err != nil {
		return fail("parameters: %w", err)
	}
	salt, err := b64.DecodeString(saltField)
	if err != nil {
		return fail("salt: %w", err)
	}
	key, err := b64.DecodeString(keyField)
	if err != nil {
		return fail("key: %w", err)
	}
	return p, salt, key, nil
}

// parseParam parses "name=<decimal>" with no sign, no leading zeros and a
// value that fits in bits.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("parameter %q: want %s=", s, name)
	}
	if v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("parameter %s=%q: not a canonical decimal", name, v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("parameter %s=%q: not a canonical decimal", name, v)
		}
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("parameter %s: %w", name, err)
	}
	return n, nil
}

// isB64 reports whether s is non-empty and uses only the standard base64
// alphabet. The decoder alone would silently skip '\r' and '\n'.
func isB64(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// kdfFunc has the signature of argon2.IDKey; tests substitute it to observe
// concurrency without burning CPU.
type kdfFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// compile-time check that argon2.IDKey fits kdfFunc.
var _ kdfFunc = argon2.IDKey
