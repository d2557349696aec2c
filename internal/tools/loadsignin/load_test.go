package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassify(t *testing.T) {
	withCookie := func(status int, cookie string) *http.Response {
		h := http.Header{}
		if cookie != "" {
			h.Add("Set-Cookie", cookie)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	tests := []struct {
		name string
		resp *http.Response
		want string
	}{
		{"303 with session cookie", withCookie(303, "gatehouse_session=abc; Path=/; HttpOnly"), outcomeOK},
		{"303 without cookie", withCookie(303, ""), outcome303NoCookie},
		{"303 with another cookie", withCookie(303, "other=abc"), outcome303NoCookie},
		{"303 with empty session cookie", withCookie(303, "gatehouse_session=; Path=/"), outcome303NoCookie},
		{"303 deleting the session cookie", withCookie(303, "gatehouse_session=x; Max-Age=0"), outcome303NoCookie},
		{"302 with session cookie", withCookie(302, "gatehouse_session=abc"), "302 Found"},
		{"403", withCookie(403, ""), "403 Forbidden"},
		{"503", withCookie(503, ""), "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.resp))
			got, err := classifyResponse(tt.resp)
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got, "the loadkit.Classifier agrees")
		})
	}
}
