package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceVectors were produced by the argon2 reference implementation
// (libargon2 20171227, argon2id_hash_encoded) for interoperability.
var referenceVectors = []struct {
	name, password, encoded string
	params                  Params
}{
	{
		name:     "OWASP defaults",
		password: "correct horse battery staple",
		encoded:  "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$gy5SuVm5Z7Vw7keB9se9p87QGcomaseB/S2U1OhTsM0",
		params:   DefaultParams(),
	},
	{
		name:     "small, composed e-acute",
		password: "caf\u00e9 au lait!",
		encoded:  "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$deXn5QmnWIouaqHp+7nATCYKs/VKlaRnZqKxhLlAaos",
		params:   small(),
	},
	{
		name:     "two lanes, 24-byte salt, 48-byte key",
		password: "hunter2hunter2",
		encoded:  "$argon2id$v=19$m=256,t=3,p=2$QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB$QrJjUWzl1JPm2sOd5k/SYMxNiBRoNsqTVHfMrgc9EJqXPlhg2dh6DZq5kLoNq0j1",
		params:   Params{Memory: 256, Iterations: 3, Parallelism: 2, SaltLength: 24, KeyLength: 48},
	},
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, p := range []Params{
		small(),
		{Memory: 128, Iterations: 2, Parallelism: 2, SaltLength: 32, KeyLength: 64},
		{Memory: 16, Iterations: 1, Parallelism: 2, SaltLength: 64, KeyLength: 16},
	} {
		t.Run(fmt.Sprintf("m=%d,t=%d,p=%d,s=%d,k=%d", p.Memory, p.Iterations, p.Parallelism, p.SaltLength, p.KeyLength), func(t *testing.T) {
			h := newHasher(t, Config{Params: p})
			enc, err := h.Hash(ctx, "correct horse battery staple")
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(enc, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Iterations, p.Parallelism)), enc)

			got, salt, key, err := parsePHC(enc)
			require.NoError(t, err)
			assert.Equal(t, p, got)
			assert.Len(t, salt, int(p.SaltLength))
			assert.Len(t, key, int(p.KeyLength))
			assert.Equal(t, enc, encodePHC(got, salt, key), "encoding is canonical")

			ok, rehash, err := h.Verify(ctx, enc, "correct horse battery staple")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.False(t, rehash)

			enc2, err := h.Hash(ctx, "correct horse battery staple")
			require.NoError(t, err)
			assert.NotEqual(t, enc, enc2, "salt is random")
		})
	}
}

func TestReferenceVectors(t *testing.T) {
	ctx := context.Background()
	for _, v := range referenceVectors {
		t.Run(v.name, func(t *testing.T) {
			h := newHasher(t, Config{Params: v.params})
			ok, rehash, err := h.Verify(ctx, v.encoded, v.password)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.False(t, rehash, "hasher params equal the vector's")

			ok, _, err = h.Verify(ctx, v.encoded, v.password+"x")
			require.NoError(t, err)
			assert.False(t, ok)

			p, salt, key, err := parsePHC(v.encoded)
			require.NoError(t, err)
			assert.Equal(t, v.params, p)
			assert.Equal(t, v.encoded, encodePHC(p, salt, key))
		})
	}
}

