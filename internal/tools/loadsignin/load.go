package main

import (
	"net/http"
	"strconv"
)

// sessionCookie is the cookie a completed sign-in sets (CONTRACT.md).
const sessionCookie = "gatehouse_session"

// Outcome labels other than HTTP statuses.
const (
	outcomeOK          = "303 + session cookie"
	outcome303NoCookie = "303 without session cookie"
)

// classifyResponse is the loadkit.Classifier of sign-ins (see classify).
func classifyResponse(resp *http.Response) (string, error) { return classify(resp), nil }

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
