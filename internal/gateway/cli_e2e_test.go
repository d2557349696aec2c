package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// cliPython is the pyenv interpreter with boto3 installed.
const cliPython = "/root/.pyenv/versions/3.11.7/bin/python"

// loginPrompt is the line gatehouse login prints on stderr.
var loginPrompt = regexp.MustCompile(`To sign in, open (\S+) and enter the code: (\S+)`)

// requireBoto3 skips (or fails under GATEHOUSE_REQUIRE_PEERS) unless the
// pyenv Python can import boto3.
func requireBoto3(t *testing.T) {
	t.Helper()
	ok, hint := testpeer.Installed("install Python 3.11.7 with pyenv and pip install boto3", cliPython)
	if ok {
		if out, err := exec.Command(cliPython, "-c", "import boto3").CombinedOutput(); err != nil {
			ok, hint = false, "boto3 is not importable ("+strings.TrimSpace(string(out))+"): pip install boto3"
		}
	}
	testpeer.Require(t, "peer boto3", ok, hint)
}

// buildGatehouse builds ./cmd/gatehouse of this module into dir and
// returns the binary's path. It skips (or fails under
// GATEHOUSE_REQUIRE_PEERS) without a Go toolchain.
func buildGatehouse(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	ok, hint := testpeer.Installed("install Go (https://go.dev/dl/) and put it in PATH", "go")
	testpeer.Require(t, "Go toolchain", ok, hint)
	mod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	require.NoError(t, err, "go env GOMOD")
	gomod := strings.TrimSpace(string(mod))
	require.True(t, filepath.IsAbs(gomod), "not inside the module: GOMOD=%q", gomod)
	bin := filepath.Join(dir, "gatehouse")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir = filepath.Dir(gomod)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// lockedBuffer collects a subprocess's output while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// approveDevice plays the signed-in user (session) on the gateway's
// /device page: opens the consent screen for the user code, reads the
// CSRF token and approves. It returns the result page.
func approveDevice(t *testing.T, base, session, verificationURI, userCode string) string {
	t.Helper()
	require.Equal(t, base+"/device", verificationURI, "the verification URI is the gateway's /device")
	page := func(req *http.Request) string {
		t.Helper()
		req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return string(b)
	}
	req, err := http.NewRequest(http.MethodGet, verificationURI+"?"+url.Values{"user_code": {userCode}}.Encode(), nil)
	require.NoError(t, err)
	consent := page(req)
	m := csrfField.FindStringSubmatch(consent)
	require.NotNil(t, m, "consent form with a CSRF token: %s", consent)

	form := url.Values{"user_code": {userCode}, "decision": {"approve"}, "csrf_token": {m[1]}}
	req, err = http.NewRequest(http.MethodPost, base+"/device", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return page(req)
}

// processCredentialsJSON is the credential_process answer.
type processCredentialsJSON struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

// TestCLICredentialProcessEndToEnd: the real gatehouse binary signs in
// with the device flow against a gateway provisioning into moto, and an
// unmodified AWS SDK (boto3) resolves a profile's credentials through
// "credential_process = gatehouse credentials ..." and calls STS with
// them. Once alice leaves the group that grants the role, both the CLI
// and the SDK are refused.
func TestCLICredentialProcessEndToEnd(t *testing.T) {
	requireBoto3(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := buildGatehouse(ctx, t, tmp)
	endpoint := testpeer.Moto(t)

	// 1. A gateway whose config assigns group eng the ReadOnly role in
	// the account; its worker provisions the role in moto.
	env := newAccessEnv(t, endpoint, "  - permission_set: ReadOnly\n    groups: [eng]\n    accounts: [\""+prodAccount+"\"]\n")
	env.start(t)
	as, err := env.store.AssignmentsForPermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	require.Len(t, as, 1)
	env.waitStatus(t, as[0].ID, access.StatusSucceeded)

	// 2. The real binary signs in with the device flow; alice approves.
	xdg := filepath.Join(tmp, "cfg")
	procEnv := []string{
		"HOME=" + tmp, "XDG_CONFIG_HOME=" + xdg, "PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=" + filepath.Join(tmp, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}

	login := exec.CommandContext(ctx, bin, "login", "--url", env.base, "--no-browser")
	login.Env = procEnv
	stderr, err := login.StderrPipe()
	require.NoError(t, err)
	var loginOut lockedBuffer
	login.Stdout = &loginOut
	require.NoError(t, login.Start())
	prompt := make(chan []string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			loginOut.Write(append(sc.Bytes(), '\n'))
			if m := loginPrompt.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case prompt <- m:
				default:
				}
			}
		}
	}()
	var m []string
	select {
	case m = <-prompt:
	case <-time.After(30 * time.Second):
		_ = login.Process.Kill()
		t.Fatalf("gatehouse login printed no code: %s", loginOut.String())
	}
	assert.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`, m[2])

	session := randSession(t, env)
	result := approveDevice(t, env.base, session, m[1], m[2])
	assert.Contains(t, result, "Device approved")
	<-drained
	require.NoError(t, login.Wait(), "gatehouse login: %s", loginOut.String())
	assert.Contains(t, loginOut.String(), "Signed in to "+env.base)
	cacheDir := filepath.Join(xdg, "gatehouse")
	require.FileExists(t, filepath.Join(cacheDir, "session.json"), "the session is cached under XDG_CONFIG_HOME")

	// 3. boto3 resolves the profile's credentials through
	// credential_process and calls STS (moto) with them.
	credArgs := []string{"credentials", "--account", prodAccount, "--role", "ReadOnly", "--url", env.base}
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "aws-config"), []byte("[profile gh]\ncredential_process = "+bin+" "+
		strings.Join(credArgs, " ")+"\nregion = us-east-1\n"), 0o600))
	script := `import json, sys
import boto3
s = boto3.Session(profile_name="gh")
c = s.client("sts", endpoint_url=sys.argv[1])
ident = c.get_caller_identity()
ident.pop("ResponseMetadata", None)
print(json.dumps({"identity": ident, "access_key": s.get_credentials().get_frozen_credentials().access_key}))
`
	runSDK := func() (string, string, error) {
		cmd := exec.CommandContext(ctx, cliPython, "-c", script, endpoint)
		cmd.Env = procEnv
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, errOut, err := runSDK()
	require.NoError(t, err, "boto3: %s", errOut)
	var sdk struct {
		Identity  struct{ Account, Arn, UserId string }
		AccessKey string `json:"access_key"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sdk), out)
	t.Logf("boto3 GetCallerIdentity: %+v", sdk.Identity)
	assert.Equal(t, prodAccount, sdk.Identity.Account)

	// The credentials the CLI vends, checked on their own (served from
	// the CLI's cache: the same ones boto3 used).
	runCLI := func() (string, string, error) {
		cmd := exec.CommandContext(ctx, bin, credArgs...)
		cmd.Env = procEnv
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, errOut, err = runCLI()
	require.NoError(t, err, "gatehouse credentials: %s", errOut)
	var pc processCredentialsJSON
	require.NoError(t, json.Unmarshal([]byte(out), &pc), out)
	assert.Equal(t, 1, pc.Version)
	assert.True(t, strings.HasPrefix(pc.AccessKeyID, "ASIA"), "temporary STS credentials: %s", pc.AccessKeyID)
	assert.NotEmpty(t, pc.SecretAccessKey)
	assert.NotEmpty(t, pc.SessionToken)
	exp, err := time.Parse(time.RFC3339, pc.Expiration)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), exp, 5*time.Minute, "the permission set's 1h session duration")
	assert.Equal(t, pc.AccessKeyID, sdk.AccessKey, "boto3 used the credentials gatehouse printed")

	if strings.Contains(sdk.Identity.Arn, ":assumed-role/") {
		assert.Regexp(t, `^arn:aws:sts::`+prodAccount+`:assumed-role/AWSReservedSSO_ReadOnly_[^/]+/alice$`, sdk.Identity.Arn)
	} else {
		// moto quirk (moto 5): AssumeRoleWithSAML is an unsigned call, so
		// moto files the AssumedRole record under its default account
		// (123456789012), while the temporary key itself is registered in
		// the role's account. GetCallerIdentity picks the backend by the
		// key's account (111111111111), finds no AssumedRole there and
		// answers its fallback identity arn:aws:sts::<that account>:user/moto.
		// So Account still comes from the vended key (a key moto does not
		// know maps to 123456789012, checked below), but the ARN cannot name
		// the role and session; the checks above on the printed credentials
		// (an ASIA key, the 1h expiry, the very key boto3 used) stand in.
		assert.Equal(t, "arn:aws:sts::"+prodAccount+":user/moto", sdk.Identity.Arn, "an unexpected identity from moto")
		id, err := sts.NewFromConfig(aws.Config{
			Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("ASIANOTVENDED0000000", "x", "x"),
		}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		require.NoError(t, err)
		assert.NotEqual(t, prodAccount, aws.ToString(id.Account), "control: a key moto did not issue is not in the account")
	}

	// 4. alice leaves group eng: with the cached credentials deleted (the
	// sign-in kept), the CLI is refused and so is the SDK.
	_, err = env.store.PatchGroupMembers(ctx, env.groupID(t, "eng"), nil, []string{env.aliceID}, 0, time.Now())
	require.NoError(t, err)
	cached, err := filepath.Glob(filepath.Join(cacheDir, "credentials-*"))
	require.NoError(t, err)
	require.NotEmpty(t, cached, "the CLI cached the credentials")
	for _, f := range cached {
		require.NoError(t, os.Remove(f))
	}
	require.FileExists(t, filepath.Join(cacheDir, "session.json"))

	out, errOut, err = runCLI()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "gatehouse credentials must fail: err=%v stdout=%s", err, out)
	assert.NotZero(t, ee.ExitCode())
	assert.Empty(t, out, "no credentials printed")
	assert.Contains(t, errOut, "not entitled to role ReadOnly in account "+prodAccount)

	out, errOut, err = runSDK()
	require.True(t, errors.As(err, &ee), "boto3 must fail: err=%v stdout=%s", err, out)
	assert.Contains(t, errOut, "CredentialRetrievalError: Error when retrieving credentials from custom-process")
	assert.Contains(t, errOut, "not entitled")
}

// randSession signs alice in to the portal (a session in the store) and
// returns the cookie value.
func randSession(t *testing.T, env *accessEnv) string {
	t.Helper()
	id := rand.Text()
	now := time.Now()
	require.NoError(t, env.store.CreateSession(t.Context(), sp.Session{
		ID: id, UserID: env.aliceID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), AuthnInstant: now, Method: "saml",
	}))
	return id
}
