package loadkit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleLog = `{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"listening","addr":"127.0.0.1:1"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/saml/acs","status":303}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"saml sign-in rejected","reason":"replay","region":"us-east-1"}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"saml sign-in rejected","reason":"replay","region":"eu-west-1"}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"trusted token issuer: fetching the JWK Set failed","reason":"timeout","issuer":"corp"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/oauth/token","status":400}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"http request","method":"POST","path":"/saml/acs","status":503}
{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"store failed"}

panic: runtime error: index out of range
goroutine 1 [running]:
`

func TestTallyLog(t *testing.T) {
	got, err := TallyLog(strings.NewReader(sampleLog))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{
		"WARN saml sign-in rejected reason=replay":                              2,
		"WARN trusted token issuer: fetching the JWK Set failed reason=timeout": 1,
		"WARN http request status=503":                                          1,
		"ERROR store failed":                                                    1,
	}, got.Records)
	assert.Equal(t, 3, got.Requests)
	assert.Equal(t, []string{"panic: runtime error: index out of range", "goroutine 1 [running]:"}, got.NonJSON)
}

func TestTallyLogBoundsNonJSON(t *testing.T) {
	got, err := TallyLog(strings.NewReader(strings.Repeat("garbage\n", 50)))
	require.NoError(t, err)
	assert.Len(t, got.NonJSON, MaxNonJSON)
	assert.Empty(t, got.Records)

	got, err = TallyLog(strings.NewReader(strings.Repeat("x", 1000) + "\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{strings.Repeat("x", 300) + "…"}, got.NonJSON, "long lines are truncated")
}

func TestTallyLogRefusesOverlongLines(t *testing.T) {
	_, err := TallyLog(strings.NewReader(strings.Repeat("x", 2<<20)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read gateway log")
}

func FuzzTallyLog(f *testing.F) {
	f.Add(sampleLog)
	f.Add(`{"level":"WARN","msg":"x","status":"nope"}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, log string) {
		got, err := TallyLog(strings.NewReader(log))
		if err != nil {
			return
		}
		if len(got.NonJSON) > MaxNonJSON {
			t.Fatalf("%d non-JSON lines kept", len(got.NonJSON))
		}
		for k, n := range got.Records {
			if n <= 0 || !(strings.HasPrefix(k, "WARN ") || strings.HasPrefix(k, "ERROR ")) {
				t.Fatalf("record %q counted %d", k, n)
			}
		}
	})
}
