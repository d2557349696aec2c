package access

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits enforced by the validators (those of AWS IAM Identity Center,
// AWS Organizations and IAM unless noted).
const (
	MaxAccountName         = 50
	MaxEmail               = 254
	MaxOUDepth             = 5  // segments below the root, as AWS Organizations
	MaxOUSegment           = 64 // characters of one OU path segment
	MaxPermissionSetName   = 32
	MaxDescription         = 700
	MinSessionDuration     = time.Hour
	MaxSessionDuration     = 12 * time.Hour
	MaxRelayState          = 240
	MaxManagedPolicies     = 20
	MaxCustomerPolicies    = 20
	MaxPolicyName          = 128
	MaxIAMPath             = 512
	MaxRoleName            = 64 // IAM role names, also of the assume-role ARN
	MaxInlinePolicy        = 10240
	MaxTags                = 50
	MaxTagKey              = 128
	MaxTagValue            = 256
	MaxPrincipalID         = 128
	roleNamePrefix         = "AWSReservedSSO_"
	managedPolicyARNPrefix = "arn:aws:iam::aws:policy/"
)

// FieldError is one problem with one field. Field is named as in the
// admin API: "name", "managed_policies[2]", "tags[\"env\"]".
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error as "<field>: <reason>".
func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError lists every problem found in one value. It wraps
// ErrInvalid; its message is "access: invalid: " followed by the problems
// joined with "; ".
type ValidationError struct {
	Problems []FieldError
}

// Error implements error.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return ErrInvalid.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Fields returns the names of the fields with a problem, in order.
func (e *ValidationError) Fields() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Field
	}
	return out
}

