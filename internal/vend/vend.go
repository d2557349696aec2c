package vend

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// AWS's SAML endpoint, the audience and recipient of assertions for AWS,
// and the path of the roles: the ones provisioning creates and trusts.
const (
	AWSSignInURL  = provision.SAMLAudience
	RolePath      = provision.RolePath
	attrRole      = "https://aws.amazon.com/SAML/Attributes/Role"
	attrSession   = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	attrDuration  = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
	attrTagPrefix = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"
	// keys of Principal.Attributes the vendor fills for one response.
	keyRole     = "gatehouse.vend.role"
	keyDuration = "gatehouse.vend.duration"
)

// Errors Vend returns; callers branch on them with errors.Is.
var (
	// ErrNotEntitled: the user may not use the permission set in the
	// account (no assignment, deactivated, unknown user, account or
	// permission set). One error for all, so that a caller learns
	// nothing about what exists.
	ErrNotEntitled = errors.New("vend: not entitled")
	// ErrUnavailable: the store or AWS failed; nothing was issued.
	ErrUnavailable = errors.New("vend: temporarily unavailable")
)

// Entitlements re-checks a user's entitlement (access.Service).
type Entitlements interface {
	Entitled(ctx context.Context, userID, accountID, permissionSet string) (bool, error)
}

// Catalog reads accounts and permission sets (access.Store).
type Catalog interface {
	Account(ctx context.Context, id string) (access.Account, error)
	PermissionSet(ctx context.Context, name string) (access.PermissionSet, error)
}

// Users reads identity store users with their custom attributes.
type Users interface {
	DirectoryUser(ctx context.Context, id string) (directory.User, error)
}

// ResponseBuilder signs SAML responses (idp.IdP).
type ResponseBuilder interface {
	BuildResponse(ctx context.Context, sp *idp.ServiceProvider, p idp.Principal, acsURL, inResponseTo string, now time.Time) ([]byte, error)
}

// STS is the part of the STS API the vendor calls.
type STS interface {
	AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput, opts ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error)
}

// Config configures a Vendor.
type Config struct {
	Entitlements Entitlements
	Catalog      Catalog
	Users        Users
	IdP          ResponseBuilder
	STS          STS
	// RoleName is the role name of a permission set in an account (the
	// provisioner's, access.RoleName with the gateway's secret).
	RoleName func(ps access.PermissionSet, accountID string) string
	// ProviderName is the SAML provider's name in each account (default
	// "Gatehouse", as the provisioner creates it).
	ProviderName string
	// TagAttributes are the custom user attributes sent as
	// PrincipalTag:<key> session tags (attribute-based access control).
	TagAttributes []string
	Now           func() time.Time
	Logger        *slog.Logger
}

// Vendor mints SAML assertions for AWS and exchanges them for temporary
// credentials.
type Vendor struct {
	cfg  Config
	base *idp.ServiceProvider
}

