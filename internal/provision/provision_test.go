package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

var testAccounts = []access.Account{
	{ID: "111111111111", Name: "prod", AssumeRoleARN: "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"},
	{ID: "222222222222", Name: "dev", AssumeRoleARN: "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"},
}

// hashRoleName is a RoleNameFor like access.RoleName: the set's name and
// 16 hex of a hash.
func hashRoleName(ps access.PermissionSet, accountID string) string {
	sum := sha256.Sum256([]byte(accountID + "/" + ps.Name))
	return RolePrefix + ps.Name + "_" + hex.EncodeToString(sum[:8])
}

// startMoto starts moto's standalone server (testpeer.Moto).
func startMoto(t *testing.T) string { return testpeer.Moto(t) }

func mgmtCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("testing", "testing", "")
}

// fakeMetadata is minimal IdP metadata with a fresh signing certificate.
func fakeMetadata(t *testing.T, entityID string) []byte {
	t.Helper()
	_, cert, err := testpeer.SelfSigned("gatehouse idp", x509.KeyUsageDigitalSignature)
	require.NoError(t, err)
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + entityID + `">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + base64.StdEncoding.EncodeToString(cert.Raw) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://gatehouse.test/saml/idp/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`)
}

// recorder records the IAM/STS actions sent through it.
type recorder struct {
	mu      sync.Mutex
	actions []string
	next    http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		if v, err := url.ParseQuery(string(b)); err == nil {
			r.mu.Lock()
			r.actions = append(r.actions, v.Get("Action"))
			r.mu.Unlock()
		}
	}
	return r.next.RoundTrip(req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.actions
	r.actions = nil
	return a
}

type harness struct {
	endpoint string
	metadata []byte
	sleeps   []time.Duration
	rec      *recorder
}

func (h *harness) provisioner(t *testing.T, endpoint string) *Provisioner {
	t.Helper()
	p, err := New(Config{
		EndpointURL: endpoint,
		Credentials: mgmtCreds(),
		HTTPClient:  &http.Client{Transport: h.rec, Timeout: 10 * time.Second},
		IdPMetadata: func(context.Context) ([]byte, error) { return h.metadata, nil },
		RoleNameFor: hashRoleName,
		Now:         func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Retry: RetryPolicy{Attempts: 3, BaseDelay: 10 * time.Millisecond, Sleep: func(_ context.Context, d time.Duration) error {
			h.sleeps = append(h.sleeps, d)
			return nil
		}},
	})
	require.NoError(t, err)
	return p
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		endpoint: startMoto(t),
		metadata: fakeMetadata(t, "https://gatehouse.test/saml/idp/metadata"),
		rec:      &recorder{next: http.DefaultTransport},
	}
	// Customer managed policies the permission sets name, in each account.
	for _, a := range testAccounts {
		c := h.iam(t, a.ID)
		for _, pol := range []struct{ name, path string }{{"GatehouseReadLogs", "/gatehouse/"}, {"GatehouseBoundary", "/"}} {
			_, err := c.CreatePolicy(t.Context(), &iam.CreatePolicyInput{
				PolicyName:     aws.String(pol.name),
				Path:           aws.String(pol.path),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:Get*","Resource":"*"}]}`),
			})
			require.NoError(t, err)
		}
	}
	return h
}

// iam is an IAM client in the account, through the test's own
// AssumeRole (independent of the code under test).
func (h *harness) iam(t *testing.T, accountID string) *iam.Client {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: mgmtCreds(), BaseEndpoint: aws.String(h.endpoint)}
	out, err := sts.NewFromConfig(cfg).AssumeRole(t.Context(), &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + accountID + ":role/OrganizationAccountAccessRole"),
		RoleSessionName: aws.String("verify"),
	})
	require.NoError(t, err)
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, aws.ToString(c.SessionToken))
	return iam.NewFromConfig(cfg)
}

// roleView is what the IAM API shows of a role.
type roleView struct {
	Path        string
	Description string
	Trust       string // decoded JSON
	MaxSession  int32
	Tags        map[string]string
	Attached    []string
	Inline      map[string]string // decoded JSON
	Boundary    string
}

// accountView is everything relevant in one account.
type accountView struct {
	Providers map[string]string // ARN -> metadata
	Roles     map[string]roleView
}

