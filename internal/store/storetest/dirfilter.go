package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

func parse(t *testing.T, s string) filter.Expr {
	t.Helper()
	e, err := filter.Parse(s)
	require.NoError(t, err, s)
	return e
}

// filterUsers is the data set of the filter cases: tricky values (LIKE
// wildcards, quotes, backslashes, case variants, non-ASCII case folding,
// empty strings) next to decoys they must not match. User i (from 1) has
// ID f-NN and is created at filterTime(i).
func filterUsers() []directory.User {
	e := func(value, typ string, primary bool) directory.Email {
		return directory.Email{Value: value, Type: typ, Primary: primary}
	}
	return []directory.User{
		{ID: "f-01", UserName: "alice", ExternalID: "EXT-1", GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
			Emails: []directory.Email{e("alice@example.com", "work", true), e("a.l@home.example", "home", false)}, Active: true},
		{ID: "f-02", UserName: "ALICE.smith", ExternalID: "ext-1", GivenName: "alice", FamilyName: "Smith", DisplayName: "Alice Smith",
			Emails: []directory.Email{e("Alice.Smith@Example.COM", "work", false)}, Active: true},
		{ID: "f-03", UserName: "bob", DisplayName: "Bob", Active: false},
		{ID: "f-04", UserName: "100%_off", ExternalID: "a%b_c", DisplayName: "Percent_Underscore",
			Emails: []directory.Email{e("pct%_@example.com", "other", false)}, Active: true},
		{ID: "f-05", UserName: "100xoff", ExternalID: "axbxc", DisplayName: "PercentXUnderscore", Active: true},
		{ID: "f-06", UserName: `quo"te'd`, ExternalID: `x'y"z`, DisplayName: `O'Brien "Q"`, Active: true},
		{ID: "f-07", UserName: "ünïcode", GivenName: "Jürgen", FamilyName: "Straße", DisplayName: "ÜNÏCODE Üser",
			Emails: []directory.Email{e("jürgen@exämple.de", "home", true)}, Active: true},
		{ID: "f-08", UserName: "empty", Active: false},
		{ID: "f-09", UserName: "zed", ExternalID: "Z", DisplayName: "zed",
			Emails: []directory.Email{e("z@example.com", "WORK", false), e("z2@example.com", "Work", true)}, Active: true},
		{ID: "f-10", UserName: "kelvin", DisplayName: "\u212Aelvin", Active: true},
		{ID: "f-11", UserName: "ΣΊΣΥΦΟΣ", GivenName: "ς", DisplayName: "σίσυφος", Active: true},
		{ID: "f-12", UserName: `back\slash`, ExternalID: `\%`, DisplayName: `a\b`, Active: true},
		{ID: "f-13", UserName: "straße", FamilyName: "STRASSE", Active: true},
		{ID: "f-14", UserName: "é-composed", DisplayName: "e\u0301-decomposed", Active: true},
		{ID: "f-15", UserName: "  spaced  ", DisplayName: " ", Active: true},
	}
}

