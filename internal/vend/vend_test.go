package vend_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

const (
	prodID = "111111111111"
	devID  = "222222222222"
)

// idpDeps holds the IdP's one signing key; the rest of it satisfies
// idp.New for an IdP used only to build responses.
type idpDeps struct {
	signer crypto.Signer
	cert   *x509.Certificate
}

func (d idpDeps) SigningKey(context.Context) (crypto.Signer, *x509.Certificate, error) {
	return d.signer, d.cert, nil
}
func (d idpDeps) Certificates(context.Context) ([]*x509.Certificate, error) {
	return []*x509.Certificate{d.cert}, nil
}
func (idpDeps) ServiceProviderByEntityID(context.Context, string) (*idp.ServiceProvider, error) {
	return nil, idp.ErrUnknownServiceProvider
}
func (idpDeps) ServiceProviderByID(context.Context, string) (*idp.ServiceProvider, error) {
	return nil, idp.ErrUnknownServiceProvider
}
func (idpDeps) Principal(*http.Request) (idp.Principal, error) {
	return idp.Principal{}, idp.ErrNoSession
}
func (idpDeps) StartLogin(w http.ResponseWriter, _ *http.Request, _ string) {
	w.WriteHeader(http.StatusForbidden)
}
func (idpDeps) CanAccess(context.Context, *idp.ServiceProvider, idp.Principal) (bool, error) {
	return false, nil
}

// groupIDs resolves a user's group IDs from the memory store.
type groupIDs struct{ st *memory.Store }

func (g groupIDs) GroupIDs(ctx context.Context, userID string) ([]string, error) {
	u, err := g.st.DirectoryUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(u.Groups))
	for i, gr := range u.Groups {
		ids[i] = gr.ID
	}
	return ids, nil
}

type fixture struct {
	st       *memory.Store
	access   *access.Service
	vendor   *vend.Vendor
	endpoint string
	user     directory.User
	ps       access.PermissionSet
	roleName func(access.PermissionSet, string) string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	endpoint := testpeer.Moto(t)
	key, cert, err := testpeer.SelfSigned("gatehouse idp", x509.KeyUsageDigitalSignature)
	require.NoError(t, err)
	deps := idpDeps{signer: key, cert: cert}
	st := memory.New()
	issuer, err := idp.New(idp.Config{
		EntityID: "https://gw.example.com/saml/idp/metadata", SSOURL: "https://gw.example.com/saml/idp/sso",
		ServiceProviders: deps, Sessions: deps, Access: deps, Keys: deps, States: st,
		PersistentIDKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	require.NoError(t, err)
	md, err := metadata.BuildIdP(metadata.IdPConfig{
		EntityID: "https://gw.example.com/saml/idp/metadata", SigningCertificates: []*x509.Certificate{cert},
		SSOURL: "https://gw.example.com/saml/idp/sso", NameIDFormats: []string{idp.NameIDFormatPersistentURI},
	})
	require.NoError(t, err)

	secret := []byte("role-name-secret-role-name-secret")
	roleName := func(ps access.PermissionSet, accountID string) string { return access.RoleName(ps, accountID, secret) }

	// The directory: fox in group analysts; dana in no group.
	fox, err := st.CreateDirectoryUser(ctx, directory.User{UserName: "fox", Email: "fox@example.com", Active: true,
		Attributes: map[string]string{"CostCenter": "cc-42", "Team": "x-files"}}, time.Now())
	require.NoError(t, err)
	group, err := st.CreateGroup(ctx, directory.Group{DisplayName: "analysts"}, time.Now())
	require.NoError(t, err)
	_, err = st.PatchGroupMembers(ctx, group.ID, []string{fox.ID}, nil, 0, time.Now())
	require.NoError(t, err)
	fox, err = st.DirectoryUser(ctx, fox.ID)
	require.NoError(t, err)

	svc, err := access.New(access.Config{Store: st, Groups: groupIDs{st}})
	require.NoError(t, err)
	for _, a := range []access.Account{
		{ID: prodID, Name: "prod", Email: "aws-prod@example.com", OU: "/workloads/prod", AssumeRoleARN: "arn:aws:iam::" + prodID + ":role/OrganizationAccountAccessRole"},
		{ID: devID, Name: "dev", Email: "aws-dev@example.com", OU: "/workloads/dev", AssumeRoleARN: "arn:aws:iam::" + devID + ":role/OrganizationAccountAccessRole"},
	} {
		_, err := svc.CreateAccount(ctx, a)
		require.NoError(t, err)
	}
	ps, err := svc.CreatePermissionSet(ctx, access.PermissionSet{
		Name: "ReadOnly", SessionDuration: 2 * time.Hour,
		ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
	})
	require.NoError(t, err)
	_, _, err = svc.CreateAssignment(ctx, access.Assignment{
		PrincipalType: access.PrincipalGroup, PrincipalID: group.ID, PermissionSet: "ReadOnly",
		TargetType: access.TargetOU, TargetID: "/workloads/prod",
	})
	require.NoError(t, err)

	// Provision the role in prod (the assignment's account) with the real
	// provisioner, as the gateway will.
	prov, err := provision.New(provision.Config{
		EndpointURL: endpoint, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		IdPMetadata: func(context.Context) ([]byte, error) { return md, nil },
		RoleNameFor: roleName,
	})
	require.NoError(t, err)
	acct, err := st.Account(ctx, prodID)
	require.NoError(t, err)
	p, err := prov.Provision(ctx, acct, ps)
	require.NoError(t, err)
	require.Equal(t, access.StatusSucceeded, p.Status, p.Reason)

	// AssumeRoleWithSAML needs no credentials on AWS, and the SDK sends
	// it unsigned. moto, however, files a SAML session under the account
	// that signed the call and looks it up, at GetCallerIdentity, under
	// the account of the role; so the test signs the call with
	// credentials of the target account (signedSTS), which AWS would
	// accept too.
	mgmt := sts.New(sts.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	inProd, err := mgmt.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(acct.AssumeRoleARN), RoleSessionName: aws.String("vend-test"),
	})
	require.NoError(t, err)
	pc := inProd.Credentials
	stsClient := signedSTS{sts.New(sts.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(pc.AccessKeyId), aws.ToString(pc.SecretAccessKey), aws.ToString(pc.SessionToken)),
	})}
	vendor, err := vend.New(vend.Config{
		Entitlements: svc, Catalog: st, Users: st, IdP: issuer, STS: stsClient, RoleName: roleName,
		TagAttributes: []string{"CostCenter"},
	})
	require.NoError(t, err)
	return &fixture{st: st, access: svc, vendor: vendor, endpoint: endpoint, user: fox, ps: ps, roleName: roleName}
}