// decodeDoc undoes IAM's URL encoding of policy documents.
func decodeDoc(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

func (h *harness) view(t *testing.T, accountID string) accountView {
	t.Helper()
	ctx := t.Context()
	c := h.iam(t, accountID)
	v := accountView{Providers: map[string]string{}, Roles: map[string]roleView{}}
	ps, err := c.ListSAMLProviders(ctx, &iam.ListSAMLProvidersInput{})
	require.NoError(t, err)
	for _, p := range ps.SAMLProviderList {
		got, err := c.GetSAMLProvider(ctx, &iam.GetSAMLProviderInput{SAMLProviderArn: p.Arn})
		require.NoError(t, err)
		v.Providers[*p.Arn] = aws.ToString(got.SAMLMetadataDocument)
	}
	roles, err := c.ListRoles(ctx, &iam.ListRolesInput{})
	require.NoError(t, err)
	require.False(t, roles.IsTruncated)
	for _, r := range roles.Roles {
		got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: r.RoleName})
		require.NoError(t, err)
		rv := roleView{
			Path:        aws.ToString(got.Role.Path),
			Description: aws.ToString(got.Role.Description),
			Trust:       decodeDoc(aws.ToString(got.Role.AssumeRolePolicyDocument)),
			MaxSession:  aws.ToInt32(got.Role.MaxSessionDuration),
			Tags:        map[string]string{},
			Inline:      map[string]string{},
		}
		if b := got.Role.PermissionsBoundary; b != nil {
			rv.Boundary = aws.ToString(b.PermissionsBoundaryArn)
		}
		for _, tg := range got.Role.Tags {
			rv.Tags[*tg.Key] = *tg.Value
		}
		att, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: r.RoleName})
		require.NoError(t, err)
		for _, a := range att.AttachedPolicies {
			rv.Attached = append(rv.Attached, *a.PolicyArn)
		}
		sort.Strings(rv.Attached)
		in, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: r.RoleName})
		require.NoError(t, err)
		for _, n := range in.PolicyNames {
			d, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: r.RoleName, PolicyName: aws.String(n)})
			require.NoError(t, err)
			rv.Inline[n] = decodeDoc(aws.ToString(d.PolicyDocument))
		}
		v.Roles[*r.RoleName] = rv
	}
	return v
}

func providerARN(accountID string) string {
	return "arn:aws:iam::" + accountID + ":saml-provider/Gatehouse"
}

func trustJSON(accountID string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + providerARN(accountID) +
		`"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession"],"Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}}]}`
}

const (
	inlineV1 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`
	inlineV2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::logs/*"}]}`
)

func adminSet() access.PermissionSet {
	return access.PermissionSet{
		Name:            "Admin",
		Description:     "administrators",
		SessionDuration: 2 * time.Hour,
		ManagedPolicies: []string{
			"arn:aws:iam::aws:policy/ReadOnlyAccess",
			"arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
		},
		CustomerPolicies: []access.CustomerPolicyRef{{Name: "GatehouseReadLogs", Path: "/gatehouse/"}},
		InlinePolicy:     inlineV1,
		Boundary:         &access.Boundary{CustomerPolicy: &access.CustomerPolicyRef{Name: "GatehouseBoundary"}},
		Tags:             map[string]string{"team": "platform"},
		Version:          1,
	}
}

// expectRole asserts the role in v is exactly what ps calls for.
func expectRole(t *testing.T, v accountView, accountID string, ps access.PermissionSet) {
	t.Helper()
	name := hashRoleName(ps, accountID)
	r, ok := v.Roles[name]
	require.True(t, ok, "role %s in %s; roles: %v", name, accountID, slices.Collect(maps.Keys(v.Roles)))
	assert.Equal(t, RolePath, r.Path)
	assert.Equal(t, ps.Description, r.Description)
	assert.JSONEq(t, trustJSON(accountID), r.Trust)
	assert.Equal(t, int32(ps.SessionDuration/time.Second), r.MaxSession)
	wantTags := map[string]string{"gatehouse:managed": "true", "gatehouse:permission-set": ps.Name}
	for k, val := range ps.Tags {
		wantTags[k] = val
	}
	assert.Equal(t, wantTags, r.Tags)
	var wantAttached []string
	wantAttached = append(wantAttached, ps.ManagedPolicies...)
	for _, c := range ps.CustomerPolicies {
		wantAttached = append(wantAttached, "arn:aws:iam::"+accountID+":policy"+c.Path+c.Name)
	}
	sort.Strings(wantAttached)
	assert.Equal(t, wantAttached, r.Attached)
	if ps.InlinePolicy == "" {
		assert.Empty(t, r.Inline)
	} else {
		require.Len(t, r.Inline, 1)
		assert.JSONEq(t, ps.InlinePolicy, r.Inline[InlinePolicyName])
	}
	switch {
	case ps.Boundary == nil:
		assert.Empty(t, r.Boundary)
	case ps.Boundary.CustomerPolicy != nil:
		assert.Equal(t, "arn:aws:iam::"+accountID+":policy/"+ps.Boundary.CustomerPolicy.Name, r.Boundary)
	default:
		assert.Equal(t, ps.Boundary.ManagedPolicyARN, r.Boundary)
	}
}

