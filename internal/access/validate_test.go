package access

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validAccount() Account {
	return Account{
		ID:            "123456789012",
		Name:          "Production",
		Email:         "aws-prod@example.com",
		OU:            "/eng/prod",
		AssumeRoleARN: "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
	}
}

const validInline = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"*"}]}`

func validPermissionSet() PermissionSet {
	return PermissionSet{
		Name:            "AdminAccess",
		Description:     "Full administrator access",
		SessionDuration: 4 * time.Hour,
		RelayState:      "https://console.aws.amazon.com/ec2/home?region=us-east-1#Instances",
		ManagedPolicies: []string{
			"arn:aws:iam::aws:policy/AdministratorAccess",
			"arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
		},
		CustomerPolicies: []CustomerPolicyRef{{Name: "team-extra", Path: "/gatehouse/"}},
		InlinePolicy:     validInline,
		Boundary:         &Boundary{ManagedPolicyARN: "arn:aws:iam::aws:policy/PowerUserAccess"},
		Tags:             map[string]string{"team": "platform"},
	}
}

func validAssignment() Assignment {
	return Assignment{
		PrincipalType: PrincipalGroup,
		PrincipalID:   "grp-0001",
		PermissionSet: "AdminAccess",
		TargetType:    TargetAccount,
		TargetID:      "123456789012",
	}
}

// requireInvalid checks that err is a ValidationError wrapping ErrInvalid
// whose problems are exactly on the fields given, each named in the
// message.
func requireInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrInvalid)
	var v *ValidationError
	require.ErrorAs(t, err, &v)
	assert.Equal(t, fields, v.Fields(), "%v", err)
	for _, f := range fields {
		assert.Contains(t, err.Error(), f+": ")
	}
	assert.True(t, strings.HasPrefix(err.Error(), "access: invalid: "), err.Error())
}

func TestValidateAccount(t *testing.T) {
	require.NoError(t, ValidateAccount(validAccount()))

	valid := []struct {
		name string
		mod  func(*Account)
	}{
		{"root OU", func(a *Account) { a.OU = "/" }},
		{"OU 5 deep", func(a *Account) { a.OU = "/a/b/c/d/e" }},
		{"OU segment 64", func(a *Account) { a.OU = "/" + strings.Repeat("x", 64) }},
		{"name 50", func(a *Account) { a.Name = strings.Repeat("n", 50) }},
		{"name with spaces", func(a *Account) { a.Name = "Prod (EU) #2" }},
		{"role with path", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:role/gatehouse/ops/Provisioner" }},
		{"email 254", func(a *Account) { a.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" }},
		{"email plus", func(a *Account) { a.Email = "aws+prod@mail.example.org" }},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			a := validAccount()
			tc.mod(&a)
			assert.NoError(t, ValidateAccount(a))
		})
	}

	invalidCases := []struct {
		name  string
		mod   func(*Account)
		field string
	}{
		{"id 11 digits", func(a *Account) { a.ID = "12345678901" }, "id"},
		{"id letters", func(a *Account) { a.ID = "12345678901x" }, "id"},
		{"id empty", func(a *Account) { a.ID = "" }, "id"},
		{"name empty", func(a *Account) { a.Name = "" }, "name"},
		{"name 51", func(a *Account) { a.Name = strings.Repeat("n", 51) }, "name"},
		{"name newline", func(a *Account) { a.Name = "Prod\n" }, "name"},
		{"name non-ASCII", func(a *Account) { a.Name = "Prodé" }, "name"},
		{"email empty", func(a *Account) { a.Email = "" }, "email"},
		{"email no at", func(a *Account) { a.Email = "aws-prod.example.com" }, "email"},
		{"email display name", func(a *Account) { a.Email = "Prod <aws-prod@example.com>" }, "email"},
		{"email undotted domain", func(a *Account) { a.Email = "root@localhost" }, "email"},
		{"email 255", func(a *Account) { a.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" }, "email"},
		{"OU empty", func(a *Account) { a.OU = "" }, "ou"},
		{"OU trailing slash", func(a *Account) { a.OU = "/eng/" }, "ou"},
		{"OU relative", func(a *Account) { a.OU = "eng/prod" }, "ou"},
		{"OU empty segment", func(a *Account) { a.OU = "/eng//prod" }, "ou"},
		{"OU 6 deep", func(a *Account) { a.OU = "/a/b/c/d/e/f" }, "ou"},
		{"OU segment 65", func(a *Account) { a.OU = "/" + strings.Repeat("x", 65) }, "ou"},
		{"OU bad char", func(a *Account) { a.OU = "/eng/pr.od" }, "ou"},
		{"role other account", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole" }, "assume_role_arn"},
		{"role empty", func(a *Account) { a.AssumeRoleARN = "" }, "assume_role_arn"},
		{"role not a role", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:user/Alice" }, "assume_role_arn"},
		{"role other partition", func(a *Account) { a.AssumeRoleARN = "arn:aws:sts::123456789012:role/R" }, "assume_role_arn"},
		{"role name empty", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:role/" }, "assume_role_arn"},
		{"role name 65", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65) }, "assume_role_arn"},
		{"role name bad char", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:role/a*b" }, "assume_role_arn"},
		{"role empty path segment", func(a *Account) { a.AssumeRoleARN = "arn:aws:iam::123456789012:role//R" }, "assume_role_arn"},
	}
	for _, tc := range invalidCases {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			a := validAccount()
			tc.mod(&a)
			requireInvalid(t, ValidateAccount(a), tc.field)
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		a := validAccount()
		a.Name, a.Email, a.OU = "", "nope", "x"
		requireInvalid(t, ValidateAccount(a), "name", "email", "ou")
	})
}

func TestValidateOU(t *testing.T) {
	for _, ok := range []string{"/", "/a", "/a-b/c_d/E9", "/a/b/c/d/e"} {
		assert.NoError(t, ValidateOU(ok), ok)
	}
	for _, bad := range []string{"", "a", "/a/", "//", "/a//b", "/a/b/c/d/e/f", "/a b", "/ä"} {
		requireInvalid(t, ValidateOU(bad), "ou")
	}
}

func TestValidatePermissionSet(t *testing.T) {
	require.NoError(t, ValidatePermissionSet(validPermissionSet()))

	twenty := func(prefix string) []string {
		out := make([]string, 20)
		for i := range out {
			out[i] = fmt.Sprintf("%sP%d", prefix, i)
		}
		return out
	}
	valid := []struct {
		name string
		mod  func(*PermissionSet)
	}{
		{"name 32", func(ps *PermissionSet) { ps.Name = strings.Repeat("N", 32) }},
		{"name all chars", func(ps *PermissionSet) { ps.Name = "a_Z9+=,.@-" }},
		{"description empty", func(ps *PermissionSet) { ps.Description = "" }},
		{"description 700 runes", func(ps *PermissionSet) { ps.Description = strings.Repeat("é", 700) }},
		{"duration 1h", func(ps *PermissionSet) { ps.SessionDuration = time.Hour }},
		{"duration 12h", func(ps *PermissionSet) { ps.SessionDuration = 12 * time.Hour }},
		{"duration 90m", func(ps *PermissionSet) { ps.SessionDuration = 90 * time.Minute }},
		{"relay empty", func(ps *PermissionSet) { ps.RelayState = "" }},
		{"relay 240", func(ps *PermissionSet) { ps.RelayState = "https://x.example/" + strings.Repeat("p", 222) }},
		{"no managed", func(ps *PermissionSet) { ps.ManagedPolicies = nil }},
		{"20 managed", func(ps *PermissionSet) { ps.ManagedPolicies = twenty(managedPolicyARNPrefix) }},
		{"managed service-role path", func(ps *PermissionSet) {
			ps.ManagedPolicies = []string{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
		}},
		{"20 customer", func(ps *PermissionSet) {
			ps.CustomerPolicies = nil
			for _, n := range twenty("") {
				ps.CustomerPolicies = append(ps.CustomerPolicies, CustomerPolicyRef{Name: n})
			}
		}},
		{"customer same name other path", func(ps *PermissionSet) {
			ps.CustomerPolicies = []CustomerPolicyRef{{Name: "p"}, {Name: "p", Path: "/x/"}}
		}},
		{"customer name 128", func(ps *PermissionSet) { ps.CustomerPolicies[0].Name = strings.Repeat("c", 128) }},
		{"customer path 512", func(ps *PermissionSet) { ps.CustomerPolicies[0].Path = "/" + strings.Repeat("p", 510) + "/" }},
		{"inline empty", func(ps *PermissionSet) { ps.InlinePolicy = "" }},
		{"inline 2008 single statement NotAction", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2008-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}}`
		}},
		{"inline whitespace beyond limit", func(ps *PermissionSet) {
			ps.InlinePolicy = padPolicy(MaxInlinePolicy) + strings.Repeat(" ", 5000)
		}},
		{"boundary customer", func(ps *PermissionSet) {
			ps.Boundary = &Boundary{CustomerPolicy: &CustomerPolicyRef{Name: "boundary"}}
		}},
		{"no boundary", func(ps *PermissionSet) { ps.Boundary = nil }},
		{"50 tags", func(ps *PermissionSet) { ps.Tags = tags(50) }},
		{"tag key 128 value 256 unicode", func(ps *PermissionSet) {
			ps.Tags = map[string]string{strings.Repeat("ü", 128): strings.Repeat("v", 255) + " "}
		}},
		{"tag empty value", func(ps *PermissionSet) { ps.Tags = map[string]string{"k": ""} }},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			ps := validPermissionSet()
			tc.mod(&ps)
			assert.NoError(t, ValidatePermissionSet(ps))
		})
	}

	invalidCases := []struct {
		name  string
		mod   func(*PermissionSet)
		field string
	}{
		{"name empty", func(ps *PermissionSet) { ps.Name = "" }, "name"},
		{"name 33", func(ps *PermissionSet) { ps.Name = strings.Repeat("N", 33) }, "name"},
		{"name space", func(ps *PermissionSet) { ps.Name = "Admin Access" }, "name"},
		{"name slash", func(ps *PermissionSet) { ps.Name = "Admin/Access" }, "name"},
		{"description 701", func(ps *PermissionSet) { ps.Description = strings.Repeat("d", 701) }, "description"},
		{"description newline", func(ps *PermissionSet) { ps.Description = "a\nb" }, "description"},
		{"description bad UTF-8", func(ps *PermissionSet) { ps.Description = "a\xffb" }, "description"},
		{"duration zero", func(ps *PermissionSet) { ps.SessionDuration = 0 }, "session_duration"},
		{"duration 59m", func(ps *PermissionSet) { ps.SessionDuration = 59 * time.Minute }, "session_duration"},
		{"duration 12h1m", func(ps *PermissionSet) { ps.SessionDuration = 12*time.Hour + time.Minute }, "session_duration"},
		{"duration seconds", func(ps *PermissionSet) { ps.SessionDuration = time.Hour + time.Second }, "session_duration"},
		{"relay http", func(ps *PermissionSet) { ps.RelayState = "http://console.aws.amazon.com/" }, "relay_state"},
		{"relay relative", func(ps *PermissionSet) { ps.RelayState = "/ec2/home" }, "relay_state"},
		{"relay javascript", func(ps *PermissionSet) { ps.RelayState = "javascript:alert(1)" }, "relay_state"},
		{"relay userinfo", func(ps *PermissionSet) { ps.RelayState = "https://u:p@console.aws.amazon.com/" }, "relay_state"},
		{"relay space", func(ps *PermissionSet) { ps.RelayState = "https://console.aws.amazon.com/a b" }, "relay_state"},
		{"relay 241", func(ps *PermissionSet) { ps.RelayState = "https://x.example/" + strings.Repeat("p", 223) }, "relay_state"},
		{"managed customer ARN", func(ps *PermissionSet) {
			ps.ManagedPolicies[1] = "arn:aws:iam::123456789012:policy/Mine"
		}, "managed_policies[1]"},
		{"managed empty name", func(ps *PermissionSet) { ps.ManagedPolicies[1] = managedPolicyARNPrefix + "job-function/" }, "managed_policies[1]"},
		{"managed duplicate", func(ps *PermissionSet) { ps.ManagedPolicies[1] = ps.ManagedPolicies[0] }, "managed_policies[1]"},
		{"21 managed", func(ps *PermissionSet) {
			ps.ManagedPolicies = append(twenty(managedPolicyARNPrefix), managedPolicyARNPrefix+"Extra")
		}, "managed_policies"},
		{"customer name empty", func(ps *PermissionSet) { ps.CustomerPolicies[0].Name = "" }, "customer_policies[0].name"},
		{"customer name 129", func(ps *PermissionSet) { ps.CustomerPolicies[0].Name = strings.Repeat("c", 129) }, "customer_policies[0].name"},
		{"customer path no slash", func(ps *PermissionSet) { ps.CustomerPolicies[0].Path = "/gatehouse" }, "customer_policies[0].path"},
		{"customer path 513", func(ps *PermissionSet) { ps.CustomerPolicies[0].Path = "/" + strings.Repeat("p", 511) + "/" }, "customer_policies[0].path"},
		{"customer duplicate (default path)", func(ps *PermissionSet) {
			ps.CustomerPolicies = []CustomerPolicyRef{{Name: "p"}, {Name: "p", Path: "/"}}
		}, "customer_policies[1]"},
		{"21 customer", func(ps *PermissionSet) {
			ps.CustomerPolicies = nil
			for _, n := range append(twenty(""), "X") {
				ps.CustomerPolicies = append(ps.CustomerPolicies, CustomerPolicyRef{Name: n})
			}
		}, "customer_policies"},
		{"inline not JSON", func(ps *PermissionSet) { ps.InlinePolicy = "{" }, "inline_policy"},
		{"inline array", func(ps *PermissionSet) { ps.InlinePolicy = "[" + validInline + "]" }, "inline_policy"},
		{"inline trailing data", func(ps *PermissionSet) { ps.InlinePolicy = validInline + " {}" }, "inline_policy"},
		{"inline duplicate key", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*"},"Statement":{"Effect":"Allow","Action":"*"}}`
		}, "inline_policy"},
		{"inline nested duplicate key", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Effect":"Allow","Action":"*"}}`
		}, "inline_policy"},
		{"inline too big", func(ps *PermissionSet) { ps.InlinePolicy = padPolicy(MaxInlinePolicy + 1) }, "inline_policy"},
		{"inline no version", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Statement":{"Effect":"Allow","Action":"*"}}`
		}, "inline_policy.Version"},
		{"inline bad version", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, "2012-10-17", "2012-10-18", 1)
		}, "inline_policy.Version"},
		{"inline lowercase key", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `"Statement"`, `"statement"`, 1)
		}, "inline_policy.Statement"},
		{"inline empty statements", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2012-10-17","Statement":[]}`
		}, "inline_policy.Statement"},
		{"inline statement string", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2012-10-17","Statement":"Allow"}`
		}, "inline_policy.Statement"},
		{"inline statement item not object", func(ps *PermissionSet) {
			ps.InlinePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"},1]}`
		}, "inline_policy.Statement[1]"},
		{"inline bad effect", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `"Allow"`, `"allow"`, 1)
		}, "inline_policy.Statement[0].Effect"},
		{"inline no action", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `"Action"`, `"Actions"`, 1)
		}, "inline_policy.Statement[0]"},
		{"inline action and notaction", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `"Resource"`, `"NotAction"`, 1)
		}, "inline_policy.Statement[0]"},
		{"inline empty action list", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `["s3:GetObject"]`, `[]`, 1)
		}, "inline_policy.Statement[0].Action"},
		{"inline action number", func(ps *PermissionSet) {
			ps.InlinePolicy = strings.Replace(validInline, `["s3:GetObject"]`, `3`, 1)
		}, "inline_policy.Statement[0].Action"},
		{"boundary both", func(ps *PermissionSet) {
			ps.Boundary.CustomerPolicy = &CustomerPolicyRef{Name: "b"}
		}, "permissions_boundary"},
		{"boundary neither", func(ps *PermissionSet) { ps.Boundary = &Boundary{} }, "permissions_boundary"},
		{"boundary customer ARN", func(ps *PermissionSet) {
			ps.Boundary.ManagedPolicyARN = "arn:aws:iam::123456789012:policy/B"
		}, "permissions_boundary.managed_policy_arn"},
		{"boundary customer bad name", func(ps *PermissionSet) {
			ps.Boundary = &Boundary{CustomerPolicy: &CustomerPolicyRef{Name: "a b"}}
		}, "permissions_boundary.customer_policy.name"},
		{"51 tags", func(ps *PermissionSet) { ps.Tags = tags(51) }, "tags"},
		{"tag aws prefix", func(ps *PermissionSet) { ps.Tags = map[string]string{"AWS:x": "v"} }, `tags["AWS:x"]`},
		{"tag key empty", func(ps *PermissionSet) { ps.Tags = map[string]string{"": "v"} }, `tags[""]`},
		{"tag key 129", func(ps *PermissionSet) { ps.Tags = map[string]string{strings.Repeat("k", 129): "v"} }, fmt.Sprintf("tags[%q]", strings.Repeat("k", 129))},
		{"tag value 257", func(ps *PermissionSet) { ps.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, `tags["k"]`},
		{"tag value bad char", func(ps *PermissionSet) { ps.Tags = map[string]string{"k": "a;b"} }, `tags["k"]`},
	}
	for _, tc := range invalidCases {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			ps := validPermissionSet()
			tc.mod(&ps)
			requireInvalid(t, ValidatePermissionSet(ps), tc.field)
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		ps := validPermissionSet()
		ps.Name, ps.SessionDuration, ps.Tags = "", time.Minute, map[string]string{"aws:x": ""}
		requireInvalid(t, ValidatePermissionSet(ps), "name", "session_duration", `tags["aws:x"]`)
	})
}

