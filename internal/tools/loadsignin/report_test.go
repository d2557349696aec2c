package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

func TestReportOutput(t *testing.T) {
	r := report{
		Environment: loadkit.Environment{Gateway: "gatehouse", GOGC: "200", GOMAXPROCS: "unset", NumCPU: 2},
		Users:       200, Concurrency: 16, SignMode: "assertion", Warmup: 500, Requested: 100,
		Counts:          loadkit.Counts{Completed: 98, Errors: 2},
		DurationSeconds: 0.1, SignInsPerSecond: 980,
		Answers: loadkit.Answers{
			Latency:  loadkit.LatencySummary{P50: 10, P90: 20, P99: 49.9, Max: 60},
			Outcomes: map[string]int{outcomeOK: 98, "403 Forbidden": 2},
		},
		Resources: loadkit.Resources{PeakRSSMiB: 149},
		Exit:      loadkit.Exit{Log: loadkit.LogTally{Records: map[string]int{"WARN saml sign-in rejected reason=replay": 2}}, GatewayExit: "clean"},
	}
	var table bytes.Buffer
	require.NoError(t, r.WriteTable(&table))
	out := table.String()
	for _, want := range []string{"980 sign-ins/s (target >= 700: met)", "p99 49.9 ms", "(p99 target < 50 ms: met)",
		"149.0 MiB VmHWM", "(target < 150 MiB: met)", "403 Forbidden", "reason=replay", "98 of 100 completed, 2 errors"} {
		assert.Contains(t, out, want)
	}

	r.SignInsPerSecond, r.Latency.P99, r.PeakRSSMiB = 699, 50, 150
	table.Reset()
	require.NoError(t, r.WriteTable(&table))
	assert.Equal(t, 3, strings.Count(table.String(), "NOT met"))

	r.SignInsPerSecond, r.Latency.P99, r.PeakRSSMiB, r.MaxSampledRSSMiB = 700, 10, 149, 151
	table.Reset()
	require.NoError(t, r.WriteTable(&table))
	assert.Equal(t, 1, strings.Count(table.String(), "NOT met"), "a VmRSS sample above the target fails it")
	assert.Contains(t, table.String(), "(target < 150 MiB: NOT met)")

	var js bytes.Buffer
	require.NoError(t, loadkit.WriteJSON(&js, r))
	var back map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.InDelta(t, 700.0, back["signins_per_second"], 0)
	assert.InDelta(t, 10.0, back["latency"].(map[string]any)["p99_ms"], 0)
	assert.InDelta(t, 149.0, back["peak_rss_mib"], 0)
	assert.InDelta(t, 151.0, back["max_sampled_rss_mib"], 0)
	assert.Equal(t, "gatehouse", back["gateway_binary"], "the embedded pieces' keys are at the top level")
	assert.Equal(t, "clean", back["gateway_exit"])
}
