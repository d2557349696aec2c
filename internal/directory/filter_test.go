package directory

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535_897_000, time.UTC)

func sampleUsers() []User {
	return []User{
		NormalizeUser(User{ID: "u1", UserName: "alice", ExternalID: "E1", GivenName: "Alice", FamilyName: "Liddell",
			DisplayName: "Alice L", Active: true, CreatedAt: testTime, UpdatedAt: testTime.Add(time.Hour),
			Emails: []Email{{Value: "alice@example.com", Type: "work", Primary: true}, {Value: "al@home.example", Type: "home"}}}),
		NormalizeUser(User{ID: "u2", UserName: "Bob_%", DisplayName: "", Active: false, CreatedAt: testTime.Add(time.Minute), UpdatedAt: testTime.Add(time.Minute)}),
		NormalizeUser(User{ID: "u3", UserName: "ünïcode", FamilyName: "Straße", Active: true, CreatedAt: testTime.Add(2 * time.Minute), UpdatedAt: testTime.Add(2 * time.Minute),
			Emails: []Email{{Value: "U@Example.COM"}}}),
	}
}

func mustParse(t testing.TB, s string) filter.Expr {
	t.Helper()
	e, err := filter.Parse(s)
	require.NoError(t, err, s)
	return e
}

func TestMatch(t *testing.T) {
	users := sampleUsers()
	cases := []struct {
		filter string
		want   string // IDs, space separated
	}{
		{`userName eq "ALICE"`, "u1"},
		{`USERNAME Eq "alice"`, "u1"},
		{`userName ne "alice"`, "u2 u3"},
		{`userName co "_%"`, "u2"},
		{`userName sw "BOB"`, "u2"},
		{`userName ew "ODE"`, "u3"},
		{`userName gt "b"`, "u2 u3"},
		{`userName gt "bob_%"`, "u3"},
		{`userName ge "BOB_%"`, "u2 u3"},
		{`userName lt "b"`, "u1"},
		{`userName le "alice"`, "u1"},
		{`userName pr`, "u1 u2 u3"},
		{`externalId eq "e1"`, ""},
		{`externalId eq "E1"`, "u1"},
		{`externalId eq ""`, "u2 u3"},
		{`displayName pr`, "u1"},
		{`name.familyName eq "STRASSE"`, ""},
		{`name.familyName eq "STRAẞE"`, "u3"},
		{`name.givenName co "lic"`, "u1"},
		{`emails eq "u@example.com"`, "u3"},
		{`emails.value ew ".example"`, "u1"},
		{`emails.type eq "WORK"`, "u1"},
		{`emails.primary eq true`, "u1"},
		{`emails.primary eq false`, "u1 u3"},
		{`emails pr`, "u1 u3"},
		{`emails[type eq "home" and value sw "al@"]`, "u1"},
		{`emails[type eq "home" and value sw "alice"]`, ""},
		{`not (emails[primary eq true])`, "u2 u3"},
		{`active eq true`, "u1 u3"},
		{`active ne true`, "u2"},
		{`active pr`, "u1 u2 u3"},
		{`meta.created eq "2026-03-14T15:09:26.535897Z"`, "u1"},
		{`meta.created eq "2026-03-14T16:09:26.535897999+01:00"`, "u1"},
		{`meta.created gt "2026-03-14T15:09:26.535897Z"`, "u2 u3"},
		{`meta.lastModified ge "2026-03-14T16:00:00Z"`, "u1"},
		{`meta.created le "2026-03-14T15:10:26.535897Z"`, "u1 u2"},
		{`meta.created pr`, "u1 u2 u3"},
		{`id eq "u2" or (active eq true and not (userName eq "alice"))`, "u2 u3"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice"`, "u1"},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]`, "u1"},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			e := mustParse(t, c.filter)
			var got []string
			for _, u := range users {
				ok, err := Match(e, u)
				require.NoError(t, err)
				if ok {
					got = append(got, u.ID)
				}
			}
			assert.Equal(t, strings.Fields(c.want), append([]string{}, got...))
		})
	}
	ok, err := Match(nil, users[0])
	require.NoError(t, err)
	assert.True(t, ok, "no filter matches")
}