// padPolicy returns a valid policy document of exactly n bytes compacted.
func padPolicy(n int) string {
	base := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Sid":""}}`
	return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("s", n-len(base))+`"`, 1)
}

func tags(n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("k%d", i)] = "v"
	}
	return out
}

func TestPadPolicy(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, []byte(padPolicy(MaxInlinePolicy))))
	assert.Equal(t, MaxInlinePolicy, b.Len())
}

func TestValidateAssignment(t *testing.T) {
	require.NoError(t, ValidateAssignment(validAssignment()))
	valid := []struct {
		name string
		mod  func(*Assignment)
	}{
		{"user", func(a *Assignment) { a.PrincipalType = PrincipalUser }},
		{"OU", func(a *Assignment) { a.TargetType, a.TargetID = TargetOU, "/eng" }},
		{"root OU", func(a *Assignment) { a.TargetType, a.TargetID = TargetOU, "/" }},
		{"principal 128", func(a *Assignment) { a.PrincipalID = strings.Repeat("p", 128) }},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			a := validAssignment()
			tc.mod(&a)
			assert.NoError(t, ValidateAssignment(a))
		})
	}
	invalidCases := []struct {
		name  string
		mod   func(*Assignment)
		field string
	}{
		{"principal type", func(a *Assignment) { a.PrincipalType = "user" }, "principal_type"},
		{"principal empty", func(a *Assignment) { a.PrincipalID = "" }, "principal_id"},
		{"principal 129", func(a *Assignment) { a.PrincipalID = strings.Repeat("p", 129) }, "principal_id"},
		{"principal control", func(a *Assignment) { a.PrincipalID = "a\x00" }, "principal_id"},
		{"permission set", func(a *Assignment) { a.PermissionSet = "a b" }, "permission_set"},
		{"target type", func(a *Assignment) { a.TargetType = "ACCOUNT" }, "target_type"},
		{"account id", func(a *Assignment) { a.TargetID = "1234" }, "target_id"},
		{"OU path as account", func(a *Assignment) { a.TargetID = "/eng" }, "target_id"},
		{"account as OU", func(a *Assignment) { a.TargetType = TargetOU }, "target_id"},
	}
	for _, tc := range invalidCases {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			a := validAssignment()
			tc.mod(&a)
			requireInvalid(t, ValidateAssignment(a), tc.field)
		})
	}
}

