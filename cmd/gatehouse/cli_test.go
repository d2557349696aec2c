package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// commands are every command CONTRACT.md lists.
var commands = []string{"serve --config FILE", "check-config --config FILE", "demo [--addr 127.0.0.1:8080] [--data DIR]",
	"version", "login --url URL", "credentials --account ID --role NAME", "accounts", "logout"}

func runCLI(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// writeConfig writes a config and the IdP metadata it names into a new folder.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "idp.xml"), idp.Metadata("https://idp.example.com/sso"), 0o600))
	path := filepath.Join(dir, "gatehouse.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

const validConfig = `
external_url: https://gw.example.com
listen: 127.0.0.1:0
telemetry_listen: 127.0.0.1:0
identity_source:
  saml:
    metadata_file: idp.xml
    acs_endpoints:
      - {region: us-east-1, url: "https://gw.example.com/saml/acs"}
`

const invalidConfig = `
external_url: http://gw.example.com
listen: "8080"
identity_source:
  saml:
    metadata_file: idp.xml
    acs_endpoints:
      - {region: us-east-1, url: "https://gw.example.com/"}
`

func TestVersion(t *testing.T) {
	stdout, _, err := runCLI(t, context.Background(), "version")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^gatehouse \S+\n$`), stdout)
	assert.Equal(t, "gatehouse "+version()+"\n", stdout)

	_, _, err = runCLI(t, context.Background(), "version", "extra")
	require.Error(t, err)
}

func TestUsage(t *testing.T) {
	_, stderr, err := runCLI(t, context.Background())
	require.ErrorIs(t, err, errNoCommand)
	for _, c := range commands {
		assert.Regexp(t, "\n  "+regexp.QuoteMeta(c)+"[ \n]", stderr, "usage lists %q", c)
	}

	_, stderr, err = runCLI(t, context.Background(), "frobnicate")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown command "frobnicate"`)
	assert.Contains(t, stderr, "Commands:")

	stdout, _, err := runCLI(t, context.Background(), "help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "check-config --config FILE")
}

func TestCheckConfigValid(t *testing.T) {
	stdout, _, err := runCLI(t, context.Background(), "check-config", "--config", writeConfig(t, validConfig))
	require.NoError(t, err)
	assert.Equal(t, "config OK\n", stdout)

	// The full config from CONTRACT.md.
	t.Setenv("BI_TOOL_SECRET", "a-client-secret")
	stdout, _, err = runCLI(t, context.Background(), "check-config", "-config", filepath.Join("..", "..", "internal", "config", "testdata", "full.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "config OK\n", stdout)
}

func TestCheckConfigInvalidNamesEveryProblem(t *testing.T) {
	path := writeConfig(t, invalidConfig)
	stdout, _, err := runCLI(t, context.Background(), "check-config", "--config", path)
	require.Error(t, err)
	assert.Empty(t, stdout)
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, 3)
	msg := err.Error()
	assert.Contains(t, msg, "config "+path+" is invalid (3 problems):")
	assert.Contains(t, msg, "\n  - external_url: must use https")
	assert.Contains(t, msg, "\n  - listen: ")
	assert.Contains(t, msg, "\n  - identity_source.saml.acs_endpoints[0].url: must have a path")
	assert.Len(t, strings.Split(msg, "\n"), 4, "a header and one line per problem")
}

func TestCheckConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no --config", []string{"check-config"}, "--config is required"},
		{"missing file", []string{"check-config", "--config", filepath.Join(t.TempDir(), "nope.yaml")}, "no such file"},
		{"unknown flag", []string{"check-config", "--conf", "x"}, "flag provided but not defined"},
		{"extra argument", []string{"check-config", "--config", "x", "y"}, `unexpected argument "y"`},
		{"unknown key", []string{"check-config", "--config", writeConfig(t, validConfig+"colour: blue\n")}, `colour: unknown key "colour" (line 10)`},
		{"unset variable", []string{"check-config", "--config", writeConfig(t, validConfig+"aws: {region: \"${GATEHOUSE_TEST_UNSET_VAR}\"}\n")}, "environment variable GATEHOUSE_TEST_UNSET_VAR is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, context.Background(), tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, stdout, "config OK")
		})
	}

	// -h prints the flags and succeeds.
	_, stderr, err := runCLI(t, context.Background(), "check-config", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "-config FILE")
}

func TestServeRejectsInvalidConfigBeforeListening(t *testing.T) {
	_, _, err := runCLI(t, context.Background(), "serve", "--config", writeConfig(t, invalidConfig))
	require.Error(t, err)
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, 3)
}

func TestServe(t *testing.T) {
	// A busy listen address is reported: serve really listens.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg := strings.Replace(validConfig, "listen: 127.0.0.1:0", "listen: "+busy.Addr().String(), 1)
	_, _, err = runCLI(t, context.Background(), "serve", "--config", writeConfig(t, cfg))
	require.Error(t, err)
	assert.Contains(t, err.Error(), busy.Addr().String())

	// It serves, and a done context (SIGTERM) shuts it down cleanly.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	cfgPath := writeConfig(t, strings.Replace(validConfig, "listen: 127.0.0.1:0", "listen: "+addr, 1))
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, &stderr) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond)
	resp, err := http.Get("http://" + addr + "/saml/sp/metadata")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, stderr.String(), `"msg":"listening"`)
	assert.Contains(t, stderr.String(), `"msg":"stopped"`)
}

func TestServeNamesUnloadableMetadata(t *testing.T) {
	path := writeConfig(t, validConfig)
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(path), "idp.xml"), []byte("<md:EntityDescriptor/>"), 0o600))
	_, _, err := runCLI(t, context.Background(), "serve", "--config", path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(filepath.Dir(path), "idp.xml"))
}

func TestDemoFlags(t *testing.T) {
	_, _, err := runCLI(t, context.Background(), "demo", "--bogus")
	require.Error(t, err)
	_, _, err = runCLI(t, context.Background(), "demo", "extra")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unexpected argument "extra"`)
	_, stderr, err := runCLI(t, context.Background(), "demo", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "127.0.0.1:8080")
	assert.Contains(t, stderr, "gatehouse-demo")
	assert.Equal(t, "gatehouse-demo", filepath.Base(defaultDemoDataDir()))
}
