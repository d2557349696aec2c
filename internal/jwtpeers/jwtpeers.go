package jwtpeers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// Verifier names a third-party access token verifier.
type Verifier string

// The verifiers Verify can run.
const (
	Jose         Verifier = "jose"         // Node jose jwtVerify
	OAuth4WebAPI Verifier = "oauth4webapi" // Node oauth4webapi validateJwtAccessToken
	PyJWT        Verifier = "pyjwt"        // Debian python3-jwt
)

// All lists every Verifier.
func All() []Verifier { return []Verifier{Jose, OAuth4WebAPI, PyJWT} }

// InstallHint says how to install the verifiers.
const InstallHint = "scripts/install-speers.sh (npm ci in internal/jwtpeers/node; apt-get install python3-jwt python3-cryptography)"

// Request is one token for a verifier to check, with the expectations a
// data service would configure.
type Request struct {
	Token      string   `json:"token"`
	JWKSURL    string   `json:"jwksURL"`
	Issuer     string   `json:"issuer"`
	Audience   string   `json:"audience"`
	Algorithms []string `json:"algorithms"`
}

// Result is a verifier's verdict. When Accepted, Header and Claims are what
// it verified; otherwise Code (an error code or class) and Message say why
// it refused the token.
type Result struct {
	Accepted bool           `json:"ok"`
	Header   map[string]any `json:"header"`
	Claims   map[string]any `json:"claims"`
	Code     string         `json:"code"`
	Message  string         `json:"message"`
}

// Reason is Code and Message together, for matching a refusal.
func (r Result) Reason() string { return r.Code + ": " + r.Message }

// ErrVerifierFailed marks a verifier that neither accepted nor refused the
// token (it crashed, or was not installed).
var ErrVerifierFailed = errors.New("jwtpeers: verifier failed")

const maxOutput = 1 << 20

// Verify runs v on r as a child process and returns its verdict. A
// refusal is a Result with Accepted false, not an error.
func Verify(ctx context.Context, v Verifier, r Request) (Result, error) {
	var cmd *exec.Cmd
	job := map[string]any{
		"token": r.Token, "jwksURL": r.JWKSURL, "issuer": r.Issuer,
		"audience": r.Audience, "algorithms": r.Algorithms, "verifier": string(v),
	}
	switch v {
	case Jose, OAuth4WebAPI:
		cmd = exec.CommandContext(ctx, "node", filepath.Join(NodeDir(), "verify.mjs"))
		cmd.Dir = NodeDir()
	case PyJWT:
		cmd = exec.CommandContext(ctx, testpeer.PythonBin, "-I", "-B", filepath.Join(packageDir(), "verify_pyjwt.py"))
	default:
		return Result{}, fmt.Errorf("jwtpeers: unknown verifier %q", v)
	}
	in, err := json.Marshal(job)
	if err != nil {
		return Result{}, fmt.Errorf("jwtpeers: encode job: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if stdout.Len() > maxOutput {
		return Result{}, fmt.Errorf("%w: %s: output larger than %d bytes", ErrVerifierFailed, v, maxOutput)
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return Result{}, fmt.Errorf("%w: %s: %v (%v); stderr: %s", ErrVerifierFailed, v, err, runErr, strings.TrimSpace(stderr.String()))
	}
	// The exit status and the verdict must agree: 0 accepted, 1 refused.
	var exitErr *exec.ExitError
	switch {
	case res.Accepted && runErr == nil:
	case !res.Accepted && errors.As(runErr, &exitErr) && exitErr.ExitCode() == 1 && res.Code != "":
	default:
		return Result{}, fmt.Errorf("%w: %s: verdict %+v with exit %v; stderr: %s", ErrVerifierFailed, v, res, runErr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// Installed reports whether v can run here; when not, the string says what
// is missing and how to install it.
func Installed(v Verifier) (bool, string) {
	switch v {
	case Jose, OAuth4WebAPI:
		return testpeer.Installed(InstallHint, "node",
			filepath.Join(NodeDir(), "node_modules", "jose", "package.json"),
			filepath.Join(NodeDir(), "node_modules", "oauth4webapi", "package.json"))
	case PyJWT:
		if ok, hint := testpeer.Installed(InstallHint, testpeer.PythonBin); !ok {
			return ok, hint
		}
		out, err := exec.Command(testpeer.PythonBin, "-I", "-c", "import jwt, cryptography").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("python3-jwt or python3-cryptography missing for %s (%v: %s): %s",
				testpeer.PythonBin, err, strings.TrimSpace(string(out)), InstallHint)
		}
		return true, InstallHint
	default:
		return false, fmt.Sprintf("unknown verifier %q", v)
	}
}

// NodeDir is the directory of verify.mjs and its pinned node_modules.
func NodeDir() string { return filepath.Join(packageDir(), "node") }

func packageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}