func TestRoleName(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ps := validPermissionSet()
	name := RoleName(ps, "123456789012", secret)

	m := hmac.New(sha256.New, secret)
	m.Write([]byte("123456789012/" + ps.Name))
	assert.Equal(t, "AWSReservedSSO_"+ps.Name+"_"+hex.EncodeToString(m.Sum(nil)[:8]), name)

	assert.Equal(t, name, RoleName(ps, "123456789012", secret), "stable")
	assert.NotEqual(t, name, RoleName(ps, "210987654321", secret), "per account")
	assert.NotEqual(t, name, RoleName(ps, "123456789012", []byte("other secret")), "per secret")
	other := ps
	other.Name = "ReadOnly"
	assert.NotContains(t, RoleName(other, "123456789012", secret), name[len(name)-16:], "per permission set")

	ps.Name = strings.Repeat("N", MaxPermissionSetName)
	long := RoleName(ps, "123456789012", secret)
	assert.Len(t, long, 64)
	assert.Len(t, long, MaxRoleName)
	assert.Empty(t, iamNameProblem(long, MaxRoleName), "a valid IAM role name")
	assert.Regexp(t, `^AWSReservedSSO_N{32}_[0-9a-f]{16}$`, long)
}

func TestErrorMessage(t *testing.T) {
	a := validAssignment()
	a.PermissionSet = ""
	err := ValidateAssignment(a)
	assert.Equal(t, "access: invalid: permission_set: must be 1 to 32 characters of A-Z a-z 0-9 +=,.@_-", err.Error())
	assert.True(t, errors.Is(err, ErrInvalid))
}