var readActions = []string{
	"AssumeRole", "ListSAMLProviders", "GetSAMLProvider", "GetRole",
	"ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy",
}

// TestProvisionLifecycle creates, re-runs, updates and deletes a
// permission set in two accounts and checks every account with the IAM
// API after each step.
func TestProvisionLifecycle(t *testing.T) {
	h := newHarness(t)
	p := h.provisioner(t, h.endpoint)
	ctx := t.Context()
	ps := adminSet()

	// Create.
	for _, a := range testAccounts {
		res, err := p.Provision(ctx, a, ps)
		require.NoError(t, err)
		assert.Equal(t, access.Provisioning{
			AccountID: a.ID, PermissionSet: "Admin", Version: 1, RoleName: hashRoleName(ps, a.ID),
			Status: access.StatusSucceeded, UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		}, res)
	}
	assert.NotEqual(t, hashRoleName(ps, "111111111111"), hashRoleName(ps, "222222222222"))
	for _, a := range testAccounts {
		v := h.view(t, a.ID)
		assert.Equal(t, map[string]string{providerARN(a.ID): string(h.metadata)}, v.Providers)
		assert.Len(t, v.Roles, 1, "only the permission set's role")
		expectRole(t, v, a.ID, ps)
	}
	h.rec.take()

	// Running again changes nothing: only reads are made.
	for _, a := range testAccounts {
		res, err := p.Provision(ctx, a, ps)
		require.NoError(t, err)
		assert.Equal(t, access.StatusSucceeded, res.Status)
	}
	for _, act := range h.rec.take() {
		assert.Contains(t, readActions, act, "an idempotent run only reads")
	}

	// Update: a managed policy removed, the inline policy changed, the
	// session longer, a tag changed, the boundary dropped, new metadata.
	ps2 := adminSet()
	ps2.ManagedPolicies = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}
	ps2.InlinePolicy = inlineV2
	ps2.SessionDuration = 4 * time.Hour
	ps2.Tags = map[string]string{"team": "security"}
	ps2.Boundary = nil
	ps2.Version = 2
	h.metadata = fakeMetadata(t, "https://gatehouse.test/saml/idp/metadata")
	for _, a := range testAccounts {
		res, err := p.Provision(ctx, a, ps2)
		require.NoError(t, err)
		assert.Equal(t, int64(2), res.Version)
		assert.Equal(t, access.StatusSucceeded, res.Status)
	}
	for _, a := range testAccounts {
		v := h.view(t, a.ID)
		assert.Equal(t, map[string]string{providerARN(a.ID): string(h.metadata)}, v.Providers, "metadata updated in place")
		assert.Len(t, v.Roles, 1)
		expectRole(t, v, a.ID, ps2)
	}

	// Update: no inline policy, no customer policy, a boundary from AWS
	// managed policies, no tags.
	ps3 := ps2
	ps3.InlinePolicy = ""
	ps3.CustomerPolicies = nil
	ps3.Boundary = &access.Boundary{ManagedPolicyARN: "arn:aws:iam::aws:policy/PowerUserAccess"}
	ps3.Tags = nil
	ps3.Version = 3
	for _, a := range testAccounts {
		_, err := p.Provision(ctx, a, ps3)
		require.NoError(t, err)
		v := h.view(t, a.ID)
		assert.Len(t, v.Roles, 1)
		expectRole(t, v, a.ID, ps3)
	}

	// A second permission set lives next to the first.
	ro := access.PermissionSet{Name: "ReadOnly", SessionDuration: time.Hour, ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, Version: 1}
	_, err := p.Provision(ctx, testAccounts[0], ro)
	require.NoError(t, err)

	// Deprovision Admin from the first account: exactly that role goes.
	require.NoError(t, p.Deprovision(ctx, testAccounts[0], ps3))
	v1 := h.view(t, testAccounts[0].ID)
	assert.Len(t, v1.Providers, 1, "the provider stays")
	assert.Len(t, v1.Roles, 1)
	expectRole(t, v1, testAccounts[0].ID, ro)
	expectRole(t, h.view(t, testAccounts[1].ID), testAccounts[1].ID, ps3)
	require.NoError(t, p.Deprovision(ctx, testAccounts[0], ps3), "deprovisioning again is a no-op")

	// The provider goes only once no role trusts it.
	err = p.DeprovisionProvider(ctx, testAccounts[0])
	require.ErrorIs(t, err, ErrProviderInUse)
	assert.ErrorIs(t, err, access.ErrInUse)
	assert.Len(t, h.view(t, testAccounts[0].ID).Providers, 1)
	require.NoError(t, p.Deprovision(ctx, testAccounts[0], ro))
	require.NoError(t, p.DeprovisionProvider(ctx, testAccounts[0]))
	assert.Equal(t, accountView{Providers: map[string]string{}, Roles: map[string]roleView{}}, h.view(t, testAccounts[0].ID))
	require.NoError(t, p.DeprovisionProvider(ctx, testAccounts[0]), "no provider: no-op")

	// The second account is untouched by all that.
	v2 := h.view(t, testAccounts[1].ID)
	assert.Len(t, v2.Providers, 1)
	assert.Len(t, v2.Roles, 1)
	expectRole(t, v2, testAccounts[1].ID, ps3)
	assert.Empty(t, h.sleeps, "no retries against a healthy emulator")
}

