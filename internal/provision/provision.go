package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Errors Provision, Deprovision and DeprovisionProvider return; a failed
// AWS call is a *StepError instead (which may wrap an SDK error).
var (
	// ErrUnmanagedRole: a role with the name exists but Gatehouse did not
	// create it (no gatehouse:managed tag, or outside RolePath); it was
	// left untouched. It is an access.ErrConflict.
	ErrUnmanagedRole = fmt.Errorf("provision: role not managed by Gatehouse: %w", access.ErrConflict)
	// ErrProviderInUse: a role still trusts the SAML provider. It is an
	// access.ErrInUse.
	ErrProviderInUse = fmt.Errorf("provision: SAML provider still trusted by a role: %w", access.ErrInUse)
	// ErrWrongAccount: the assume-role ARN, or the session STS returned,
	// belongs to another account than the one being provisioned.
	ErrWrongAccount = fmt.Errorf("provision: assumed role is in another account: %w", access.ErrInvalid)
)

// Config configures a Provisioner.
type Config struct {
	// Region is the region for STS and the signing region (default
	// "us-east-1"; IAM is global).
	Region string
	// EndpointURL overrides the AWS endpoints (an emulator, a private
	// endpoint); empty uses the SDK's resolution.
	EndpointURL string
	// Credentials are the management credentials; they are used only to
	// call sts:AssumeRole on each account's AssumeRoleARN. Nil uses the
	// SDK's default chain (environment, shared files, instance role).
	Credentials aws.CredentialsProvider
	// HTTPClient is used for every AWS call (default the SDK's, which
	// honours AWS_CA_BUNDLE; a client given here keeps its own TLS
	// settings).
	HTTPClient aws.HTTPClient
	// IdPMetadata returns the gateway's SAML IdP metadata (the document
	// served at /saml/idp/metadata). Required.
	IdPMetadata func(ctx context.Context) ([]byte, error)
	// ProviderName names the SAML provider in each account (default
	// "Gatehouse").
	ProviderName string
	// RoleNameFor names the role of a permission set in an account
	// (access.RoleName). Required; the result must be
	// AWSReservedSSO_<set>_<16 lowercase hex>.
	RoleNameFor func(ps access.PermissionSet, accountID string) string
	// SessionName is the STS role session name (default
	// "gatehouse-provisioning"), visible in the target's CloudTrail.
	SessionName string
	// SessionDuration is how long assumed credentials last (default and
	// minimum 15 minutes).
	SessionDuration time.Duration
	Now             func() time.Time
	Logger          *slog.Logger
	Retry           RetryPolicy
}

// Provisioner creates, converges and deletes the SAML provider and
// permission set roles in target AWS accounts. It is safe for concurrent
// use; callers should serialize calls for the same account and permission
// set (two concurrent runs converge, but may report spurious failures).
type Provisioner struct {
	cfg    Config
	awsCfg aws.Config
	sts    *sts.Client
	retry  RetryPolicy
	log    *slog.Logger
}