// FuzzInlinePolicy checks that an accepted policy is one valid JSON
// object within the size limit, with Version and Statement, and that
// validation does not depend on whitespace.
func FuzzInlinePolicy(f *testing.F) {
	f.Add(validInline)
	f.Add(`{"Version":"2008-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*"}}`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Effect":"Allow","Action":"*"}}`)
	f.Add(validInline + "{}")
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		var p problems
		inlinePolicy(&p, "inline_policy", doc)
		if doc == "" {
			require.Empty(t, p)
			return
		}
		if len(p) > 0 {
			return
		}
		require.True(t, json.Valid([]byte(doc)))
		var b bytes.Buffer
		require.NoError(t, json.Compact(&b, []byte(doc)))
		require.LessOrEqual(t, b.Len(), MaxInlinePolicy)
		var top map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b.Bytes(), &top))
		require.Contains(t, top, "Version")
		require.Contains(t, top, "Statement")
		var again problems
		inlinePolicy(&again, "inline_policy", b.String())
		require.Empty(t, again)
	})
}

// FuzzValidateOU checks that an accepted OU path has one spelling and
// that prefix containment follows segments.
func FuzzValidateOU(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/b", "/a//b", "a", "/a/", "/a/b/c/d/e/f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if ValidateOU(path) != nil {
			return
		}
		require.True(t, path == "/" || !strings.HasSuffix(path, "/"))
		require.NotContains(t, path, "//")
		require.LessOrEqual(t, strings.Count(path, "/"), MaxOUDepth)
		require.True(t, OUContains("/", path))
		require.True(t, OUContains(path, path))
		require.False(t, path != "/" && OUContains(path+"x", path))
	})
}

