package loadkit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fakeEndpoint answers POSTed forms "n=<int>" with the wanted
// Authorization header (none when wantAuth is empty): an even n with a
// 303 redirect, an odd one with 403, anything else with 400 or 401.
func fakeEndpoint(t *testing.T, hits *atomic.Int64, wantAuth string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != wantAuth {
			http.Error(w, "who", http.StatusUnauthorized)
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(string(b), "n="))
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if n%2 == 0 {
			http.Redirect(w, r, "/portal", http.StatusSeeOther)
			return
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const labelOK = "303 See Other"

// byStatus labels an answer by its status.
func byStatus(resp *http.Response) (string, error) {
	return strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode), nil
}

// workload returns n requests "n=0".."n=<n-1>" to url, sent once each.
func workload(url, auth string, n, c int) Workload {
	w := Workload{N: n, Concurrency: c, Classify: byStatus, OK: labelOK}
	for i := range n {
		w.Requests = append(w.Requests, Request{URL: url, Authorization: auth, Body: []byte("n=" + strconv.Itoa(i))})
	}
	return w
}

func TestDriveCountsOnlyCompletedRequests(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	res := Drive(t.Context(), NewClient(4), workload(srv.URL, "", 50, 4))
	assert.Equal(t, int64(50), hits.Load(), "each request is sent once; the redirect is not followed")
	assert.Equal(t, 25, res.Completed())
	assert.Equal(t, 25, res.Errors)
	assert.Equal(t, 50, res.Sent)
	assert.Zero(t, res.NotSent)
	assert.Equal(t, map[string]int{labelOK: 25, "403 Forbidden": 25}, res.Outcomes)
	assert.IsNonDecreasing(t, res.Latencies)
	assert.Positive(t, res.Duration)
	assert.Equal(t, Counts{Completed: 25, Errors: 25}, res.Counts())
	assert.Equal(t, res.Outcomes, res.Answers().Outcomes)
}

func TestDriveSendsTheAuthorizationHeader(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "Basic test")
	res := Drive(t.Context(), NewClient(1), workload(srv.URL, "Basic test", 2, 1))
	assert.Equal(t, map[string]int{labelOK: 1, "403 Forbidden": 1}, res.Outcomes, "positive control")
	res = Drive(t.Context(), NewClient(1), workload(srv.URL, "Basic other", 2, 1))
	assert.Equal(t, map[string]int{"401 Unauthorized": 2}, res.Outcomes)
	res = Drive(t.Context(), NewClient(1), workload(srv.URL, "", 2, 1))
	assert.Equal(t, map[string]int{"401 Unauthorized": 2}, res.Outcomes, "no header without Authorization")
}

func TestDriveReusesRequestsInTurn(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	// Two requests, "n=0" (completed) and "n=1" (refused), for seven sends.
	w := workload(srv.URL, "", 2, 2)
	w.N = 7
	res := Drive(t.Context(), NewClient(2), w)
	assert.Equal(t, 4, res.Completed())
	assert.Equal(t, 3, res.Errors)
	assert.Equal(t, int64(7), hits.Load())
}

func TestDriveTimedRunStopsWithContext(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for hits.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	w := workload(srv.URL, "", 4, 2)
	w.N = 0
	res := Drive(ctx, NewClient(2), w)
	assert.GreaterOrEqual(t, res.Sent, 18, "requests answered before the stop are counted")
	assert.Zero(t, res.NotSent, "a timed run has no requested count")
	assert.Empty(t, res.FirstTransportError, "requests cut off by the stop are not errors")
	assert.Equal(t, res.Sent, res.Completed()+res.Errors)
}

func TestDriveCountsTransportErrors(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	u := srv.URL
	srv.Close()
	res := Drive(t.Context(), NewClient(2), workload(u, "", 1, 2))
	assert.Zero(t, res.Completed())
	assert.Equal(t, 1, res.Errors)
	assert.Equal(t, map[string]int{OutcomeTransport: 1}, res.Outcomes)
	assert.NotEmpty(t, res.FirstTransportError)
}

func TestDriveCountsClassifierErrorsAsTransportErrors(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	w := workload(srv.URL, "", 2, 1)
	w.Classify = func(*http.Response) (string, error) { return labelOK, errors.New("body cut short") }
	res := Drive(t.Context(), NewClient(1), w)
	assert.Zero(t, res.Completed())
	assert.Equal(t, map[string]int{OutcomeTransport: 2}, res.Outcomes)
	assert.Equal(t, "body cut short", res.FirstTransportError)
}

func TestDriveStopsWithContext(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := Drive(ctx, NewClient(1), workload(srv.URL, "", 2, 1))
	assert.Zero(t, hits.Load())
	assert.Equal(t, 2, res.NotSent)
	assert.Zero(t, res.Errors)
}

func TestDriveOpenLoopPacesRequests(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	w := workload(srv.URL, "", 5, 5)
	for i := range w.Requests {
		w.Requests[i].Body = []byte("n=" + strconv.Itoa(2*i))
	}
	w.Rate = 1000
	res := Drive(t.Context(), NewClient(5), w)
	assert.Equal(t, 5, res.Completed())
	assert.Equal(t, int64(5), hits.Load())
}

func TestDriveOpenLoopStopsWhileWaiting(t *testing.T) {
	var hits atomic.Int64
	srv := fakeEndpoint(t, &hits, "")
	w := workload(srv.URL, "", 2, 2)
	w.Requests[1].Body = []byte("n=2")
	w.Rate = 1.0 / 3600
	ctx, cancel := context.WithCancel(t.Context())
	// At 1 per hour the second request is due in an hour; cancel once the
	// first has reached the server. The first may or may not complete; the
	// second is never sent, and the stop is not counted as an error.
	go func() {
		for hits.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res := Drive(ctx, NewClient(2), w)
	assert.Zero(t, res.Errors)
	assert.GreaterOrEqual(t, res.NotSent, 1)
	assert.Equal(t, 2, res.Completed()+res.NotSent)
	assert.Equal(t, int64(1), hits.Load())
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