func TestVerifyWrongPassword(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, Config{Params: small()})
	const pw = "Tr0ub4dor&3 staple"
	enc, err := h.Hash(ctx, pw)
	require.NoError(t, err)

	ok, _, err := h.Verify(ctx, enc, pw)
	require.NoError(t, err)
	require.True(t, ok, "baseline")

	for name, wrong := range map[string]string{
		"one char changed": "Tr0ub4dor&4 staple",
		"case changed":     "tr0ub4dor&3 staple",
		"trailing space":   pw + " ",
		"truncated":        pw[:len(pw)-1],
		"empty":            "",
	} {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, enc, wrong)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.False(t, rehash)
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	h, spy := spied(t, Config{Params: small()})
	valid, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	_, salt, key, err := parsePHC(valid)
	require.NoError(t, err)
	saltB64, keyB64 := b64.EncodeToString(salt), b64.EncodeToString(key)

	ok, _, err := h.Verify(ctx, valid, pw)
	require.NoError(t, err)
	require.True(t, ok, "baseline verifies")

	replace := func(old, new string) string {
		require.Contains(t, valid, old)
		return strings.Replace(valid, old, new, 1)
	}
	withSalt := func(n int) string { return replace(saltB64, b64.EncodeToString(make([]byte, n))) }
	withKey := func(n int) string { return replace(keyB64, b64.EncodeToString(make([]byte, n))) }
	// Flip the last salt character to one whose unused low bits are set:
	// 16 bytes encode to 22 characters, the last of which carries 2 bits.
	lastSalt := saltB64[len(saltB64)-1]
	nonCanonical := saltB64[:len(saltB64)-1] + string(b64Alphabet[strings.IndexByte(b64Alphabet, lastSalt)|1])

	cases := map[string]string{
		"empty":                   "",
		"wrong alg argon2i":       replace("$argon2id$", "$argon2i$"),
		"wrong alg argon2d":       replace("$argon2id$", "$argon2d$"),
		"alg upper case":          replace("$argon2id$", "$ARGON2ID$"),
		"wrong version v=16":      replace("$v=19$", "$v=16$"),
		"version missing":         replace("$v=19$", "$"),
		"version unparsable":      replace("$v=19$", "$v=19x$"),
		"no leading dollar":       valid[1:],
		"key missing":             strings.TrimSuffix(valid, "$"+keyB64),
		"key empty":               strings.TrimSuffix(valid, keyB64),
		"salt empty":              replace("$"+saltB64+"$", "$$"),
		"extra field":             valid + "$" + keyB64,
		"params missing p":        replace("m=64,t=1,p=1", "m=64,t=1"),
		"params extra":            replace("m=64,t=1,p=1", "m=64,t=1,p=1,k=1"),
		"params out of order":     replace("m=64,t=1,p=1", "t=1,m=64,p=1"),
		"params leading zero":     replace("m=64,", "m=064,"),
		"params sign":             replace("m=64,", "m=+64,"),
		"params empty value":      replace("t=1,", "t=,"),
		"params not decimal":      replace("t=1,", "t=0x1,"),
		"memory huge m=4194304":   replace("m=64,", "m=4194304,"),
		"memory above max":        replace("m=64,", fmt.Sprintf("m=%d,", MaxMemory+1)),
		"memory overflows uint32": replace("m=64,", "m=4294967296,"),
		"memory below 8 per lane": replace("m=64,t=1,p=1", "m=64,t=1,p=9"),
		"iterations zero":         replace("t=1,", "t=0,"),
		"iterations above max":    replace("t=1,", "t=11,"),
		"parallelism zero":        replace("p=1$", "p=0$"),
		"parallelism above max":   replace("p=1$", "p=17$"),
		"parallelism overflows":   replace("p=1$", "p=257$"),
		"salt too short":          withSalt(MinSaltLength - 1),
		"salt too long":           withSalt(MaxSaltLength + 1),
		"key too short":           withKey(MinKeyLength - 1),
		"key too long":            withKey(MaxKeyLength + 1),
		"bad base64 in salt":      replace(saltB64, "!"+saltB64[1:]),
		"bad base64 in key":       replace(keyB64, "*"+keyB64[1:]),
		"url-safe base64":         replace(keyB64, "-"+keyB64[1:]),
		"padded key":              valid + "=",
		"newline in key":          replace(keyB64, keyB64[:4]+"\n"+keyB64[4:]),
		"base64 impossible len":   replace(saltB64, b64.EncodeToString(make([]byte, 24))+"A"),
		"non-canonical salt bits": replace(saltB64, nonCanonical),
		"very long":               valid + strings.Repeat("A", 1<<20),
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, valid, enc)
			before := len(spy.Calls())
			ok, rehash, err := h.Verify(ctx, enc, pw)
			require.ErrorIs(t, err, ErrMalformed)
			assert.False(t, ok)
			assert.False(t, rehash)
			assert.Len(t, spy.Calls(), before, "no hashing for a malformed hash")
		})
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	base := small()
	enc, err := newHasher(t, Config{Params: base}).Hash(ctx, pw)
	require.NoError(t, err)

	cases := map[string]func(p *Params){
		"same params":  func(*Params) {},
		"memory":       func(p *Params) { p.Memory = 128 },
		"iterations":   func(p *Params) { p.Iterations = 2 },
		"parallelism":  func(p *Params) { p.Parallelism = 2 },
		"salt length":  func(p *Params) { p.SaltLength = 32 },
		"key length":   func(p *Params) { p.KeyLength = 16 },
		"all defaults": func(p *Params) { *p = DefaultParams() },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := base
			mutate(&p)
			h, spy := spied(t, Config{Params: p})

			ok, rehash, err := h.Verify(ctx, enc, pw)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, p != base, rehash)
			// The stored parameters, not the hasher's, are used to verify.
			calls := spy.Calls()
			require.Len(t, calls, 1)
			assert.Equal(t, base, calls[0].Params)

			ok, rehash, err = h.Verify(ctx, enc, pw+"!")
			require.NoError(t, err)
			assert.False(t, ok)
			assert.False(t, rehash, "no rehash advice for a wrong password")
		})
	}
}

