package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/sp"
)

const (
	prodAccount  = "111111111111"
	inlinePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`
)

// accessEnv is a gateway with multi-account access on a memory store
// holding alice (group eng).
type accessEnv struct {
	base       string
	dir        string
	cfgYAML    string
	store      *memory.Store
	gw         *gateway.Gateway
	aliceID    string
	adminToken string
}

// accessYAML is the multi-account part of a test config: the aws section
// with endpoint, one account under /workloads/prod, the ReadOnly
// permission set (inline policy from inline.json) and the given
// account_assignments lines (none when empty).
func accessYAML(endpoint, assignments string) string {
	s := fmt.Sprintf(`
aws:
  region: us-east-1
  endpoint_url: %q
  session_tags: [department]
accounts:
  - id: %q
    name: prod
    ou: /workloads/prod
    assume_role_arn: arn:aws:iam::%s:role/OrganizationAccountAccessRole
permission_sets:
  - name: ReadOnly
    session_duration: 1h
    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
    inline_policy_file: inline.json
`, endpoint, prodAccount, prodAccount)
	if assignments != "" {
		s += "account_assignments:\n" + assignments
	}
	return s
}

// newAccessEnv builds (not starts) a gateway with the access config.
func newAccessEnv(t *testing.T, endpoint, assignments string) *accessEnv {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	writeUpstreamIdP(t, dir, srv.URL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "inline.json"), []byte(inlinePolicy), 0o600))
	env := &accessEnv{base: srv.URL, dir: dir, store: memory.New()}
	env.cfgYAML = gatewayYAML(srv.URL, "  signing_alg: ES256\n") + accessYAML(endpoint, assignments)
	u, err := env.store.CreateUser(t.Context(), sp.User{UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true})
	require.NoError(t, err)
	env.aliceID = u.ID
	env.gw, err = env.newGateway(t)
	require.NoError(t, err)
	setHandler(env.gw.Handler())
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	require.NoError(t, err)
	env.adminToken = strings.TrimSpace(string(b))
	return env
}

// newGateway builds another gateway on the same config, keys and store.
func (e *accessEnv) newGateway(t *testing.T) (*gateway.Gateway, error) {
	t.Helper()
	cfg := loadGatewayConfig(t, e.dir, e.cfgYAML)
	gw, err := gateway.New(t.Context(), cfg, gateway.Options{Store: e.store})
	if err == nil {
		t.Cleanup(func() { _ = gw.Close() })
	}
	return gw, err
}

func (e *accessEnv) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.gw.Start(ctx)
}

// admin sends an admin request to h (the env's gateway when nil) and
// decodes the JSON answer.
func (e *accessEnv) admin(t *testing.T, h http.Handler, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	if h == nil {
		h = e.gw.Handler()
	}
	r := httptest.NewRequest(method, e.base+path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+e.adminToken)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if w.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	}
	return w.Code, out
}

func (e *accessEnv) groupID(t *testing.T, name string) string {
	t.Helper()
	u, err := e.store.DirectoryUser(t.Context(), e.aliceID)
	require.NoError(t, err)
	for _, g := range u.Groups {
		if g.DisplayName == name {
			return g.ID
		}
	}
	t.Fatalf("alice is not in %s", name)
	return ""
}

func TestAccessConfigSync(t *testing.T) {
	env := newAccessEnv(t, "http://127.0.0.1:9", "  - permission_set: ReadOnly\n    groups: [eng]\n    users: [alice]\n    ous: [/workloads]\n")
	ctx := t.Context()

	acct, err := env.store.Account(ctx, prodAccount)
	require.NoError(t, err)
	assert.Equal(t, "prod", acct.Name)
	assert.Equal(t, "/workloads/prod", acct.OU)
	assert.NotEmpty(t, acct.Email, "a placeholder: the config has no account e-mail")
	ps, err := env.store.PermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	assert.Equal(t, time.Hour, ps.SessionDuration)
	assert.Equal(t, []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, ps.ManagedPolicies)
	assert.JSONEq(t, inlinePolicy, ps.InlinePolicy)
	as, err := env.store.AssignmentsForPermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	require.Len(t, as, 2)
	got := map[access.PrincipalType]string{}
	for _, a := range as {
		assert.Equal(t, access.TargetOU, a.TargetType)
		assert.Equal(t, "/workloads", a.TargetID)
		got[a.PrincipalType] = a.PrincipalID
	}
	assert.Equal(t, map[access.PrincipalType]string{access.PrincipalGroup: env.groupID(t, "eng"), access.PrincipalUser: env.aliceID}, got,
		"names resolved to IDs")

	// An assignment made through the admin API survives a restart, and
	// the sync is idempotent.
	code, body := env.admin(t, nil, http.MethodPost, "/api/v1/admin/assignments",
		`{"principal_type":"USER","principal_id":"`+env.aliceID+`","permission_set":"ReadOnly","target_type":"AWS_ACCOUNT","target_id":"`+prodAccount+`"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	_, err = env.newGateway(t)
	require.NoError(t, err)
	as, err = env.store.AssignmentsForPermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	assert.Len(t, as, 3)
	ps, err = env.store.PermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	assert.Equal(t, int64(1), ps.Version, "an unchanged permission set is not rewritten")

	// A changed inline policy file updates the permission set.
	require.NoError(t, os.WriteFile(filepath.Join(env.dir, "inline.json"), []byte(strings.Replace(inlinePolicy, "s3:ListBucket", "s3:GetObject", 1)), 0o600))
	_, err = env.newGateway(t)
	require.NoError(t, err)
	ps, err = env.store.PermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	assert.Equal(t, int64(2), ps.Version)
	assert.Contains(t, ps.InlinePolicy, "s3:GetObject")

	// The built-in CLI client can start a device flow for the API.
	form := url.Values{"client_id": {gateway.CLIClientID}, "scope": {gateway.CLIScope}, "audience": {gateway.CLIAudience(env.base)}}
	r := httptest.NewRequest(http.MethodPost, env.base+"/oauth/device_authorization", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	env.gw.Handler().ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "device_code")

	// The CLI's API is mounted and wants a bearer token.
	w = httptest.NewRecorder()
	env.gw.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, env.base+"/api/v1/accounts", nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
}

func TestAccessConfigSyncErrors(t *testing.T) {
	tests := []struct {
		name, assignments, inline, want string
	}{
		{"unknown group", "  - permission_set: ReadOnly\n    groups: [nope]\n    accounts: [\"111111111111\"]\n", inlinePolicy,
			`account_assignments[0].groups[0]: no group has the display name "nope"`},
		{"unknown user", "  - permission_set: ReadOnly\n    users: [alice, bob]\n    accounts: [\"111111111111\"]\n", inlinePolicy,
			`account_assignments[0].users[1]: no user has the user_name "bob"`},
		{"invalid inline policy", "", `{"Version":"2012-10-17"}`, "permission_sets[0].inline_policy_file (inline_policy.Statement)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAccessEnv(t, "http://127.0.0.1:9", "") // valid: no assignments
			env.cfgYAML = gatewayYAML(env.base, "  signing_alg: ES256\n") + accessYAML("http://127.0.0.1:9", tt.assignments)
			require.NoError(t, os.WriteFile(filepath.Join(env.dir, "inline.json"), []byte(tt.inline), 0o600))
			before, err := env.store.AssignmentsForPermissionSet(t.Context(), "ReadOnly")
			require.NoError(t, err)
			_, err = env.newGateway(t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			after, err := env.store.AssignmentsForPermissionSet(t.Context(), "ReadOnly")
			require.NoError(t, err)
			assert.Equal(t, before, after)
		})
	}
}

func TestAccessNotConfiguredAnswers404(t *testing.T) {
	env := startFlowGateway(t) // no accounts, no aws section
	status, body := env.adminDo(t, http.MethodGet, "/api/v1/admin/accounts", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, string(body), "not_configured")
}

// motoIAM is an IAM client in the account, through the role moto lets
// any caller assume.
func motoIAM(t *testing.T, endpoint, accountID string) *iam.Client {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""), BaseEndpoint: aws.String(endpoint)}
	out, err := sts.NewFromConfig(cfg).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + accountID + ":role/OrganizationAccountAccessRole"),
		RoleSessionName: aws.String("verify"),
	})
	require.NoError(t, err)
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, aws.ToString(c.SessionToken))
	return iam.NewFromConfig(cfg)
}