func TestMatchGroup(t *testing.T) {
	g := NormalizeGroup(Group{ID: "g1", DisplayName: "Eng_Ops", ExternalID: "X", Members: []string{"u2", "u1"}, CreatedAt: testTime, UpdatedAt: testTime})
	empty := NormalizeGroup(Group{ID: "g2", DisplayName: "empty"})
	for f, want := range map[string][2]bool{
		`displayName eq "eng_ops"`:                      {true, false},
		`members eq "u1"`:                               {true, false},
		`members eq "U1"`:                               {false, false},
		`members[value eq "u2"]`:                        {true, false},
		`members pr`:                                    {true, false},
		`not (members pr)`:                              {false, true},
		`members.value ne "u1"`:                         {true, false},
		`externalId eq "x"`:                             {false, false},
		`meta.created eq "2026-03-14T15:09:26.535897Z"`: {true, false},
		`urn:ietf:params:scim:schemas:core:2.0:Group:id eq "g2"`: {false, true},
	} {
		for i, grp := range []Group{g, empty} {
			ok, err := MatchGroupFilter(mustParse(t, f), grp)
			require.NoError(t, err, f)
			assert.Equal(t, want[i], ok, "%s on %s", f, grp.ID)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	userErrs := []string{
		`nickName eq "x"`, `name pr`, `name.middleName eq "x"`, `emails.display eq "x"`, `emails[display eq "x"]`,
		`members eq "x"`, `userName.sub eq "x"`, `id.x eq "y"`, `meta pr`, `meta.version eq "1"`, `meta.created co "2026"`,
		`active co "t"`, `active eq "true"`, `active eq 1`, `active gt "x"`, `emails.primary eq null`,
		`meta.created eq "14 March"`, `meta.created eq 5`, `meta.created eq true`,
		`userName eq 5`, `userName eq null`, `userName eq false`, `userName gt 1.5`, `userName eq "a\u0000b"`,
		`urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "x"`, `urn:x:userName eq "x"`,
		`userName eq "a" or (active eq true and x eq "y")`, `not (foo pr)`, `emails.value[type eq "x"]`,
	}
	for _, f := range userErrs {
		e, err := filter.Parse(f)
		if err != nil {
			continue // the parser already refuses it
		}
		_, err = CompileUserFilter(e)
		require.ErrorIs(t, err, ErrInvalidFilter, f)
		require.ErrorIs(t, err, ErrInvalid, f)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, f)
		assert.Equal(t, "filter", ve.Attribute)
	}
	for _, f := range []string{`userName eq "x"`, `emails eq "x"`, `members.display eq "x"`, `members[type eq "x"]`, `active eq true`, `name.givenName pr`} {
		_, err := CompileGroupFilter(mustParse(t, f))
		require.ErrorIs(t, err, ErrInvalidFilter, f)
	}
	// Hand-built trees the parser never produces fail closed too.
	for _, e := range []filter.Expr{
		filter.And{L: filter.Present{Path: filter.AttrPath{Name: "userName"}}},
		filter.Not{},
		filter.ValuePath{Attr: filter.AttrPath{Name: "emails"}},
		filter.ValuePath{Attr: filter.AttrPath{Name: "emails"}, Filter: filter.ValuePath{Attr: filter.AttrPath{Name: "emails"}, Filter: filter.Present{Path: filter.AttrPath{Name: "value"}}}},
		filter.ValuePath{Attr: filter.AttrPath{Name: "emails"}, Filter: filter.Present{Path: filter.AttrPath{Name: "value", Sub: "x"}}},
		filter.Compare{Path: filter.AttrPath{Name: "userName"}, Op: "like", Value: "x"},
		filter.Compare{Path: filter.AttrPath{Name: "userName"}, Op: "eq", Value: "\xff"},
		filter.Compare{Path: filter.AttrPath{Name: "userName"}, Op: "co", Value: json.Number("1")},
	} {
		_, err := CompileUserFilter(e)
		require.ErrorIs(t, err, ErrInvalidFilter, "%#v", e)
	}
	// A message names what is wrong, briefly.
	_, err := CompileUserFilter(mustParse(t, ``+strings.Repeat("a", 200)+` eq "x"`))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 150)
	assert.Contains(t, err.Error(), "unsupported attribute")
}