func TestNFKC(t *testing.T) {
	ctx := context.Background()
	h, spy := spied(t, Config{Params: small()})
	cases := []struct {
		name, stored, typed string
		same                bool
	}{
		{"composed vs decomposed e-acute", "caf\u00e9 au lait!", "cafe\u0301 au lait!", true},
		{"decomposed vs composed", "Åland-\u1e9b\u0323-x", "A\u030aland-\u017f\u0323\u0307-x", true},
		{"hangul syllable vs jamo", "\ud55c\uad6d-password", "\u1112\u1161\u11ab\u1100\u116e\u11a8-password", true},
		{"fullwidth vs ascii", "\uff50\uff41\uff53\uff53-phrase", "pass-phrase", true},
		{"ligature vs letters", "\ufb01ne-print-9", "fine-print-9", true},
		{"accent vs none differs", "caf\u00e9 au lait!", "cafe au lait!", false},
		{"different accent differs", "caf\u00e9 au lait!", "caf\u00e8 au lait!", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := h.Hash(ctx, c.stored)
			require.NoError(t, err)
			ok, _, err := h.Verify(ctx, enc, c.typed)
			require.NoError(t, err)
			assert.Equal(t, c.same, ok)
			ok, _, err = h.Verify(ctx, enc, c.stored)
			require.NoError(t, err)
			assert.True(t, ok, "stored form verifies")
		})
	}
	// The reference implementation hashed the composed form; the decomposed
	// form verifies against it because it is normalised to NFKC (here the
	// composed form) before hashing.
	v := referenceVectors[1]
	ok, _, err := h.Verify(ctx, v.encoded, "cafe\u0301 au lait!")
	require.NoError(t, err)
	assert.True(t, ok)
	calls := spy.Calls()
	assert.Equal(t, "caf\u00e9 au lait!", calls[len(calls)-1].Pass, "argon2 sees the NFKC form")
}

func TestEqualizeDoesVerifyWork(t *testing.T) {
	ctx := context.Background()
	for _, p := range []Params{small(), {Memory: 96, Iterations: 2, Parallelism: 3, SaltLength: 24, KeyLength: 48}} {
		h, spy := spied(t, Config{Params: p})
		enc, err := h.Hash(ctx, "some password")
		require.NoError(t, err)
		_, _, err = h.Verify(ctx, enc, "other password")
		require.NoError(t, err)
		h.Equalize(ctx, "other password")

		calls := spy.Calls()
		require.Len(t, calls, 3)
		assert.Equal(t, calls[1], calls[2], "Equalize derives exactly what Verify derives")
		assert.Equal(t, p, calls[2].Params)
	}
}