// New validates cfg and returns a Provisioner. It makes no AWS call.
func New(cfg Config) (*Provisioner, error) {
	if cfg.IdPMetadata == nil {
		return nil, errors.New("provision: IdPMetadata is required")
	}
	if cfg.RoleNameFor == nil {
		return nil, errors.New("provision: RoleNameFor is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = DefaultProviderName
	}
	if !providerNameRE.MatchString(cfg.ProviderName) {
		return nil, fmt.Errorf("provision: ProviderName %q is not 1 to 128 of [A-Za-z0-9._-]", cfg.ProviderName)
	}
	if cfg.SessionName == "" {
		cfg.SessionName = "gatehouse-provisioning"
	}
	switch {
	case cfg.SessionDuration == 0:
		cfg.SessionDuration = 15 * time.Minute
	case cfg.SessionDuration < 15*time.Minute || cfg.SessionDuration > 12*time.Hour:
		return nil, fmt.Errorf("provision: SessionDuration %s is not 15m to 12h", cfg.SessionDuration)
	}
	if cfg.EndpointURL != "" {
		u, err := url.Parse(cfg.EndpointURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("provision: EndpointURL %q is not an http(s) URL", cfg.EndpointURL)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		// Retries are ours (do), so that every call is retried the same
		// way, waits go through the injected Sleep and the final error
		// names the step.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.EndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(cfg.EndpointURL))
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("provision: load AWS configuration: %w", err)
	}
	if cfg.HTTPClient != nil {
		// Set after loading: the loader would otherwise try to add
		// AWS_CA_BUNDLE to it, which only works for the SDK's own client;
		// a caller's client owns its TLS settings.
		awsCfg.HTTPClient = cfg.HTTPClient
	}
	return &Provisioner{
		cfg:    cfg,
		awsCfg: awsCfg,
		sts:    sts.NewFromConfig(awsCfg),
		retry:  r,
		log:    cfg.Logger,
	}, nil
}

// session is an assumed-role IAM client for one target account.
type session struct {
	p         *Provisioner
	iam       *iam.Client
	accountID string
	partition string
}

// assume checks that acct.AssumeRoleARN is a role in acct itself and
// assumes it.
func (p *Provisioner) assume(ctx context.Context, acct access.Account) (*session, error) {
	if !access.ValidAccountID(acct.ID) {
		return nil, fmt.Errorf("%w: account ID %q is not 12 digits", access.ErrInvalid, acct.ID)
	}
	roleARN, err := arn.Parse(acct.AssumeRoleARN)
	if err != nil || roleARN.Service != "iam" || !strings.HasPrefix(roleARN.Resource, "role/") {
		return nil, fmt.Errorf("%w: account %s: AssumeRoleARN %q is not an IAM role ARN", access.ErrInvalid, acct.ID, acct.AssumeRoleARN)
	}
	if roleARN.AccountID != acct.ID {
		return nil, fmt.Errorf("%w: account %s: AssumeRoleARN %s", ErrWrongAccount, acct.ID, acct.AssumeRoleARN)
	}
	out, err := do(ctx, p, acct.ID, "assume-role", func(ctx context.Context) (*sts.AssumeRoleOutput, error) {
		return p.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(acct.AssumeRoleARN),
			RoleSessionName: aws.String(p.cfg.SessionName),
			DurationSeconds: aws.Int32(int32(p.cfg.SessionDuration / time.Second)),
		})
	})
	if err != nil {
		return nil, err
	}
	if out.Credentials == nil || out.AssumedRoleUser == nil {
		return nil, &StepError{AccountID: acct.ID, Step: "assume-role", Attempts: 1, Err: errors.New("STS returned no credentials")}
	}
	got, err := arn.Parse(aws.ToString(out.AssumedRoleUser.Arn))
	if err != nil || got.AccountID != acct.ID {
		return nil, fmt.Errorf("%w: account %s: STS returned session %q", ErrWrongAccount, acct.ID, aws.ToString(out.AssumedRoleUser.Arn))
	}
	c := out.Credentials
	creds := credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	client := iam.NewFromConfig(p.awsCfg, func(o *iam.Options) {
		o.Credentials = aws.NewCredentialsCache(creds)
	})
	return &session{p: p, iam: client, accountID: acct.ID, partition: roleARN.Partition}, nil
}

// Provision makes the account hold the SAML provider and ps's role exactly
// as ps says, from whatever exists (it is idempotent and converges after a
// run that failed part-way). On success the Provisioning reports
// ps.Version; on failure it reports StatusFailed, the reason, and Version
// 0: a run that failed part-way may have changed the role, so it reflects
// no known version until a later run succeeds.
func (p *Provisioner) Provision(ctx context.Context, acct access.Account, ps access.PermissionSet) (access.Provisioning, error) {
	roleName := p.cfg.RoleNameFor(ps, acct.ID)
	res := access.Provisioning{AccountID: acct.ID, PermissionSet: ps.Name, RoleName: roleName}
	err := p.provision(ctx, acct, ps, roleName)
	res.UpdatedAt = p.cfg.Now()
	if err != nil {
		res.Status = access.StatusFailed
		res.Reason = err.Error()
		p.log.WarnContext(ctx, "provision: failed", "account", acct.ID, "permission_set", ps.Name, "role", roleName, "err", err)
		return res, err
	}
	res.Status = access.StatusSucceeded
	res.Version = ps.Version
	p.log.InfoContext(ctx, "provision: succeeded", "account", acct.ID, "permission_set", ps.Name, "role", roleName, "version", ps.Version)
	return res, nil
}