// TestProvisionRefusesUnmanagedRole: a role with the permission set's
// name that Gatehouse did not create is never changed or deleted. The
// control case is the same role carrying the Gatehouse tag.
func TestProvisionRefusesUnmanagedRole(t *testing.T) {
	h := newHarness(t)
	p := h.provisioner(t, h.endpoint)
	ps := adminSet()
	const foreignTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}`

	for i, tc := range []struct {
		name    string
		path    string
		tags    map[string]string
		refused bool
	}{
		{name: "tagged, reserved path (control)", path: RolePath, tags: map[string]string{ManagedTagKey: ManagedTagValue}},
		{name: "untagged", path: RolePath, tags: map[string]string{"owner": "someone"}, refused: true},
		{name: "tag false", path: RolePath, tags: map[string]string{ManagedTagKey: "false"}, refused: true},
		{name: "tagged, other path", path: "/", tags: map[string]string{ManagedTagKey: ManagedTagValue}, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := ps
			ps.Name = fmt.Sprintf("Admin%d", i)
			acct := testAccounts[i%2]
			name := hashRoleName(ps, acct.ID)
			c := h.iam(t, acct.ID)
			in := &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(tc.path), AssumeRolePolicyDocument: aws.String(foreignTrust)}
			for k, v := range tc.tags {
				in.Tags = append(in.Tags, iamTag(k, v))
			}
			_, err := c.CreateRole(t.Context(), in)
			require.NoError(t, err)
			_, err = c.AttachRolePolicy(t.Context(), &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")})
			require.NoError(t, err)
			before := h.view(t, acct.ID).Roles[name]

			res, err := p.Provision(t.Context(), acct, ps)
			if !tc.refused {
				require.NoError(t, err)
				expectRole(t, h.view(t, acct.ID), acct.ID, ps)
				require.NoError(t, p.Deprovision(t.Context(), acct, ps))
				assert.NotContains(t, h.view(t, acct.ID).Roles, name)
				return
			}
			require.ErrorIs(t, err, ErrUnmanagedRole)
			assert.ErrorIs(t, err, access.ErrConflict)
			assert.Equal(t, access.StatusFailed, res.Status)
			assert.Zero(t, res.Version)
			assert.Contains(t, res.Reason, name)
			assert.Equal(t, before, h.view(t, acct.ID).Roles[name], "left untouched")

			require.ErrorIs(t, p.Deprovision(t.Context(), acct, ps), ErrUnmanagedRole)
			assert.Equal(t, before, h.view(t, acct.ID).Roles[name], "not deleted")
		})
	}
}

// faultProxy forwards to moto but answers 503 to the listed IAM actions.
type faultProxy struct {
	mu     sync.Mutex
	fail   map[string]bool
	failed map[string]int
}

func (f *faultProxy) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		q, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		fail := f.fail[q.Get("Action")]
		if fail {
			f.failed[q.Get("Action")]++
		}
		f.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected outage</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestProvisionUnreachableAccount: failures are retried with backoff,
// reported with the account and step, and leave nothing the next run
// does not find and converge.
func TestProvisionUnreachableAccount(t *testing.T) {
	h := newHarness(t)
	ps := adminSet()
	acct := testAccounts[0]
	ctx := t.Context()

	t.Run("endpoint closed", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closedURL := closed.URL
		closed.Close()
		h.sleeps = nil
		p := h.provisioner(t, closedURL)
		res, err := p.Provision(ctx, acct, ps)
		var se *StepError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, StepError{AccountID: acct.ID, Step: "assume-role", Attempts: 3, Err: se.Err}, *se)
		assert.Equal(t, access.StatusFailed, res.Status)
		assert.Zero(t, res.Version)
		assert.Equal(t, hashRoleName(ps, acct.ID), res.RoleName)
		assert.Contains(t, res.Reason, "account 111111111111: assume-role failed after 3 attempt(s)")
		assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, h.sleeps)
		assert.Equal(t, accountView{Providers: map[string]string{}, Roles: map[string]roleView{}}, h.view(t, acct.ID), "nothing created")
	})

	t.Run("outage part-way, then converges", func(t *testing.T) {
		f := &faultProxy{fail: map[string]bool{"AttachRolePolicy": true}, failed: map[string]int{}}
		h.sleeps = nil
		p := h.provisioner(t, f.start(t, h.endpoint))
		res, err := p.Provision(ctx, acct, ps)
		var se *StepError
		require.ErrorAs(t, err, &se)
		assert.Contains(t, se.Step, "attach-role-policy")
		assert.Equal(t, 3, se.Attempts)
		assert.Equal(t, 3, f.failed["AttachRolePolicy"], "tried the configured number of times")
		assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, h.sleeps)
		assert.Equal(t, access.StatusFailed, res.Status)
		assert.Zero(t, res.Version, "a half-provisioned role reflects no version")
		assert.Contains(t, res.Reason, "injected outage")

		// What was left: the role exists, tagged as Gatehouse's, without
		// its policies.
		v := h.view(t, acct.ID)
		left := v.Roles[res.RoleName]
		assert.Equal(t, ManagedTagValue, left.Tags[ManagedTagKey])
		assert.Empty(t, left.Attached)

		// The outage ends: the next run converges from there.
		f.mu.Lock()
		f.fail = nil
		f.mu.Unlock()
		res, err = p.Provision(ctx, acct, ps)
		require.NoError(t, err)
		assert.Equal(t, access.StatusSucceeded, res.Status)
		assert.Equal(t, int64(1), res.Version)
		v = h.view(t, acct.ID)
		assert.Len(t, v.Providers, 1)
		assert.Len(t, v.Roles, 1)
		expectRole(t, v, acct.ID, ps)
	})

	t.Run("missing customer policy is not retried", func(t *testing.T) {
		h.sleeps = nil
		p := h.provisioner(t, h.endpoint)
		bad := adminSet()
		bad.CustomerPolicies = []access.CustomerPolicyRef{{Name: "NoSuchPolicy"}}
		res, err := p.Provision(ctx, testAccounts[1], bad)
		var se *StepError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 1, se.Attempts)
		assert.Contains(t, se.Step, "arn:aws:iam::222222222222:policy/NoSuchPolicy")
		assert.Empty(t, h.sleeps)
		assert.Equal(t, access.StatusFailed, res.Status)

		// Control: the valid set converges the same role.
		_, err = p.Provision(ctx, testAccounts[1], adminSet())
		require.NoError(t, err)
		expectRole(t, h.view(t, testAccounts[1].ID), testAccounts[1].ID, adminSet())
	})
}

func iamTag(k, v string) iamtypes.Tag { return iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)} }
