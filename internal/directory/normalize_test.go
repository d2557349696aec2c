package directory

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

func TestFold(t *testing.T) {
	equal := [][2]string{
		{"alice", "ALICE"},
		{"Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"ünïcode", "ÜNÏCODE"},
		{"kelvin", "\u212Aelvin"}, // KELVIN SIGN
		{"σίσυφος", "ΣΊΣΥΦΟΣ"},    // final sigma
		{"straße", "STRAẞE"},      // capital sharp s
		{"", ""},
		{"%_\\'\"", "%_\\'\""},
	}
	for _, c := range equal {
		assert.Equal(t, Fold(c[0]), Fold(c[1]), "%q %q", c[0], c[1])
		assert.True(t, strings.EqualFold(c[0], c[1]))
	}
	different := [][2]string{
		{"straße", "STRASSE"},        // not a simple folding
		{"é", "e\u0301"},             // no normalization
		{"İ", "i"},                   // dotted capital I has no simple fold
		{"alice", "alice "},          // spaces count
		{"a_b", "a%b"},               // no wildcards
		{"\U0001F600", "\U0001F601"}, // different emoji
		{"ǅ", "dž"},                  // one rune is not two
	}
	for _, c := range different {
		assert.NotEqual(t, Fold(c[0]), Fold(c[1]), "%q %q", c[0], c[1])
	}
	assert.Equal(t, "ALICE", Fold("alice"), "ASCII folds to upper case")
	assert.Equal(t, Fold("ǅ"), Fold("Ǆ"))
}

// FuzzFold checks that Fold(a) == Fold(b) exactly when strings.EqualFold
// says so, that Fold is idempotent and keeps the rune count, and that
// case-insensitive prefix tests agree.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"alice", "ALICE", "Straße", "ΣΊΣΥΦΟΣ", "\u212A", "İi", "ǅ", "", "a\x00b"} {
		f.Add(s, strings.ToUpper(s))
		f.Add(s, strings.ToLower(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			t.Skip()
		}
		fa, fb := Fold(a), Fold(b)
		if (fa == fb) != strings.EqualFold(a, b) {
			t.Fatalf("Fold(%q)=%q, Fold(%q)=%q, EqualFold=%v", a, fa, b, fb, strings.EqualFold(a, b))
		}
		if Fold(fa) != fa {
			t.Fatalf("Fold not idempotent on %q", a)
		}
		if utf8.RuneCountInString(fa) != utf8.RuneCountInString(a) {
			t.Fatalf("Fold changed the rune count of %q", a)
		}
		if strings.HasPrefix(fa, fb) != hasPrefixFold(a, b) {
			t.Fatalf("prefix disagreement on %q, %q", a, b)
		}
	})
}

// hasPrefixFold is a case-insensitive prefix test by EqualFold, rune by
// rune.
func hasPrefixFold(s, prefix string) bool {
	rs, rp := []rune(s), []rune(prefix)
	return len(rp) <= len(rs) && strings.EqualFold(string(rs[:len(rp)]), prefix)
}

func TestNormalizeUser(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535_897_999, time.FixedZone("", 3600))
	emails := []Email{{Value: "b@x", Type: "home"}, {Value: "a@x", Type: "work", Primary: true}}
	u := User{
		Email: "ignored@x", Emails: emails, Attributes: map[string]string{},
		Groups:    []GroupRef{{ID: "2", DisplayName: "b"}, {ID: "3", DisplayName: "a"}, {ID: "1", DisplayName: "b"}},
		CreatedAt: at, UpdatedAt: at,
	}
	n := NormalizeUser(u)
	assert.Equal(t, "a@x", n.Email, "the primary")
	assert.Equal(t, emails, n.Emails)
	assert.Nil(t, n.Attributes)
	assert.Equal(t, []GroupRef{{ID: "3", DisplayName: "a"}, {ID: "1", DisplayName: "b"}, {ID: "2", DisplayName: "b"}}, n.Groups)
	assert.Equal(t, time.Date(2026, 3, 14, 14, 9, 26, 535_897_000, time.UTC), n.CreatedAt)
	n.Emails[0].Value = "changed"
	assert.Equal(t, "b@x", u.Emails[0].Value, "slices are copied")
	assert.Equal(t, u.Groups[0].ID, "2", "the input is not sorted in place")

	assert.Equal(t, "b@x", NormalizeUser(User{Emails: []Email{{Value: "b@x"}, {Value: "a@x"}}}).Email, "no primary: the first")
	only := NormalizeUser(User{Email: "c@x"})
	assert.Equal(t, []Email{{Value: "c@x", Primary: true}}, only.Emails)
	assert.Equal(t, User{}, NormalizeUser(User{}))
	assert.True(t, NormalizeTime(time.Time{}).IsZero())
}