// FuzzValidateAccount checks that an accepted account's role ARN names
// the account and that no accepted field has control characters.
func FuzzValidateAccount(f *testing.F) {
	a := validAccount()
	f.Add(a.ID, a.Name, a.Email, a.OU, a.AssumeRoleARN)
	f.Fuzz(func(t *testing.T, id, name, email, ou, arn string) {
		if ValidateAccount(Account{ID: id, Name: name, Email: email, OU: ou, AssumeRoleARN: arn}) != nil {
			return
		}
		require.Len(t, id, 12)
		require.True(t, strings.HasPrefix(arn, "arn:aws:iam::"+id+":role/"))
		for _, s := range []string{name, email, ou, arn} {
			require.False(t, strings.ContainsAny(s, "\x00\r\n\t"))
		}
	})
}

func TestAssignmentCovers(t *testing.T) {
	acct := Account{ID: "111111111111", OU: "/eng/platform"}
	for _, tc := range []struct {
		name string
		a    Assignment
		want bool
	}{
		{"the account", Assignment{TargetType: TargetAccount, TargetID: "111111111111"}, true},
		{"another account", Assignment{TargetType: TargetAccount, TargetID: "222222222222"}, false},
		{"root", Assignment{TargetType: TargetOU, TargetID: "/"}, true},
		{"its OU", Assignment{TargetType: TargetOU, TargetID: "/eng/platform"}, true},
		{"a parent OU", Assignment{TargetType: TargetOU, TargetID: "/eng"}, true},
		{"a prefix that is not a segment", Assignment{TargetType: TargetOU, TargetID: "/en"}, false},
		{"a child OU", Assignment{TargetType: TargetOU, TargetID: "/eng/platform/db"}, false},
		{"a sibling OU", Assignment{TargetType: TargetOU, TargetID: "/eng/web"}, false},
		{"an account ID as OU", Assignment{TargetType: TargetOU, TargetID: "111111111111"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.a.Covers(acct))
		})
	}
}

func TestValidAccountIDAndPermissionSetName(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{{"111111111111", true}, {"11111111111", false}, {"1111111111111", false}, {"11111111111a", false}, {"", false}} {
		assert.Equal(t, tc.want, ValidAccountID(tc.id), tc.id)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"ReadOnly", true}, {"a+b=c,d.e@f_g-h", true}, {strings.Repeat("a", MaxPermissionSetName), true},
		{strings.Repeat("a", MaxPermissionSetName+1), false}, {"", false}, {"Read Only", false}, {"ro/admin", false}, {"rö", false},
	} {
		assert.Equal(t, tc.want, ValidPermissionSetName(tc.name), tc.name)
	}
}
