package password

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

// FuzzVerify feeds arbitrary stored hashes and passwords to Verify. It
// must never panic, must reject anything that is not a canonical argon2id
// v=19 PHC string with ErrMalformed, and must never ask the KDF for more
// than the Params bounds allow. The KDF is replaced by one that checks
// those bounds and only runs argon2 for cheap parameter sets, so that the
// fuzzer does not spend its time in 256 MiB hashes.
func FuzzVerify(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v.encoded, v.password)
		f.Add(strings.Replace(v.encoded, "argon2id", "argon2i", 1), v.password)
		f.Add(strings.Replace(v.encoded, "v=19", "v=16", 1), v.password)
	}
	v := referenceVectors[1].encoded
	f.Add(strings.Replace(v, "m=64", "m=4194304", 1), "x")
	f.Add(strings.Replace(v, "m=64", "m=262144", 1), "x")
	f.Add(strings.Replace(v, "t=1", "t=10", 1), "x")
	f.Add(strings.Replace(v, "p=1", "p=16", 1), "x")
	f.Add(v[:len(v)-10], "x")
	f.Add(v+"=", "x")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$", "")
	f.Add("$$$$$", "")
	f.Add("", "")

	f.Fuzz(func(t *testing.T, encoded, password string) {
		h := newHasher(t, Config{Params: small(), MaxConcurrent: 1})
		hashed := false
		h.kdf = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
			hashed = true
			p := Params{Memory: memory, Iterations: time, Parallelism: threads, SaltLength: uint32(len(salt)), KeyLength: keyLen}
			require.NoError(t, p.Validate(), "KDF called with out-of-bounds params")
			if memory <= 1024 && time <= 2 {
				return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
			}
			return make([]byte, keyLen)
		}

		ok, rehash, err := h.Verify(context.Background(), encoded, password)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.False(t, ok)
			require.False(t, rehash)
			require.False(t, hashed, "hashed a malformed encoding")
			return
		}
		require.True(t, hashed)
		require.True(t, ok || !rehash, "rehash advice only for a correct password")
		// Whatever was accepted is canonical: it re-encodes to itself.
		p, salt, key, err := parsePHC(encoded)
		require.NoError(t, err)
		require.NoError(t, p.Validate())
		require.Equal(t, encoded, encodePHC(p, salt, key))
		require.LessOrEqual(t, len(encoded), maxEncodedLength)
	})
}
