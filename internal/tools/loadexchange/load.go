package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// Outcome labels other than HTTP statuses.
const (
	outcomeOK       = "200 + access token"
	outcome200NoTok = "200 without an access token"
)

// maxResponseBody bounds what is read of one answer.
const maxResponseBody = 64 << 10

// exchanges returns a token request to url for each body, authenticated
// with authorization.
func exchanges(url, authorization string, bodies [][]byte) []loadkit.Request {
	out := make([]loadkit.Request, len(bodies))
	for i, b := range bodies {
		out[i] = loadkit.Request{URL: url, Authorization: authorization, Body: b}
	}
	return out
}

// classifyResponse is the loadkit.Classifier of exchanges: it reads up to
// maxResponseBody of the answer (see classify).
func classifyResponse(resp *http.Response) (string, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return "", err
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