func (p *Provisioner) provision(ctx context.Context, acct access.Account, ps access.PermissionSet, roleName string) error {
	if err := checkRoleName(roleName, ps); err != nil {
		return err
	}
	metadata, err := p.cfg.IdPMetadata(ctx)
	if err != nil {
		return fmt.Errorf("provision: IdP metadata: %w", err)
	}
	if len(bytes.TrimSpace(metadata)) == 0 {
		return errors.New("provision: IdP metadata is empty")
	}
	s, err := p.assume(ctx, acct)
	if err != nil {
		return err
	}
	providerARN, err := s.ensureProvider(ctx, string(metadata))
	if err != nil {
		return err
	}
	want, err := desiredRole(ps, roleName, s.partition, s.accountID, providerARN)
	if err != nil {
		return err
	}
	have, err := s.readRole(ctx, roleName)
	if err != nil {
		return err
	}
	plan, err := planRole(want, have)
	if err != nil {
		return fmt.Errorf("account %s: %w", acct.ID, err)
	}
	if plan.Empty() {
		return nil
	}
	p.log.InfoContext(ctx, "provision: converging role", "account", acct.ID, "role", roleName,
		"create", plan.Create, "attach", plan.Attach, "detach", plan.Detach,
		"put_inline", plan.PutInline, "delete_inline", plan.DeleteInline)
	return s.apply(ctx, want, plan)
}

// Deprovision deletes ps's role from the account: its policies are
// detached, its inline policies deleted, then the role. A missing role is
// success; a role Gatehouse did not create is refused (ErrUnmanagedRole)
// and left as it is. The SAML provider stays (see DeprovisionProvider).
// The caller decides that no assignment needs the role any more.
func (p *Provisioner) Deprovision(ctx context.Context, acct access.Account, ps access.PermissionSet) error {
	roleName := p.cfg.RoleNameFor(ps, acct.ID)
	err := p.deprovision(ctx, acct, ps, roleName)
	if err != nil {
		p.log.WarnContext(ctx, "provision: deprovision failed", "account", acct.ID, "permission_set", ps.Name, "role", roleName, "err", err)
		return err
	}
	p.log.InfoContext(ctx, "provision: deprovisioned", "account", acct.ID, "permission_set", ps.Name, "role", roleName)
	return nil
}

func (p *Provisioner) deprovision(ctx context.Context, acct access.Account, ps access.PermissionSet, roleName string) error {
	if err := checkRoleName(roleName, ps); err != nil {
		return err
	}
	s, err := p.assume(ctx, acct)
	if err != nil {
		return err
	}
	have, err := s.readRole(ctx, roleName)
	if err != nil {
		return err
	}
	if !have.Exists {
		return nil
	}
	if !have.Managed() || have.Path != RolePath {
		return fmt.Errorf("%w: account %s: role %s (path %s)", ErrUnmanagedRole, acct.ID, roleName, have.Path)
	}
	for _, a := range have.PolicyARNs {
		if err := s.detach(ctx, roleName, a); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have.Inline)) {
		if err := s.deleteInline(ctx, roleName, name); err != nil {
			return err
		}
	}
	return do0(ctx, p, s.accountID, "delete-role", func(ctx context.Context) error {
		_, err := s.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(roleName)})
		if isNoSuchEntity(err) {
			return nil
		}
		return err
	})
}

