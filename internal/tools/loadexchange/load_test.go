package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

func ms2d(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the minimum", hundred, 0.001, 1 * time.Millisecond},
		{"single value", ms2d(7), 99, 7 * time.Millisecond},
		{"p50 of three is the middle", ms2d(1, 2, 30), 50, 2 * time.Millisecond},
		{"p99 of ten is the largest", ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40), 99, 40 * time.Millisecond},
		{"p90 of ten is the ninth", ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40), 90, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := percentile(tt.sorted, tt.p)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []struct {
		sorted []time.Duration
		p      float64
	}{{nil, 50}, {hundred, 0}, {hundred, -1}, {hundred, 100.5}} {
		_, err := percentile(bad.sorted, bad.p)
		assert.Error(t, err, "%v %v", len(bad.sorted), bad.p)
	}
}

func TestSummarize(t *testing.T) {
	assert.Equal(t, latencySummary{}, summarize(nil))
	s := summarize(ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40))
	assert.Equal(t, latencySummary{P50: 5, P90: 9, P99: 40, Max: 40}, s)
}

// okBody is a valid token exchange answer.
const okBody = `{"access_token":"eyJ.x.y","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":3600,"scope":"warehouse.read"}`

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"positive control", 200, okBody, outcomeOK},
		{"200 without access_token", 200, strings.Replace(okBody, `"access_token":"eyJ.x.y",`, "", 1), outcome200NoTok},
		{"200 with empty access_token", 200, strings.Replace(okBody, `"eyJ.x.y"`, `""`, 1), outcome200NoTok},
		{"200 with another token_type", 200, strings.Replace(okBody, `"Bearer"`, `"DPoP"`, 1), outcome200NoTok},
		{"200 with another issued_token_type", 200, strings.Replace(okBody, "access_token\",\"expires_in", "jwt\",\"expires_in", 1), outcome200NoTok},
		{"200 not JSON", 200, "ok", outcome200NoTok},
		{"400 with an OAuth error", 400, `{"error":"invalid_grant","error_description":"unknown user"}`, `400 Bad Request "invalid_grant"`},
		{"401 with an OAuth error", 401, `{"error":"invalid_client"}`, `401 Unauthorized "invalid_client"`},
		{"503 without JSON", 503, "busy", "503 Service Unavailable"},
		{"400 with an overlong error code", 400, `{"error":"` + strings.Repeat("x", 65) + `"}`, "400 Bad Request"},
		{"500 with access_token", 500, okBody, "500 Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.status, []byte(tt.body)))
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(200, okBody)
	f.Add(400, `{"error":"invalid_grant"}`)
	f.Add(200, `{"access_token":1}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		got := classify(status, []byte(body))
		if got == outcomeOK && status != http.StatusOK {
			t.Fatalf("status %d counted as completed", status)
		}
		if len(got) > 128 {
			t.Fatalf("label of %d bytes", len(got))
		}
	})
}

// fakeTokenEndpoint answers exchanges whose body ends in an even number
// with a token, the others with invalid_grant; requests without the
// expected Authorization header get 401.
func fakeTokenEndpoint(t *testing.T, hits *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Basic test" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(string(b), "n="))
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_request"}`)
			return
		}
		if n%2 == 0 {
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "t" + strconv.Itoa(n), "token_type": "Bearer",
				"issued_token_type": oauth.TokenTypeAccessToken, "expires_in": 3600})
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func bodiesN(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte("n=" + strconv.Itoa(i))
	}
	return out
}

func TestDriveCountsOnlyCompletedExchanges(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	res := drive(t.Context(), newClient(4), target{URL: srv.URL, Authorization: "Basic test", Bodies: bodiesN(50)}, 50, 4, 0)
	assert.Equal(t, int64(50), hits.Load(), "each request is sent once")
	assert.Equal(t, 25, res.Completed())
	assert.Equal(t, 25, res.Errors)
	assert.Equal(t, 50, res.Sent)
	assert.Zero(t, res.NotSent)
	assert.Equal(t, map[string]int{outcomeOK: 25, `400 Bad Request "invalid_grant"`: 25}, res.Outcomes)
	assert.IsNonDecreasing(t, res.Latencies)
	assert.Positive(t, res.Duration)
}

func TestDriveSendsTheAuthorizationHeader(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	res := drive(t.Context(), newClient(1), target{URL: srv.URL, Authorization: "Basic other", Bodies: bodiesN(2)}, 2, 1, 0)
	assert.Equal(t, map[string]int{`401 Unauthorized "invalid_client"`: 2}, res.Outcomes)
}

func TestDriveReusesBodiesInTurn(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	// Two bodies, "n=0" (a token) and "n=1" (refused), for seven requests.
	res := drive(t.Context(), newClient(2), target{URL: srv.URL, Authorization: "Basic test", Bodies: bodiesN(2)}, 7, 2, 0)
	assert.Equal(t, 4, res.Completed())
	assert.Equal(t, 3, res.Errors)
	assert.Equal(t, int64(7), hits.Load())
}

func TestDriveTimedRunStopsWithContext(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for hits.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res := drive(ctx, newClient(2), target{URL: srv.URL, Authorization: "Basic test", Bodies: bodiesN(4)}, 0, 2, 0)
	assert.GreaterOrEqual(t, res.Sent, 18, "requests answered before the stop are counted")
	assert.Zero(t, res.NotSent, "a timed run has no requested count")
	assert.Empty(t, res.FirstTransportError, "requests cut off by the stop are not errors")
	assert.Equal(t, res.Sent, res.Completed()+res.Errors)
}

func TestDriveCountsTransportErrors(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	u := srv.URL
	srv.Close()
	res := drive(t.Context(), newClient(2), target{URL: u, Authorization: "Basic test", Bodies: bodiesN(1)}, 1, 2, 0)
	assert.Zero(t, res.Completed())
	assert.Equal(t, 1, res.Errors)
	assert.Equal(t, map[string]int{outcomeTransport: 1}, res.Outcomes)
	assert.NotEmpty(t, res.FirstTransportError)
}

func TestDriveStopsWithContext(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := drive(ctx, newClient(1), target{URL: srv.URL, Authorization: "Basic test", Bodies: bodiesN(2)}, 2, 1, 0)
	assert.Zero(t, hits.Load())
	assert.Equal(t, 2, res.NotSent)
	assert.Zero(t, res.Errors)
}

func TestDriveOpenLoopPacesRequests(t *testing.T) {
	var hits atomic.Int64
	srv := fakeTokenEndpoint(t, &hits)
	bodies := make([][]byte, 5)
	for i := range bodies {
		bodies[i] = []byte("n=" + strconv.Itoa(2*i))
	}
	res := drive(t.Context(), newClient(5), target{URL: srv.URL, Authorization: "Basic test", Bodies: bodies}, 5, 5, 1000)
	assert.Equal(t, 5, res.Completed())
	assert.Equal(t, int64(5), hits.Load())
}

func TestDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, start, due(start, 0, 700))
	assert.Equal(t, start.Add(80*time.Millisecond), due(start, 4, 50))
	assert.Equal(t, start.Add(time.Second), due(start, 700, 700))
	assert.Equal(t, start.Add(2*time.Hour), due(start, 2, 1.0/3600))
}

func TestSleepUntil(t *testing.T) {
	assert.True(t, sleepUntil(t.Context(), time.Now().Add(-time.Second)))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.False(t, sleepUntil(ctx, time.Now().Add(time.Hour)))
	assert.False(t, sleepUntil(ctx, time.Now().Add(-time.Second)))
}
