package directory

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// Fold returns the key under which s compares case-insensitively: each
// rune replaced by the smallest rune of its Unicode simple case folding
// orbit, so Fold(a) == Fold(b) exactly when strings.EqualFold(a, b)
// (for valid UTF-8), and a case-insensitive prefix, suffix, substring or
// ordering test on the strings is the byte-wise test on their keys. ASCII
// letters fold to upper case. Backends store the key of every
// case-insensitive attribute beside it and index and compare the keys, so
// case-insensitivity never depends on a database's collation or lower().
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// NormalizeTime returns t in UTC cut to the microsecond (the precision
// the SQL store keeps), rounding down.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// NormalizeUser returns the form of u every backend stores and returns:
// copies of its slices and map; Emails = [{u.Email, primary}] when Emails
// is empty and Email is not; Email derived from Emails (the primary's
// value, else the first's, else ""); Emails, Attributes and Groups nil
// when empty; Groups sorted by DisplayName then ID; times as
// NormalizeTime gives them. It does not validate.
func NormalizeUser(u User) User {
	out := u
	out.Emails = nil
	if len(u.Emails) > 0 {
		out.Emails = slices.Clone(u.Emails)
	} else if u.Email != "" {
		out.Emails = []Email{{Value: u.Email, Primary: true}}
	}
	out.Email = primaryEmail(out.Emails)
	out.Attributes = nil
	if len(u.Attributes) > 0 {
		out.Attributes = maps.Clone(u.Attributes)
	}
	out.Groups = nil
	if len(u.Groups) > 0 {
		out.Groups = slices.Clone(u.Groups)
		slices.SortFunc(out.Groups, func(a, b GroupRef) int {
			return cmp.Or(strings.Compare(a.DisplayName, b.DisplayName), strings.Compare(a.ID, b.ID))
		})
	}
	out.CreatedAt, out.UpdatedAt = NormalizeTime(u.CreatedAt), NormalizeTime(u.UpdatedAt)
	return out
}

func primaryEmail(emails []Email) string {
	for _, e := range emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(emails) > 0 {
		return emails[0].Value
	}
	return ""
}

// SetPrimaryEmail makes v the user's e-mail address as sign-in asserts
// it: the entry Email comes from (the primary, else the first) gets the
// value v, or, when there is none, v is added as the primary; an empty v
// removes that entry. Email is updated to match.
func (u *User) SetPrimaryEmail(v string) {
	n := NormalizeUser(User{Emails: u.Emails, Email: u.Email})
	emails := n.Emails
	i := slices.IndexFunc(emails, func(e Email) bool { return e.Primary })
	if i < 0 && len(emails) > 0 {
		i = 0
	}
	switch {
	case i < 0 && v != "":
		emails = []Email{{Value: v, Primary: true}}
	case i >= 0 && v == "":
		emails = slices.Delete(emails, i, i+1)
	case i >= 0:
		emails[i].Value = v
	}
	if len(emails) == 0 {
		emails = nil
	}
	u.Emails = emails
	u.Email = primaryEmail(emails)
}

// NormalizeGroup returns the form of g every backend stores and returns:
// Members sorted, without duplicates, nil when empty; times as
// NormalizeTime gives them. It does not validate.
func NormalizeGroup(g Group) Group {
	out := g
	out.Members = nil
	if len(g.Members) > 0 {
		out.Members = slices.Clone(g.Members)
		slices.Sort(out.Members)
		out.Members = slices.Compact(out.Members)
	}
	out.CreatedAt, out.UpdatedAt = NormalizeTime(g.CreatedAt), NormalizeTime(g.UpdatedAt)
	return out
}

// ValidID reports whether id can be a user or group ID: 1 to MaxIDLength
// bytes of ASCII letters, digits and . _ ~ : @ - (safe in a URL path).
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~:@-", c) >= 0) {
			return false
		}
	}
	return true
}

// Kinds of text for checkText.
const (
	identifier = iota // no control characters at all
	prose             // tab, line feed and carriage return allowed
)