// DeprovisionProvider deletes the SAML provider from the account once no
// role there trusts it (ErrProviderInUse otherwise). A missing provider is
// success.
func (p *Provisioner) DeprovisionProvider(ctx context.Context, acct access.Account) error {
	s, err := p.assume(ctx, acct)
	if err != nil {
		return err
	}
	providerARN, err := s.findProvider(ctx)
	if err != nil || providerARN == "" {
		return err
	}
	var marker *string
	for {
		out, err := do(ctx, p, s.accountID, "list-roles", func(ctx context.Context) (*iam.ListRolesOutput, error) {
			return s.iam.ListRoles(ctx, &iam.ListRolesInput{Marker: marker})
		})
		if err != nil {
			return err
		}
		for _, r := range out.Roles {
			if trustsProvider(aws.ToString(r.AssumeRolePolicyDocument), providerARN) {
				return fmt.Errorf("%w: account %s: role %s trusts %s", ErrProviderInUse, acct.ID, aws.ToString(r.RoleName), providerARN)
			}
		}
		if !out.IsTruncated || out.Marker == nil {
			break
		}
		marker = out.Marker
	}
	err = do0(ctx, p, s.accountID, "delete-saml-provider", func(ctx context.Context) error {
		_, err := s.iam.DeleteSAMLProvider(ctx, &iam.DeleteSAMLProviderInput{SAMLProviderArn: aws.String(providerARN)})
		if isNoSuchEntity(err) {
			return nil
		}
		return err
	})
	if err == nil {
		p.log.InfoContext(ctx, "provision: SAML provider deleted", "account", acct.ID, "provider", providerARN)
	}
	return err
}

// trustsProvider reports whether a trust policy names the provider. An
// unreadable document counts as trusting it: deleting the provider is
// then refused rather than risked.
func trustsProvider(doc, providerARN string) bool {
	norm, err := normalizePolicy(doc)
	if err != nil {
		return true
	}
	return strings.Contains(norm, `"`+providerARN+`"`)
}

func isNoSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse)
}

// findProvider returns the ARN of the provider named ProviderName, or "".
func (s *session) findProvider(ctx context.Context) (string, error) {
	out, err := do(ctx, s.p, s.accountID, "list-saml-providers", func(ctx context.Context) (*iam.ListSAMLProvidersOutput, error) {
		return s.iam.ListSAMLProviders(ctx, &iam.ListSAMLProvidersInput{})
	})
	if err != nil {
		return "", err
	}
	for _, e := range out.SAMLProviderList {
		a, err := arn.Parse(aws.ToString(e.Arn))
		if err == nil && a.AccountID == s.accountID && a.Resource == "saml-provider/"+s.p.cfg.ProviderName {
			return a.String(), nil
		}
	}
	return "", nil
}

// ensureProvider creates the SAML provider, or updates its metadata when
// it changed, and returns its ARN.
func (s *session) ensureProvider(ctx context.Context, metadata string) (string, error) {
	providerARN, err := s.findProvider(ctx)
	if err != nil {
		return "", err
	}
	if providerARN == "" {
		out, err := do(ctx, s.p, s.accountID, "create-saml-provider", func(ctx context.Context) (*iam.CreateSAMLProviderOutput, error) {
			return s.iam.CreateSAMLProvider(ctx, &iam.CreateSAMLProviderInput{
				Name:                 aws.String(s.p.cfg.ProviderName),
				SAMLMetadataDocument: aws.String(metadata),
				Tags:                 []iamtypes.Tag{{Key: aws.String(ManagedTagKey), Value: aws.String(ManagedTagValue)}},
			})
		})
		if err != nil {
			return "", err
		}
		s.p.log.InfoContext(ctx, "provision: SAML provider created", "account", s.accountID, "provider", aws.ToString(out.SAMLProviderArn))
		return aws.ToString(out.SAMLProviderArn), nil
	}
	cur, err := do(ctx, s.p, s.accountID, "get-saml-provider", func(ctx context.Context) (*iam.GetSAMLProviderOutput, error) {
		return s.iam.GetSAMLProvider(ctx, &iam.GetSAMLProviderInput{SAMLProviderArn: aws.String(providerARN)})
	})
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(aws.ToString(cur.SAMLMetadataDocument)) == strings.TrimSpace(metadata) {
		return providerARN, nil
	}
	err = do0(ctx, s.p, s.accountID, "update-saml-provider", func(ctx context.Context) error {
		_, err := s.iam.UpdateSAMLProvider(ctx, &iam.UpdateSAMLProviderInput{
			SAMLProviderArn:      aws.String(providerARN),
			SAMLMetadataDocument: aws.String(metadata),
		})
		return err
	})
	if err != nil {
		return "", err
	}
	s.p.log.InfoContext(ctx, "provision: SAML provider metadata updated", "account", s.accountID, "provider", providerARN)
	return providerARN, nil
}