func filterTime(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

// modifiedLater is the user whose lastModified differs from its created.
const modifiedLater = "f-03"

// jsonQuote returns v as a JSON string, as a SCIM filter writes it.
func jsonQuote(v string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

func rfc3339(t time.Time) string { return t.Format(time.RFC3339Nano) }

// ids turns "01 02" into the IDs f-01, f-02.
func fids(nums string) []string {
	var out []string
	for _, n := range strings.Fields(nums) {
		out = append(out, "f-"+n)
	}
	return out
}

func listUserIDs(t *testing.T, s Store, e filter.Expr) ([]string, error) {
	t.Helper()
	p, err := s.ListDirectoryUsers(t.Context(), directory.Query{Filter: e, Count: directory.MaxListCount})
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, u := range p.Items {
		out = append(out, u.ID)
	}
	assert.Equal(t, p.Total, len(out), "total")
	return out, nil
}

func testDirUserFilters(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	var users []directory.User
	for i, u := range filterUsers() {
		users = append(users, mustCreateUser(t, s, u, filterTime(i+1)))
	}
	later := base.Add(time.Hour)
	_, err := s.UpdateDirectoryUser(ctx, modifiedLater, 0, func(u *directory.User) error {
		u.Attributes = map[string]string{"touched": "yes"}
		return nil
	}, later)
	require.NoError(t, err)
	users = users[:0]
	for _, u := range filterUsers() {
		users = append(users, mustGetUser(t, s, u.ID))
	}

	all := "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15"
	cases := []struct{ filter, want string }{
		{`userName eq "alice"`, "01"},
		{`userName eq "ALICE"`, "01"},
		{`username EQ "Alice"`, "01"},
		{`userName eq "alice.smith"`, "02"},
		{`userName sw "ali"`, "01 02"},
		{`userName co "%"`, "04"},
		{`userName co "_"`, "04"},
		{`userName sw "100%"`, "04"},
		{`userName sw "100_"`, ""},
		{`userName ew "%_off"`, "04"},
		{`externalId eq "ext-1"`, "02"},
		{`externalId eq "EXT-1"`, "01"},
		{`externalId co "%"`, "04 12"},
		{`externalId sw "a%"`, "04"},
		{`externalId eq ""`, "03 07 08 10 11 13 14 15"},
		{`externalId pr`, "01 02 04 05 06 09 12"},
		{`not (externalId pr)`, "03 07 08 10 11 13 14 15"},
		{`displayName eq "o'brien \"q\""`, "06"},
		{`userName eq "quo\"te'd"`, "06"},
		{`displayName co "\\"`, "12"},
		{`userName eq "back\\slash"`, "12"},
		{`userName eq "ÜNÏCODE"`, "07"},
		{`displayName sw "ünïcode ü"`, "07"},
		{`name.givenName eq "JÜRGEN"`, "07"},
		{`name.familyName eq "STRASSE"`, "13"},
		{`name.familyName eq "straße"`, "07"},
		{`userName eq "STRAẞE"`, "13"},
		{`displayName eq "kelvin"`, "10"},
		{`userName eq "σίσυφος"`, "11"},
		{`name.givenName eq "Σ"`, "11"},
		{`userName eq "é-composed"`, "14"},
		{`displayName eq "é-decomposed"`, ""},
		{`userName eq "  spaced  "`, "15"},
		{`userName eq "spaced"`, ""},
		{`displayName pr`, "01 02 03 04 05 06 07 09 10 11 12 14 15"},
		{`displayName eq ""`, "08 13"},
		{`emails eq "ALICE@example.com"`, "01"},
		{`emails.value co "example.com"`, "01 02 04 09"},
		{`emails[type eq "work" and value co "smith"]`, "02"},
		{`emails[type eq "work"]`, "01 02 09"},
		{`emails[type eq "work" and primary eq true]`, "01 09"},
		{`emails.primary eq true`, "01 07 09"},
		{`emails pr`, "01 02 04 07 09"},
		{`not (emails pr)`, "03 05 06 08 10 11 12 13 14 15"},
		{`emails.value ne "alice@example.com"`, "01 02 04 07 09"},
		{`not (emails.value eq "alice@example.com")`, "02 03 04 05 06 07 08 09 10 11 12 13 14 15"},
		{`emails.type eq ""`, ""},
		{`emails[value ew ".DE"]`, "07"},
		{`active eq false`, "03 08"},
		{`active ne true`, "03 08"},
		{`active pr`, all},
		{`userName gt "zed"`, "07 11 14"},
		{`userName le "B"`, "01 02 04 05 15"},
		{`meta.created eq "` + rfc3339(filterTime(3)) + `"`, "03"},
		{`meta.created eq "` + rfc3339(filterTime(3).In(time.FixedZone("", 5*3600+1800))) + `"`, "03"},
		{`meta.created gt "` + rfc3339(filterTime(13)) + `"`, "14 15"},
		{`meta.created ge "` + rfc3339(filterTime(13)) + `"`, "13 14 15"},
		{`meta.created lt "` + rfc3339(filterTime(2)) + `"`, "01"},
		{`meta.created le "` + rfc3339(filterTime(2).Add(999*time.Nanosecond)) + `"`, "01 02"},
		{`meta.created ne "` + rfc3339(filterTime(2)) + `"`, "01 03 04 05 06 07 08 09 10 11 12 13 14 15"},
		{`meta.lastModified gt "` + rfc3339(base.Add(30*time.Minute)) + `"`, "03"},
		{`meta.lastModified pr`, all},
		{`(userName sw "a" or userName sw "b") and active eq true`, "01 02 12"},
		{`userName sw "b" or userName sw "a" and active eq false`, "03 12"},
		{`not (active eq true) and not (userName eq "bob")`, "08"},
		{`id eq "f-07"`, "07"},
		{`id eq "F-07"`, ""},
		{`id gt "f-13"`, "14 15"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"`, "03"},
		{`URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.familyName eq "smith"`, "02"},
		{`userName eq ""`, ""},
		{`name.givenName co ""`, all},
		{`userName ew ""`, all},
		{`userName pr`, all},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			e := parse(t, c.filter)
			got, err := listUserIDs(t, s, e)
			require.NoError(t, err)
			want := fids(c.want)
			if want == nil {
				want = []string{}
			}
			assert.Equal(t, want, got, "store")
			assert.Equal(t, want, referenceUsers(t, users, e), "reference evaluator")
		})
	}

	t.Run("agreement", func(t *testing.T) {
		for _, f := range generatedUserFilters(users) {
			e := parse(t, f)
			got, err := listUserIDs(t, s, e)
			require.NoError(t, err, f)
			assert.Equal(t, referenceUsers(t, users, e), got, f)
		}
	})

	t.Run("invalid filters", func(t *testing.T) {
		for _, f := range invalidUserFilters {
			_, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: parse(t, f), Count: 10})
			require.ErrorIs(t, err, directory.ErrInvalidFilter, f)
			_, err = directory.Match(parse(t, f), users[0])
			require.ErrorIs(t, err, directory.ErrInvalidFilter, f)
		}
	})
}

