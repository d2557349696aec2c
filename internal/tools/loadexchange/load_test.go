package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// okBody is a valid token exchange answer.
const okBody = `{"access_token":"eyJ.x.y","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":3600,"scope":"warehouse.read"}`

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"positive control", 200, okBody, outcomeOK},
		{"200 without access_token", 200, strings.Replace(okBody, `"access_token":"eyJ.x.y",`, "", 1), outcome200NoTok},
		{"200 with empty access_token", 200, strings.Replace(okBody, `"eyJ.x.y"`, `""`, 1), outcome200NoTok},
		{"200 with another token_type", 200, strings.Replace(okBody, `"Bearer"`, `"DPoP"`, 1), outcome200NoTok},
		{"200 with another issued_token_type", 200, strings.Replace(okBody, "access_token\",\"expires_in", "jwt\",\"expires_in", 1), outcome200NoTok},
		{"200 not JSON", 200, "ok", outcome200NoTok},
		{"400 with an OAuth error", 400, `{"error":"invalid_grant","error_description":"unknown user"}`, `400 Bad Request "invalid_grant"`},
		{"401 with an OAuth error", 401, `{"error":"invalid_client"}`, `401 Unauthorized "invalid_client"`},
		{"503 without JSON", 503, "busy", "503 Service Unavailable"},
		{"400 with an overlong error code", 400, `{"error":"` + strings.Repeat("x", 65) + `"}`, "400 Bad Request"},
		{"500 with access_token", 500, okBody, "500 Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.status, []byte(tt.body)))
		})
	}
}

func TestClassifyResponse(t *testing.T) {
	resp := func(body io.Reader) *http.Response {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(body)}
	}
	got, err := classifyResponse(resp(strings.NewReader(okBody)))
	require.NoError(t, err)
	assert.Equal(t, outcomeOK, got, "positive control")

	padded := `{"pad":"` + strings.Repeat("x", maxResponseBody) + `",` + okBody[1:]
	got, err = classifyResponse(resp(strings.NewReader(padded)))
	require.NoError(t, err)
	assert.Equal(t, outcome200NoTok, got, "only maxResponseBody bytes are read")

	broken := errors.New("connection reset")
	_, err = classifyResponse(resp(io.MultiReader(strings.NewReader(okBody[:10]), iotest.ErrReader(broken))))
	assert.ErrorIs(t, err, broken, "a body cut short is a transport error")
}

func TestExchanges(t *testing.T) {
	reqs := exchanges("http://127.0.0.1:1/oauth/token", "Basic x", bodiesN(2))
	assert.Equal(t, []loadkit.Request{
		{URL: "http://127.0.0.1:1/oauth/token", Authorization: "Basic x", Body: []byte("n=0")},
		{URL: "http://127.0.0.1:1/oauth/token", Authorization: "Basic x", Body: []byte("n=1")},
	}, reqs)
}

func FuzzClassify(f *testing.F) {
	f.Add(200, okBody)
	f.Add(400, `{"error":"invalid_grant"}`)
	f.Add(200, `{"access_token":1}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		got := classify(status, []byte(body))
		if got == outcomeOK && status != http.StatusOK {
			t.Fatalf("status %d counted as completed", status)
		}
		if len(got) > 128 {
			t.Fatalf("label of %d bytes", len(got))
		}
	})
}