// New validates cfg and returns a Vendor.
func New(cfg Config) (*Vendor, error) {
	if cfg.Entitlements == nil || cfg.Catalog == nil || cfg.Users == nil || cfg.IdP == nil || cfg.STS == nil || cfg.RoleName == nil {
		return nil, errors.New("vend: Entitlements, Catalog, Users, IdP, STS and RoleName are required")
	}
	for _, k := range cfg.TagAttributes {
		if !tagKey.MatchString(k) {
			return nil, fmt.Errorf("vend: TagAttributes: %q is not a session tag key", k)
		}
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = provision.DefaultProviderName
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sp, err := idp.NewServiceProvider("aws", awsMetadata, idp.ServiceProviderOptions{
		NameIDFormat: idp.NameIDPersistent,
		Sign:         idp.SignAssertion,
	}, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("vend: the AWS service provider: %w", err)
	}
	return &Vendor{cfg: cfg, base: sp}, nil
}

// awsMetadata describes AWS's SAML endpoint as a service provider. Its
// entity ID is the sign-in URL, so that the assertions' Audience is the
// value the roles' trust policies compare SAML:aud with.
var awsMetadata = []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + AWSSignInURL + `">
<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>
<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + AWSSignInURL + `" index="1" isDefault="true"/>
</SPSSODescriptor>
</EntityDescriptor>`)

// Session tag keys AWS accepts, and role session names.
var (
	tagKey      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Credentials are temporary AWS credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AccountID       string
	RoleARN         string
}

// RoleARN is the ARN of a permission set's role in an account.
func (v *Vendor) RoleARN(ps access.PermissionSet, accountID string) string {
	return "arn:aws:iam::" + accountID + ":role" + RolePath + v.cfg.RoleName(ps, accountID)
}

// ProviderARN is the ARN of Gatehouse's SAML provider in an account.
func (v *Vendor) ProviderARN(accountID string) string {
	return "arn:aws:iam::" + accountID + ":saml-provider/" + v.cfg.ProviderName
}

// Assertion returns the signed SAML response that lets userID assume the
// permission set's role in the account, after checking the entitlement
// again, and the role and provider ARNs it names.
func (v *Vendor) Assertion(ctx context.Context, userID, accountID, permissionSet string) (resp []byte, ps access.PermissionSet, err error) {
	ok, err := v.cfg.Entitlements.Entitled(ctx, userID, accountID, permissionSet)
	if err != nil {
		return nil, access.PermissionSet{}, fmt.Errorf("%w: entitlement: %w", ErrUnavailable, err)
	}
	if !ok {
		return nil, access.PermissionSet{}, ErrNotEntitled
	}
	u, err := v.cfg.Users.DirectoryUser(ctx, userID)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return nil, access.PermissionSet{}, ErrNotEntitled
	case err != nil:
		return nil, access.PermissionSet{}, fmt.Errorf("%w: user: %w", ErrUnavailable, err)
	case !u.Active:
		return nil, access.PermissionSet{}, ErrNotEntitled
	}
	ps, err = v.cfg.Catalog.PermissionSet(ctx, permissionSet)
	switch {
	case errors.Is(err, access.ErrNotFound):
		return nil, access.PermissionSet{}, ErrNotEntitled
	case err != nil:
		return nil, access.PermissionSet{}, fmt.Errorf("%w: permission set: %w", ErrUnavailable, err)
	}
	if _, err := v.cfg.Catalog.Account(ctx, accountID); errors.Is(err, access.ErrNotFound) {
		return nil, access.PermissionSet{}, ErrNotEntitled
	} else if err != nil {
		return nil, access.PermissionSet{}, fmt.Errorf("%w: account: %w", ErrUnavailable, err)
	}
	if !sessionName.MatchString(u.UserName) {
		return nil, access.PermissionSet{}, fmt.Errorf("vend: user name %q cannot be an AWS role session name", u.UserName)
	}

	// The per-response values travel as principal attributes, mapped to
	// AWS's attribute names on a copy of the base service provider.
	sp := *v.base
	sp.Attributes = append(slices.Clip(v.base.Attributes),
		idp.AttributeMapping{Name: attrRole, NameFormat: idp.AttrNameFormatURI, Field: "attributes." + keyRole},
		idp.AttributeMapping{Name: attrSession, NameFormat: idp.AttrNameFormatURI, Field: "user_name"},
		idp.AttributeMapping{Name: attrDuration, NameFormat: idp.AttrNameFormatURI, Field: "attributes." + keyDuration},
	)
	attrs := map[string]string{
		keyRole:     v.RoleARN(ps, accountID) + "," + v.ProviderARN(accountID),
		keyDuration: strconv.Itoa(int(ps.SessionDuration / time.Second)),
	}
	for _, k := range v.cfg.TagAttributes {
		if val, ok := u.Attributes[k]; ok && val != "" {
			attrs[k] = val
			sp.Attributes = append(sp.Attributes, idp.AttributeMapping{Name: attrTagPrefix + k, NameFormat: idp.AttrNameFormatURI, Field: "attributes." + k})
		}
	}
	p := idp.Principal{
		UserID: u.ID, UserName: u.UserName, Email: u.Email, DisplayName: u.DisplayName,
		GivenName: u.GivenName, FamilyName: u.FamilyName, ExternalID: u.ExternalID, Attributes: attrs,
	}
	resp, err = v.cfg.IdP.BuildResponse(ctx, &sp, p, AWSSignInURL, "", v.cfg.Now())
	if err != nil {
		return nil, access.PermissionSet{}, fmt.Errorf("%w: signing the assertion: %w", ErrUnavailable, err)
	}
	return resp, ps, nil
}

// Vend returns temporary credentials for userID in the account with the
// permission set's role, valid for the permission set's session
// duration. The entitlement is checked again here, against the store: a
// deprovisioned user, a removed assignment or a deleted permission set
// gets ErrNotEntitled.
func (v *Vendor) Vend(ctx context.Context, userID, accountID, permissionSet string) (Credentials, error) {
	resp, ps, err := v.Assertion(ctx, userID, accountID, permissionSet)
	if err != nil {
		return Credentials{}, err
	}
	out, err := v.cfg.STS.AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{
		RoleArn:         aws.String(v.RoleARN(ps, accountID)),
		PrincipalArn:    aws.String(v.ProviderARN(accountID)),
		SAMLAssertion:   aws.String(base64.StdEncoding.EncodeToString(resp)),
		DurationSeconds: aws.Int32(int32(ps.SessionDuration / time.Second)),
	})
	if err != nil {
		v.cfg.Logger.ErrorContext(ctx, "AssumeRoleWithSAML failed", "account_id", accountID, "permission_set", permissionSet, "err", err)
		return Credentials{}, fmt.Errorf("%w: AssumeRoleWithSAML: %w", ErrUnavailable, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return Credentials{}, fmt.Errorf("%w: AssumeRoleWithSAML returned no credentials", ErrUnavailable)
	}
	return Credentials{
		AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken,
		Expiration: c.Expiration.UTC(), AccountID: accountID, RoleARN: v.RoleARN(ps, accountID),
	}, nil
}
