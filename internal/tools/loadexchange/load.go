package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/gatehouse-dev/gatehouse/oauth"
)

// Outcome labels other than HTTP statuses.
const (
	outcomeOK        = "200 + access token"
	outcome200NoTok  = "200 without an access token"
	outcomeTransport = "transport error"
)

// maxResponseBody bounds what is read of one answer.
const maxResponseBody = 64 << 10

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

// target is what the workers send: request i posts Bodies[i mod
// len(Bodies)] to URL with the Authorization header.
type target struct {
	URL           string
	Authorization string
	Bodies        [][]byte
}

// runResult is the outcome of one drive.
type runResult struct {
	// Latencies of the completed exchanges, sorted.
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

// Completed is the number of completed exchanges.
func (r runResult) Completed() int { return len(r.Latencies) }

type workerResult struct {
	latencies []time.Duration
	errors    int
	outcomes  map[string]int
	transport string
}

// drive sends n requests of t with c workers until all are sent or ctx is
// done; with n <= 0 it sends until ctx is done (a timed run, whose cut-off
// requests are not counted). With rate > 0 it is open-loop: request i is
// due at start + i/rate and its latency is measured from when it was due,
// so time spent waiting for a free worker counts (no coordinated
// omission). With rate 0 each worker sends as soon as its previous request
// is answered.
func drive(ctx context.Context, client *http.Client, t target, n, c int, rate float64) runResult {
	var next atomic.Int64
	results := make([]workerResult, max(c, 1))
	var wg sync.WaitGroup
	start := time.Now()
	perWorker := 1024
	if n > 0 {
		perWorker = n/len(results) + 1
	}
	for w := range results {
		wg.Go(func() {
			wr := workerResult{outcomes: map[string]int{}}
			wr.latencies = make([]time.Duration, 0, perWorker)
			for ctx.Err() == nil && len(t.Bodies) > 0 {
				i := int(next.Add(1) - 1)
				if n > 0 && i >= n {
					break
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = due(start, i, rate)
					if !sleepUntil(ctx, t0) {
						break
					}
				}
				outcome, err := post(ctx, client, t, t.Bodies[i%len(t.Bodies)])
				elapsed := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					break // cut off by the stop, not a gateway error: not counted
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
	for _, v := range out.Outcomes {
		out.Sent += v
	}
	if n > 0 {
		out.NotSent = n - out.Sent
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

// post sends one exchange and classifies the answer.
func post(ctx context.Context, client *http.Client, t target, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return outcomeTransport, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", t.Authorization)
	resp, err := client.Do(req)
	if err != nil {
		return outcomeTransport, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain the rest so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return outcomeTransport, err
	}
	return classify(resp.StatusCode, b), nil
}

// tokenResponse holds the fields of a token endpoint answer the tool
// checks (RFC 8693 section 2.2.1; RFC 6749 section 5.2 for errors).
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	IssuedTokenType string `json:"issued_token_type"`
	Error           string `json:"error"`
}

// classify labels an answer: outcomeOK only for a 200 whose JSON body has
// a non-empty access_token of token_type Bearer and issued_token_type
// access_token (RFC 8693 section 2.2.1); other statuses carry the
// OAuth error code when the body has one.
func classify(status int, body []byte) string {
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if status != http.StatusOK {
		label := strconv.Itoa(status) + " " + http.StatusText(status)
		if jsonErr == nil && tr.Error != "" && len(tr.Error) <= 64 {
			label += " " + strconv.Quote(tr.Error)
		}
		return label
	}
	if jsonErr != nil || tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.IssuedTokenType != oauth.TokenTypeAccessToken {
		return outcome200NoTok
	}
	return outcomeOK
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
