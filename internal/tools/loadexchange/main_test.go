package main

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// The shared flags' validation is tested in loadkit; these are this
// tool's defaults and its own flags.
func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	want := loadkit.Flags{N: 20000, Concurrency: 16, Warmup: 1000, Users: 1000, Timeout: 8 * time.Minute,
		Store: loadkit.StoreSQLite, Instances: 1}
	assert.Equal(t, options{Flags: want, Tokens: 21000, Alg: "ES256"}, o, "the defaults: one token per exchange")

	o, err = parseFlags([]string{"-n", "10", "-c", "2", "-warmup", "0", "-gogc", "400", "-json", "-alg", "EdDSA", "-users", "5"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, options{Flags: loadkit.Flags{N: 10, Concurrency: 2, Warmup: 0, Users: 5, GOGC: "400", JSON: true,
		Timeout: o.Timeout, Store: loadkit.StoreSQLite, Instances: 1}, Tokens: 10, Alg: "EdDSA"}, o)

	o, err = parseFlags([]string{"-duration", "5s", "-tokens", "100", "-gomaxprocs", "2", "-gomemlimit", "120MiB", "-rate", "3000"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, o.Duration)
	assert.Equal(t, 100, o.Tokens)
	assert.Equal(t, "2", o.GOMAXPROCS)
	assert.Equal(t, "120MiB", o.GOMEMLIMIT)
	assert.InDelta(t, 3000.0, o.Rate, 0)

	o, err = parseFlags([]string{"-store", "postgres", "-dsn", "postgres://postgres@127.0.0.1:5432/test", "-instances", "3"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, loadkit.StorePostgres, o.Store)
	assert.Equal(t, 3, o.Instances)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-tokens", "-1"}, "-tokens and -duration must not be negative"},
		{[]string{"-duration", "-1s"}, "-tokens and -duration must not be negative"},
		{[]string{"-duration", "9m"}, "-duration 9m0s is longer than -timeout 8m0s"},
		{[]string{"-timeout", "40m"}, "-timeout must be at most 29m30s, before the subject tokens expire"},
		{[]string{"-alg", "HS256"}, `-alg "HS256" is not one of ES256, RS256, EdDSA`},
		{[]string{"-alg", "es256"}, `-alg "es256" is not one of ES256, RS256, EdDSA`},
		{[]string{"-gomaxprocs", "two"}, `-gomaxprocs "two" is not a positive number`},
		{[]string{"-n", "0"}, "-n, -c, -users and -timeout must be positive and -warmup not negative"},
		{[]string{"-instances", "3"}, "-instances > 1 needs -store postgres (instances share the database)"},
		{[]string{"-store", "postgres"}, "-store postgres needs -dsn postgres://user@host:port/database"},
	} {
		_, err := parseFlags(bad.args, &stderr)
		assert.EqualError(t, err, bad.want, "%v", bad.args)
	}
	_, err = parseFlags([]string{"-timeout", "29m30s", "-duration", "29m30s"}, &stderr)
	assert.NoError(t, err, "positive control: the longest run")
}

func bodiesN(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte("n=" + strconv.Itoa(i))
	}
	return out
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
