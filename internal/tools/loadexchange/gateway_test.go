package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChildEnv(t *testing.T) {
	env := []string{"PATH=/bin", "GOGC=50", "GOMAXPROCS=2", "GOGCX=1"}
	assert.Equal(t, env, childEnv(env, map[string]string{"GOGC": "", "GOMEMLIMIT": ""}), "unchanged without -gogc")
	got := childEnv(env, map[string]string{"GOGC": "200", "GOMEMLIMIT": ""})
	assert.Equal(t, []string{"PATH=/bin", "GOMAXPROCS=2", "GOGCX=1", "GOGC=200"}, got)
	got = childEnv(env, map[string]string{"GOGC": "off", "GOMEMLIMIT": "120MiB"})
	assert.Equal(t, []string{"PATH=/bin", "GOMAXPROCS=2", "GOGCX=1", "GOGC=off", "GOMEMLIMIT=120MiB"}, got)
	assert.Equal(t, "GOGC=50", env[1], "the input is not modified")
}

const sampleLog = `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"listening","addr":"127.0.0.1:1"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/oauth/token","status":200}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"trusted token issuer: fetching the JWK Set failed","reason":"timeout","issuer":"corp"}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"trusted token issuer: fetching the JWK Set failed","reason":"timeout","issuer":"corp"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/oauth/token","status":400}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"http request","method":"POST","path":"/oauth/token","status":503}
{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"store failed"}

panic: runtime error: index out of range
goroutine 1 [running]:
`

func TestTallyLog(t *testing.T) {
	got, err := tallyLog(strings.NewReader(sampleLog))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{
		"WARN trusted token issuer: fetching the JWK Set failed reason=timeout": 2,
		"WARN http request status=503":                                          1,
		"ERROR store failed":                                                    1,
	}, got.Records)
	assert.Equal(t, 3, got.Requests)
	assert.Equal(t, []string{"panic: runtime error: index out of range", "goroutine 1 [running]:"}, got.NonJSON)
}

func TestTallyLogBoundsNonJSON(t *testing.T) {
	got, err := tallyLog(strings.NewReader(strings.Repeat("garbage\n", 50)))
	require.NoError(t, err)
	assert.Len(t, got.NonJSON, maxNonJSON)
	assert.Empty(t, got.Records)
}

func FuzzTallyLog(f *testing.F) {
	f.Add(sampleLog)
	f.Add(`{"level":"WARN","msg":"x","status":"nope"}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, log string) {
		got, err := tallyLog(strings.NewReader(log))
		if err != nil {
			return
		}
		if len(got.NonJSON) > maxNonJSON {
			t.Fatalf("%d non-JSON lines kept", len(got.NonJSON))
		}
		for k, n := range got.Records {
			if n <= 0 || !(strings.HasPrefix(k, "WARN ") || strings.HasPrefix(k, "ERROR ")) {
				t.Fatalf("record %q counted %d", k, n)
			}
		}
	})
}
