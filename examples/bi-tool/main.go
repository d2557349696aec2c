// Command bi-tool is a stand-in for a BI tool querying a data service on
// behalf of a signed-in user: it exchanges the user's token from the
// corporate IdP for a Gatehouse access token (RFC 8693 token exchange at
// {gatehouse}/oauth/token, authenticating with client_secret_basic), then
// calls GET {data-service}/rows with that token and prints the JSON result.
//
//	export GATEHOUSE_CLIENT_SECRET=...
//	go run ./examples/bi-tool \
//	    -gatehouse https://gatehouse.example.com \
//	    -client-id bi-tool \
//	    -subject-token-file idp-token.jwt \
//	    -audience https://warehouse.example.com \
//	    -data-service http://127.0.0.1:8091
//
// The IdP token must come from an issuer Gatehouse trusts
// (oauth.trusted_issuers); the client must be allowed the token exchange
// grant and the audience. The secret and token may be given as flags, but
// the environment (GATEHOUSE_CLIENT_SECRET, GATEHOUSE_SUBJECT_TOKEN) or a
// file keeps them out of the process list. Both URLs must be https, or http
// on a loopback host, since a client secret and bearer tokens travel on them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Token types and grant type of RFC 8693.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
)

// maxResponse caps the bodies read from Gatehouse and the data service.
const maxResponse = 1 << 20

type config struct {
	Gatehouse    string // Gatehouse external URL
	ClientID     string
	ClientSecret string
	SubjectToken string // the IdP token
	Audience     string // the data service's audience
	Scope        string // space-separated; empty asks for the client's allowance
	DataService  string // base URL of the data service
}

// StatusError is an unexpected HTTP status from Gatehouse or the data
// service.
type StatusError struct {
	Code int
	// OAuthError and Description are the RFC 6749 section 5.2 error fields
	// when Gatehouse sent them.
	OAuthError, Description string
}

func (e *StatusError) Error() string {
	if e.OAuthError != "" {
		return fmt.Sprintf("HTTP %d: %s: %s", e.Code, e.OAuthError, e.Description)
	}
	return fmt.Sprintf("HTTP %d", e.Code)
}

func main() {
	var cfg config
	var tokenFile string
	flag.StringVar(&cfg.Gatehouse, "gatehouse", "", "Gatehouse external URL")
	flag.StringVar(&cfg.ClientID, "client-id", "", "OAuth client_id of this tool")
	flag.StringVar(&cfg.ClientSecret, "client-secret", "", "client secret (default $GATEHOUSE_CLIENT_SECRET)")
	flag.StringVar(&cfg.SubjectToken, "subject-token", "", "the IdP token (default $GATEHOUSE_SUBJECT_TOKEN)")
	flag.StringVar(&tokenFile, "subject-token-file", "", "file holding the IdP token")
	flag.StringVar(&cfg.Audience, "audience", "", "audience of the data service")
	flag.StringVar(&cfg.Scope, "scope", "", "scopes to request (space-separated, optional)")
	flag.StringVar(&cfg.DataService, "data-service", "", "data service base URL")
	flag.Parse()

	if cfg.ClientSecret == "" {
		cfg.ClientSecret = os.Getenv("GATEHOUSE_CLIENT_SECRET")
	}
	if cfg.SubjectToken == "" && tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			fail(err)
		}
		cfg.SubjectToken = strings.TrimSpace(string(b))
	}
	if cfg.SubjectToken == "" {
		cfg.SubjectToken = os.Getenv("GATEHOUSE_SUBJECT_TOKEN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	token, err := exchange(ctx, client, cfg)
	if err != nil {
		fail(err)
	}
	body, err := query(ctx, client, cfg.DataService, token)
	if err != nil {
		fail(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		fail(err)
	}
	fmt.Println(out.String())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bi-tool:", err)
	os.Exit(1)
}

// checkURL accepts https, or http only on a loopback host.
func checkURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an absolute URL", name, raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%s: %q must be https (http only on loopback)", name, raw)
}

// exchange trades cfg.SubjectToken for a Gatehouse access token for
// cfg.Audience (RFC 8693 section 2.1), authenticating with
// client_secret_basic (RFC 6749 section 2.3.1: id and secret
// form-urlencoded before base64).
func exchange(ctx context.Context, client *http.Client, cfg config) (string, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.SubjectToken == "" || cfg.Audience == "" {
		return "", errors.New("exchange: client id, client secret, subject token and audience are required")
	}
	base, err := checkURL("gatehouse", cfg.Gatehouse)
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {cfg.SubjectToken},
		"subject_token_type": {tokenTypeJWT},
		"audience":           {cfg.Audience},
	}
	if cfg.Scope != "" {
		form.Set("scope", cfg.Scope)
	}
	endpoint := strings.TrimSuffix(base.String(), "/") + "/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Code: resp.StatusCode}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil {
			se.OAuthError, se.Description = e.Error, e.Description
		}
		return "", fmt.Errorf("exchange: %w", se)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("exchange: token response: %w", err)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", errors.New("exchange: token response lacks a bearer access_token")
	}
	return tr.AccessToken, nil
}

// query calls GET {dataService}/rows with token and returns the JSON body.
func query(ctx context.Context, client *http.Client, dataService, token string) ([]byte, error) {
	base, err := checkURL("data-service", dataService)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base.String(), "/")+"/rows", nil)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query: %w", &StatusError{Code: resp.StatusCode})
	}
	if !json.Valid(body) {
		return nil, errors.New("query: response is not JSON")
	}
	return body, nil
}