// readRole reads the role's current state. Attachments and inline
// policies are read only for a role Gatehouse manages.
func (s *session) readRole(ctx context.Context, name string) (roleState, error) {
	out, err := do(ctx, s.p, s.accountID, "get-role", func(ctx context.Context) (*iam.GetRoleOutput, error) {
		out, err := s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if isNoSuchEntity(err) {
			return nil, nil
		}
		return out, err
	})
	if err != nil {
		return roleState{}, err
	}
	if out == nil || out.Role == nil {
		return roleState{}, nil
	}
	r := out.Role
	st := roleState{
		Exists:             true,
		Path:               aws.ToString(r.Path),
		Description:        aws.ToString(r.Description),
		MaxSessionDuration: aws.ToInt32(r.MaxSessionDuration),
		Tags:               map[string]string{},
		Inline:             map[string]string{},
	}
	for _, t := range r.Tags {
		st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if !st.Managed() || st.Path != RolePath {
		return st, nil
	}
	if r.PermissionsBoundary != nil {
		st.BoundaryARN = aws.ToString(r.PermissionsBoundary.PermissionsBoundaryArn)
	}
	if st.TrustPolicy, err = normalizePolicy(aws.ToString(r.AssumeRolePolicyDocument)); err != nil {
		// An unreadable trust policy is rewritten.
		st.TrustPolicy = ""
	}
	var marker *string
	for {
		out, err := do(ctx, s.p, s.accountID, "list-attached-role-policies", func(ctx context.Context) (*iam.ListAttachedRolePoliciesOutput, error) {
			return s.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name), Marker: marker})
		})
		if err != nil {
			return roleState{}, err
		}
		for _, a := range out.AttachedPolicies {
			st.PolicyARNs = append(st.PolicyARNs, aws.ToString(a.PolicyArn))
		}
		if !out.IsTruncated || out.Marker == nil {
			break
		}
		marker = out.Marker
	}
	marker = nil
	var names []string
	for {
		out, err := do(ctx, s.p, s.accountID, "list-role-policies", func(ctx context.Context) (*iam.ListRolePoliciesOutput, error) {
			return s.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name), Marker: marker})
		})
		if err != nil {
			return roleState{}, err
		}
		names = append(names, out.PolicyNames...)
		if !out.IsTruncated || out.Marker == nil {
			break
		}
		marker = out.Marker
	}
	for _, pn := range names {
		st.Inline[pn] = ""
		if pn != InlinePolicyName {
			continue // deleted whatever it says
		}
		out, err := do(ctx, s.p, s.accountID, "get-role-policy", func(ctx context.Context) (*iam.GetRolePolicyOutput, error) {
			return s.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pn)})
		})
		if err != nil {
			return roleState{}, err
		}
		if doc, err := normalizePolicy(aws.ToString(out.PolicyDocument)); err == nil {
			st.Inline[pn] = doc
		}
	}
	return st, nil
}

func tagList(m map[string]string) []iamtypes.Tag {
	tags := make([]iamtypes.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return tags
}

func (s *session) detach(ctx context.Context, role, policyARN string) error {
	return do0(ctx, s.p, s.accountID, "detach-role-policy "+policyARN, func(ctx context.Context) error {
		_, err := s.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(policyARN)})
		return err
	})
}

func (s *session) deleteInline(ctx context.Context, role, name string) error {
	return do0(ctx, s.p, s.accountID, "delete-role-policy "+name, func(ctx context.Context) error {
		_, err := s.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
		if isNoSuchEntity(err) {
			return nil
		}
		return err
	})
}

