package scimpeers

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

// InstallHint says how to install the libraries.
const InstallHint = "scripts/install-speers.sh (npm ci in internal/scim/node)"

// ErrPeerFailed marks a library run that produced no verdict (node
// crashed, or the libraries are not installed).
var ErrPeerFailed = errors.New("scimpeers: peer failed")

const maxOutput = 8 << 20

// PatchCase is a resource and the PATCH operations to apply to it.
type PatchCase struct {
	Resource   map[string]any   `json:"resource"`
	Operations []map[string]any `json:"operations"`
}

// PatchResult is scim-patch's verdict on a PatchCase: the patched
// resource, or why it refused the operations.
type PatchResult struct {
	OK       bool           `json:"ok"`
	Resource map[string]any `json:"resource"`
	Error    string         `json:"error"`
}

// ApplyPatches applies each case with scim-patch (after its
// patchBodyValidation), treating a replace whose target is missing as an
// add, as its default options do.
func ApplyPatches(ctx context.Context, cases []PatchCase) ([]PatchResult, error) {
	var out []PatchResult
	if err := run(ctx, "patch.mjs", map[string]any{"cases": cases}, &out); err != nil {
		return nil, err
	}
	if len(out) != len(cases) {
		return nil, fmt.Errorf("%w: %d results for %d cases", ErrPeerFailed, len(out), len(cases))
	}
	return out, nil
}

// FilterResult is scim2-parse-filter's verdict on a filter: its tree
// (see JSSExpr), or why it refused it.
type FilterResult struct {
	OK    bool            `json:"ok"`
	AST   json.RawMessage `json:"ast"`
	Error string          `json:"error"`
}

// ParseFilters parses each filter with scim2-parse-filter.
func ParseFilters(ctx context.Context, filters []string) ([]FilterResult, error) {
	var out []FilterResult
	if err := run(ctx, "filter.mjs", map[string]any{"filters": filters}, &out); err != nil {
		return nil, err
	}
	if len(out) != len(filters) {
		return nil, fmt.Errorf("%w: %d results for %d filters", ErrPeerFailed, len(out), len(filters))
	}
	return out, nil
}

// run runs a script of NodeDir with job on stdin and decodes its output.
func run(ctx context.Context, script string, job any, out any) error {
	in, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("scimpeers: encode job: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(NodeDir(), script))
	cmd.Dir = NodeDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %v; stderr: %s", ErrPeerFailed, script, err, strings.TrimSpace(stderr.String()))
	}
	if stdout.Len() > maxOutput {
		return fmt.Errorf("%w: %s: output larger than %d bytes", ErrPeerFailed, script, maxOutput)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("%w: %s: %v; stderr: %s", ErrPeerFailed, script, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Installed reports whether the libraries can run here; when not, the
// string says what is missing and how to install it.
func Installed() (bool, string) {
	return testpeer.Installed(InstallHint, "node",
		filepath.Join(NodeDir(), "node_modules", "scim-patch", "package.json"),
		filepath.Join(NodeDir(), "node_modules", "scim2-parse-filter", "package.json"))
}

// NodeDir is the directory of the scripts and their pinned node_modules
// (internal/scim/node).
func NodeDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "node"
	}
	return filepath.Join(filepath.Dir(filepath.Dir(file)), "node")
}
