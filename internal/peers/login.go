package peers

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

const (
	maxBodyBytes  = 4 << 20
	maxLoginSteps = 8
)

// browserLogin is the Login of both peers: GET the SSO URL, fill in and submit
// the login form, and return the auto-submit SAMLResponse form.
func browserLogin(ctx context.Context, client *http.Client, ssoURL, userName, password string) (PostForm, error) {
	if client == nil {
		return PostForm{}, fmt.Errorf("peers: Login needs an http.Client (with a cookie jar)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ssoURL, nil)
	if err != nil {
		return PostForm{}, fmt.Errorf("peers: SSO request: %w", err)
	}
	submitted := false
	for step := 0; step < maxLoginSteps; step++ {
		page, body, status, err := fetchPage(client, req)
		if err != nil {
			return PostForm{}, err
		}
		forms := parseForms(body)
		for _, f := range forms {
			resp, ok := f.field("SAMLResponse")
			if !ok {
				continue
			}
			action, err := page.Parse(f.Action)
			if err != nil {
				return PostForm{}, fmt.Errorf("%w: bad form action %q: %w", ErrUnexpectedPage, f.Action, err)
			}
			relay, _ := f.field("RelayState")
			return PostForm{Action: action.String(), SAMLResponse: resp, RelayState: relay}, nil
		}
		login, ok := findLoginForm(forms)
		if !ok || status != http.StatusOK {
			return PostForm{}, fmt.Errorf("%w: HTTP %d at %s: %s", ErrUnexpectedPage, status, withoutQuery(page), snippet(body))
		}
		if submitted {
			return PostForm{}, ErrLoginRejected
		}
		submitted = true
		req, err = login.request(ctx, page, userName, password)
		if err != nil {
			return PostForm{}, err
		}
	}
	return PostForm{}, fmt.Errorf("%w: no SAMLResponse after %d pages", ErrUnexpectedPage, maxLoginSteps)
}

func fetchPage(client *http.Client, req *http.Request) (*url.URL, []byte, int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("peers: %s %s: %w", req.Method, withoutQuery(req.URL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("peers: read %s: %w", withoutQuery(resp.Request.URL), err)
	}
	return resp.Request.URL, body, resp.StatusCode, nil
}

func findLoginForm(forms []htmlForm) (htmlForm, bool) {
	for _, f := range forms {
		if f.hasPassword() {
			return f, true
		}
	}
	return htmlForm{}, false
}

// request builds the submission of a login form: hidden fields and checked
// boxes as they are, the first text-like field set to the user name and the
// password field to the password.
func (f htmlForm) request(ctx context.Context, page *url.URL, userName, password string) (*http.Request, error) {
	action, err := page.Parse(f.Action)
	if err != nil {
		return nil, fmt.Errorf("%w: bad login form action %q: %w", ErrUnexpectedPage, f.Action, err)
	}
	vals := url.Values{}
	userSet := false
	for _, in := range f.Inputs {
		if in.Name == "" {
			continue
		}
		switch in.Type {
		case "password":
			vals.Add(in.Name, password)
		case "text", "email":
			if !userSet {
				vals.Add(in.Name, userName)
				userSet = true
			} else {
				vals.Add(in.Name, in.Value)
			}
		case "checkbox", "radio":
			if in.Checked {
				vals.Add(in.Name, in.Value)
			}
		case "submit", "button", "image", "reset", "file":
		default:
			vals.Add(in.Name, in.Value)
		}
	}
	if !userSet {
		return nil, fmt.Errorf("%w: login form has no user name field", ErrUnexpectedPage)
	}
	if f.Method == "post" {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
		if err != nil {
			return nil, fmt.Errorf("peers: login request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	action.RawQuery = vals.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("peers: login request: %w", err)
	}
	return req, nil
}

// withoutQuery names a page without its query (which holds SAML messages).
func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.User = "", "", nil
	return c.String()
}

// snippet is the start of a page's visible text (scripts and styles left
// out, white space collapsed), for error messages.
func snippet(body []byte) string {
	const limit = 2000
	var b strings.Builder
	space := false
	for i := 0; i < len(body) && b.Len() < limit; {
		c := body[i]
		if c == '<' {
			name, n := tagName(body[i+1:])
			end := bytes.IndexByte(body[i:], '>')
			if end < 0 {
				break
			}
			i += end + 1
			if n > 0 && (name == "script" || name == "style") {
				i += skipRawText(body[i:], name)
			}
			space = true
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		i += size
		if r == ' ' || r == '\n' || r == '\t' || r == '\r' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r == utf8.RuneError || r < ' ' {
			r = '?'
		}
		b.WriteRune(r)
	}
	return html.UnescapeString(b.String())
}