// problems collects FieldErrors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// check adds reason under field unless it is empty.
func (p *problems) check(field, reason string) {
	if reason != "" {
		*p = append(*p, FieldError{Field: field, Reason: reason})
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// invalid returns a ValidationError with one problem.
func invalid(field, reason string) error {
	return &ValidationError{Problems: []FieldError{{Field: field, Reason: reason}}}
}

// ValidateAccount checks an account: ID exactly 12 digits; Name 1 to 50
// printable ASCII characters; Email an address of at most 254 bytes (a
// bare addr-spec as net/mail parses it, with a dotted domain); OU a valid
// path (see ValidateOU); AssumeRoleARN arn:aws:iam::<ID>:role/<path/name>
// in the account itself. Timestamps are the store's and not checked.
func ValidateAccount(a Account) error {
	var p problems
	p.check("id", accountIDProblem(a.ID))
	p.check("name", accountNameProblem(a.Name))
	p.check("email", emailProblem(a.Email))
	p.check("ou", ouProblem(a.OU))
	p.check("assume_role_arn", roleARNProblem(a.AssumeRoleARN, a.ID))
	return p.err()
}

// ValidateOU checks an organizational unit path: "/" (the root) or
// "/seg" up to "/s1/s2/s3/s4/s5" (MaxOUDepth segments), each segment 1 to
// 64 characters of A-Z a-z 0-9 _ -. There is no trailing slash and no
// empty segment, so each OU has exactly one spelling and "/a" never
// matches "/ab" as a prefix.
func ValidateOU(path string) error {
	if r := ouProblem(path); r != "" {
		return invalid("ou", r)
	}
	return nil
}

// ValidatePermissionSet checks a permission set against the rules of IAM
// Identity Center (see the constants): name, description (no control
// characters, newlines included), session duration (whole minutes),
// relay state (an https URL), AWS and customer managed policies, the
// inline policy document, the permissions boundary and the tags. Version
// and timestamps are the store's and not checked.
func ValidatePermissionSet(ps PermissionSet) error {
	var p problems
	p.check("name", permissionSetNameProblem(ps.Name))
	p.check("description", descriptionProblem(ps.Description))
	p.check("session_duration", sessionDurationProblem(ps.SessionDuration))
	p.check("relay_state", relayStateProblem(ps.RelayState))

	if len(ps.ManagedPolicies) > MaxManagedPolicies {
		p.add("managed_policies", "must be at most %d policies, got %d", MaxManagedPolicies, len(ps.ManagedPolicies))
	}
	seen := make(map[string]int, len(ps.ManagedPolicies))
	for i, arn := range ps.ManagedPolicies {
		field := fmt.Sprintf("managed_policies[%d]", i)
		if r := managedPolicyARNProblem(arn); r != "" {
			p.check(field, r)
			continue
		}
		if j, dup := seen[arn]; dup {
			p.add(field, "duplicates managed_policies[%d]", j)
			continue
		}
		seen[arn] = i
	}

	if len(ps.CustomerPolicies) > MaxCustomerPolicies {
		p.add("customer_policies", "must be at most %d policies, got %d", MaxCustomerPolicies, len(ps.CustomerPolicies))
	}
	seenRef := make(map[CustomerPolicyRef]int, len(ps.CustomerPolicies))
	for i, ref := range ps.CustomerPolicies {
		field := fmt.Sprintf("customer_policies[%d]", i)
		if !policyRef(&p, field, ref) {
			continue
		}
		key := CustomerPolicyRef{Name: ref.Name, Path: cmp(ref.Path, "/")}
		if j, dup := seenRef[key]; dup {
			p.add(field, "duplicates customer_policies[%d]", j)
			continue
		}
		seenRef[key] = i
	}

	inlinePolicy(&p, "inline_policy", ps.InlinePolicy)

	if b := ps.Boundary; b != nil {
		switch {
		case b.ManagedPolicyARN != "" && b.CustomerPolicy != nil:
			p.add("permissions_boundary", "must name either a managed policy ARN or a customer policy, not both")
		case b.ManagedPolicyARN != "":
			p.check("permissions_boundary.managed_policy_arn", managedPolicyARNProblem(b.ManagedPolicyARN))
		case b.CustomerPolicy != nil:
			policyRef(&p, "permissions_boundary.customer_policy", *b.CustomerPolicy)
		default:
			p.add("permissions_boundary", "must name a managed policy ARN or a customer policy (or be absent)")
		}
	}

	if len(ps.Tags) > MaxTags {
		p.add("tags", "must be at most %d tags, got %d", MaxTags, len(ps.Tags))
	}
	keys := make([]string, 0, len(ps.Tags))
	for k := range ps.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := fmt.Sprintf("tags[%q]", k)
		p.check(field, tagKeyProblem(k))
		p.check(field, tagValueProblem(ps.Tags[k]))
	}
	return p.err()
}

// ValidateAssignment checks an assignment as an admin creates it:
// PrincipalType USER or GROUP with a PrincipalID of 1 to 128 characters
// and no control characters; TargetType AWS_ACCOUNT with a 12-digit
// account ID or OU with a valid OU path; a valid permission set name.
// ID, Status, Reason and timestamps are the store's and not checked.
func ValidateAssignment(a Assignment) error {
	var p problems
	switch a.PrincipalType {
	case PrincipalUser, PrincipalGroup:
	default:
		p.add("principal_type", "must be %s or %s", PrincipalUser, PrincipalGroup)
	}
	p.check("principal_id", principalIDProblem(a.PrincipalID))
	p.check("permission_set", permissionSetNameProblem(a.PermissionSet))
	switch a.TargetType {
	case TargetAccount:
		p.check("target_id", accountIDProblem(a.TargetID))
	case TargetOU:
		p.check("target_id", ouProblem(a.TargetID))
	default:
		p.add("target_type", "must be %s or %s", TargetAccount, TargetOU)
	}
	return p.err()
}

// RoleName returns the name of the role that provisioning ps creates in
// accountID: "AWSReservedSSO_<name>_<16 lowercase hex>", the hex being
// the first 8 bytes of HMAC-SHA256(secret, accountID + "/" + name). It is
// stable for an account and permission set (and secret) and cannot be
// guessed without the secret. With a 32-character name it is 64
// characters, the IAM maximum.
func RoleName(ps PermissionSet, accountID string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, accountID+"/"+ps.Name)
	return roleNamePrefix + ps.Name + "_" + hex.EncodeToString(m.Sum(nil)[:8])
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isIAMNameChar reports whether c is in [A-Za-z0-9_+=,.@-], IAM's \w+=,.@-.
func isIAMNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_+=,.@-", c) >= 0
}

