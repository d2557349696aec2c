package provision

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

const testProviderARN = "arn:aws:iam::111111111111:saml-provider/Gatehouse"

func TestTrustPolicy(t *testing.T) {
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + testProviderARN +
		`"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession"],"Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}}]}`
	assert.Equal(t, want, TrustPolicy(testProviderARN))
	other := TrustPolicy("arn:aws:iam::222222222222:saml-provider/Gatehouse")
	assert.NotEqual(t, want, other)
	assert.Contains(t, other, `"Federated":"arn:aws:iam::222222222222:saml-provider/Gatehouse"`)
}

func TestNormalizePolicy(t *testing.T) {
	canonical := `{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}`
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "canonical", in: canonical, want: canonical},
		{name: "white space and key order", in: "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [ {\"Resource\":\"*\", \"Effect\":\"Allow\", \"Action\":\"s3:GetObject\"} ]\n}", want: canonical},
		{name: "URL-encoded as IAM returns it", in: url.PathEscape(canonical), want: canonical},
		{name: "plus stays a plus", in: url.PathEscape(`{"a":"x+y"}`), want: `{"a":"x+y"}`},
		{name: "not JSON", in: `{"Version":`, wantErr: true},
		{name: "bad escape", in: `%zz`, wantErr: true},
		{name: "array, not object", in: `[1]`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizePolicy(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrInvalidPolicy)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzNormalizePolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[]}`)
	f.Add(url.PathEscape(`{"a":[1,2.5,"x"]}`))
	f.Add(`%7B%7D`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := normalizePolicy(in)
		if err != nil {
			return
		}
		again, err := normalizePolicy(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "normalizing is idempotent")
	})
}

func testRoleName(ps access.PermissionSet, accountID string) string {
	return RolePrefix + ps.Name + "_0123456789abcdef"
}

func validSet() access.PermissionSet {
	return access.PermissionSet{
		Name:             "Admin",
		Description:      "administrators",
		SessionDuration:  2 * time.Hour,
		ManagedPolicies:  []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		CustomerPolicies: []access.CustomerPolicyRef{{Name: "Logs", Path: "/gatehouse/"}, {Name: "Root"}},
		InlinePolicy:     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`,
		Boundary:         &access.Boundary{CustomerPolicy: &access.CustomerPolicyRef{Name: "Boundary"}},
		Tags:             map[string]string{"team": "platform"},
		Version:          3,
	}
}

