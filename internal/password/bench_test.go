package password

import (
	"context"
	"testing"
)

// reportRate reports per-core sign-ins per second (1e9 / ns per op) as
// "verifies/s". Argon2id with Parallelism 1 runs on one core.
func reportRate(b *testing.B) {
	b.Helper()
	if b.N == 0 {
		return
	}
	nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(1e9/nsPerOp, "verifies/s")
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkVerify(b *testing.B) {
	h := newHasher(b, Config{})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, _, err := h.Verify(ctx, enc, "correct horse battery staple")
		if err != nil || !ok {
			b.Fatalf("ok=%v err=%v", ok, err)
		}
	}
	reportRate(b)
}