// reservedRoles lists the Gatehouse roles in the account with their
// inline policy names.
func reservedRoles(t *testing.T, c *iam.Client) map[string][]string {
	t.Helper()
	out, err := c.ListRoles(t.Context(), &iam.ListRolesInput{PathPrefix: aws.String("/aws-reserved/sso.amazonaws.com/")})
	require.NoError(t, err)
	roles := map[string][]string{}
	for _, r := range out.Roles {
		pols, err := c.ListRolePolicies(t.Context(), &iam.ListRolePoliciesInput{RoleName: r.RoleName})
		require.NoError(t, err)
		roles[aws.ToString(r.RoleName)] = append([]string{}, pols.PolicyNames...)
	}
	return roles
}

// waitStatus polls the assignment until it has the status.
func (e *accessEnv) waitStatus(t *testing.T, id string, want access.Status) map[string]any {
	t.Helper()
	var last map[string]any
	require.Eventually(t, func() bool {
		code, a := e.admin(t, nil, http.MethodGet, "/api/v1/admin/assignments/"+id, "")
		require.Equal(t, http.StatusOK, code)
		last = a
		return a["status"] == string(want)
	}, 30*time.Second, 100*time.Millisecond, "assignment %s never reached %s", id, want)
	return last
}

func TestAccessProvisioningEndToEnd(t *testing.T) {
	endpoint := testpeer.Moto(t)
	env := newAccessEnv(t, endpoint, "")
	env.start(t)
	ctx := t.Context()

	code, a := env.admin(t, nil, http.MethodPost, "/api/v1/admin/assignments",
		`{"principal_type":"GROUP","principal_id":"`+env.groupID(t, "eng")+`","permission_set":"ReadOnly","target_type":"OU","target_id":"/workloads"}`)
	require.Equal(t, http.StatusAccepted, code, a)
	assert.Equal(t, "IN_PROGRESS", a["status"])
	id := a["id"].(string)
	env.waitStatus(t, id, access.StatusSucceeded)

	c := motoIAM(t, endpoint, prodAccount)
	roles := reservedRoles(t, c)
	require.Len(t, roles, 1, "the permission set's role exists")
	var roleName string
	for name, pols := range roles {
		roleName = name
		assert.True(t, strings.HasPrefix(name, "AWSReservedSSO_ReadOnly_"), name)
		assert.Equal(t, []string{"AwsSSOInlinePolicy"}, pols)
	}
	code, ents := env.admin(t, nil, http.MethodGet, "/api/v1/admin/users/"+env.aliceID+"/entitlements", "")
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, ents["entitlements"], 1)

	// The portal lists the account with the role, and its command line
	// access page vends working credentials through STS (moto).
	session := rand.Text()
	now := time.Now()
	require.NoError(t, env.store.CreateSession(ctx, sp.Session{ID: session, UserID: env.aliceID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Method: "saml"}))
	page := func(path string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, env.base+path, nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, html := page("/portal")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, html, `href="/portal/aws/credentials?account=`+prodAccount+`&amp;role=ReadOnly"`)
	assert.Contains(t, html, `href="/portal/aws/console?account=`+prodAccount+`&amp;role=ReadOnly"`)
	code, html = page("/portal/aws/credentials?account=" + prodAccount + "&role=ReadOnly")
	require.Equal(t, http.StatusOK, code, html)
	assert.Contains(t, html, "AWS_ACCESS_KEY_ID")
	assert.Contains(t, html, "aws_session_token")
	code, _ = page("/portal/aws/credentials?account=" + prodAccount + "&role=Admin")
	assert.Equal(t, http.StatusForbidden, code, "a role the user does not have")

	// A second instance (not running its worker) changes the permission
	// set: the provisioning is out of date until a worker converges it.
	other, err := env.newGateway(t)
	require.NoError(t, err)
	code, ps := env.admin(t, other.Handler(), http.MethodGet, "/api/v1/admin/permission-sets/ReadOnly", "")
	require.Equal(t, http.StatusOK, code)
	code, ps = env.admin(t, other.Handler(), http.MethodPut, "/api/v1/admin/permission-sets/ReadOnly",
		`{"session_duration":"1h","managed_policies":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}`, "If-Match", fmt.Sprintf(`W/"%v"`, ps["version"]))
	require.Equal(t, http.StatusOK, code, ps)
	code, prov := env.admin(t, nil, http.MethodGet, "/api/v1/admin/permission-sets/ReadOnly/provisioning", "")
	require.Equal(t, http.StatusOK, code)
	entries := prov["provisioning"].([]any)
	require.Len(t, entries, 1)
	assert.Equal(t, true, entries[0].(map[string]any)["out_of_date"], prov)

	code, req := env.admin(t, nil, http.MethodPost, "/api/v1/admin/permission-sets/ReadOnly/provision", "")
	require.Equal(t, http.StatusAccepted, code, req)
	assert.Equal(t, []any{prodAccount}, req["accounts"])
	require.Eventually(t, func() bool {
		_, prov := env.admin(t, nil, http.MethodGet, "/api/v1/admin/permission-sets/ReadOnly/provisioning", "")
		e := prov["provisioning"].([]any)[0].(map[string]any)
		return e["out_of_date"] == false && e["status"] == "SUCCEEDED"
	}, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, map[string][]string{roleName: {}}, reservedRoles(t, c), "the inline policy was removed")

	// Deleting the assignment deprovisions the role.
	code, del := env.admin(t, nil, http.MethodDelete, "/api/v1/admin/assignments/"+id, "")
	require.Equal(t, http.StatusAccepted, code, del)
	require.Eventually(t, func() bool { return len(reservedRoles(t, c)) == 0 }, 30*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool {
		_, err := env.store.Provisioning(ctx, prodAccount, "ReadOnly")
		return err != nil
	}, 10*time.Second, 100*time.Millisecond, "the provisioning record is deleted")
}

func TestAccessUnreachableAccountFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	env := newAccessEnv(t, closed, "")
	env.start(t)
	code, a := env.admin(t, nil, http.MethodPost, "/api/v1/admin/assignments",
		`{"principal_type":"USER","principal_id":"`+env.aliceID+`","permission_set":"ReadOnly","target_type":"AWS_ACCOUNT","target_id":"`+prodAccount+`"}`)
	require.Equal(t, http.StatusAccepted, code, a)
	got := env.waitStatus(t, a["id"].(string), access.StatusFailed)
	assert.Contains(t, got["reason"], "account "+prodAccount)
	// It keeps failing (retries with backoff), never SUCCEEDED.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, a := env.admin(t, nil, http.MethodGet, "/api/v1/admin/assignments/"+got["id"].(string), "")
		require.NotEqual(t, "SUCCEEDED", a["status"])
		time.Sleep(200 * time.Millisecond)
	}
	p, err := env.store.Provisioning(t.Context(), prodAccount, "ReadOnly")
	require.NoError(t, err)
	assert.Equal(t, access.StatusFailed, p.Status)
	assert.Zero(t, p.Version)
}
