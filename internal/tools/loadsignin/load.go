package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sessionCookie is the cookie a completed sign-in sets (CONTRACT.md).
const sessionCookie = "gatehouse_session"

// Outcome labels other than HTTP statuses.
const (
	outcomeOK          = "303 + session cookie"
	outcome303NoCookie = "303 without session cookie"
	outcomeTransport   = "transport error"
)

// newClient returns a keep-alive client for c concurrent workers that
// follows no redirects and ignores proxy settings.
func newClient(c int) *http.Client {
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

// runResult is the outcome of one drive.
type runResult struct {
	// Latencies of the completed sign-ins, sorted.
	Latencies []time.Duration
	Errors    int
	// NotSent counts requests not sent because the run was stopped.
	NotSent  int
	Outcomes map[string]int
	// FirstTransportError is the first transport error seen, if any.
	FirstTransportError string
	Duration            time.Duration
}

// Completed is the number of completed sign-ins.
func (r runResult) Completed() int { return len(r.Latencies) }

type workerResult struct {
	latencies []time.Duration
	errors    int
	outcomes  map[string]int
	transport string
}

// drive posts every request once with c workers until all are sent or ctx
// is done. With rate > 0 it is open-loop: request i is due at
// start + i/rate and its latency is measured from when it was due, so time
// spent waiting for a free worker counts (no coordinated omission). With
// rate 0 each worker sends as soon as its previous request is answered.
func drive(ctx context.Context, client *http.Client, reqs []signIn, c int, rate float64) runResult {
	var next atomic.Int64
	results := make([]workerResult, max(c, 1))
	var wg sync.WaitGroup
	start := time.Now()
	for w := range results {
		wg.Go(func() {
			wr := workerResult{outcomes: map[string]int{}}
			wr.latencies = make([]time.Duration, 0, len(reqs)/len(results)+1)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					break
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = due(start, i, rate)
					if !sleepUntil(ctx, t0) {
						break
					}
				}
				outcome, err := post(ctx, client, reqs[i])
				elapsed := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					break // cut off by the stop, not a gateway error: counted as not sent
				}
				wr.outcomes[outcome]++
				if outcome == outcomeOK {
					wr.latencies = append(wr.latencies, elapsed)
					continue
				}
				wr.errors++
				if err != nil && wr.transport == "" {
					wr.transport = err.Error()
				}
			}
			results[w] = wr
		})
	}
	wg.Wait()
	out := runResult{Outcomes: map[string]int{}, Duration: time.Since(start)}
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
	sent := 0
	for _, v := range out.Outcomes {
		sent += v
	}
	out.NotSent = len(reqs) - sent
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

// post sends one sign-in and classifies the answer.
func post(ctx context.Context, client *http.Client, s signIn) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(s.Body))
	if err != nil {
		return outcomeTransport, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return outcomeTransport, err
	}
	// Drain so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return classify(resp), nil
}

// classify labels a response: outcomeOK only for a 303 that sets a
// non-empty session cookie.
func classify(resp *http.Response) string {
	if resp.StatusCode != http.StatusSeeOther {
		return strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" && c.MaxAge >= 0 {
			return outcomeOK
		}
	}
	return outcome303NoCookie
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value with at least p% of the values at or below
// it.
func percentile(sorted []time.Duration, p float64) (time.Duration, error) {
	if len(sorted) == 0 {
		return 0, errors.New("percentile of no values")
	}
	if !(p > 0 && p <= 100) {
		return 0, fmt.Errorf("percentile %v out of (0, 100]", p)
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1], nil
}