// iamNameProblem checks 1..max characters of [\w+=,.@-].
func iamNameProblem(s string, max int) string {
	if len(s) < 1 || len(s) > max {
		return fmt.Sprintf("must be 1 to %d characters of A-Z a-z 0-9 +=,.@_-", max)
	}
	for i := 0; i < len(s); i++ {
		if !isIAMNameChar(s[i]) {
			return fmt.Sprintf("must be 1 to %d characters of A-Z a-z 0-9 +=,.@_-", max)
		}
	}
	return ""
}

func accountIDProblem(id string) string {
	if len(id) != 12 || !isDigits(id) {
		return "must be exactly 12 digits"
	}
	return ""
}

func accountNameProblem(name string) string {
	if len(name) < 1 || len(name) > MaxAccountName {
		return fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxAccountName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return fmt.Sprintf("must be 1 to %d printable ASCII characters", MaxAccountName)
		}
	}
	return ""
}

func emailProblem(email string) string {
	if email == "" {
		return "is required"
	}
	if len(email) > MaxEmail {
		return fmt.Sprintf("must be at most %d bytes", MaxEmail)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "must be a bare email address (local@domain)"
	}
	at := strings.LastIndexByte(email, '@')
	domain := email[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") {
		return "must have a dotted domain"
	}
	return ""
}

func ouProblem(path string) string {
	const rule = "must be \"/\" or \"/seg\" up to %d segments, each 1 to %d characters of A-Z a-z 0-9 _ -"
	if path == "/" {
		return ""
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Sprintf(rule, MaxOUDepth, MaxOUSegment)
	}
	segs := strings.Split(path[1:], "/")
	if len(segs) > MaxOUDepth {
		return fmt.Sprintf("must be at most %d segments deep, got %d", MaxOUDepth, len(segs))
	}
	for _, s := range segs {
		if len(s) < 1 || len(s) > MaxOUSegment {
			return fmt.Sprintf(rule, MaxOUDepth, MaxOUSegment)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Sprintf(rule, MaxOUDepth, MaxOUSegment)
			}
		}
	}
	return ""
}

// OUContains reports whether the OU path is ou or below it, by whole
// segments; ou "/" (or "") is the root, which contains every path. It is
// the one rule for entitlements, provisioning and the stores' OU filters.
func OUContains(ou, path string) bool {
	return ou == "/" || ou == "" || path == ou || strings.HasPrefix(path, ou+"/")
}

// Covers reports whether the assignment applies to the account: its
// target is the account, or an OU containing the account's.
func (a Assignment) Covers(acct Account) bool {
	switch a.TargetType {
	case TargetAccount:
		return a.TargetID == acct.ID
	case TargetOU:
		return OUContains(a.TargetID, acct.OU)
	}
	return false
}

// iamPathProblem checks an IAM path: "/" or "/seg/.../" of at most 512
// characters, segments non-empty printable ASCII other than "/".
func iamPathProblem(p string) string {
	const rule = "must be \"/\" or \"/seg/.../\" of at most %d printable ASCII characters, with no empty segment"
	if p == "/" {
		return ""
	}
	if len(p) > MaxIAMPath || len(p) < 3 || p[0] != '/' || p[len(p)-1] != '/' {
		return fmt.Sprintf(rule, MaxIAMPath)
	}
	for _, s := range strings.Split(p[1:len(p)-1], "/") {
		if s == "" {
			return fmt.Sprintf(rule, MaxIAMPath)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e {
				return fmt.Sprintf(rule, MaxIAMPath)
			}
		}
	}
	return ""
}

// splitIAMResource splits "a/b/name" into the path "/a/b/" and "name".
func splitIAMResource(rest string) (path, name string) {
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "/", rest
	}
	return "/" + rest[:i+1], rest[i+1:]
}

