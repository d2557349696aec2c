package loadkit

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// OutcomeTransport labels a request that got no (complete) answer.
const OutcomeTransport = "transport error"

// maxDrain bounds what is read of an answer after classification, so that
// its connection can be reused.
const maxDrain = 1 << 20

// NewClient returns a keep-alive client for c concurrent workers that
// follows no redirects and ignores proxy settings.
func NewClient(c int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        c,
			MaxIdleConnsPerHost: c,
			MaxConnsPerHost:     c,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// Request is one ready-to-send HTTP POST of a form.
type Request struct {
	URL string
	// Authorization, when not empty, is sent as the Authorization header.
	Authorization string
	Body          []byte // application/x-www-form-urlencoded
}

// A Classifier labels an answer. It may read resp.Body (with a bound of
// its own); the pool drains and closes it afterwards. An error counts the
// request as OutcomeTransport.
type Classifier func(resp *http.Response) (string, error)

// Workload is what Drive sends.
type Workload struct {
	// Requests are sent in turn: request i is Requests[i mod len].
	Requests []Request
	// N is the number of requests to send; with N <= 0 Drive sends until
	// its context is done (a timed run).
	N           int
	Concurrency int
	// Rate > 0 makes the run open-loop at Rate requests per second; 0
	// closes the loop: each worker sends as soon as it is answered.
	Rate     float64
	Classify Classifier
	// OK is the label of a completed request.
	OK string
}

// Result is the outcome of one Drive.
type Result struct {
	// Latencies of the completed requests, sorted.
	Latencies []time.Duration
	Errors    int
	// Sent counts the requests sent (answered or failed).
	Sent int
	// NotSent counts requests of a counted run not sent because the run
	// was stopped.
	NotSent  int
	Outcomes map[string]int
	// FirstTransportError is the first transport error seen, if any.
	FirstTransportError string
	Duration            time.Duration
}

// Completed is the number of completed requests.
func (r Result) Completed() int { return len(r.Latencies) }

type workerResult struct {
	latencies []time.Duration
	errors    int
	outcomes  map[string]int
	transport string
}

// Drive sends w with w.Concurrency workers sharing client until all are
// sent or ctx is done; requests cut off by ctx are not counted. With
// w.Rate > 0 request i is due at start + i/Rate and its latency is
// measured from when it was due, so time spent waiting for a free worker
// counts (no coordinated omission).
func Drive(ctx context.Context, client *http.Client, w Workload) Result {
	var next atomic.Int64
	results := make([]workerResult, max(w.Concurrency, 1))
	var wg sync.WaitGroup
	start := time.Now()
	perWorker := 1024
	if w.N > 0 {
		perWorker = w.N/len(results) + 1
	}
	for k := range results {
		wg.Go(func() {
			wr := workerResult{outcomes: map[string]int{}}
			wr.latencies = make([]time.Duration, 0, perWorker)
			for ctx.Err() == nil && len(w.Requests) > 0 {
				i := int(next.Add(1) - 1)
				if w.N > 0 && i >= w.N {
					break
				}
				t0 := time.Now()
				if w.Rate > 0 {
					t0 = due(start, i, w.Rate)
					if !sleepUntil(ctx, t0) {
						break
					}
				}
				outcome, err := post(ctx, client, w.Requests[i%len(w.Requests)], w.Classify)
				elapsed := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					break // cut off by the stop, not a gateway error: not counted
				}
				wr.outcomes[outcome]++
				if outcome == w.OK {
					wr.latencies = append(wr.latencies, elapsed)
					continue
				}
				wr.errors++
				if err != nil && wr.transport == "" {
					wr.transport = err.Error()
				}
			}
			results[k] = wr
		})
	}
	wg.Wait()
	out := Result{Outcomes: map[string]int{}, Duration: time.Since(start)}
	for _, wr := range results {
		out.Latencies = append(out.Latencies, wr.latencies...)
		out.Errors += wr.errors
		for k, v := range wr.outcomes {
			out.Outcomes[k] += v
		}
		if out.FirstTransportError == "" {
			out.FirstTransportError = wr.transport
		}
	}
	slices.Sort(out.Latencies)
	for _, v := range out.Outcomes {
		out.Sent += v
	}
	if w.N > 0 {
		out.NotSent = w.N - out.Sent
	}
	return out
}

// due is when request i of an open-loop run at rate per second is sent.
func due(start time.Time, i int, rate float64) time.Time {
	return start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// post sends r and classifies the answer.
func post(ctx context.Context, client *http.Client, r Request, classify Classifier) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return OutcomeTransport, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r.Authorization != "" {
		req.Header.Set("Authorization", r.Authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return OutcomeTransport, err
	}
	outcome, err := classify(resp)
	// Drain the rest so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	if err != nil {
		return OutcomeTransport, err
	}
	return outcome, nil
}