func TestSetPrimaryEmail(t *testing.T) {
	cases := []struct {
		name   string
		emails []Email
		v      string
		want   []Email
	}{
		{"none, set", nil, "a@x", []Email{{Value: "a@x", Primary: true}}},
		{"none, clear", nil, "", nil},
		{"replace the primary", []Email{{Value: "h@x", Type: "home"}, {Value: "w@x", Type: "work", Primary: true}}, "n@x",
			[]Email{{Value: "h@x", Type: "home"}, {Value: "n@x", Type: "work", Primary: true}}},
		{"no primary: replace the first", []Email{{Value: "h@x"}, {Value: "w@x"}}, "n@x", []Email{{Value: "n@x"}, {Value: "w@x"}}},
		{"clear the primary", []Email{{Value: "h@x"}, {Value: "w@x", Primary: true}}, "", []Email{{Value: "h@x"}}},
		{"clear the only one", []Email{{Value: "w@x", Primary: true}}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := append([]Email(nil), c.emails...)
			u := NormalizeUser(User{Emails: c.emails})
			u.SetPrimaryEmail(c.v)
			assert.Equal(t, c.want, u.Emails)
			assert.Equal(t, NormalizeUser(u).Email, u.Email)
			assert.Equal(t, orig, c.emails, "the caller's slice is not modified")
		})
	}
}

func TestValidateUser(t *testing.T) {
	valid := NormalizeUser(User{
		ID: "u-1", UserName: "alice", ExternalID: "e", GivenName: "A", FamilyName: "L", DisplayName: "Alice\tL\r\n",
		Emails:     []Email{{Value: "a@x", Type: "work", Primary: true}, {Value: "b@x"}},
		Attributes: map[string]string{"urn:x/dept.sub-a_b": "R&D\nline two"},
	})
	require.NoError(t, ValidateUser(valid), "positive control")
	cases := []struct {
		name, attr string
		change     func(u *User)
	}{
		{"ID with slash", "id", func(u *User) { u.ID = "a/b" }},
		{"userName tab", "userName", func(u *User) { u.UserName = "a\tb" }},
		{"userName C1 control", "userName", func(u *User) { u.UserName = "a\u0085b" }},
		{"externalId newline", "externalId", func(u *User) { u.ExternalID = "a\nb" }},
		{"displayName NUL", "displayName", func(u *User) { u.DisplayName = "\x00" }},
		{"displayName DEL", "displayName", func(u *User) { u.DisplayName = "\x7f" }},
		{"email newline", "emails.value", func(u *User) { u.Emails[1].Value = "b@x\n" }},
		{"attribute NUL", "attributes.urn:x/dept.sub-a_b", func(u *User) { u.Attributes["urn:x/dept.sub-a_b"] = "\x00" }},
		{"attribute key", "attributes", func(u *User) { u.Attributes["ü"] = "x" }},
		{"empty attribute key", "attributes", func(u *User) { u.Attributes[""] = "x" }},
		{"long attribute key", "attributes", func(u *User) { u.Attributes[strings.Repeat("k", MaxAttributeKeyLength+1)] = "x" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := NormalizeUser(valid)
			c.change(&u)
			err := ValidateUser(u)
			require.ErrorIs(t, err, ErrInvalid)
			require.NotErrorIs(t, err, ErrInvalidFilter)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, c.attr, ve.Attribute)
			assert.LessOrEqual(t, len(err.Error()), 200, "reasons stay short")
		})
	}
	at := func(n int) string { return strings.Repeat("a", n) }
	limits := NormalizeUser(valid)
	limits.UserName, limits.DisplayName, limits.ID = at(MaxNameLength), at(MaxNameLength), at(MaxIDLength)
	limits.Emails = nil
	for range MaxEmails {
		limits.Emails = append(limits.Emails, Email{Value: at(MaxEmailLength), Type: at(MaxEmailTypeLength)})
	}
	require.NoError(t, ValidateUser(limits), "values at the limits")
}

func TestValidateGroupAndPatch(t *testing.T) {
	require.NoError(t, ValidateGroup(NormalizeGroup(Group{DisplayName: "eng", Members: []string{"b", "a", "b"}})))
	var ve *ValidationError
	err := ValidateGroup(Group{DisplayName: "eng", Members: []string{"ok", "not ok"}})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "members", ve.Attribute)
	err = ValidateGroup(Group{})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "displayName", ve.Attribute)
	assert.Equal(t, []string{"a", "b"}, NormalizeGroup(Group{Members: []string{"b", "a", "b"}}).Members)

	require.NoError(t, CheckMemberPatch(make1000("u"), nil))
	require.ErrorIs(t, CheckMemberPatch(make1000("u"), []string{"v"}), ErrInvalid)
	require.ErrorIs(t, CheckMemberPatch(nil, []string{""}), ErrInvalid)
	require.NoError(t, CheckGroupSize(MaxGroupMembers+5, MaxGroupMembers+1), "shrinking a large group")
	require.ErrorIs(t, CheckGroupSize(MaxGroupMembers, MaxGroupMembers+1), ErrInvalid)
	require.NoError(t, CheckGroupSize(MaxGroupMembers-1, MaxGroupMembers))
}