func TestConcurrencyCancelledWhileSlotHeld(t *testing.T) {
	h, spy := spied(t, Config{Params: small(), MaxConcurrent: 1})
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	require.NoError(t, err)
	require.Len(t, spy.Calls(), 1)

	h.sem <- struct{}{} // hold the only slot

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	for name, tc := range map[string]struct {
		ctx  context.Context
		want error
	}{
		"cancelled": {cancelled, context.Canceled},
		"deadline":  {expired, context.DeadlineExceeded},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := h.Hash(tc.ctx, "correct horse battery staple")
			require.ErrorIs(t, err, tc.want)
			assert.Empty(t, got)

			ok, rehash, err := h.Verify(tc.ctx, enc, "correct horse battery staple")
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, ErrMalformed)
			assert.False(t, ok)
			assert.False(t, rehash)

			h.Equalize(tc.ctx, "correct horse battery staple") // returns
		})
	}
	assert.Len(t, spy.Calls(), 1, "nothing hashed while the slot was held")

	<-h.sem // release: a free slot is taken even with a done context
	_, err = h.Hash(cancelled, "correct horse battery staple")
	require.NoError(t, err)
	h.Equalize(cancelled, "correct horse battery staple")
	assert.Len(t, spy.Calls(), 3)
	assert.Empty(t, h.sem, "slots are released")
}

func TestConcurrencyWaiterProceedsOnRelease(t *testing.T) {
	h := newHasher(t, Config{Params: small(), MaxConcurrent: 1})
	waiting := make(chan struct{}, 1)
	h.onWait = func() { waiting <- struct{}{} }

	h.sem <- struct{}{} // hold the only slot
	type result struct {
		enc string
		err error
	}
	done := make(chan result, 1)
	go func() {
		enc, err := h.Hash(context.Background(), "correct horse battery staple")
		done <- result{enc, err}
	}()
	<-waiting // the goroutine found no free slot and is about to block
	select {
	case r := <-done:
		t.Fatalf("Hash finished while the slot was held: %+v", r)
	default:
	}
	<-h.sem // release
	r := <-done
	require.NoError(t, r.err)
	ok, _, err := h.Verify(context.Background(), r.enc, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			const callers = 7
			h := newHasher(t, Config{Params: small(), MaxConcurrent: limit})
			var inFlight, peak atomic.Int32
			entered := make(chan struct{}, callers)
			waited := make(chan struct{}, callers)
			gate := make(chan struct{})
			h.onWait = func() { waited <- struct{}{} }
			h.kdf = func(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				entered <- struct{}{}
				<-gate
				inFlight.Add(-1)
				return make([]byte, keyLen)
			}

			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					switch i % 3 {
					case 0:
						_, err := h.Hash(context.Background(), "pw")
						assert.NoError(t, err)
					case 1:
						_, _, err := h.Verify(context.Background(), referenceVectors[1].encoded, "pw")
						assert.NoError(t, err)
					default:
						h.Equalize(context.Background(), "pw")
					}
				})
			}
			// Every caller has either entered the KDF or is blocked waiting.
			for range limit {
				<-entered
			}
			for range callers - limit {
				<-waited
			}
			assert.Equal(t, int32(limit), inFlight.Load())
			close(gate)
			wg.Wait()
			assert.Equal(t, int32(limit), peak.Load())
			assert.Len(t, entered, callers-limit, "the waiters ran after the gate opened")
			assert.Empty(t, h.sem)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	h := newHasher(t, Config{})
	assert.Equal(t, DefaultParams(), h.params)
	assert.Equal(t, 2*runtime.GOMAXPROCS(0), cap(h.sem))
	assert.Equal(t, Policy{MinLength: 12, MaxLength: 128}, h.Policy())

	h = newHasher(t, Config{Params: small(), MaxConcurrent: 5, Policy: Policy{MinLength: 8}})
	assert.Equal(t, small(), h.params)
	assert.Equal(t, 5, cap(h.sem))
	assert.Equal(t, Policy{MinLength: 8, MaxLength: 128}, h.Policy())
}