// checkText rejects a value that is missing when required, too long, not
// valid UTF-8, or contains a control character (U+0000 to U+001F, U+007F
// to U+009F; prose may contain tab, line feed and carriage return).
func checkText(attr, v string, maxLen int, required bool, kind int) error {
	bad := func(r rune) bool {
		return unicode.IsControl(r) && !(kind == prose && (r == '\t' || r == '\n' || r == '\r'))
	}
	switch {
	case v == "" && required:
		return invalid(attr, "is required")
	case len(v) > maxLen:
		return invalid(attr, "longer than %d bytes", maxLen)
	case !utf8.ValidString(v):
		return invalid(attr, "not valid UTF-8")
	case strings.IndexFunc(v, bad) >= 0:
		return invalid(attr, "contains a control character")
	}
	return nil
}

func checkID(attr, id string) error {
	if !ValidID(id) {
		return invalid(attr, "%s is not a valid ID (1 to %d bytes of letters, digits and ._~:@-)", quote(id), MaxIDLength)
	}
	return nil
}

// quote quotes at most a short prefix of s, for error reasons.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return fmt.Sprintf("%q", s)
}

// ValidateUser checks a normalized user (see NormalizeUser) against the
// rules every backend enforces: ID empty or ValidID; UserName required;
// UserName, ExternalID, GivenName, FamilyName and DisplayName at most
// MaxNameLength bytes; at most MaxEmails e-mail addresses, each with a
// value of at most MaxEmailLength bytes and a type of at most
// MaxEmailTypeLength, at most one primary; at most MaxAttributes custom
// attributes, named by 1 to MaxAttributeKeyLength bytes of ASCII letters,
// digits and . _ : / -, with values of at most MaxAttributeValueLength
// bytes. Every string must be valid UTF-8 without control characters,
// except that names, display names and attribute values may contain tab,
// line feed and carriage return. The error is a *ValidationError.
func ValidateUser(u User) error {
	if u.ID != "" {
		if err := checkID("id", u.ID); err != nil {
			return err
		}
	}
	for _, f := range [...]struct {
		attr, v  string
		required bool
		kind     int
	}{
		{"userName", u.UserName, true, identifier},
		{"externalId", u.ExternalID, false, identifier},
		{"name.givenName", u.GivenName, false, prose},
		{"name.familyName", u.FamilyName, false, prose},
		{"displayName", u.DisplayName, false, prose},
	} {
		if err := checkText(f.attr, f.v, MaxNameLength, f.required, f.kind); err != nil {
			return err
		}
	}
	if len(u.Emails) > MaxEmails {
		return invalid("emails", "more than %d values", MaxEmails)
	}
	primaries := 0
	for _, e := range u.Emails {
		if err := checkText("emails.value", e.Value, MaxEmailLength, true, identifier); err != nil {
			return err
		}
		if err := checkText("emails.type", e.Type, MaxEmailTypeLength, false, identifier); err != nil {
			return err
		}
		if e.Primary {
			primaries++
		}
	}
	if primaries > 1 {
		return invalid("emails", "more than one primary value")
	}
	if len(u.Attributes) > MaxAttributes {
		return invalid("attributes", "more than %d attributes", MaxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(u.Attributes)) {
		if !validAttributeKey(k) {
			return invalid("attributes", "name %s is not 1 to %d bytes of letters, digits and ._:/-", quote(k), MaxAttributeKeyLength)
		}
		if err := checkText("attributes."+k, u.Attributes[k], MaxAttributeValueLength, false, prose); err != nil {
			return err
		}
	}
	return nil
}

func validAttributeKey(k string) bool {
	if k == "" || len(k) > MaxAttributeKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:/-", c) >= 0) {
			return false
		}
	}
	return true
}