// invalidUserFilters parse but name attributes, operators or values the
// store does not support.
var invalidUserFilters = []string{
	`nickName eq "x"`,
	`name pr`,
	`name.formatted eq "x"`,
	`emails.display eq "x"`,
	`emails[display eq "x"]`,
	`members eq "x"`,
	`groups eq "x"`,
	`active co "t"`,
	`active eq "true"`,
	`active gt "x"`,
	`emails.primary eq "yes"`,
	`meta.created eq "yesterday"`,
	`meta.created sw "2026"`,
	`meta.created eq 5`,
	`meta.version eq "1"`,
	`userName gt 5`,
	`userName eq null`,
	`userName eq true`,
	`userName eq "a\u0000b"`,
	`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"`,
	`userName eq "x" and nickName eq "y"`,
	`not (title pr)`,
}

func referenceUsers(t *testing.T, users []directory.User, e filter.Expr) []string {
	t.Helper()
	c, err := directory.CompileUserFilter(e)
	require.NoError(t, err)
	out := []string{}
	for _, u := range users {
		if directory.MatchUser(c, u) {
			out = append(out, u.ID)
		}
	}
	return out
}

// filterValues are the string operands of the generated filters.
var filterValues = []string{
	"", "a", "A", "alice", "ALICE", "Alice Smith", "%", "_", "a_", "100%", "100_", "%_off", "'", `"`, `\`, `\%`,
	"ü", "Ü", "ß", "ẞ", "SS", "ς", "σ", "K", "\u212A", "example.com", "EXAMPLE.COM", "ext-1", "EXT-1",
	"z", "zed", "é", "e\u0301", " ", "work", "WORK", "f-07", "\U0001F600",
}

// generatedUserFilters returns every string operator on every string
// attribute with every value of filterValues, the boolean and date-time
// cases, and combinations of them.
func generatedUserFilters(users []directory.User) []string {
	var leaves []string
	for _, attr := range []string{"userName", "displayName", "name.givenName", "name.familyName", "externalId", "id", "emails", "emails.value", "emails.type"} {
		leaves = append(leaves, attr+" pr")
		for _, op := range []string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"} {
			for _, v := range filterValues {
				leaves = append(leaves, fmt.Sprintf("%s %s %s", attr, op, jsonQuote(v)))
			}
		}
	}
	for _, attr := range []string{"active", "emails.primary"} {
		for _, op := range []string{"eq", "ne"} {
			leaves = append(leaves, attr+" "+op+" true", attr+" "+op+" false")
		}
	}
	var times []time.Time
	for _, u := range users {
		times = append(times, u.CreatedAt, u.UpdatedAt.Add(time.Microsecond), u.CreatedAt.Add(-time.Nanosecond))
	}
	for _, attr := range []string{"meta.created", "meta.lastModified"} {
		for _, op := range []string{"eq", "ne", "gt", "ge", "lt", "le"} {
			for i, at := range times {
				if i%4 == 0 {
					at = at.In(time.FixedZone("", -7*3600))
				}
				leaves = append(leaves, fmt.Sprintf("%s %s %q", attr, op, rfc3339(at)))
			}
		}
	}
	out := slices.Clone(leaves)
	n := len(leaves)
	for i := 0; i < 60; i++ {
		a, b, c := leaves[(i*37)%n], leaves[(i*101+7)%n], leaves[(i*53+3)%n]
		switch i % 5 {
		case 0:
			out = append(out, fmt.Sprintf("%s and %s", a, b))
		case 1:
			out = append(out, fmt.Sprintf("%s or %s and not (%s)", a, b, c))
		case 2:
			out = append(out, fmt.Sprintf("not (%s or %s)", a, b))
		case 3:
			out = append(out, fmt.Sprintf("emails[type %s and not (value co %q)] or %s", []string{"pr", `eq "work"`, `ne "home"`}[i%3], filterValues[i%len(filterValues)], c))
		case 4:
			out = append(out, fmt.Sprintf("(%s or %s) and (%s or active eq false)", a, b, c))
		}
	}
	return out
}

// filterGroups is the group data set: display names with the same traps
// as the users', members among the filter users.
func filterGroups() []directory.Group {
	return []directory.Group{
		{ID: "g-01", DisplayName: "Eng", ExternalID: "EXT-G", Members: fids("01 02 03")},
		{ID: "g-02", DisplayName: "eng_ops", ExternalID: "ext-g", Members: fids("03")},
		{ID: "g-03", DisplayName: "100%", Members: fids("04 05")},
		{ID: "g-04", DisplayName: "engxops"},
		{ID: "g-05", DisplayName: "Ünïcode Straße", ExternalID: `q"'\`, Members: fids("07 13")},
		{ID: "g-06", DisplayName: "\u212Aelvin's", Members: fids("10")},
	}
}