func make1000(id string) []string {
	out := make([]string, MaxPatchMembers)
	for i := range out {
		out[i] = id
	}
	return out
}

func TestApplyUserUpdate(t *testing.T) {
	cur := NormalizeUser(User{ID: "u", UserName: "alice", Version: 3, Groups: []GroupRef{{ID: "g", DisplayName: "eng"}},
		Attributes: map[string]string{"a": "1"}, Emails: []Email{{Value: "a@x", Primary: true}}})
	next, changed, err := ApplyUserUpdate(cur, func(u *User) error {
		u.Attributes["a"] = "2"
		u.Emails[0].Value = "b@x"
		u.Groups, u.Version = nil, 99
		return nil
	})
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "b@x", next.Email)
	assert.Equal(t, int64(3), next.Version)
	assert.Equal(t, cur.Groups, next.Groups)
	assert.Equal(t, "1", cur.Attributes["a"], "fn works on a copy")
	assert.Equal(t, "a@x", cur.Emails[0].Value, "fn works on a copy")

	next, changed, err = ApplyUserUpdate(cur, func(u *User) error { u.Emails = nil; return nil })
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Nil(t, next.Emails, "clearing Emails clears Email")
	assert.Equal(t, "", next.Email)
	next, _, err = ApplyUserUpdate(cur, func(u *User) error { u.Emails, u.Email = nil, "new@x"; return nil })
	require.NoError(t, err)
	assert.Equal(t, []Email{{Value: "new@x", Primary: true}}, next.Emails, "a new Email without Emails")
	next, _, err = ApplyUserUpdate(cur, ReplaceUserFields(User{ID: "u", UserName: "alice", Email: "a@x"}))
	require.NoError(t, err)
	assert.Equal(t, cur.Emails, next.Emails, "a replacement's Email is its primary address")

	_, changed, err = ApplyUserUpdate(cur, func(u *User) error { u.Version = 4; return nil })
	require.NoError(t, err)
	assert.False(t, changed)

	boom := errors.New("boom")
	_, _, err = ApplyUserUpdate(cur, func(*User) error { return boom })
	require.ErrorIs(t, err, boom)
	_, _, err = ApplyUserUpdate(cur, func(u *User) error { u.UserName = ""; return nil })
	require.ErrorIs(t, err, ErrInvalid)
	_, _, err = ApplyUserUpdate(cur, ReplaceUserFields(User{ID: "other", UserName: "x"}))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestMemberDiff(t *testing.T) {
	added, removed := MemberDiff([]string{"a", "c", "e"}, []string{"b", "c", "d", "f"})
	assert.Equal(t, []string{"b", "d", "f"}, added)
	assert.Equal(t, []string{"a", "e"}, removed)
	added, removed = MemberDiff(nil, nil)
	assert.Nil(t, added)
	assert.Nil(t, removed)
}

func TestWindow(t *testing.T) {
	for _, c := range []struct{ start, count, offset, limit int }{
		{1, 10, 0, 10}, {0, 10, 0, 10}, {-5, 10, 0, 10}, {11, 0, 10, 0}, {3, -1, 2, 0},
		{1, MaxListCount + 1, 0, MaxListCount},
	} {
		o, l := Query{StartIndex: c.start, Count: c.count}.Window()
		assert.Equal(t, [2]int{c.offset, c.limit}, [2]int{o, l}, "%+v", c)
	}
}

func TestSPUser(t *testing.T) {
	u := NormalizeUser(User{ID: "u", UserName: "alice", Emails: []Email{{Value: "b@x"}, {Value: "a@x", Primary: true}},
		DisplayName: "Alice", Active: true, Groups: []GroupRef{{ID: "2", DisplayName: "ops"}, {ID: "1", DisplayName: "eng"}}})
	assert.Equal(t, sp.User{ID: "u", UserName: "alice", Email: "a@x", DisplayName: "Alice", Groups: []string{"eng", "ops"}, Active: true}, SPUser(u))
	assert.Equal(t, []string{}, SPUser(User{}).Groups)
	assert.Equal(t, User{ID: "u", UserName: "alice", Email: "a@x", Emails: []Email{{Value: "a@x", Primary: true}}, Active: true},
		UserFromSP(sp.User{ID: "u", UserName: "alice", Email: "a@x", Groups: []string{"x"}, Active: true}))
}

func TestCheckVersion(t *testing.T) {
	require.NoError(t, CheckVersion(0, 5))
	require.NoError(t, CheckVersion(5, 5))
	require.ErrorIs(t, CheckVersion(4, 5), ErrPreconditionFailed)
}
