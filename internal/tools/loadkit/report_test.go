package loadkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableRows(t *testing.T) {
	var b bytes.Buffer
	tb := NewTable(&b)
	tb.Environment(Environment{Gateway: "gh", GOGC: "200", GOMAXPROCS: "unset", GOMEMLIMIT: "120MiB", NumCPU: 2})
	tb.Counts("sign-ins", Counts{Completed: 98, Errors: 2, NotSent: 1}, 100)
	tb.Throughput(0.1, 980, "sign-ins", 700)
	a := Answers{
		Latency:        LatencySummary{P50: 10, P90: 20, P99: 49.9, Max: 60},
		Outcomes:       map[string]int{"ok": 98, "403 Forbidden": 2},
		TransportError: "dial tcp: refused",
	}
	tb.Latency(a, 98, 50*time.Millisecond)
	tb.Details(a, Exit{Log: LogTally{Records: map[string]int{"ERROR store failed": 1}, NonJSON: []string{"panic: x"}}, GatewayExit: "clean"}, 10)
	require.NoError(t, tb.Flush())
	assert.Equal(t, `gateway                  gh (GOGC=200, GOMEMLIMIT=120MiB, GOMAXPROCS=unset, 2 CPUs)
sign-ins                 98 of 100 completed, 2 errors, 1 not sent
duration                 0.10 s
throughput               980 sign-ins/s (target >= 700: met)
latency                  p50 10.0 ms, p90 20.0 ms, p99 49.9 ms, max 60.0 ms (p99 target < 50 ms: met)
  outcome                403 Forbidden 2
  outcome                ok         98
  first transport error  dial tcp: refused
  gateway log            ERROR store failed 1
  gateway output         panic: x
gateway exit             clean
`, b.String())
}

func TestTableTargets(t *testing.T) {
	row := func(add func(*Table)) string {
		var b bytes.Buffer
		tb := NewTable(&b)
		add(tb)
		require.NoError(t, tb.Flush())
		return b.String()
	}
	assert.Contains(t, row(func(tb *Table) { tb.Throughput(1, 699.9, "x", 700) }), "(target >= 700: NOT met)")
	assert.Contains(t, row(func(tb *Table) { tb.Throughput(1, 700, "x", 700) }), "(target >= 700: met)")
	lat := Answers{Latency: LatencySummary{P99: 20}}
	assert.Contains(t, row(func(tb *Table) { tb.Latency(lat, 1, 20*time.Millisecond) }), "(p99 target < 20 ms: NOT met)")
	assert.Contains(t, row(func(tb *Table) { tb.Latency(lat, 1, 21*time.Millisecond) }), "(p99 target < 21 ms: met)")
	assert.Contains(t, row(func(tb *Table) { tb.Latency(Answers{}, 0, 20*time.Millisecond) }), "(p99 target < 20 ms: NOT met)",
		"no completed request meets no target")
}

func TestPacing(t *testing.T) {
	assert.Equal(t, "closed loop", Pacing(0))
	assert.Equal(t, "open loop at 700/s, latency from due time", Pacing(700))
	assert.Equal(t, "open loop at 0.5/s, latency from due time", Pacing(0.5))
}

type fakeReport struct {
	Value int `json:"value"`
	err   error
}

func (r fakeReport) WriteTable(w io.Writer) error {
	_, _ = io.WriteString(w, "table\n")
	return r.err
}

func TestPrint(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, Print(&stdout, &stderr, false, fakeReport{Value: 1}))
	assert.Equal(t, "table\n", stdout.String())
	assert.Empty(t, stderr.String())

	stdout.Reset()
	require.NoError(t, Print(&stdout, &stderr, true, fakeReport{Value: 1}))
	assert.Equal(t, "table\n", stderr.String(), "with -json the table goes to stderr")
	var back map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &back))
	assert.Equal(t, map[string]any{"value": 1.0}, back)
	assert.Equal(t, "{\n  \"value\": 1\n}\n", stdout.String(), "indented")

	stdout.Reset()
	failed := errors.New("write failed")
	require.ErrorIs(t, Print(&stdout, &stderr, true, fakeReport{err: failed}), failed)
	assert.Empty(t, stdout.String(), "no JSON after a failed table")
}
