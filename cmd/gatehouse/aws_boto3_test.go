package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// boto3Python is the interpreter with boto3 installed.
const boto3Python = "/root/.pyenv/versions/3.11.7/bin/python"

// TestCredentialProcessWithBoto3 builds the gatehouse binary and has an
// unmodified AWS SDK (boto3) run it as a profile's credential_process,
// with a cached session in a temporary config folder: the SDK must read
// the access key the fake gateway vended.
func TestCredentialProcessWithBoto3(t *testing.T) {
	ok, hint := testpeer.Installed("install Python 3.11.7 with pyenv and pip install boto3", boto3Python)
	if ok {
		if out, err := exec.Command(boto3Python, "-c", "import boto3").CombinedOutput(); err != nil {
			ok, hint = false, "boto3 is not importable ("+strings.TrimSpace(string(out))+"): pip install boto3"
		}
	}
	testpeer.Require(t, "peer boto3", ok, hint)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "gatehouse")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	g := newFakeGateway(t)
	xdg := filepath.Join(tmp, "xdg")
	tc := newTestCLI(t)
	tc.dir = xdg
	tc.seedSession(t, g, time.Hour)

	config := filepath.Join(tmp, "aws-config")
	require.NoError(t, os.WriteFile(config, []byte("[profile x]\nregion = us-east-1\ncredential_process = "+bin+
		" credentials --account "+testAccount+" --role "+testRole+" --url "+g.srv.URL+"\n"), 0o600))

	script := "import boto3; print(boto3.Session(profile_name='x').get_credentials().get_frozen_credentials().access_key)"
	runSDK := func() string {
		cmd := exec.CommandContext(ctx, boto3Python, "-c", script)
		cmd.Env = []string{
			"HOME=" + tmp, "XDG_CONFIG_HOME=" + xdg, "AWS_CONFIG_FILE=" + config,
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(tmp, "no-credentials"),
			"AWS_EC2_METADATA_DISABLED=true", "PATH=" + os.Getenv("PATH"),
		}
		out, err := cmd.Output()
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		require.NoError(t, err, "boto3: %s", stderr)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "ASIAFAKE0001", runSDK())
	assert.Equal(t, 1, g.count(awsapi.PathCredentials))

	// A second SDK process is served from the gatehouse cache.
	assert.Equal(t, "ASIAFAKE0001", runSDK())
	assert.Equal(t, 1, g.count(awsapi.PathCredentials), "no request: the credentials were cached")
}