func TestDefaultParams(t *testing.T) {
	// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
	assert.Equal(t, Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, DefaultParams())
	assert.NoError(t, DefaultParams().Validate())
}

func TestNewRejectsBadConfig(t *testing.T) {
	valid := Config{Params: small(), MaxConcurrent: 4, Policy: Policy{MinLength: 10, MaxLength: 64}}
	_, err := New(valid)
	require.NoError(t, err, "baseline")

	cases := []struct {
		name   string
		mutate func(c *Config)
		field  string
	}{
		{"memory zero", func(c *Config) { c.Params.Memory = 0 }, "Memory"},
		{"memory below 8 per lane", func(c *Config) { c.Params.Parallelism = 4; c.Params.Memory = 31 }, "Memory"},
		{"memory above max", func(c *Config) { c.Params.Memory = MaxMemory + 1 }, "Memory"},
		{"memory 4 GiB", func(c *Config) { c.Params.Memory = 4 << 20 }, "Memory"},
		{"iterations zero", func(c *Config) { c.Params.Iterations = 0 }, "Iterations"},
		{"iterations above max", func(c *Config) { c.Params.Iterations = 11 }, "Iterations"},
		{"parallelism zero", func(c *Config) { c.Params.Parallelism = 0 }, "Parallelism"},
		{"parallelism above max", func(c *Config) { c.Params.Parallelism = 17; c.Params.Memory = 17 * 8 }, "Parallelism"},
		{"salt too short", func(c *Config) { c.Params.SaltLength = 15 }, "SaltLength"},
		{"salt too long", func(c *Config) { c.Params.SaltLength = 65 }, "SaltLength"},
		{"key too short", func(c *Config) { c.Params.KeyLength = 15 }, "KeyLength"},
		{"key too long", func(c *Config) { c.Params.KeyLength = 65 }, "KeyLength"},
		{"max concurrent negative", func(c *Config) { c.MaxConcurrent = -1 }, "MaxConcurrent"},
		{"min length below 8", func(c *Config) { c.Policy.MinLength = 7 }, "MinLength"},
		{"min length negative", func(c *Config) { c.Policy.MinLength = -1 }, "MinLength"},
		{"max length below min", func(c *Config) { c.Policy.MaxLength = 9 }, "MaxLength"},
		{"max length default below min", func(c *Config) { c.Policy = Policy{MinLength: 129} }, "MaxLength"},
		{"max length above 1024", func(c *Config) { c.Policy.MaxLength = 1025 }, "MaxLength"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			c.mutate(&cfg)
			h, err := New(cfg)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), c.field)
		})
	}

	// Boundaries are accepted.
	for name, mutate := range map[string]func(c *Config){
		"memory 8 per lane": func(c *Config) { c.Params.Parallelism = 16; c.Params.Memory = 128 },
		"memory max":        func(c *Config) { c.Params.Memory = MaxMemory },
		"iterations max":    func(c *Config) { c.Params.Iterations = 10 },
		"salt and key max":  func(c *Config) { c.Params.SaltLength, c.Params.KeyLength = 64, 64 },
		"salt and key min":  func(c *Config) { c.Params.SaltLength, c.Params.KeyLength = 16, 16 },
		"policy floor":      func(c *Config) { c.Policy = Policy{MinLength: 8, MaxLength: 8} },
		"policy ceiling":    func(c *Config) { c.Policy = Policy{MinLength: 1024, MaxLength: 1024} },
	} {
		t.Run("accept "+name, func(t *testing.T) {
			cfg := valid
			mutate(&cfg)
			_, err := New(cfg)
			require.NoError(t, err)
		})
	}
}

func TestParamsValidateJoinsErrors(t *testing.T) {
	err := Params{}.Validate()
	require.Error(t, err)
	for _, f := range []string{"Memory", "Iterations", "Parallelism", "SaltLength", "KeyLength"} {
		assert.Contains(t, err.Error(), f)
	}
	assert.False(t, errors.Is(err, ErrMalformed), "config errors are not malformed-hash errors")
}