// apply carries out a plan. Restricting changes (boundary, detaching,
// deleting inline policies) come before granting ones. The role is created
// with the Gatehouse tag in the same call, so a run that stops after
// creating it leaves a role the next run recognizes and converges.
func (s *session) apply(ctx context.Context, want roleSpec, plan rolePlan) error {
	role := aws.String(want.Name)
	if plan.Create {
		in := &iam.CreateRoleInput{
			RoleName:                 role,
			Path:                     aws.String(want.Path),
			AssumeRolePolicyDocument: aws.String(want.TrustPolicy),
			MaxSessionDuration:       aws.Int32(want.MaxSessionDuration),
			Tags:                     tagList(want.Tags),
		}
		if want.Description != "" {
			in.Description = aws.String(want.Description)
		}
		if want.BoundaryARN != "" {
			in.PermissionsBoundary = aws.String(want.BoundaryARN)
		}
		if err := do0(ctx, s.p, s.accountID, "create-role", func(ctx context.Context) error {
			_, err := s.iam.CreateRole(ctx, in)
			return err
		}); err != nil {
			return err
		}
	}
	if plan.PutBoundary {
		if err := do0(ctx, s.p, s.accountID, "put-role-permissions-boundary", func(ctx context.Context) error {
			_, err := s.iam.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: role, PermissionsBoundary: aws.String(want.BoundaryARN)})
			return err
		}); err != nil {
			return err
		}
	}
	for _, a := range plan.Detach {
		if err := s.detach(ctx, want.Name, a); err != nil {
			return err
		}
	}
	for _, name := range plan.DeleteInline {
		if err := s.deleteInline(ctx, want.Name, name); err != nil {
			return err
		}
	}
	if plan.UpdateTrust {
		if err := do0(ctx, s.p, s.accountID, "update-assume-role-policy", func(ctx context.Context) error {
			_, err := s.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: role, PolicyDocument: aws.String(want.TrustPolicy)})
			return err
		}); err != nil {
			return err
		}
	}
	if plan.UpdateRole {
		if err := do0(ctx, s.p, s.accountID, "update-role", func(ctx context.Context) error {
			_, err := s.iam.UpdateRole(ctx, &iam.UpdateRoleInput{
				RoleName:           role,
				Description:        aws.String(want.Description),
				MaxSessionDuration: aws.Int32(want.MaxSessionDuration),
			})
			return err
		}); err != nil {
			return err
		}
	}
	if len(plan.Untag) > 0 {
		if err := do0(ctx, s.p, s.accountID, "untag-role", func(ctx context.Context) error {
			_, err := s.iam.UntagRole(ctx, &iam.UntagRoleInput{RoleName: role, TagKeys: plan.Untag})
			return err
		}); err != nil {
			return err
		}
	}
	if len(plan.Tag) > 0 {
		if err := do0(ctx, s.p, s.accountID, "tag-role", func(ctx context.Context) error {
			_, err := s.iam.TagRole(ctx, &iam.TagRoleInput{RoleName: role, Tags: tagList(plan.Tag)})
			return err
		}); err != nil {
			return err
		}
	}
	for _, a := range plan.Attach {
		if err := do0(ctx, s.p, s.accountID, "attach-role-policy "+a, func(ctx context.Context) error {
			_, err := s.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role, PolicyArn: aws.String(a)})
			return err
		}); err != nil {
			return err
		}
	}
	if plan.PutInline {
		if err := do0(ctx, s.p, s.accountID, "put-role-policy", func(ctx context.Context) error {
			_, err := s.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: role, PolicyName: aws.String(InlinePolicyName), PolicyDocument: aws.String(want.Inline)})
			return err
		}); err != nil {
			return err
		}
	}
	if plan.DeleteBoundary {
		if err := do0(ctx, s.p, s.accountID, "delete-role-permissions-boundary", func(ctx context.Context) error {
			_, err := s.iam.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: role})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}
