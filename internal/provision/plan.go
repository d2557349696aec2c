package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Fixed names of what Gatehouse creates in a target account.
const (
	// RolePath is the IAM path of every role Gatehouse creates.
	RolePath = "/aws-reserved/sso.amazonaws.com/"
	// RolePrefix starts every role name: AWSReservedSSO_<set>_<16 hex>.
	RolePrefix = "AWSReservedSSO_"
	// ManagedTagKey and ManagedTagValue mark a role (and a SAML provider)
	// as created by Gatehouse; nothing without the tag is ever changed.
	ManagedTagKey   = "gatehouse:managed"
	ManagedTagValue = "true"
	// PermissionSetTagKey names the permission set a role implements.
	PermissionSetTagKey = "gatehouse:permission-set"
	// InlinePolicyName is the name of the role's inline policy.
	InlinePolicyName = "AwsSSOInlinePolicy"
	// SAMLAudience is the SAML:aud the trust policy requires: the AWS
	// sign-in endpoint that consumes the assertion.
	SAMLAudience = "https://signin.aws.amazon.com/saml"
	// DefaultProviderName is the SAML provider's default name.
	DefaultProviderName = "Gatehouse"

	minSession = time.Hour
	maxSession = 12 * time.Hour
	// reservedTagPrefix is the tag namespace Gatehouse keeps for itself.
	reservedTagPrefix = "gatehouse:"
)

// ErrInvalidPolicy marks a policy document that is not a JSON object.
var ErrInvalidPolicy = errors.New("provision: invalid policy document")

var (
	roleSuffixRE    = regexp.MustCompile(`^[0-9a-f]{16}$`)
	providerNameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	customerPathRE  = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	customerNameRE  = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)
	policyARNPrefix = regexp.MustCompile(`^arn:[a-z-]+:iam::(aws|[0-9]{12}):policy/`)
)

type trustStatement struct {
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    []string                     `json:"Action"`
	Condition map[string]map[string]string `json:"Condition"`
}

type trustDocument struct {
	Version   string           `json:"Version"`
	Statement []trustStatement `json:"Statement"`
}