func managedPolicyARNProblem(arn string) string {
	rest, ok := strings.CutPrefix(arn, managedPolicyARNPrefix)
	if !ok {
		return "must be an AWS managed policy ARN, " + managedPolicyARNPrefix + "[path/]name"
	}
	path, name := splitIAMResource(rest)
	if r := iamNameProblem(name, MaxPolicyName); r != "" {
		return "policy name " + r
	}
	if r := iamPathProblem(path); r != "" {
		return "policy path " + r
	}
	return ""
}

// roleARNProblem checks arn:aws:iam::<accountID>:role/[path/]name.
func roleARNProblem(arn, accountID string) string {
	const rule = "must be arn:aws:iam::<12-digit account>:role/[path/]name"
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok || len(rest) < 12 {
		return rule
	}
	acct, rest := rest[:12], rest[12:]
	rest, ok = strings.CutPrefix(rest, ":role/")
	if !ok || !isDigits(acct) {
		return rule
	}
	path, name := splitIAMResource(rest)
	if r := iamNameProblem(name, MaxRoleName); r != "" {
		return "role name " + r
	}
	if r := iamPathProblem(path); r != "" {
		return "role path " + r
	}
	if acct != accountID && accountIDProblem(accountID) == "" { // an invalid ID is reported on its own
		return fmt.Sprintf("must be a role in the account itself (%s), not %s", accountID, acct)
	}
	return ""
}

func permissionSetNameProblem(name string) string {
	return iamNameProblem(name, MaxPermissionSetName)
}

// ValidAccountID reports whether id is an AWS account ID (12 digits).
func ValidAccountID(id string) bool { return accountIDProblem(id) == "" }

// ValidPermissionSetName reports whether name can name a permission set
// (and so a role): 1 to MaxPermissionSetName characters of [\w+=,.@-].
func ValidPermissionSetName(name string) bool { return permissionSetNameProblem(name) == "" }

func descriptionProblem(d string) string {
	if !utf8.ValidString(d) {
		return "must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return fmt.Sprintf("must be at most %d characters, got %d", MaxDescription, n)
	}
	if strings.IndexFunc(d, unicode.IsControl) >= 0 {
		return "must not contain control characters"
	}
	return ""
}

func sessionDurationProblem(d time.Duration) string {
	if d < MinSessionDuration || d > MaxSessionDuration || d%time.Minute != 0 {
		return fmt.Sprintf("must be whole minutes from %v to %v, got %v", MinSessionDuration, MaxSessionDuration, d)
	}
	return ""
}

func relayStateProblem(s string) string {
	if s == "" {
		return ""
	}
	const rule = "must be empty or an https URL of at most %d characters"
	if len(s) > MaxRelayState {
		return fmt.Sprintf(rule, MaxRelayState)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return fmt.Sprintf(rule+" (printable ASCII, no spaces)", MaxRelayState)
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return fmt.Sprintf(rule, MaxRelayState)
	}
	if u.User != nil {
		return "must not carry user information"
	}
	return ""
}

// policyRef checks a customer managed policy reference (an empty path
// means "/") and reports whether it was valid.
func policyRef(p *problems, field string, ref CustomerPolicyRef) bool {
	n := len(*p)
	p.check(field+".name", iamNameProblem(ref.Name, MaxPolicyName))
	if ref.Path != "" {
		p.check(field+".path", iamPathProblem(ref.Path))
	}
	return len(*p) == n
}

func principalIDProblem(id string) string {
	if id == "" || utf8.RuneCountInString(id) > MaxPrincipalID || !utf8.ValidString(id) {
		return fmt.Sprintf("must be 1 to %d characters", MaxPrincipalID)
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return "must not contain control characters"
	}
	return ""
}

// isTagRune is AWS's tag character class [\p{L}\p{Z}\p{N}_.:/=+\-@].
func isTagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) ||
		strings.ContainsRune("_.:/=+-@", r)
}

func tagKeyProblem(k string) string {
	if !utf8.ValidString(k) {
		return "key must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(k); n < 1 || n > MaxTagKey {
		return fmt.Sprintf("key must be 1 to %d characters", MaxTagKey)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return "key must not start with the reserved prefix \"aws:\""
	}
	if strings.IndexFunc(k, func(r rune) bool { return !isTagRune(r) }) >= 0 {
		return "key must be letters, digits, spaces and _ . : / = + - @"
	}
	return ""
}

