package main

import (
	"bytes"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 20000, o.N)
	assert.Equal(t, 16, o.Concurrency)
	assert.Equal(t, 1000, o.Warmup)
	assert.Equal(t, 1000, o.Users)
	assert.Equal(t, 21000, o.Tokens, "one token per exchange by default")
	assert.Equal(t, "ES256", o.Alg)
	assert.Zero(t, o.Duration)
	assert.Empty(t, o.GOGC)
	assert.Empty(t, o.Gatehouse)

	o, err = parseFlags([]string{"-n", "10", "-c", "2", "-warmup", "0", "-gogc", "400", "-json", "-alg", "EdDSA", "-users", "5"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, options{N: 10, Concurrency: 2, Warmup: 0, Users: 5, Tokens: 10, Alg: "EdDSA", GOGC: "400", JSON: true,
		Timeout: o.Timeout}, o)

	o, err = parseFlags([]string{"-duration", "5s", "-tokens", "100", "-gomaxprocs", "2", "-gomemlimit", "120MiB", "-rate", "3000"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, o.Duration)
	assert.Equal(t, 100, o.Tokens)
	assert.Equal(t, "2", o.GOMAXPROCS)
	assert.Equal(t, "120MiB", o.GOMEMLIMIT)
	assert.InDelta(t, 3000.0, o.Rate, 0)

	for _, bad := range [][]string{{"-n", "0"}, {"-c", "0"}, {"-warmup", "-1"}, {"-users", "0"}, {"-tokens", "-1"},
		{"-duration", "-1s"}, {"-duration", "9m"}, {"-timeout", "40m"}, {"-timeout", "0s"},
		{"-gogc", "fast"}, {"-gogc", "0"}, {"-gomaxprocs", "0"}, {"-gomaxprocs", "two"}, {"-alg", "HS256"}, {"-alg", "es256"},
		{"extra"}, {"-rate", "-1"}, {"-rate", "NaN"}, {"-rate", "+Inf"}, {"-gomemlimit", "120MB"}, {"-gomemlimit", "lots"}} {
		_, err := parseFlags(bad, &stderr)
		assert.Error(t, err, "%v", bad)
	}
	_, err = parseFlags([]string{"-gogc", "off"}, &stderr)
	assert.NoError(t, err)
}

func TestSplitBodies(t *testing.T) {
	b := bodiesN(5)
	warm, measured := splitBodies(b, 2)
	assert.Equal(t, b[:2], warm)
	assert.Equal(t, b[2:], measured)
	warm, measured = splitBodies(b, 0)
	assert.Empty(t, warm)
	assert.Equal(t, b, measured)
	warm, measured = splitBodies(b, 9)
	assert.Equal(t, b, warm, "fewer tokens than warmup exchanges: used in turn")
	assert.Equal(t, b, measured)
}

func TestInterrupted(t *testing.T) {
	sleep := exec.Command("sleep", "30")
	require.NoError(t, sleep.Start())
	require.NoError(t, sleep.Process.Signal(syscall.SIGINT))
	assert.True(t, interrupted(sleep.Wait()))

	assert.False(t, interrupted(exec.Command("false").Run()), "an exit status is not an interrupt")
	assert.False(t, interrupted(errors.New("other")))
	assert.False(t, interrupted(nil))
}
