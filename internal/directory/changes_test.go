package directory

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChangedFields(t *testing.T) {
	base := User{
		UserName: "alice", ExternalID: "e1", GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice L",
		Emails: []Email{{Value: "a@example.com", Type: "work", Primary: true}}, Active: true,
		Attributes: map[string]string{"department": "eng", "cost_center": "42"},
	}
	for _, tc := range []struct {
		name   string
		change func(u *User)
		fields []UserField
		attrs  []string
	}{
		{"nothing", func(*User) {}, nil, nil},
		{"user name", func(u *User) { u.UserName = "alicia" }, []UserField{FieldUserName}, nil},
		{"external id", func(u *User) { u.ExternalID = "e2" }, []UserField{FieldExternalID}, nil},
		{"names", func(u *User) { u.GivenName, u.FamilyName = "A", "L" }, []UserField{FieldGivenName, FieldFamilyName}, nil},
		{"display name", func(u *User) { u.DisplayName = "A" }, []UserField{FieldDisplayName}, nil},
		{"email type", func(u *User) { u.Emails = []Email{{Value: "a@example.com", Type: "home", Primary: true}} }, []UserField{FieldEmails}, nil},
		{"deactivated", func(u *User) { u.Active = false }, []UserField{FieldActive}, nil},
		{"attribute changed", func(u *User) { u.Attributes = map[string]string{"department": "ops", "cost_center": "42"} }, nil, []string{"department"}},
		{"attribute removed and added", func(u *User) { u.Attributes = map[string]string{"department": "eng", "title": "cto"} }, nil, []string{"cost_center", "title"}},
		{"attribute set to empty", func(u *User) { u.Attributes = map[string]string{"department": "eng", "cost_center": ""} }, nil, []string{"cost_center"}},
		{"attributes gone", func(u *User) { u.Attributes = nil }, nil, []string{"cost_center", "department"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Attributes = map[string]string{"department": "eng", "cost_center": "42"}
			tc.change(&b)
			fields, attrs := ChangedFields(base, b)
			assert.Equal(t, tc.fields, fields)
			assert.Equal(t, tc.attrs, attrs)
		})
	}
}
