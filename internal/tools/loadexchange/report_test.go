package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

func sampleReport() report {
	return report{
		Environment: loadkit.Environment{Gateway: "gatehouse", GOGC: "unset", GOMAXPROCS: "unset", GOMEMLIMIT: "unset", NumCPU: 2},
		SigningAlg:  "ES256", Users: 1000, Tokens: 21000, Concurrency: 16, Warmup: 1000, Requested: 100, Sent: 100,
		Counts:          loadkit.Counts{Completed: 98, Errors: 2},
		DurationSeconds: 0.1, ExchangesPerSecond: 3100,
		Answers: loadkit.Answers{
			Latency:  loadkit.LatencySummary{P50: 4, P90: 9, P99: 19.9, Max: 30},
			Outcomes: map[string]int{outcomeOK: 98, `400 Bad Request "invalid_grant"`: 2},
		},
		Resources: loadkit.Resources{PeakRSSMiB: 60},
		Exit:      loadkit.Exit{Log: loadkit.LogTally{Records: map[string]int{"ERROR store failed": 2}}, GatewayExit: "clean"},
	}
}

func TestReportOutput(t *testing.T) {
	r := sampleReport()
	r.setCPU(49 * time.Millisecond)
	var table bytes.Buffer
	require.NoError(t, r.WriteTable(&table))
	out := table.String()
	for _, want := range []string{"3100 exchanges/s (target >= 3000: met)", "p99 19.9 ms", "(p99 target < 20 ms: met)",
		"60.0 MiB VmHWM", `400 Bad Request "invalid_grant"`, "ERROR store failed", "98 of 100 completed, 2 errors",
		"0.500 ms per exchange", "2000 exchanges per gateway CPU-second", "Keycloak sizing: 120/s per vCPU", "ES256 access tokens"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "NOT met")

	r.ExchangesPerSecond, r.Latency.P99 = 2999, 20
	table.Reset()
	require.NoError(t, r.WriteTable(&table))
	assert.Equal(t, 2, strings.Count(table.String(), "NOT met"))

	r.Completed, r.Latency = 0, loadkit.LatencySummary{}
	table.Reset()
	require.NoError(t, r.WriteTable(&table))
	assert.Contains(t, table.String(), "(p99 target < 20 ms: NOT met)", "no completed exchange meets no target")

	r = sampleReport()
	r.Timed, r.Requested, r.Sent = 5, 0, 120
	table.Reset()
	require.NoError(t, r.WriteTable(&table))
	assert.Contains(t, table.String(), "98 completed of 120 sent in a 5 s run, 2 errors")

	var js bytes.Buffer
	r = sampleReport()
	r.setCPU(49 * time.Millisecond)
	require.NoError(t, loadkit.WriteJSON(&js, r))
	var back map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.InDelta(t, 3100.0, back["exchanges_per_second"], 0)
	assert.InDelta(t, 19.9, back["latency"].(map[string]any)["p99_ms"], 0)
	assert.InDelta(t, 0.5, back["gateway_cpu_ms_per_exchange"], 1e-9)
	assert.InDelta(t, 2000.0, back["exchanges_per_gateway_cpu_second"], 1e-6)
	assert.InDelta(t, 60.0, back["peak_rss_mib"], 0)
}

func TestSetCPU(t *testing.T) {
	r := report{Counts: loadkit.Counts{Completed: 4000}}
	r.setCPU(2 * time.Second)
	assert.InDelta(t, 2.0, r.GatewayCPUSeconds, 0)
	assert.InDelta(t, 0.5, r.CPUPerExchangeMS, 1e-9)
	assert.InDelta(t, 2000.0, r.ExchangesPerCPUSec, 1e-9)

	r = report{}
	r.setCPU(time.Second)
	assert.Zero(t, r.CPUPerExchangeMS, "no completed exchange: no per-exchange figure")
	assert.Zero(t, r.ExchangesPerCPUSec)
}
