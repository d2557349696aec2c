package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// Failures caps failures per key (a signed-in user, a client
// address) with the generic cell rate algorithm: a key may fail max times
// in a burst and then once every window/max; a key that stops failing is
// fully recovered one window after its last failure. Each key costs one
// time.Time (its theoretical arrival time, tat), and the table never holds
// more than maxKeys keys. Safe for concurrent use.
//
// A request is charged before the guarded call (Take) and refunded when
// the call did not fail (Refund), so concurrent requests cannot all pass
// the check before any failure is recorded.
type Failures struct {
	interval time.Duration // window / max: the cost of one failure
	lead     time.Duration // window - interval: how far tat may lead now
	maxKeys  int

	mu  sync.Mutex
	tat map[string]time.Time
}

// NewFailures returns a limiter of max failures per window per key that
// tracks at most maxKeys keys.
func NewFailures(max int, window time.Duration, maxKeys int) *Failures {
	interval := window / time.Duration(max)
	return &Failures{
		interval: interval,
		lead:     window - interval,
		maxKeys:  maxKeys,
		tat:      make(map[string]time.Time),
	}
}

// Take charges one failure to every key when none of them is over its
// limit, and reports whether it did. When it did not, retryAfter is when
// the most limited key may try again (at least one second). A key not yet
// in the table is refused when the table is full of keys still within
// their window: the limiter fails closed rather than forget failures.
func (l *Failures) Take(now time.Time, keys ...string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	missing := 0
	for _, k := range keys {
		t, found := l.tat[k]
		if !found {
			missing++
			continue
		}
		if d := t.Sub(now) - l.lead; d > wait {
			wait = d
		}
	}
	if missing > 0 && len(l.tat)+missing > l.maxKeys {
		l.sweep(now)
		if len(l.tat)+missing > l.maxKeys {
			wait = max(wait, l.interval)
		}
	}
	if wait > 0 {
		return false, max(wait, time.Second)
	}
	for _, k := range keys {
		t := l.tat[k]
		if t.Before(now) {
			t = now
		}
		l.tat[k] = t.Add(l.interval)
	}
	return true, 0
}

// Refund takes back what take charged to keys, for a call that did not
// fail.
func (l *Failures) Refund(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		t, found := l.tat[k]
		if !found {
			continue
		}
		if t = t.Add(-l.interval); t.After(now) {
			l.tat[k] = t
		} else {
			delete(l.tat, k)
		}
	}
}

// sweep drops the keys that have fully recovered. l.mu is held.
func (l *Failures) sweep(now time.Time) {
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
}

// Size returns the number of keys in the table.
func (l *Failures) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}

// Limiter keys: a prefix per kind keeps a user ID from colliding with an
// address.
func UserKey(id string) string { return "user:" + id }

// AddrKey is the limiter key of the request's client address (RemoteAddr,
// which the gateway has already rewritten from trusted proxies): an IPv4
// address, or the /64 an IPv6 address is in (one subscriber commonly holds
// a whole /64). Every request whose RemoteAddr is not an IP address shares
// one key.
func AddrKey(remoteAddr string) string {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remoteAddr); err != nil {
		return "addr:invalid"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}