func TestDesiredRole(t *testing.T) {
	ps := validSet()
	got, err := desiredRole(ps, testRoleName(ps, "111111111111"), "aws", "111111111111", testProviderARN)
	require.NoError(t, err)
	trust, err := normalizePolicy(TrustPolicy(testProviderARN))
	require.NoError(t, err)
	assert.Equal(t, roleSpec{
		Name:               "AWSReservedSSO_Admin_0123456789abcdef",
		Path:               "/aws-reserved/sso.amazonaws.com/",
		Description:        "administrators",
		TrustPolicy:        trust,
		MaxSessionDuration: 7200,
		Tags:               map[string]string{"gatehouse:managed": "true", "gatehouse:permission-set": "Admin", "team": "platform"},
		PolicyARNs: []string{
			"arn:aws:iam::111111111111:policy/Root",
			"arn:aws:iam::111111111111:policy/gatehouse/Logs",
			"arn:aws:iam::aws:policy/ReadOnlyAccess",
		},
		Inline:      `{"Statement":[{"Action":"s3:ListAllMyBuckets","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}`,
		BoundaryARN: "arn:aws:iam::111111111111:policy/Boundary",
	}, got)

	t.Run("AWS managed boundary, no inline policy", func(t *testing.T) {
		ps := validSet()
		ps.InlinePolicy = "  "
		ps.Boundary = &access.Boundary{ManagedPolicyARN: "arn:aws:iam::aws:policy/PowerUserAccess"}
		got, err := desiredRole(ps, testRoleName(ps, ""), "aws-us-gov", "111111111111", testProviderARN)
		require.NoError(t, err)
		assert.Empty(t, got.Inline)
		assert.Equal(t, "arn:aws:iam::aws:policy/PowerUserAccess", got.BoundaryARN)
		assert.Contains(t, got.PolicyARNs, "arn:aws-us-gov:iam::111111111111:policy/Root")
	})

	for _, tc := range []struct {
		name   string
		change func(ps *access.PermissionSet, role *string)
	}{
		{"role name of another set", func(ps *access.PermissionSet, role *string) { *role = "AWSReservedSSO_Other_0123456789abcdef" }},
		{"role name without prefix", func(ps *access.PermissionSet, role *string) { *role = "Admin_0123456789abcdef" }},
		{"role name with 15 hex", func(ps *access.PermissionSet, role *string) { *role = "AWSReservedSSO_Admin_0123456789abcde" }},
		{"role name with upper-case hex", func(ps *access.PermissionSet, role *string) { *role = "AWSReservedSSO_Admin_0123456789ABCDEF" }},
		{"set name with a slash", func(ps *access.PermissionSet, role *string) {
			ps.Name = "Ad/min"
			*role = "AWSReservedSSO_Ad/min_0123456789abcdef"
		}},
		{"session under 1h", func(ps *access.PermissionSet, _ *string) { ps.SessionDuration = 59 * time.Minute }},
		{"session over 12h", func(ps *access.PermissionSet, _ *string) { ps.SessionDuration = 12*time.Hour + time.Second }},
		{"session not whole seconds", func(ps *access.PermissionSet, _ *string) { ps.SessionDuration = time.Hour + time.Millisecond }},
		{"reserved tag", func(ps *access.PermissionSet, _ *string) { ps.Tags = map[string]string{"Gatehouse:managed": "false"} }},
		{"managed policy not an ARN", func(ps *access.PermissionSet, _ *string) { ps.ManagedPolicies = []string{"ReadOnlyAccess"} }},
		{"customer policy path without trailing slash", func(ps *access.PermissionSet, _ *string) {
			ps.CustomerPolicies = []access.CustomerPolicyRef{{Name: "Logs", Path: "/gatehouse"}}
		}},
		{"customer policy name with a slash", func(ps *access.PermissionSet, _ *string) {
			ps.CustomerPolicies = []access.CustomerPolicyRef{{Name: "a/b"}}
		}},
		{"inline policy not JSON", func(ps *access.PermissionSet, _ *string) { ps.InlinePolicy = `{"Version":` }},
		{"boundary with both", func(ps *access.PermissionSet, _ *string) {
			ps.Boundary.ManagedPolicyARN = "arn:aws:iam::aws:policy/PowerUserAccess"
		}},
		{"boundary with neither", func(ps *access.PermissionSet, _ *string) { ps.Boundary = &access.Boundary{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := validSet()
			role := testRoleName(ps, "")
			tc.change(&ps, &role)
			_, err := desiredRole(ps, role, "aws", "111111111111", testProviderARN)
			require.Error(t, err)
			assert.True(t, errors.Is(err, access.ErrInvalid) || errors.Is(err, ErrInvalidPolicy), err)
		})
	}
}

// stateOf is the roleState that exactly matches spec.
func stateOf(spec roleSpec) roleState {
	st := roleState{
		Exists:             true,
		Path:               spec.Path,
		Description:        spec.Description,
		TrustPolicy:        spec.TrustPolicy,
		MaxSessionDuration: spec.MaxSessionDuration,
		Tags:               map[string]string{},
		PolicyARNs:         append([]string(nil), spec.PolicyARNs...),
		Inline:             map[string]string{},
		BoundaryARN:        spec.BoundaryARN,
	}
	for k, v := range spec.Tags {
		st.Tags[k] = v
	}
	if spec.Inline != "" {
		st.Inline[InlinePolicyName] = spec.Inline
	}
	return st
}

func TestPlanRole(t *testing.T) {
	ps := validSet()
	want, err := desiredRole(ps, testRoleName(ps, ""), "aws", "111111111111", testProviderARN)
	require.NoError(t, err)
	const extra = "arn:aws:iam::aws:policy/AdministratorAccess"

	for _, tc := range []struct {
		name    string
		have    func(*roleState)
		want    func(*roleSpec)
		plan    rolePlan
		wantErr error
	}{
		{name: "matches: nothing to do", plan: rolePlan{}},
		{name: "missing: create with everything", have: func(s *roleState) { *s = roleState{} },
			plan: rolePlan{Create: true, Attach: want.PolicyARNs, PutInline: true}},
		{name: "missing, no inline policy", have: func(s *roleState) { *s = roleState{} }, want: func(w *roleSpec) { w.Inline = "" },
			plan: rolePlan{Create: true, Attach: want.PolicyARNs}},
		{name: "extra managed policy is detached", have: func(s *roleState) { s.PolicyARNs = append(s.PolicyARNs, extra) },
			plan: rolePlan{Detach: []string{extra}}},
		{name: "policy removed from the set is detached", want: func(w *roleSpec) { w.PolicyARNs = w.PolicyARNs[1:] },
			plan: rolePlan{Detach: []string{want.PolicyARNs[0]}}},
		{name: "missing policy is attached", have: func(s *roleState) { s.PolicyARNs = s.PolicyARNs[1:] },
			plan: rolePlan{Attach: []string{want.PolicyARNs[0]}}},
		{name: "changed inline policy is put", have: func(s *roleState) { s.Inline[InlinePolicyName] = `{"Version":"2012-10-17"}` },
			plan: rolePlan{PutInline: true}},
		{name: "missing inline policy is put", have: func(s *roleState) { delete(s.Inline, InlinePolicyName) },
			plan: rolePlan{PutInline: true}},
		{name: "inline policy removed from the set is deleted", want: func(w *roleSpec) { w.Inline = "" },
			plan: rolePlan{DeleteInline: []string{InlinePolicyName}}},
		{name: "foreign inline policy is deleted", have: func(s *roleState) { s.Inline["Other"] = "" },
			plan: rolePlan{DeleteInline: []string{"Other"}}},
		{name: "session duration changed", want: func(w *roleSpec) { w.MaxSessionDuration = 14400 },
			plan: rolePlan{UpdateRole: true}},
		{name: "description changed", have: func(s *roleState) { s.Description = "" },
			plan: rolePlan{UpdateRole: true}},
		{name: "trust policy drifted", have: func(s *roleState) { s.TrustPolicy = `{"Version":"2012-10-17"}` },
			plan: rolePlan{UpdateTrust: true}},
		{name: "boundary removed from the set", want: func(w *roleSpec) { w.BoundaryARN = "" },
			plan: rolePlan{DeleteBoundary: true}},
		{name: "boundary changed", have: func(s *roleState) { s.BoundaryARN = extra },
			plan: rolePlan{PutBoundary: true}},
		{name: "boundary missing", have: func(s *roleState) { s.BoundaryARN = "" },
			plan: rolePlan{PutBoundary: true}},
		{name: "extra tag removed", have: func(s *roleState) { s.Tags["owner"] = "bob" },
			plan: rolePlan{Untag: []string{"owner"}}},
		{name: "tag value changed", have: func(s *roleState) { s.Tags["team"] = "other" },
			plan: rolePlan{Tag: map[string]string{"team": "platform"}}},
		{name: "without the managed tag: refused", have: func(s *roleState) { delete(s.Tags, ManagedTagKey) }, wantErr: ErrUnmanagedRole},
		{name: "managed tag false: refused", have: func(s *roleState) { s.Tags[ManagedTagKey] = "false" }, wantErr: ErrUnmanagedRole},
		{name: "outside the reserved path: refused", have: func(s *roleState) { s.Path = "/" }, wantErr: ErrUnmanagedRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := want
			w.PolicyARNs = append([]string(nil), want.PolicyARNs...)
			if tc.want != nil {
				tc.want(&w)
			}
			have := stateOf(want)
			if tc.have != nil {
				tc.have(&have)
			}
			got, err := planRole(w, have)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.ErrorIs(t, err, access.ErrConflict)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.plan, got)
			assert.Equal(t, tc.plan.Empty(), got.Empty())
		})
	}
}

