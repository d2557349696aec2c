package main

import (
	"context"
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

func TestClassify(t *testing.T) {
	withCookie := func(status int, cookie string) *http.Response {
		h := http.Header{}
		if cookie != "" {
			h.Add("Set-Cookie", cookie)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	tests := []struct {
		name string
		resp *http.Response
		want string
	}{
		{"303 with session cookie", withCookie(303, "gatehouse_session=abc; Path=/; HttpOnly"), outcomeOK},
		{"303 without cookie", withCookie(303, ""), outcome303NoCookie},
		{"303 with another cookie", withCookie(303, "other=abc"), outcome303NoCookie},
		{"303 with empty session cookie", withCookie(303, "gatehouse_session=; Path=/"), outcome303NoCookie},
		{"303 deleting the session cookie", withCookie(303, "gatehouse_session=x; Max-Age=0"), outcome303NoCookie},
		{"302 with session cookie", withCookie(302, "gatehouse_session=abc"), "302 Found"},
		{"403", withCookie(403, ""), "403 Forbidden"},
		{"503", withCookie(503, ""), "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.resp))
		})
	}
}

// fakeACS answers requests whose body ends in an even number with a 303 and
// a session cookie, the others with 403.
func fakeACS(t *testing.T, hits *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		n, err := strconv.Atoi(strings.TrimPrefix(string(b), "SAMLResponse="))
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if n%2 == 0 {
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "s" + strconv.Itoa(n), Path: "/"})
			http.Redirect(w, r, "/portal", http.StatusSeeOther)
			return
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDriveCountsOnlyCompletedSignIns(t *testing.T) {
	var hits atomic.Int64
	srv := fakeACS(t, &hits)
	reqs := make([]signIn, 50)
	for i := range reqs {
		reqs[i] = signIn{URL: srv.URL + "/saml/acs", Body: []byte("SAMLResponse=" + strconv.Itoa(i))}
	}
	res := drive(context.Background(), newClient(4), reqs, 4, 0)
	assert.Equal(t, int64(50), hits.Load(), "each request is sent once; the redirect is not followed")
	assert.Equal(t, 25, res.Completed())
	assert.Equal(t, 25, res.Errors)
	assert.Zero(t, res.NotSent)
	assert.Equal(t, map[string]int{outcomeOK: 25, "403 Forbidden": 25}, res.Outcomes)
	assert.IsNonDecreasing(t, res.Latencies)
	assert.Positive(t, res.Duration)
}

func TestDriveCountsTransportErrors(t *testing.T) {
	var hits atomic.Int64
	srv := fakeACS(t, &hits)
	u := srv.URL
	srv.Close()
	res := drive(context.Background(), newClient(2), []signIn{{URL: u, Body: []byte("SAMLResponse=0")}}, 2, 0)
	assert.Zero(t, res.Completed())
	assert.Equal(t, 1, res.Errors)
	assert.Equal(t, map[string]int{outcomeTransport: 1}, res.Outcomes)
	assert.NotEmpty(t, res.FirstTransportError)
}

func TestDriveStopsWithContext(t *testing.T) {
	var hits atomic.Int64
	srv := fakeACS(t, &hits)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reqs := []signIn{{URL: srv.URL, Body: []byte("SAMLResponse=0")}, {URL: srv.URL, Body: []byte("SAMLResponse=2")}}
	res := drive(ctx, newClient(1), reqs, 1, 0)
	assert.Zero(t, hits.Load())
	assert.Equal(t, 2, res.NotSent)
	assert.Zero(t, res.Errors)
}

func TestDriveOpenLoopPacesRequests(t *testing.T) {
	var hits atomic.Int64
	srv := fakeACS(t, &hits)
	reqs := make([]signIn, 5)
	for i := range reqs {
		reqs[i] = signIn{URL: srv.URL, Body: []byte("SAMLResponse=" + strconv.Itoa(2*i))}
	}
	res := drive(context.Background(), newClient(5), reqs, 5, 1000)
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

func TestDriveOpenLoopStopsWhileWaiting(t *testing.T) {
	var hits atomic.Int64
	srv := fakeACS(t, &hits)
	reqs := []signIn{{URL: srv.URL, Body: []byte("SAMLResponse=0")}, {URL: srv.URL, Body: []byte("SAMLResponse=2")}}
	ctx, cancel := context.WithCancel(context.Background())
	// At 1 per hour the second request is due in an hour; cancel once the
	// first has reached the server. The first may or may not complete; the
	// second is never sent, and the stop is not counted as an error.
	go func() {
		for hits.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	res := drive(ctx, newClient(2), reqs, 2, 1.0/3600)
	assert.Zero(t, res.Errors)
	assert.GreaterOrEqual(t, res.NotSent, 1)
	assert.Equal(t, 2, res.Completed()+res.NotSent)
	assert.Equal(t, int64(1), hits.Load())
}

func TestSleepUntil(t *testing.T) {
	assert.True(t, sleepUntil(context.Background(), time.Now().Add(-time.Second)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, sleepUntil(ctx, time.Now().Add(time.Hour)))
	assert.False(t, sleepUntil(ctx, time.Now().Add(-time.Second)))
}