// ValidateGroup checks a normalized group (see NormalizeGroup): ID empty
// or ValidID; DisplayName required; DisplayName and ExternalID at most
// MaxNameLength bytes of valid UTF-8 without control characters (tab,
// line feed and carriage return allowed in DisplayName); at most
// MaxGroupMembers members, each a ValidID. Whether the members exist is
// the backend's check. The error is a *ValidationError.
func ValidateGroup(g Group) error {
	if g.ID != "" {
		if err := checkID("id", g.ID); err != nil {
			return err
		}
	}
	if err := checkText("displayName", g.DisplayName, MaxNameLength, true, prose); err != nil {
		return err
	}
	if err := checkText("externalId", g.ExternalID, MaxNameLength, false, identifier); err != nil {
		return err
	}
	if len(g.Members) > MaxGroupMembers {
		return invalid("members", "more than %d members", MaxGroupMembers)
	}
	for _, m := range g.Members {
		if err := checkID("members", m); err != nil {
			return err
		}
	}
	return nil
}

// ValidateGroupName checks a group display name as sign-in asserts it
// (see ValidateGroup).
func ValidateGroupName(name string) error {
	return checkText("displayName", name, MaxNameLength, true, prose)
}

// CheckMemberPatch validates the arguments of PatchGroupMembers: at most
// MaxPatchMembers IDs in all, each a ValidID.
func CheckMemberPatch(add, remove []string) error {
	if len(add)+len(remove) > MaxPatchMembers {
		return invalid("members", "more than %d members in one change", MaxPatchMembers)
	}
	for _, id := range slices.Concat(add, remove) {
		if err := checkID("members", id); err != nil {
			return err
		}
	}
	return nil
}

// CheckGroupSize rejects a membership change that takes a group from
// before members to after members when after exceeds MaxGroupMembers and
// the change grows the group (a group that sign-in grew beyond the limit
// may still lose members).
func CheckGroupSize(before, after int) error {
	if after > MaxGroupMembers && after > before {
		return invalid("members", "more than %d members", MaxGroupMembers)
	}
	return nil
}

// UnknownMember is the error for a member ID that is not a user.
func UnknownMember(id string) error {
	return invalid("members", "%s is not a user", quote(id))
}

// CheckVersion returns ErrPreconditionFailed (wrapped) when ifVersion is
// not 0 and not current.
func CheckVersion(ifVersion, current int64) error {
	if ifVersion != 0 && ifVersion != current {
		return fmt.Errorf("%w: version is %d, not %d", ErrPreconditionFailed, current, ifVersion)
	}
	return nil
}

// PrepareUser normalizes and validates u for CreateDirectoryUser and
// clears what a write ignores (Groups, Version, times).
func PrepareUser(u User) (User, error) {
	u.Groups, u.Version, u.CreatedAt, u.UpdatedAt = nil, 0, time.Time{}, time.Time{}
	u = NormalizeUser(u)
	if err := ValidateUser(u); err != nil {
		return User{}, err
	}
	return u, nil
}

// PrepareGroup normalizes and validates g for CreateGroup and clears
// what a write ignores (Version, times).
func PrepareGroup(g Group) (Group, error) {
	g.Version, g.CreatedAt, g.UpdatedAt = 0, time.Time{}, time.Time{}
	g = NormalizeGroup(g)
	if err := ValidateGroup(g); err != nil {
		return Group{}, err
	}
	return g, nil
}

// ApplyUserUpdate runs fn on a copy of the stored user cur and returns the
// user to store: what fn left, with cur's Groups, Version and times,
// normalized and validated; changed says whether it differs from cur in
// anything a write stores. Email counts only when fn changed it (and left
// Emails empty, see NormalizeUser): otherwise it is derived again from
// the Emails fn left, so clearing Emails clears Email. fn changing the ID
// is an error; fn's own error is returned wrapped. The caller sets
// Version and UpdatedAt when changed.
func ApplyUserUpdate(cur User, fn func(*User) error) (next User, changed bool, err error) {
	cur = NormalizeUser(cur)
	work := NormalizeUser(cur)
	if err := fn(&work); err != nil {
		return User{}, false, fmt.Errorf("update user: %w", err)
	}
	if work.ID != cur.ID {
		return User{}, false, invalid("id", "is immutable")
	}
	if work.Email == cur.Email {
		// Email is derived: unless fn set it, the addresses fn left
		// decide (clearing Emails clears Email).
		work.Email = ""
	}
	work.Groups, work.Version, work.CreatedAt, work.UpdatedAt = cur.Groups, cur.Version, cur.CreatedAt, cur.UpdatedAt
	work = NormalizeUser(work)
	if err := ValidateUser(work); err != nil {
		return User{}, false, err
	}
	return work, !EqualUserData(cur, work), nil
}

