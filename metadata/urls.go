package metadata

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkURL requires an absolute https URL with a host, or an http URL whose
// host is loopback (127.0.0.0/8, ::1 or "localhost"). User info and
// fragments are rejected: neither belongs in a SAML endpoint or a metadata
// location. The URL is returned parsed; callers keep using the original string
// so that later exact comparisons see what the operator or IdP wrote.
func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: empty URL", ErrInsecureURL)
	}
	if strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: URL carries a fragment", ErrInsecureURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInsecureURL, err)
	}
	if err := checkParsedURL(u); err != nil {
		return nil, err
	}
	return u, nil
}

func checkParsedURL(u *url.URL) error {
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: %q is not an absolute URL with a host", ErrInsecureURL, u.Redacted())
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q carries user info", ErrInsecureURL, u.Redacted())
	}
	if u.Fragment != "" {
		return fmt.Errorf("%w: %q carries a fragment", ErrInsecureURL, u.Redacted())
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %q uses http on a non-loopback host", ErrInsecureURL, u.Redacted())
	default:
		return fmt.Errorf("%w: %q has scheme %q", ErrInsecureURL, u.Redacted(), u.Scheme)
	}
}

// isLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP address. Zones ("::1%lo") are not loopback.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