func TestBackoff(t *testing.T) {
	r, err := RetryPolicy{Attempts: 6, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	require.NoError(t, err)
	var got []time.Duration
	for a := 1; a <= 6; a++ {
		got = append(got, r.Backoff(a))
	}
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}, got)
}

func TestRetryable(t *testing.T) {
	respErr := func(status int, code string) error {
		return &smithy.OperationError{ServiceID: "IAM", OperationName: "GetRole", Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "m"},
		}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, true},
		{"throttling", respErr(400, "Throttling"), true},
		{"503", respErr(503, "ServiceUnavailable"), true},
		{"no such entity", respErr(404, "NoSuchEntity"), false},
		{"access denied", respErr(403, "AccessDenied"), false},
		{"canceled", context.Canceled, false},
		{"plain error", errors.New("x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, retryable(tc.err)) })
	}
}

func TestNew(t *testing.T) {
	valid := func() Config {
		return Config{
			EndpointURL: "http://127.0.0.1:1",
			Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
			IdPMetadata: func(context.Context) ([]byte, error) { return []byte("<x/>"), nil },
			RoleNameFor: testRoleName,
		}
	}
	p, err := New(valid())
	require.NoError(t, err)
	assert.Equal(t, "Gatehouse", p.cfg.ProviderName)
	assert.Equal(t, "us-east-1", p.cfg.Region)
	assert.Equal(t, 5, p.retry.Attempts)

	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"no metadata", func(c *Config) { c.IdPMetadata = nil }},
		{"no role names", func(c *Config) { c.RoleNameFor = nil }},
		{"provider name with a slash", func(c *Config) { c.ProviderName = "a/b" }},
		{"endpoint not a URL", func(c *Config) { c.EndpointURL = "127.0.0.1:1" }},
		{"endpoint ftp", func(c *Config) { c.EndpointURL = "ftp://127.0.0.1:1" }},
		{"session too short", func(c *Config) { c.SessionDuration = time.Minute }},
		{"negative attempts", func(c *Config) { c.Retry.Attempts = -1 }},
		{"max delay below base", func(c *Config) { c.Retry.BaseDelay = time.Second; c.Retry.MaxDelay = time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			_, err := New(c)
			require.Error(t, err)
		})
	}
}

