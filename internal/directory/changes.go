package directory

import (
	"maps"
	"slices"
)

// UserField names a field of User that an administrator or a provisioning
// client can change.
type UserField string

// The changeable fields of User, in the order ChangedFields reports them.
const (
	FieldUserName    UserField = "user_name"
	FieldExternalID  UserField = "external_id"
	FieldGivenName   UserField = "given_name"
	FieldFamilyName  UserField = "family_name"
	FieldDisplayName UserField = "display_name"
	FieldEmails      UserField = "emails"
	FieldActive      UserField = "active"
)

// ChangedFields reports what differs between two normalized users: the
// fields, in the order of the Field constants, and the keys of the custom
// attributes added, removed or changed, sorted. It names, never shows,
// values, so audit records can carry the result.
func ChangedFields(a, b User) (fields []UserField, attributes []string) {
	for _, f := range []struct {
		name UserField
		same bool
	}{
		{FieldUserName, a.UserName == b.UserName},
		{FieldExternalID, a.ExternalID == b.ExternalID},
		{FieldGivenName, a.GivenName == b.GivenName},
		{FieldFamilyName, a.FamilyName == b.FamilyName},
		{FieldDisplayName, a.DisplayName == b.DisplayName},
		{FieldEmails, slices.Equal(a.Emails, b.Emails)},
		{FieldActive, a.Active == b.Active},
	} {
		if !f.same {
			fields = append(fields, f.name)
		}
	}
	keys := maps.Clone(a.Attributes)
	if keys == nil {
		keys = map[string]string{}
	}
	maps.Copy(keys, b.Attributes)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		av, aok := a.Attributes[k]
		bv, bok := b.Attributes[k]
		if av != bv || aok != bok {
			attributes = append(attributes, k)
		}
	}
	return fields, attributes
}