func TestCompileValues(t *testing.T) {
	c, err := CompileUserFilter(mustParse(t, `userName eq "Alice" and externalId eq "Ext" and meta.created lt "2026-03-14T16:09:26.5358979+01:00"`))
	require.NoError(t, err)
	and := c.(CondAnd)
	inner := and.L.(CondAnd)
	assert.Equal(t, CondCompare{AttrUserName, OpEq, "ALICE"}, inner.L, "case-insensitive values are folded")
	assert.Equal(t, CondCompare{AttrExternalID, OpEq, "Ext"}, inner.R, "exact values are not")
	assert.Equal(t, CondCompare{AttrCreated, OpLt, testTime.Add(time.Hour - time.Hour)}, and.R, "times in UTC, cut to microseconds")

	c, err = CompileUserFilter(mustParse(t, `emails co "X"`))
	require.NoError(t, err)
	assert.Equal(t, CondAny{MultiEmails, CondCompare{AttrEmailValue, OpCo, "X"}}, c)
	c, err = CompileGroupFilter(mustParse(t, `members pr`))
	require.NoError(t, err)
	assert.Equal(t, CondAny{MultiMembers, CondPresent{AttrMemberValue}}, c)
	c, err = CompileUserFilter(nil)
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.True(t, MatchUser(nil, User{}))
}

func TestValidationErrorUnwrap(t *testing.T) {
	err := invalid("userName", "is required")
	assert.True(t, errors.Is(err, ErrInvalid))
	assert.False(t, errors.Is(err, ErrInvalidFilter))
	assert.Equal(t, "directory: invalid: userName: is required", err.Error())
	err = invalidFilter("bad")
	assert.True(t, errors.Is(err, ErrInvalidFilter))
	assert.True(t, errors.Is(err, ErrInvalid))
}

// FuzzCompileFilter checks that any filter the parser accepts compiles
// or fails with ErrInvalidFilter, never panics, and that a compiled
// filter evaluates without panicking and as its negation's opposite.
func FuzzCompileFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "alice"`, `emails[type eq "work" and value co "@"]`, `meta.created gt "2026-03-14T15:09:26Z"`,
		`not (active eq true) or name.familyName sw "x"`, `members eq "u1"`, `emails.primary eq true`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName pr`, `displayName le "\u00e9"`, `x eq 1`,
	} {
		f.Add(s)
	}
	users := sampleUsers()
	groups := []Group{NormalizeGroup(Group{ID: "g", DisplayName: "Eng", Members: []string{"u1"}})}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := filter.Parse(s)
		if err != nil {
			return
		}
		check := func(c Cond, err error, eval func(Cond) []bool) {
			if err != nil {
				if !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("%q: error %v is not ErrInvalidFilter", s, err)
				}
				return
			}
			pos, neg := eval(c), eval(CondNot{c})
			for i := range pos {
				if pos[i] == neg[i] {
					t.Fatalf("%q: filter and its negation agree on item %d", s, i)
				}
			}
		}
		c, err := CompileUserFilter(e)
		check(c, err, func(c Cond) []bool {
			var out []bool
			for _, u := range users {
				out = append(out, MatchUser(c, u))
			}
			return out
		})
		c, err = CompileGroupFilter(e)
		check(c, err, func(c Cond) []bool {
			var out []bool
			for _, g := range groups {
				out = append(out, MatchGroup(c, g))
			}
			return out
		})
	})
}