// TestAssumeRefusesAnotherAccount: the assume-role ARN must be in the
// account being provisioned; nothing is called otherwise (the endpoint is
// closed, so any call would fail with a StepError instead).
func TestAssumeRefusesAnotherAccount(t *testing.T) {
	var sleeps []time.Duration
	p, err := New(Config{
		EndpointURL: "http://127.0.0.1:1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		IdPMetadata: func(context.Context) ([]byte, error) { return []byte("<x/>"), nil },
		RoleNameFor: testRoleName,
		Retry: RetryPolicy{Attempts: 2, Sleep: func(_ context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			return nil
		}},
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, arn string
		want      error
	}{
		{"other account", "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole", ErrWrongAccount},
		{"not a role", "arn:aws:iam::111111111111:user/admin", access.ErrInvalid},
		{"not an ARN", "OrganizationAccountAccessRole", access.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Provision(t.Context(), access.Account{ID: "111111111111", AssumeRoleARN: tc.arn}, validSet())
			require.ErrorIs(t, err, tc.want)
			var se *StepError
			assert.False(t, errors.As(err, &se), "no AWS call was made")
			assert.Equal(t, access.StatusFailed, res.Status)
			assert.Zero(t, res.Version)
		})
	}
	assert.Empty(t, sleeps)

	// Control: the same account's ARN gets as far as calling STS (and
	// fails there, the endpoint being closed).
	_, err = p.Provision(t.Context(), access.Account{ID: "111111111111", AssumeRoleARN: "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"}, validSet())
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "assume-role", se.Step)
	assert.Equal(t, 2, se.Attempts)
}
