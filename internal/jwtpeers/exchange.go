package jwtpeers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// ExchangeRequest is one RFC 8693 token exchange for openid-client to send:
// it discovers Issuer's metadata at /.well-known/openid-configuration and
// authenticates as ClientID with client_secret_basic. Scope may be empty.
type ExchangeRequest struct {
	Issuer           string `json:"issuer"`
	ClientID         string `json:"clientID"`
	ClientSecret     string `json:"clientSecret"`
	SubjectToken     string `json:"subjectToken"`
	SubjectTokenType string `json:"subjectTokenType"`
	Audience         string `json:"audience"`
	Scope            string `json:"scope"`
}

// ExchangeResult is the token endpoint's answer as openid-client reported
// it. When Accepted, the token fields are set; otherwise Error is the RFC
// 6749 error code, Description its error_description, Status the HTTP
// status and Challenge the WWW-Authenticate scheme(s) sent with it, if any.
type ExchangeResult struct {
	Accepted        bool   `json:"ok"`
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	Scope           string `json:"scope"`
	ExpiresIn       int    `json:"expires_in"`
	Status          int    `json:"status"`
	Error           string `json:"error"`
	Description     string `json:"error_description"`
	Challenge       string `json:"challenge"`
}

// ErrExchangeFailed marks an exchange that openid-client neither completed
// nor saw refused with an RFC 6749 error (discovery failed, it crashed, or
// it was not installed).
var ErrExchangeFailed = errors.New("jwtpeers: token exchange failed")

// Exchange runs openid-client's token exchange for r as a child process. A
// refusal by the server is an ExchangeResult with Accepted false, not an
// error.
func Exchange(ctx context.Context, r ExchangeRequest) (ExchangeResult, error) {
	in, err := json.Marshal(r)
	if err != nil {
		return ExchangeResult{}, fmt.Errorf("jwtpeers: encode exchange job: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(NodeDir(), "exchange.mjs"))
	cmd.Dir = NodeDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if stdout.Len() > maxOutput {
		return ExchangeResult{}, fmt.Errorf("%w: output larger than %d bytes", ErrExchangeFailed, maxOutput)
	}
	var res ExchangeResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return ExchangeResult{}, fmt.Errorf("%w: %v (%v); stderr: %s", ErrExchangeFailed, err, runErr, strings.TrimSpace(stderr.String()))
	}
	// The exit status and the answer must agree: 0 issued, 1 refused.
	var exitErr *exec.ExitError
	switch {
	case res.Accepted && runErr == nil && res.AccessToken != "":
	case !res.Accepted && errors.As(runErr, &exitErr) && exitErr.ExitCode() == 1 && res.Error != "":
	default:
		return ExchangeResult{}, fmt.Errorf("%w: answer %+v with exit %v; stderr: %s", ErrExchangeFailed, res, runErr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// ExchangeInstalled reports whether Exchange can run here; when not, the
// string says what is missing and how to install it.
func ExchangeInstalled() (bool, string) {
	return testpeer.Installed(InstallHint, "node",
		filepath.Join(NodeDir(), "node_modules", "openid-client", "package.json"),
		filepath.Join(NodeDir(), "node_modules", "oauth4webapi", "package.json"),
		filepath.Join(NodeDir(), "node_modules", "jose", "package.json"))
}