// callerIdentity calls sts:GetCallerIdentity with the credentials.
func (f *fixture) callerIdentity(t *testing.T, c vend.Credentials) *sts.GetCallerIdentityOutput {
	t.Helper()
	client := sts.New(sts.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
	})
	out, err := client.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	return out
}

// TestVendAgainstMoto: an entitled user gets credentials that work in the
// right account with the right role and session name; everyone else gets
// ErrNotEntitled, each starting from the valid case and changing one thing.
func TestVendAgainstMoto(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	creds, err := f.vendor.Vend(ctx, f.user.ID, prodID, "ReadOnly")
	require.NoError(t, err)
	assert.NotEmpty(t, creds.AccessKeyID)
	assert.NotEmpty(t, creds.SessionToken)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), creds.Expiration, 5*time.Minute, "the permission set's session duration")
	id := f.callerIdentity(t, creds)
	assert.Equal(t, prodID, aws.ToString(id.Account))
	roleName := f.roleName(f.ps, prodID)
	assert.Equal(t, "arn:aws:sts::"+prodID+":assumed-role/"+roleName+"/fox", aws.ToString(id.Arn))

	t.Run("assertion", func(t *testing.T) {
		// What moto does not check, checked here: audience, recipient,
		// role and provider, session name and duration, the ABAC tag,
		// and the signature by the IdP's key.
		resp, _, err := f.vendor.Assertion(ctx, f.user.ID, prodID, "ReadOnly")
		require.NoError(t, err)
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(resp))
		a := doc.FindElement("//Assertion")
		require.NotNil(t, a)
		assert.Equal(t, vend.AWSSignInURL, a.FindElement(".//Audience").Text())
		assert.Equal(t, vend.AWSSignInURL, a.FindElement(".//SubjectConfirmationData").SelectAttrValue("Recipient", ""))
		assert.NotNil(t, a.FindElement("./Signature"), "the assertion is signed")
		attrs := map[string]string{}
		for _, at := range a.FindElements(".//Attribute") {
			attrs[at.SelectAttrValue("Name", "")] = at.FindElement("AttributeValue").Text()
		}
		assert.Equal(t, "arn:aws:iam::"+prodID+":role/aws-reserved/sso.amazonaws.com/"+roleName+",arn:aws:iam::"+prodID+":saml-provider/Gatehouse",
			attrs["https://aws.amazon.com/SAML/Attributes/Role"])
		assert.Equal(t, "fox", attrs["https://aws.amazon.com/SAML/Attributes/RoleSessionName"])
		assert.Equal(t, "7200", attrs["https://aws.amazon.com/SAML/Attributes/SessionDuration"])
		assert.Equal(t, "cc-42", attrs["https://aws.amazon.com/SAML/Attributes/PrincipalTag:CostCenter"])
		_, team := attrs["https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team"]
		assert.False(t, team, "only configured attributes become session tags")
		assert.NotContains(t, string(resp), "gatehouse.vend.", "internal attribute keys are not released")
	})

	refusals := []struct {
		name    string
		account string
		ps      string
		change  func(t *testing.T, g *fixture)
	}{
		{"account not assigned", devID, "ReadOnly", nil},
		{"unknown account", "333333333333", "ReadOnly", nil},
		{"unknown permission set", prodID, "Admin", nil},
		{"group removed from the assignment", prodID, "ReadOnly", func(t *testing.T, g *fixture) {
			as, err := g.st.AssignmentsForPermissionSet(ctx, "ReadOnly")
			require.NoError(t, err)
			for _, a := range as {
				require.NoError(t, g.st.DeleteAssignment(ctx, a.ID))
			}
		}},
		{"deactivated user", prodID, "ReadOnly", func(t *testing.T, g *fixture) {
			_, err := g.st.UpdateDirectoryUser(ctx, g.user.ID, 0, func(u *directory.User) error { u.Active = false; return nil }, time.Now())
			require.NoError(t, err)
		}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			g := newFixture(t)
			if tc.change != nil {
				tc.change(t, g)
			}
			_, err := g.vendor.Vend(ctx, g.user.ID, tc.account, tc.ps)
			require.ErrorIs(t, err, vend.ErrNotEntitled)
		})
	}
}