// ApplyGroupUpdate is ApplyUserUpdate for groups: fn's changes to
// DisplayName, ExternalID and Members count; whether the members exist is
// the caller's check.
func ApplyGroupUpdate(cur Group, fn func(*Group) error) (next Group, changed bool, err error) {
	cur = NormalizeGroup(cur)
	work := NormalizeGroup(cur)
	if err := fn(&work); err != nil {
		return Group{}, false, fmt.Errorf("update group: %w", err)
	}
	if work.ID != cur.ID {
		return Group{}, false, invalid("id", "is immutable")
	}
	work.Version, work.CreatedAt, work.UpdatedAt = cur.Version, cur.CreatedAt, cur.UpdatedAt
	work = NormalizeGroup(work)
	if err := ValidateGroup(work); err != nil {
		return Group{}, false, err
	}
	return work, !EqualGroupData(cur, work), nil
}

// ReplaceUserFields returns fn for ApplyUserUpdate that replaces every
// writable field with those of NormalizeUser(u) (so an Email without
// Emails becomes the primary address); u.ID must be the user's.
func ReplaceUserFields(u User) func(*User) error {
	u = NormalizeUser(u)
	return func(p *User) error {
		if u.ID != p.ID {
			return invalid("id", "is immutable")
		}
		*p = NormalizeUser(u)
		return nil
	}
}

// ReplaceGroupFields returns fn for ApplyGroupUpdate that replaces every
// writable field with g's; g.ID must be the group's.
func ReplaceGroupFields(g Group) func(*Group) error {
	return func(p *Group) error {
		if g.ID != p.ID {
			return invalid("id", "is immutable")
		}
		*p = g
		return nil
	}
}

// EqualUserData reports whether two normalized users have the same
// writable fields (everything but ID, Email, which is derived, Groups,
// Version and times).
func EqualUserData(a, b User) bool {
	return a.UserName == b.UserName && a.ExternalID == b.ExternalID && a.GivenName == b.GivenName &&
		a.FamilyName == b.FamilyName && a.DisplayName == b.DisplayName && a.Active == b.Active &&
		slices.Equal(a.Emails, b.Emails) && maps.Equal(a.Attributes, b.Attributes)
}

// EqualGroupData reports whether two normalized groups have the same
// writable fields (DisplayName, ExternalID, Members).
func EqualGroupData(a, b Group) bool {
	return a.DisplayName == b.DisplayName && a.ExternalID == b.ExternalID && slices.Equal(a.Members, b.Members)
}

// MemberDiff returns the IDs in next and not in cur (added) and in cur
// and not in next (removed); both inputs sorted and distinct.
func MemberDiff(cur, next []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(cur) || j < len(next) {
		switch {
		case j == len(next) || (i < len(cur) && cur[i] < next[j]):
			removed = append(removed, cur[i])
			i++
		case i == len(cur) || next[j] < cur[i]:
			added = append(added, next[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}

// CompareListOrder orders resources as lists return them: by creation
// time, then ID in byte order.
func CompareListOrder(aCreated time.Time, aID string, bCreated time.Time, bID string) int {
	return cmp.Or(aCreated.Compare(bCreated), strings.Compare(aID, bID))
}

// SPUser returns the projection of u that SAML sign-in and token
// issuance use: Groups are the group display names, sorted, never nil.
func SPUser(u User) sp.User {
	groups := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		groups = append(groups, g.DisplayName)
	}
	slices.Sort(groups)
	return sp.User{ID: u.ID, UserName: u.UserName, Email: u.Email, DisplayName: u.DisplayName, Groups: groups, Active: u.Active}
}

// UserFromSP returns the directory user for an sp.User being created
// (Email becomes the primary e-mail address; Groups are not carried over:
// they are group names the caller resolves).
func UserFromSP(u sp.User) User {
	return NormalizeUser(User{ID: u.ID, UserName: u.UserName, Email: u.Email, DisplayName: u.DisplayName, Active: u.Active})
}
