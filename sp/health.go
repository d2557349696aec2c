package sp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ProberConfig configures the default HealthChecker.
type ProberConfig struct {
	// Client makes the probes (default: a client with Timeout).
	Client *http.Client
	// Timeout bounds one probe (default 1s).
	Timeout time.Duration
	// TTL is how long a result is cached (default 10s).
	TTL time.Duration
	Now func() time.Time
}

// Prober is the default HealthChecker: it probes a region's /readyz (200
// means ready) and an IdP SSO URL (any HTTP answer below 500 means
// reachable), caching each result briefly so sign-in does not wait on probes
// for every request.
type Prober struct {
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]probeResult
}

type probeResult struct {
	ok      bool
	expires time.Time
}

// NewProber returns a Prober.
func NewProber(cfg ProberConfig) *Prober {
	p := &Prober{client: cfg.Client, timeout: cfg.Timeout, ttl: cfg.TTL, now: cfg.Now, cache: map[string]probeResult{}}
	if p.timeout <= 0 {
		p.timeout = time.Second
	}
	if p.ttl <= 0 {
		p.ttl = 10 * time.Second
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.client == nil {
		p.client = &http.Client{
			Timeout: p.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return p
}

// RegionReady reports whether the region's /readyz answers 200.
func (p *Prober) RegionReady(r *http.Request, region Region) bool {
	u, err := url.Parse(region.ACSURL)
	if err != nil {
		return false
	}
	probe := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/readyz"}).String()
	return p.check(r.Context(), probe, func(status int) bool { return status == http.StatusOK })
}

// Reachable reports whether rawURL answers with a status below 500.
func (p *Prober) Reachable(r *http.Request, rawURL string) bool {
	return p.check(r.Context(), rawURL, func(status int) bool { return status < 500 })
}

func (p *Prober) check(ctx context.Context, target string, good func(int) bool) bool {
	now := p.now()
	p.mu.Lock()
	if res, ok := p.cache[target]; ok && now.Before(res.expires) {
		p.mu.Unlock()
		return res.ok
	}
	p.mu.Unlock()

	ok := p.probe(ctx, target, good)
	p.mu.Lock()
	if len(p.cache) > 1024 {
		clear(p.cache)
	}
	p.cache[target] = probeResult{ok: ok, expires: now.Add(p.ttl)}
	p.mu.Unlock()
	return ok
}

func (p *Prober) probe(ctx context.Context, target string, good func(int) bool) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return good(resp.StatusCode)
}
