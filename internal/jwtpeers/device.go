package jwtpeers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// DeviceRequest is one RFC 8628 device flow for openid-client to run as a
// public client: discovery at Issuer, a device authorization request for
// Audience (and Scope, when set), then polling until the user decides.
type DeviceRequest struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientID"`
	Audience string `json:"audience"`
	Scope    string `json:"scope"`
}

// DeviceAuthorization is the device authorization response openid-client
// received.
type DeviceAuthorization struct {
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// DeviceResult is how the flow ended: Accepted with the tokens, or the
// RFC 6749/8628 Error the token endpoint answered.
type DeviceResult struct {
	Accepted     bool   `json:"ok"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	Status       int    `json:"status"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// DeviceFlow runs openid-client's device flow for r as a child process.
// Once the device authorization is made, decide is called with it (the
// test plays the user: it approves or denies on the /device page) while
// openid-client polls; DeviceFlow then returns how the flow ended. A
// refusal by the server is a DeviceResult with Accepted false, not an
// error; an error from decide stops the client.
func DeviceFlow(ctx context.Context, r DeviceRequest, decide func(DeviceAuthorization) error) (DeviceResult, error) {
	in, err := json.Marshal(r)
	if err != nil {
		return DeviceResult{}, fmt.Errorf("jwtpeers: encode device job: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(NodeDir(), "device.mjs"))
	cmd.Dir = NodeDir()
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return DeviceResult{}, fmt.Errorf("jwtpeers: device flow: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return DeviceResult{}, fmt.Errorf("%w: start node: %v", ErrExchangeFailed, err)
	}
	lines := bufio.NewReader(io.LimitReader(out, maxOutput))
	fail := func(what string, err error) (DeviceResult, error) {
		cancel()
		_ = cmd.Wait()
		return DeviceResult{}, fmt.Errorf("%w: device flow: %s: %v; stderr: %s", ErrExchangeFailed, what, err, strings.TrimSpace(stderr.String()))
	}
	first, err := lines.ReadBytes('\n')
	if err != nil {
		return fail("reading the device authorization", err)
	}
	var da DeviceAuthorization
	if err := json.Unmarshal(first, &da); err != nil || da.UserCode == "" {
		return fail("decoding the device authorization", fmt.Errorf("%q: %v", first, err))
	}
	if err := decide(da); err != nil {
		cancel()
		_ = cmd.Wait()
		return DeviceResult{}, fmt.Errorf("jwtpeers: device flow: deciding: %w", err)
	}
	second, err := lines.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fail("reading the outcome", err)
	}
	runErr := cmd.Wait()
	var res DeviceResult
	if err := json.Unmarshal(second, &res); err != nil {
		return DeviceResult{}, fmt.Errorf("%w: device flow outcome %q: %v (%v); stderr: %s", ErrExchangeFailed, second, err, runErr, strings.TrimSpace(stderr.String()))
	}
	var exitErr *exec.ExitError
	switch {
	case res.Accepted && runErr == nil && res.AccessToken != "":
	case !res.Accepted && errors.As(runErr, &exitErr) && exitErr.ExitCode() == 1 && res.Error != "":
	default:
		return DeviceResult{}, fmt.Errorf("%w: device flow answer %+v with exit %v; stderr: %s", ErrExchangeFailed, res, runErr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}
