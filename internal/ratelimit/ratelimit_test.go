package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func TestFailureLimiterBurstAndRate(t *testing.T) {
	l := NewFailures(3, 3*time.Minute, 100)
	now := testNow
	for i := range 3 {
		ok, _ := l.Take(now, "a")
		require.True(t, ok, "failure %d of the burst", i+1)
	}
	ok, wait := l.Take(now, "a")
	assert.False(t, ok)
	assert.Equal(t, time.Minute, wait)
	ok, _ = l.Take(now, "b")
	assert.True(t, ok, "keys are independent")

	ok, wait = l.Take(now.Add(59*time.Second), "a")
	assert.False(t, ok)
	assert.Equal(t, time.Second, wait)
	ok, _ = l.Take(now.Add(time.Minute), "a")
	assert.True(t, ok, "one more per window/max")
	ok, _ = l.Take(now.Add(time.Minute), "a")
	assert.False(t, ok)
}

func TestFailureLimiterAllKeysOrNone(t *testing.T) {
	l := NewFailures(2, 2*time.Minute, 100)
	for range 2 {
		ok, _ := l.Take(testNow, "user:a", "addr:x")
		require.True(t, ok)
	}
	ok, _ := l.Take(testNow, "user:b", "addr:x")
	assert.False(t, ok, "the address is over its limit")
	assert.Equal(t, 2, l.Size(), "nothing was charged to user:b")
	ok, _ = l.Take(testNow, "user:b", "addr:y")
	assert.True(t, ok)
}

func TestFailureLimiterRefund(t *testing.T) {
	l := NewFailures(2, 2*time.Minute, 100)
	for range 10 {
		ok, _ := l.Take(testNow, "a")
		require.True(t, ok)
		l.Refund(testNow, "a")
	}
	assert.Zero(t, l.Size(), "a refunded key leaves the table")

	ok, _ := l.Take(testNow, "a")
	require.True(t, ok)
	ok, _ = l.Take(testNow, "a")
	require.True(t, ok)
	l.Refund(testNow, "a")
	assert.Equal(t, 1, l.Size(), "one charge is left")
	ok, _ = l.Take(testNow, "a")
	assert.True(t, ok)
	ok, _ = l.Take(testNow, "a")
	assert.False(t, ok, "positive control: two charges are the limit")
	l.Refund(testNow, "unknown") // no effect, no panic
}

func TestFailureLimiterBounded(t *testing.T) {
	l := NewFailures(10, 10*time.Minute, 3)
	for _, k := range []string{"a", "b", "c"} {
		ok, _ := l.Take(testNow, k)
		require.True(t, ok, k)
	}
	ok, wait := l.Take(testNow, "d")
	assert.False(t, ok, "a full table refuses new keys")
	assert.Equal(t, time.Minute, wait)
	ok, _ = l.Take(testNow, "a")
	assert.True(t, ok, "keys in the table go on")
	ok, _ = l.Take(testNow, "c", "d")
	assert.False(t, ok, "a new key among known ones is refused too")
	assert.Equal(t, 3, l.Size())

	// "b" and "c" recover a minute later ("a" failed twice): room again.
	later := testNow.Add(time.Minute)
	ok, _ = l.Take(later, "d", "e")
	assert.True(t, ok, "recovered keys are swept")
	assert.Equal(t, 3, l.Size())
	ok, _ = l.Take(later, "f")
	assert.False(t, ok)
}

func TestFailureLimiterConcurrent(t *testing.T) {
	l := NewFailures(10, 10*time.Minute, 100)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _ := l.Take(testNow, "user:a", "addr:x"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(10), allowed.Load(), "concurrent requests cannot pass the check together")
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":             "addr:192.0.2.1",
		"192.0.2.1":                  "addr:192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "addr:192.0.2.1",
		"[2001:db8::1]:443":          "addr:2001:db8::/64",
		"[2001:db8::ffff:1]:1":       "addr:2001:db8::/64",
		"2001:db8:0:1::1":            "addr:2001:db8:0:1::/64",
		"[fe80::1%eth0]:1":           "addr:fe80::/64",
		"":                           "addr:invalid",
		"garbage":                    "addr:invalid",
		"gw.example.com:443":         "addr:invalid",
		"192.0.2.1:1234:5678":        "addr:invalid",
		"[2001:db8::1%25x]:notaport": "addr:invalid",
	} {
		assert.Equal(t, want, AddrKey(in), in)
	}
	assert.NotEqual(t, UserKey("192.0.2.1"), AddrKey("192.0.2.1"), "a user ID never collides with an address")
}