// TestVendPermissionSetDeletedAfterListing: a permission set deleted
// between listing and vending grants nothing.
func TestVendPermissionSetDeletedAfterListing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ents, err := f.access.EntitlementsFor(ctx, f.user.ID)
	require.NoError(t, err)
	require.Len(t, ents, 1, "listed before the deletion")
	as, err := f.st.AssignmentsForPermissionSet(ctx, "ReadOnly")
	require.NoError(t, err)
	for _, a := range as {
		require.NoError(t, f.st.DeleteAssignment(ctx, a.ID))
	}
	require.NoError(t, f.st.DeletePermissionSet(ctx, "ReadOnly"))
	_, err = f.vendor.Vend(ctx, f.user.ID, prodID, "ReadOnly")
	require.ErrorIs(t, err, vend.ErrNotEntitled)
}

// TestVendSTSFailure: when STS refuses, the caller gets ErrUnavailable and
// no credentials.
func TestVendSTSFailure(t *testing.T) {
	f := newFixture(t)
	v, err := vend.New(vend.Config{
		Entitlements: f.access, Catalog: f.st, Users: f.st, IdP: brokenIssuer{}, STS: failingSTS{}, RoleName: f.roleName,
	})
	require.NoError(t, err)
	_, err = v.Vend(t.Context(), f.user.ID, prodID, "ReadOnly")
	require.ErrorIs(t, err, vend.ErrUnavailable)
}

// signedSTS calls AssumeRoleWithSAML signed with SigV4 (see newFixture).
type signedSTS struct{ c *sts.Client }

func (s signedSTS) AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput, opts ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error) {
	return s.c.AssumeRoleWithSAML(ctx, in, append(opts, func(o *sts.Options) { o.AuthSchemeResolver = sigV4Always{} })...)
}

type sigV4Always struct{}

func (sigV4Always) ResolveAuthSchemes(_ context.Context, p *sts.AuthResolverParameters) ([]*smithyauth.Option, error) {
	var props smithy.Properties
	smithyhttp.SetSigV4SigningName(&props, "sts")
	smithyhttp.SetSigV4SigningRegion(&props, p.Region)
	return []*smithyauth.Option{{SchemeID: smithyauth.SchemeIDSigV4, SignerProperties: props}}, nil
}

type brokenIssuer struct{}

func (brokenIssuer) BuildResponse(context.Context, *idp.ServiceProvider, idp.Principal, string, string, time.Time) ([]byte, error) {
	return []byte("<Response/>"), nil
}

type failingSTS struct{}

func (failingSTS) AssumeRoleWithSAML(context.Context, *sts.AssumeRoleWithSAMLInput, ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error) {
	return nil, errors.New("AccessDenied: not authorized")
}
