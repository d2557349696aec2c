package main

import (
	"bytes"
	"encoding/json"
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
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/saml/acs","status":303}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"saml sign-in rejected","reason":"replay","region":"us-east-1"}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"saml sign-in rejected","reason":"replay","region":"eu-west-1"}
{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"http request","method":"POST","path":"/saml/acs","status":403}
{"time":"2026-01-01T00:00:00Z","level":"WARN","msg":"http request","method":"POST","path":"/saml/acs","status":503}
{"time":"2026-01-01T00:00:00Z","level":"ERROR","msg":"store failed"}

panic: runtime error: index out of range
goroutine 1 [running]:
`

func TestTallyLog(t *testing.T) {
	got, err := tallyLog(strings.NewReader(sampleLog))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{
		"WARN saml sign-in rejected reason=replay": 2,
		"WARN http request status=503":             1,
		"ERROR store failed":                       1,
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

func TestReportOutput(t *testing.T) {
	r := report{
		Gateway: "gatehouse", GOGC: "200", GOMAXPROCS: "unset", NumCPU: 2, Users: 200, Concurrency: 16,
		SignMode: "assertion", Warmup: 500, Requested: 100, Completed: 98, Errors: 2,
		DurationSeconds: 0.1, SignInsPerSecond: 980,
		Latency:    latencySummary{P50: 10, P90: 20, P99: 49.9, Max: 60},
		Outcomes:   map[string]int{outcomeOK: 98, "403 Forbidden": 2},
		PeakRSSMiB: 149, Log: logTally{Records: map[string]int{"WARN saml sign-in rejected reason=replay": 2}},
		GatewayExit: "clean",
	}
	var table bytes.Buffer
	require.NoError(t, writeTable(&table, r))
	out := table.String()
	for _, want := range []string{"980 sign-ins/s (target >= 700: met)", "p99 49.9 ms", "(p99 target < 50 ms: met)",
		"149.0 MiB VmHWM", "(target < 150 MiB: met)", "403 Forbidden", "reason=replay", "98 of 100 completed, 2 errors"} {
		assert.Contains(t, out, want)
	}

	r.SignInsPerSecond, r.Latency.P99, r.PeakRSSMiB = 699, 50, 150
	table.Reset()
	require.NoError(t, writeTable(&table, r))
	assert.Equal(t, 3, strings.Count(table.String(), "NOT met"))

	r.SignInsPerSecond, r.Latency.P99, r.PeakRSSMiB, r.MaxSampledRSSMiB = 700, 10, 149, 151
	table.Reset()
	require.NoError(t, writeTable(&table, r))
	assert.Equal(t, 1, strings.Count(table.String(), "NOT met"), "a VmRSS sample above the target fails it")
	assert.Contains(t, table.String(), "(target < 150 MiB: NOT met)")

	var js bytes.Buffer
	require.NoError(t, writeJSON(&js, r))
	var back map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.InDelta(t, 700.0, back["signins_per_second"], 0)
	assert.InDelta(t, 10.0, back["latency"].(map[string]any)["p99_ms"], 0)
	assert.InDelta(t, 149.0, back["peak_rss_mib"], 0)
	assert.InDelta(t, 151.0, back["max_sampled_rss_mib"], 0)
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 20000, o.N)
	assert.Equal(t, 16, o.Concurrency)
	assert.Equal(t, 500, o.Warmup)
	assert.Empty(t, o.GOGC)
	assert.Empty(t, o.Gatehouse)

	o, err = parseFlags([]string{"-n", "10", "-c", "2", "-warmup", "0", "-gogc", "400", "-json"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, options{N: 10, Concurrency: 2, Warmup: 0, Users: 200, GOGC: "400", JSON: true,
		Sign: "assertion", Timeout: o.Timeout}, o)

	o, err = parseFlags([]string{"-gomemlimit", "120MiB", "-rate", "700"}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "120MiB", o.GOMEMLIMIT)
	assert.InDelta(t, 700.0, o.Rate, 0)

	for _, bad := range [][]string{{"-n", "0"}, {"-c", "0"}, {"-warmup", "-1"}, {"-gogc", "fast"}, {"-gogc", "0"},
		{"-sign", "none"}, {"extra"}, {"-users", "0"}, {"-rate", "-1"}, {"-rate", "NaN"}, {"-rate", "+Inf"},
		{"-gomemlimit", "120MB"}, {"-gomemlimit", "lots"}} {
		_, err := parseFlags(bad, &stderr)
		assert.Error(t, err, "%v", bad)
	}
	_, err = parseFlags([]string{"-gogc", "off"}, &stderr)
	assert.NoError(t, err)
}