// TrustPolicy is the trust policy of a Gatehouse role: only principals
// federated through providerARN, only for the AWS sign-in audience, may
// assume it (and tag the session).
func TrustPolicy(providerARN string) string {
	doc := trustDocument{
		Version: "2012-10-17",
		Statement: []trustStatement{{
			Effect:    "Allow",
			Principal: map[string]string{"Federated": providerARN},
			Action:    []string{"sts:AssumeRoleWithSAML", "sts:TagSession"},
			Condition: map[string]map[string]string{"StringEquals": {"SAML:aud": SAMLAudience}},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil { // a struct of strings always marshals
		panic(err)
	}
	return string(b)
}

// normalizePolicy parses a policy document as IAM returns it (URL-encoded
// per RFC 3986, or plain) and re-encodes it canonically (sorted keys, no
// white space) so that two documents compare equal when their JSON does.
func normalizePolicy(doc string) (string, error) {
	var v any
	err := json.Unmarshal([]byte(doc), &v)
	if err != nil {
		dec, uerr := url.PathUnescape(doc)
		if uerr != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
		}
		if err = json.Unmarshal([]byte(dec), &v); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
		}
	}
	if _, ok := v.(map[string]any); !ok {
		return "", fmt.Errorf("%w: not a JSON object", ErrInvalidPolicy)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return string(b), nil
}

// roleSpec is the role a permission set calls for in one account.
type roleSpec struct {
	Name               string
	Path               string
	Description        string
	TrustPolicy        string // normalized
	MaxSessionDuration int32  // seconds
	Tags               map[string]string
	PolicyARNs         []string // sorted, unique
	Inline             string   // normalized; "" for none
	BoundaryARN        string   // "" for none
}

// roleState is what exists in the account under the role's name.
type roleState struct {
	Exists             bool
	Path               string
	Description        string
	TrustPolicy        string // normalized
	MaxSessionDuration int32
	Tags               map[string]string
	PolicyARNs         []string
	Inline             map[string]string // policy name -> normalized document
	BoundaryARN        string
}

// Managed reports whether Gatehouse created the role.
func (s roleState) Managed() bool { return s.Tags[ManagedTagKey] == ManagedTagValue }

// rolePlan lists the calls that turn a roleState into a roleSpec.
type rolePlan struct {
	Create         bool
	UpdateTrust    bool
	UpdateRole     bool // description or max session duration
	Tag            map[string]string
	Untag          []string
	Attach         []string
	Detach         []string
	PutInline      bool
	DeleteInline   []string
	PutBoundary    bool
	DeleteBoundary bool
}

// Empty reports whether the role already matches.
func (p rolePlan) Empty() bool {
	return !p.Create && !p.UpdateTrust && !p.UpdateRole && len(p.Tag) == 0 &&
		len(p.Untag) == 0 && len(p.Attach) == 0 && len(p.Detach) == 0 &&
		!p.PutInline && len(p.DeleteInline) == 0 && !p.PutBoundary && !p.DeleteBoundary
}

// checkRoleName refuses a role name that is not AWSReservedSSO_<set>_<16
// lowercase hex>, so that a wrong RoleNameFor can never point Gatehouse at
// another role.
func checkRoleName(name string, ps access.PermissionSet) error {
	prefix := RolePrefix + ps.Name + "_"
	if !access.ValidPermissionSetName(ps.Name) || !strings.HasPrefix(name, prefix) ||
		!roleSuffixRE.MatchString(strings.TrimPrefix(name, prefix)) {
		return fmt.Errorf("%w: role name %q is not %s%s_<16 hex>", access.ErrInvalid, name, RolePrefix, ps.Name)
	}
	return nil
}

// policyARN returns the ARN of a customer managed policy in an account.
func policyARN(partition, accountID string, ref access.CustomerPolicyRef) (string, error) {
	path := ref.Path
	if path == "" {
		path = "/"
	}
	if !customerPathRE.MatchString(path) || !customerNameRE.MatchString(ref.Name) {
		return "", fmt.Errorf("%w: customer policy %q at path %q", access.ErrInvalid, ref.Name, ref.Path)
	}
	return "arn:" + partition + ":iam::" + accountID + ":policy" + path + ref.Name, nil
}

func checkPolicyARN(arn string) error {
	if !policyARNPrefix.MatchString(arn) {
		return fmt.Errorf("%w: managed policy ARN %q", access.ErrInvalid, arn)
	}
	return nil
}

// desiredRole computes the role ps calls for in an account whose SAML
// provider is providerARN.
func desiredRole(ps access.PermissionSet, roleName, partition, accountID, providerARN string) (roleSpec, error) {
	if err := checkRoleName(roleName, ps); err != nil {
		return roleSpec{}, err
	}
	if ps.SessionDuration < minSession || ps.SessionDuration > maxSession || ps.SessionDuration%time.Second != 0 {
		return roleSpec{}, fmt.Errorf("%w: session duration %s is not whole seconds from 1h to 12h", access.ErrInvalid, ps.SessionDuration)
	}
	trust, err := normalizePolicy(TrustPolicy(providerARN))
	if err != nil {
		return roleSpec{}, err
	}
	spec := roleSpec{
		Name:               roleName,
		Path:               RolePath,
		Description:        ps.Description,
		TrustPolicy:        trust,
		MaxSessionDuration: int32(ps.SessionDuration / time.Second),
		Tags:               map[string]string{ManagedTagKey: ManagedTagValue, PermissionSetTagKey: ps.Name},
	}
	for k, v := range ps.Tags {
		if strings.HasPrefix(strings.ToLower(k), reservedTagPrefix) {
			return roleSpec{}, fmt.Errorf("%w: tag %q uses the reserved prefix %q", access.ErrInvalid, k, reservedTagPrefix)
		}
		spec.Tags[k] = v
	}
	arns := map[string]bool{}
	for _, arn := range ps.ManagedPolicies {
		if err := checkPolicyARN(arn); err != nil {
			return roleSpec{}, err
		}
		arns[arn] = true
	}
	for _, ref := range ps.CustomerPolicies {
		arn, err := policyARN(partition, accountID, ref)
		if err != nil {
			return roleSpec{}, err
		}
		arns[arn] = true
	}
	spec.PolicyARNs = slices.Sorted(maps.Keys(arns))
	if strings.TrimSpace(ps.InlinePolicy) != "" {
		if spec.Inline, err = normalizePolicy(ps.InlinePolicy); err != nil {
			return roleSpec{}, fmt.Errorf("inline policy: %w", err)
		}
	}
	if b := ps.Boundary; b != nil {
		switch {
		case b.ManagedPolicyARN != "" && b.CustomerPolicy == nil:
			if err := checkPolicyARN(b.ManagedPolicyARN); err != nil {
				return roleSpec{}, err
			}
			spec.BoundaryARN = b.ManagedPolicyARN
		case b.ManagedPolicyARN == "" && b.CustomerPolicy != nil:
			if spec.BoundaryARN, err = policyARN(partition, accountID, *b.CustomerPolicy); err != nil {
				return roleSpec{}, fmt.Errorf("boundary: %w", err)
			}
		default:
			return roleSpec{}, fmt.Errorf("%w: boundary needs exactly one of a managed policy ARN and a customer policy", access.ErrInvalid)
		}
	}
	return spec, nil
}

// planRole compares the wanted role with what exists. A role that exists
// but lacks the Gatehouse tag, or sits outside RolePath, is refused with
// ErrUnmanagedRole: the plan never changes it.
func planRole(want roleSpec, have roleState) (rolePlan, error) {
	if !have.Exists {
		return rolePlan{
			Create:    true,
			Attach:    slices.Clone(want.PolicyARNs),
			PutInline: want.Inline != "",
		}, nil
	}
	if !have.Managed() {
		return rolePlan{}, fmt.Errorf("%w: role %s exists without the tag %s=%s", ErrUnmanagedRole, want.Name, ManagedTagKey, ManagedTagValue)
	}
	if have.Path != want.Path {
		return rolePlan{}, fmt.Errorf("%w: role %s is at path %s, not %s", ErrUnmanagedRole, want.Name, have.Path, want.Path)
	}
	var p rolePlan
	p.UpdateTrust = have.TrustPolicy != want.TrustPolicy
	p.UpdateRole = have.Description != want.Description || have.MaxSessionDuration != want.MaxSessionDuration
	for k, v := range want.Tags {
		if cur, ok := have.Tags[k]; !ok || cur != v {
			if p.Tag == nil {
				p.Tag = map[string]string{}
			}
			p.Tag[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(have.Tags)) {
		if _, ok := want.Tags[k]; !ok {
			p.Untag = append(p.Untag, k)
		}
	}
	for _, arn := range want.PolicyARNs {
		if !slices.Contains(have.PolicyARNs, arn) {
			p.Attach = append(p.Attach, arn)
		}
	}
	for _, arn := range slices.Sorted(slices.Values(have.PolicyARNs)) {
		if !slices.Contains(want.PolicyARNs, arn) {
			p.Detach = append(p.Detach, arn)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have.Inline)) {
		if name != InlinePolicyName || want.Inline == "" {
			p.DeleteInline = append(p.DeleteInline, name)
		}
	}
	if want.Inline != "" {
		cur, ok := have.Inline[InlinePolicyName]
		p.PutInline = !ok || cur != want.Inline
	}
	switch {
	case want.BoundaryARN != "" && have.BoundaryARN != want.BoundaryARN:
		p.PutBoundary = true
	case want.BoundaryARN == "" && have.BoundaryARN != "":
		p.DeleteBoundary = true
	}
	return p, nil
}