func testDirGroupFilters(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	for i, u := range filterUsers() {
		mustCreateUser(t, s, u, filterTime(i+1))
	}
	var groups []directory.Group
	for i, g := range filterGroups() {
		got, err := s.CreateGroup(ctx, g, filterTime(i+1))
		require.NoError(t, err)
		groups = append(groups, got)
	}
	list := func(t *testing.T, e filter.Expr) []string {
		t.Helper()
		p, err := s.ListGroups(ctx, directory.Query{Filter: e, Count: directory.MaxListCount, WithoutMembers: true})
		require.NoError(t, err)
		out := []string{}
		for _, g := range p.Items {
			out = append(out, g.ID)
		}
		assert.Equal(t, p.Total, len(out))
		return out
	}
	reference := func(t *testing.T, e filter.Expr) []string {
		t.Helper()
		c, err := directory.CompileGroupFilter(e)
		require.NoError(t, err)
		out := []string{}
		for _, g := range groups {
			if directory.MatchGroup(c, g) {
				out = append(out, g.ID)
			}
		}
		return out
	}
	gids := func(nums string) []string {
		out := []string{}
		for _, n := range strings.Fields(nums) {
			out = append(out, "g-"+n)
		}
		return out
	}
	cases := []struct{ filter, want string }{
		{`displayName eq "eng"`, "01"},
		{`displayName eq "ENG"`, "01"},
		{`displayName sw "eng_"`, "02"},
		{`displayName co "_"`, "02"},
		{`displayName co "%"`, "03"},
		{`displayName eq "ÜNÏCODE STRASSE"`, ""},
		{`displayName eq "ÜNÏCODE STRAẞE"`, "05"},
		{`displayName sw "kelvin"`, "06"},
		{`externalId eq "ext-g"`, "02"},
		{`externalId eq "q\"'\\"`, "05"},
		{`externalId pr`, "01 02 05"},
		{`members eq "f-03"`, "01 02"},
		{`members.value eq "F-03"`, ""},
		{`members[value eq "f-04" or value eq "f-13"]`, "03 05"},
		{`members pr`, "01 02 03 05 06"},
		{`not (members pr)`, "04"},
		{`members.value ne "f-03"`, "01 03 05 06"},
		{`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "100%"`, "03"},
		{`meta.created gt "` + rfc3339(filterTime(4)) + `"`, "05 06"},
		{`id eq "g-04" or displayName eq "eng"`, "01 04"},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			e := parse(t, c.filter)
			assert.Equal(t, gids(c.want), list(t, e), "store")
			assert.Equal(t, gids(c.want), reference(t, e), "reference evaluator")
		})
	}
	t.Run("agreement", func(t *testing.T) {
		var filters []string
		for _, attr := range []string{"displayName", "externalId", "id", "members", "members.value"} {
			filters = append(filters, attr+" pr")
			for _, op := range []string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"} {
				for _, v := range append(slices.Clone(filterValues), "f-03", "f-1", "g-0", "eng", "ENG_OPS") {
					filters = append(filters, fmt.Sprintf("%s %s %s", attr, op, jsonQuote(v)))
				}
			}
		}
		for _, f := range filters {
			e := parse(t, f)
			assert.Equal(t, reference(t, e), list(t, e), f)
		}
	})
	t.Run("invalid filters", func(t *testing.T) {
		for _, f := range []string{`userName eq "x"`, `emails eq "x"`, `members.display eq "x"`, `members[type eq "User"]`,
			`active eq true`, `urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "x"`, `displayName gt 1`} {
			_, err := s.ListGroups(ctx, directory.Query{Filter: parse(t, f)})
			require.ErrorIs(t, err, directory.ErrInvalidFilter, f)
		}
	})
}