func tagValueProblem(v string) string {
	if !utf8.ValidString(v) {
		return "value must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(v); n > MaxTagValue {
		return fmt.Sprintf("value must be at most %d characters", MaxTagValue)
	}
	if strings.IndexFunc(v, func(r rune) bool { return !isTagRune(r) }) >= 0 {
		return "value must be letters, digits, spaces and _ . : / = + - @"
	}
	return ""
}

// inlinePolicy checks an IAM policy document: empty, or one JSON object
// (nothing after it) of at most MaxInlinePolicy bytes once compacted, no
// object anywhere with a repeated key, "Version" "2012-10-17" or
// "2008-10-17", and a "Statement" that is an object or a non-empty array
// of objects, each with "Effect" "Allow" or "Deny" and exactly one of
// "Action" and "NotAction" (a non-empty string or a non-empty array of
// non-empty strings).
func inlinePolicy(p *problems, field, doc string) {
	if doc == "" {
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(doc)); err != nil {
		p.add(field, "must be a JSON policy document: %v", err)
		return
	}
	if buf.Len() > MaxInlinePolicy {
		p.add(field, "must be at most %d bytes without whitespace, got %d", MaxInlinePolicy, buf.Len())
		return
	}
	compact := buf.Bytes()
	if compact[0] != '{' {
		p.add(field, "must be a JSON object")
		return
	}
	if err := uniqueKeys(compact); err != nil {
		p.add(field, "%v", err)
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(compact, &top); err != nil {
		p.add(field, "must be a JSON object: %v", err)
		return
	}
	var version string
	if err := json.Unmarshal(top["Version"], &version); err != nil || (version != "2012-10-17" && version != "2008-10-17") {
		p.add(field+".Version", "must be \"2012-10-17\" or \"2008-10-17\"")
	}
	raw, ok := top["Statement"]
	if !ok {
		p.add(field+".Statement", "is required")
		return
	}
	var stmts []json.RawMessage
	switch raw[0] {
	case '{':
		stmts = []json.RawMessage{raw}
	case '[':
		if err := json.Unmarshal(raw, &stmts); err != nil || len(stmts) == 0 {
			p.add(field+".Statement", "must be an object or a non-empty array of objects")
			return
		}
	default:
		p.add(field+".Statement", "must be an object or a non-empty array of objects")
		return
	}
	for i, s := range stmts {
		sf := fmt.Sprintf("%s.Statement[%d]", field, i)
		var st map[string]json.RawMessage
		if s[0] != '{' || json.Unmarshal(s, &st) != nil {
			p.add(sf, "must be an object")
			continue
		}
		var effect string
		if err := json.Unmarshal(st["Effect"], &effect); err != nil || (effect != "Allow" && effect != "Deny") {
			p.add(sf+".Effect", "must be \"Allow\" or \"Deny\"")
		}
		action, hasAction := st["Action"]
		notAction, hasNot := st["NotAction"]
		switch {
		case hasAction && hasNot:
			p.add(sf, "must have Action or NotAction, not both")
		case hasAction:
			p.check(sf+".Action", actionProblem(action))
		case hasNot:
			p.check(sf+".NotAction", actionProblem(notAction))
		default:
			p.add(sf, "must have Action or NotAction")
		}
	}
}

func actionProblem(raw json.RawMessage) string {
	const rule = "must be a non-empty string or a non-empty array of non-empty strings"
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return rule
		}
		return ""
	}
	var many []string
	if raw[0] != '[' || json.Unmarshal(raw, &many) != nil || len(many) == 0 || slices.Contains(many, "") {
		return rule
	}
	return ""
}

// uniqueKeys walks a syntactically valid JSON value and fails on an object
// with a repeated key (encoding/json would keep the last one silently,
// where another parser might keep the first).
func uniqueKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := walkUnique(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("must hold one JSON value")
	}
	return nil
}

func walkUnique(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("must not repeat the key %q in an object", k)
			}
			seen[k] = true
			if err := walkUnique(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := walkUnique(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}
