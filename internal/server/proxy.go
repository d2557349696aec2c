package server

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// TrustedProxies is the set of peers allowed to set X-Forwarded-* headers.
// The zero value and nil trust nobody. It is immutable and safe for
// concurrent use.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// NewTrustedProxies parses CIDRs such as "10.0.0.0/8" or "2001:db8::/32".
func NewTrustedProxies(cidrs []string) (*TrustedProxies, error) {
	t := &TrustedProxies{prefixes: make([]netip.Prefix, 0, len(cidrs))}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("server: trusted proxy %q: %w", c, err)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// Contains reports whether addr is a trusted proxy.
func (t *TrustedProxies) Contains(addr netip.Addr) bool {
	if t == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Trusted reports whether the request's direct peer is a trusted proxy.
func (t *TrustedProxies) Trusted(r *http.Request) bool {
	return t.Contains(remoteAddr(r))
}

// ClientIP returns the client's address: the direct peer, or, when the peer
// is a trusted proxy, the rightmost X-Forwarded-For entry that is not itself
// a trusted proxy (entries further left may be forged by the client). When
// an entry is malformed, the last trusted hop before it is returned. The
// result is invalid (netip.Addr{}) only when RemoteAddr is not an IP address.
func (t *TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	client := remoteAddr(r)
	if !t.Contains(client) {
		return client
	}
	hops := headerList(r.Header, "X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !t.Contains(a) {
			return a
		}
	}
	return client
}

// ExternalURL returns the scheme and host the client used to reach the
// gateway, as a URL with only Scheme and Host set. From a trusted proxy,
// X-Forwarded-Proto ("http" or "https") and X-Forwarded-Host (a host[:port])
// override the connection's own values; when a header holds a list, its
// last entry (set by the nearest proxy) is used, and a malformed value is
// ignored. The host is lowercased and a default port (:443 for https, :80
// for http) dropped.
func (t *TrustedProxies) ExternalURL(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if t.Trusted(r) {
		if v := strings.ToLower(lastEntry(r.Header, "X-Forwarded-Proto")); v == "http" || v == "https" {
			scheme = v
		}
		if v := lastEntry(r.Header, "X-Forwarded-Host"); validHost(v) {
			host = v
		}
	}
	host = strings.ToLower(host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return &url.URL{Scheme: scheme, Host: host}
}

func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// parseHop parses an X-Forwarded-For entry: an IP, or an IP with a port.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// headerList splits every value of a comma-separated header, in order.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for e := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

func lastEntry(h http.Header, name string) string {
	l := headerList(h, name)
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// validHost accepts a DNS name or IPv4 address with an optional port, or a
// bracketed IPv6 address with an optional port.
func validHost(s string) bool {
	if s == "" || len(s) > 261 {
		return false
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		rest := s[end+1:]
		return rest == "" || strings.HasPrefix(rest, ":") && validPort(rest[1:])
	}
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return false
		}
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
