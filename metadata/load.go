package metadata

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

// DefaultMaxBytes is the size cap LoadFile and Fetch apply when given
// maxBytes <= 0.
const DefaultMaxBytes int64 = 1 << 20

// maxRedirects bounds the redirects Fetch follows.
const maxRedirects = 5

// LoadFile reads a metadata file of at most maxBytes bytes (DefaultMaxBytes
// when maxBytes <= 0). A larger file is an error wrapping ErrTooLarge, never
// a truncated read. Errors name the path.
func LoadFile(path string, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metadata: reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metadata: reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("metadata: reading %s: %w: not a regular file", path, ErrInvalidConfig)
	}
	if fi.Size() > maxBytes {
		return nil, fmt.Errorf("metadata: reading %s: %w: %d bytes, limit %d", path, ErrTooLarge, fi.Size(), maxBytes)
	}
	b, err := readCapped(f, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("metadata: reading %s: %w", path, err)
	}
	return b, nil
}

// Fetch GETs rawURL with client (a plain &http.Client{} when nil) and returns
// the body. The URL, and every redirect target, must be https, or http on a
// loopback host (127.0.0.0/8, ::1, localhost). Only status 200 is accepted.
// The body may hold at most maxBytes bytes (DefaultMaxBytes when
// maxBytes <= 0); a larger body is an error wrapping ErrTooLarge, never a
// truncated read. Errors name the URL (with any password redacted).
//
// client is not modified: Fetch uses a shallow copy whose CheckRedirect
// enforces the URL rule before calling the client's own CheckRedirect. Bound
// the request's duration with ctx or client.Timeout.
func Fetch(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) ([]byte, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("metadata: fetching %s: %w", redact(rawURL), err)
	}
	name := u.Redacted()
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	c := &http.Client{}
	if client != nil {
		c = new(http.Client)
		*c = *client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if err := checkParsedURL(req.URL); err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("metadata: fetching %s: %w", name, err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metadata: fetching %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metadata: fetching %s: %w %d", name, ErrHTTPStatus, resp.StatusCode)
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("metadata: fetching %s: %w: Content-Length %d, limit %d", name, ErrTooLarge, resp.ContentLength, maxBytes)
	}
	b, err := readCapped(resp.Body, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("metadata: fetching %s: %w", name, err)
	}
	return b, nil
}

// readCapped reads all of r, failing with ErrTooLarge when it holds more
// than max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// redact hides a password in a URL that may not even parse.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
