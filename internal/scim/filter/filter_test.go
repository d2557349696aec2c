package filter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ap(name string) AttrPath { return AttrPath{Name: name} }

func cmp(name, op string, v any) Compare { return Compare{Path: ap(name), Op: op, Value: v} }

const userURN = "urn:ietf:params:scim:schemas:core:2.0:User"

var validFilters = []struct {
	name string
	in   string
	want Expr
}{
	// RFC 7644 section 3.4.2.2 examples.
	{"rfc eq", `userName eq "bjensen"`, cmp("userName", "eq", "bjensen")},
	{"rfc co sub-attribute", `name.familyName co "O'Malley"`, Compare{Path: AttrPath{Name: "name", Sub: "familyName"}, Op: "co", Value: "O'Malley"}},
	{"rfc sw", `userName sw "J"`, cmp("userName", "sw", "J")},
	{"rfc urn", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, Compare{Path: AttrPath{URN: userURN, Name: "userName"}, Op: "sw", Value: "J"}},
	{"rfc pr", `title pr`, Present{Path: ap("title")}},
	{"rfc gt", `meta.lastModified gt "2011-05-13T04:42:34Z"`, Compare{Path: AttrPath{Name: "meta", Sub: "lastModified"}, Op: "gt", Value: "2011-05-13T04:42:34Z"}},
	{"rfc ge", `meta.lastModified ge "2011-05-13T04:42:34Z"`, Compare{Path: AttrPath{Name: "meta", Sub: "lastModified"}, Op: "ge", Value: "2011-05-13T04:42:34Z"}},
	{"rfc lt", `meta.lastModified lt "2011-05-13T04:42:34Z"`, Compare{Path: AttrPath{Name: "meta", Sub: "lastModified"}, Op: "lt", Value: "2011-05-13T04:42:34Z"}},
	{"rfc le", `meta.lastModified le "2011-05-13T04:42:34Z"`, Compare{Path: AttrPath{Name: "meta", Sub: "lastModified"}, Op: "le", Value: "2011-05-13T04:42:34Z"}},
	{"rfc pr and", `title pr and userType eq "Employee"`, And{Present{ap("title")}, cmp("userType", "eq", "Employee")}},
	{"rfc pr or", `title pr or userType eq "Intern"`, Or{Present{ap("title")}, cmp("userType", "eq", "Intern")}},
	{"rfc schemas", `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, cmp("schemas", "eq", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")},
	{"rfc grouping", `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		And{cmp("userType", "eq", "Employee"), Or{cmp("emails", "co", "example.com"), Compare{Path: AttrPath{Name: "emails", Sub: "value"}, Op: "co", Value: "example.org"}}}},
	{"rfc not", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		And{cmp("userType", "ne", "Employee"), Not{Or{cmp("emails", "co", "example.com"), Compare{Path: AttrPath{Name: "emails", Sub: "value"}, Op: "co", Value: "example.org"}}}}},
	{"rfc paren single", `userType eq "Employee" and (emails.type eq "work")`,
		And{cmp("userType", "eq", "Employee"), Compare{Path: AttrPath{Name: "emails", Sub: "type"}, Op: "eq", Value: "work"}}},
	{"rfc value filter", `userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
		And{cmp("userType", "eq", "Employee"), ValuePath{ap("emails"), And{cmp("type", "eq", "work"), cmp("value", "co", "@example.com")}}}},
	{"rfc two value filters", `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		Or{ValuePath{ap("emails"), And{cmp("type", "eq", "work"), cmp("value", "co", "@example.com")}}, ValuePath{ap("ims"), And{cmp("type", "eq", "xmpp"), cmp("value", "co", "@foo.com")}}}},

	// What Entra ID and Okta send.
	{"entra userName", `userName eq "a@b.com"`, cmp("userName", "eq", "a@b.com")},
	{"entra externalId", `externalId eq "8bd0e6b1-3c3a-4ac4-93c2-1b5c0e6b3f1d"`, cmp("externalId", "eq", "8bd0e6b1-3c3a-4ac4-93c2-1b5c0e6b3f1d")},
	{"entra displayName", `displayName eq "Group"`, cmp("displayName", "eq", "Group")},
	{"okta members", `members[value eq "x"]`, ValuePath{ap("members"), cmp("value", "eq", "x")}},
	{"entra enterprise urn", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`,
		Compare{Path: AttrPath{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "employeeNumber"}, Op: "eq", Value: "42"}},

	// Precedence and associativity.
	{"and binds tighter than or", `a pr or b pr and c pr`, Or{Present{ap("a")}, And{Present{ap("b")}, Present{ap("c")}}}},
	{"and binds tighter than or left", `a pr and b pr or c pr`, Or{And{Present{ap("a")}, Present{ap("b")}}, Present{ap("c")}}},
	{"or left associative", `a pr or b pr or c pr`, Or{Or{Present{ap("a")}, Present{ap("b")}}, Present{ap("c")}}},
	{"and left associative", `a pr and b pr and c pr`, And{And{Present{ap("a")}, Present{ap("b")}}, Present{ap("c")}}},
	{"parens override", `(a pr or b pr) and c pr`, And{Or{Present{ap("a")}, Present{ap("b")}}, Present{ap("c")}}},
	{"right grouping kept", `a pr or (b pr or c pr)`, Or{Present{ap("a")}, Or{Present{ap("b")}, Present{ap("c")}}}},
	{"right and grouping kept", `a pr and (b pr and c pr)`, And{Present{ap("a")}, And{Present{ap("b")}, Present{ap("c")}}}},
	{"not binds tightest", `not (a pr) and b pr`, And{Not{Present{ap("a")}}, Present{ap("b")}}},
	{"not without space", `not(a pr)`, Not{Present{ap("a")}}},
	{"double not", `not (not (a pr))`, Not{Not{Present{ap("a")}}}},
	{"redundant parens", `((a pr))`, Present{ap("a")}},
	{"or inside value filter", `emails[type eq "work" or primary eq true]`, ValuePath{ap("emails"), Or{cmp("type", "eq", "work"), cmp("primary", "eq", true)}}},
	{"not inside value filter", `emails[not (type eq "work")]`, ValuePath{ap("emails"), Not{cmp("type", "eq", "work")}}},

	// Case-insensitive keywords.
	{"upper EQ", `userName EQ "x"`, cmp("userName", "eq", "x")},
	{"mixed Sw", `userName Sw "x"`, cmp("userName", "sw", "x")},
	{"upper PR AND OR", `a PR AND b Pr OR c pR`, Or{And{Present{ap("a")}, Present{ap("b")}}, Present{ap("c")}}},
	{"upper NOT", `NOT (a pr)`, Not{Present{ap("a")}}},
	{"upper literals", `active eq TRUE or x eq False or y eq NULL`, Or{Or{cmp("active", "eq", true), cmp("x", "eq", false)}, cmp("y", "eq", nil)}},

	// Literals and escapes.
	{"true", `active eq true`, cmp("active", "eq", true)},
	{"false", `active ne false`, cmp("active", "ne", false)},
	{"null", `manager eq null`, cmp("manager", "eq", nil)},
	{"integer", `age gt 30`, cmp("age", "gt", json.Number("30"))},
	{"negative float exp", `score le -1.5e3`, cmp("score", "le", json.Number("-1.5e3"))},
	{"zero", `n eq 0`, cmp("n", "eq", json.Number("0"))},
	{"escaped quote", `displayName eq "say \"hi\""`, cmp("displayName", "eq", `say "hi"`)},
	{"escaped backslash", `displayName eq "a\\b"`, cmp("displayName", "eq", `a\b`)},
	{"unicode escape", `displayName eq "caf\u00e9 \ud83d\ude00"`, cmp("displayName", "eq", "café 😀")},
	{"control escapes", `displayName eq "a\nb\tc\/d"`, cmp("displayName", "eq", "a\nb\tc/d")},
	{"brackets in string", `displayName eq "a[b](c) and d"`, cmp("displayName", "eq", "a[b](c) and d")},
	{"raw utf8", `displayName eq "Zoë"`, cmp("displayName", "eq", "Zoë")},
	{"empty string", `displayName eq ""`, cmp("displayName", "eq", "")},
	{"ref attribute", `members.$ref eq "https://x/Users/1"`, Compare{Path: AttrPath{Name: "members", Sub: "$ref"}, Op: "eq", Value: "https://x/Users/1"}},

	// Whitespace.
	{"surrounding whitespace", "  userName eq \"x\"\t", cmp("userName", "eq", "x")},
	{"many spaces and tabs", "a pr \t and\n\r b pr", And{Present{ap("a")}, Present{ap("b")}}},
	{"spaces in parens and brackets", `( a pr ) and emails[ type eq "w" ]`, And{Present{ap("a")}, ValuePath{ap("emails"), cmp("type", "eq", "w")}}},
	{"no space before string", `userName eq"x"`, cmp("userName", "eq", "x")},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validFilters {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range validFilters {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			require.NoError(t, err)
			s := e.String()
			again, err := Parse(s)
			require.NoError(t, err, "canonical %q", s)
			assert.Equal(t, e, again, "canonical %q", s)
			assert.Equal(t, s, again.String(), "canonical form is stable")
		})
	}
}

func TestCanonicalForm(t *testing.T) {
	for in, want := range map[string]string{
		`userName EQ "x"`:                   `userName eq "x"`,
		`a pr or (b pr or c pr)`:            `a pr or (b pr or c pr)`,
		`(a pr or b pr) or c pr`:            `a pr or b pr or c pr`,
		`(a pr or b pr) and c pr`:           `(a pr or b pr) and c pr`,
		`a pr and (b pr and c pr)`:          `a pr and (b pr and c pr)`,
		`not(a pr)`:                         `not (a pr)`,
		`x eq "<&>"`:                        `x eq "<&>"`,
		`x eq "\u00e9"`:                     `x eq "é"`,
		`emails[ type eq "w" ]`:             `emails[type eq "w"]`,
		`active eq TRUE`:                    `active eq true`,
		`urn:x:y:name.sub pr`:               `urn:x:y:name.sub pr`,
		`a eq 1.50`:                         `a eq 1.50`,
		`emails[type eq "work"] and a eq 1`: `emails[type eq "work"] and a eq 1`,
	} {
		e, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, e.String(), in)
	}
}

func TestParseErrors(t *testing.T) {
	deepParens := strings.Repeat("(", MaxDepth+1) + "a pr" + strings.Repeat(")", MaxDepth+1)
	okParens := strings.Repeat("(", MaxDepth) + "a pr" + strings.Repeat(")", MaxDepth)
	deepNot := strings.Repeat("not (", MaxDepth+1) + "a pr" + strings.Repeat(")", MaxDepth+1)
	okNot := strings.Repeat("not (", MaxDepth) + "a pr" + strings.Repeat(")", MaxDepth)
	long := `displayName eq "` + strings.Repeat("x", MaxLength) + `"`
	okLong := `displayName eq "` + strings.Repeat("x", MaxLength-17) + `"`
	many := strings.TrimSuffix(strings.Repeat("a pr or ", MaxNodes/2+1), " or ")
	okMany := strings.TrimSuffix(strings.Repeat("a pr or ", MaxNodes/4), " or ")

	// Each case starts from the valid filter `ok` and changes one thing.
	cases := []struct {
		name    string
		ok, bad string
		pos     int
		msg     string
	}{
		{"unbalanced open paren", `(a pr)`, `(a pr`, 5, "expected ')'"},
		{"unbalanced close paren", `(a pr)`, `(a pr))`, 6, "expected 'and', 'or' or end"},
		{"unbalanced open bracket", `emails[type eq "w"]`, `emails[type eq "w"`, 18, "expected ']'"},
		{"unbalanced close bracket", `emails[type eq "w"]`, `emails[type eq "w"]]`, 19, "expected 'and', 'or' or end"},
		{"bracket closed by paren", `emails[type eq "w"]`, `emails[type eq "w")`, 18, "expected ']'"},
		{"missing value", `userName eq "x"`, `userName eq`, 11, "expected a value"},
		{"missing value before and", `userName eq "x" and a pr`, `userName eq and a pr`, 12, "expected a value"},
		{"missing operator", `userName eq "x"`, `userName "x"`, 9, "expected operator"},
		{"bad operator", `userName eq "x"`, `userName equals "x"`, 9, "expected operator"},
		{"bad operator like", `userName eq "x"`, `userName like "x"`, 9, "expected operator"},
		{"value on pr", `title pr`, `title pr "x"`, 9, "no value after 'pr'"},
		{"number on pr", `title pr`, `title pr 1`, 9, "no value after 'pr'"},
		{"trailing garbage", `userName eq "x"`, `userName eq "x" foo`, 16, "expected 'and', 'or' or end"},
		{"trailing value", `userName eq "x"`, `userName eq "x" "y"`, 16, "expected 'and', 'or' or end"},
		{"dangling and", `a pr and b pr`, `a pr and`, 8, "expected attribute name"},
		{"dangling or", `a pr or b pr`, `a pr or`, 7, "expected attribute name"},
		{"empty", `a pr`, ``, 0, "expected attribute name"},
		{"only spaces", `a pr`, `   `, 3, "expected attribute name"},
		{"empty parens", `(a pr)`, `()`, 1, "expected attribute name"},
		{"not without parens", `not (a pr)`, `not a pr`, 4, "expected '(' after 'not'"},
		{"unterminated string", `userName eq "x"`, `userName eq "x`, 12, "expected closing"},
		{"escaped final quote", `userName eq "x\\"`, `userName eq "x\"`, 12, "expected closing"},
		{"bad escape", `userName eq "a\nb"`, `userName eq "a\qb"`, 12, "valid JSON string"},
		{"raw control char", `userName eq "a b"`, "userName eq \"a\x01b\"", 12, "valid JSON string"},
		{"single quotes", `userName eq "x"`, `userName eq 'x'`, 12, "expected a value"},
		{"bare word value", `userName eq "x"`, `userName eq x`, 12, "expected a value"},
		{"bad number", `age eq 1`, `age eq 01`, 7, "expected a value"},
		{"bad number dot", `age eq 1.0`, `age eq 1.`, 7, "expected a value"},
		{"co with number", `a co "1"`, `a co 1`, 5, "string value for 'co'"},
		{"sw with null", `a sw "x"`, `a sw null`, 5, "string value for 'sw'"},
		{"gt with bool", `a gt 1`, `a gt true`, 5, "string or number value for 'gt'"},
		{"attr starts with digit", `a1 pr`, `1a pr`, 0, "expected an attribute name"},
		{"attr with space char", `ab pr`, `a$b pr`, 0, "expected an attribute name"},
		{"attr two dots", `a.b pr`, `a.b.c pr`, 2, "expected a sub-attribute name"},
		{"attr empty sub", `a.b pr`, `a. pr`, 2, "expected a sub-attribute name"},
		{"attr non-ascii", `name pr`, `nämé pr`, 0, "expected an attribute name"},
		{"colon without urn", `urn:a:b pr`, `foo:b pr`, 0, "expected an attribute name"},
		{"urn without attribute", `urn:a:b pr`, `urn:a: pr`, 6, "expected an attribute name"},
		{"urn empty segment", `urn:a:b pr`, `urn::b pr`, 0, "expected a schema URN before"},
		{"urn bad char", `urn:a:b pr`, `urn:a*:b pr`, 5, "expected a schema URN character"},
		{"nested value filter", `emails[type eq "w"]`, `emails[type[value eq "w"]]`, 11, "nested value filter"},
		{"urn inside value filter", `emails[type eq "w"]`, `emails[urn:a:type eq "w"]`, 7, "bare sub-attribute"},
		{"sub inside value filter", `emails[type eq "w"]`, `emails[type.x eq "w"]`, 7, "bare sub-attribute"},
		{"sub before bracket", `emails[type eq "w"]`, `emails.x[type eq "w"]`, 0, "without sub-attribute"},
		{"empty value filter", `emails[type eq "w"]`, `emails[]`, 7, "expected attribute name"},
		{"invalid utf8", `a eq "x"`, "a eq \"\xff\"", 6, "valid UTF-8"},
		{"too deep parens", okParens, deepParens, MaxDepth, "nested levels"},
		{"too deep not", okNot, deepNot, 5*MaxDepth + 4, "nested levels"},
		{"too long", okLong, long, MaxLength, "at most 4096 bytes"},
		{"too many nodes", okMany, many, -1, "more than 256 terms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.ok)
			require.NoError(t, err, "positive control")
			e, err := Parse(tc.bad)
			require.Error(t, err)
			assert.Nil(t, e)
			require.ErrorIs(t, err, ErrInvalidFilter)
			var pe *Error
			require.ErrorAs(t, err, &pe)
			if tc.pos >= 0 {
				assert.Equal(t, tc.pos, pe.Pos, pe.Error())
			}
			assert.Contains(t, pe.Msg, tc.msg)
			assert.Contains(t, err.Error(), "offset")
		})
	}
}

func TestAttributes(t *testing.T) {
	e, err := Parse(`userName eq "a" and (USERNAME pr or name.familyName co "x") and emails[type eq "work" and not (value pr)] and ` +
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1"`)
	require.NoError(t, err)
	assert.Equal(t, []AttrPath{
		{Name: "userName"},
		{Name: "name", Sub: "familyName"},
		{Name: "emails", Sub: "type"},
		{Name: "emails", Sub: "value"},
		{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "manager", Sub: "value"},
	}, Attributes(e))
	assert.Nil(t, Attributes(nil))
}

var validPaths = []struct {
	in   string
	want Path
}{
	{`userName`, Path{Attr: ap("userName")}},
	{`name.familyName`, Path{Attr: AttrPath{Name: "name", Sub: "familyName"}}},
	{`active`, Path{Attr: ap("active")}},
	{`members`, Path{Attr: ap("members")}},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`,
		Path{Attr: AttrPath{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "employeeNumber"}}},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`,
		Path{Attr: AttrPath{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Name: "manager", Sub: "value"}}},
	{`emails[type eq "work"].value`, Path{Attr: ap("emails"), Filter: cmp("type", "eq", "work"), SubAttr: "value"}},
	{`members[value eq "2819c223"]`, Path{Attr: ap("members"), Filter: cmp("value", "eq", "2819c223")}},
	{`members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName`,
		Path{Attr: ap("members"), Filter: cmp("value", "eq", "2819c223-7f76-453a-919d-413861904646"), SubAttr: "displayName"}},
	{`addresses[type eq "work"].streetAddress`, Path{Attr: ap("addresses"), Filter: cmp("type", "eq", "work"), SubAttr: "streetAddress"}},
	{`emails[type eq "work" and primary eq true]`, Path{Attr: ap("emails"), Filter: And{cmp("type", "eq", "work"), cmp("primary", "eq", true)}}},
	{`emails[ type EQ "a]b" ].value`, Path{Attr: ap("emails"), Filter: cmp("type", "eq", "a]b"), SubAttr: "value"}},
	{`urn:x:y:emails[type eq "w"].value`, Path{Attr: AttrPath{URN: "urn:x:y", Name: "emails"}, Filter: cmp("type", "eq", "w"), SubAttr: "value"}},
}

func TestParsePathValid(t *testing.T) {
	for _, tc := range validPaths {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePath(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := ParsePath(got.String())
			require.NoError(t, err, "canonical %q", got.String())
			assert.Equal(t, got, again)
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	cases := []struct {
		name    string
		ok, bad string
		pos     int
		msg     string
	}{
		{"empty", `a`, ``, 0, "expected an attribute name"},
		{"leading space", `emails`, ` emails`, 1, "at the start of the path"},
		{"trailing space", `emails`, `emails `, 6, "expected '[' or end"},
		{"space before bracket", `emails[type eq "w"]`, `emails [type eq "w"]`, 6, "expected '[' or end"},
		{"unclosed bracket", `emails[type eq "w"]`, `emails[type eq "w"`, 18, "expected ']'"},
		{"garbage after bracket", `emails[type eq "w"].value`, `emails[type eq "w"]value`, 19, "expected '.'"},
		{"empty sub after bracket", `emails[type eq "w"].value`, `emails[type eq "w"].`, 20, "sub-attribute name"},
		{"bad sub after bracket", `emails[type eq "w"].value`, `emails[type eq "w"].1v`, 20, "sub-attribute name"},
		{"two subs after bracket", `emails[type eq "w"].value`, `emails[type eq "w"].value.x`, 20, "sub-attribute name"},
		{"space before sub", `emails[type eq "w"].value`, `emails[type eq "w"] .value`, 19, "expected '.'"},
		{"second filter", `emails[type eq "w"]`, `emails[type eq "w"][value pr]`, 19, "expected '.'"},
		{"bad filter", `emails[type eq "w"]`, `emails[type equals "w"]`, 12, "expected operator"},
		{"sub before filter", `emails[type eq "w"]`, `emails.value[type eq "w"]`, 0, "without sub-attribute"},
		{"bad name", `userName`, `user name`, 4, "expected '[' or end"},
		{"bad attr", `userName`, `1userName`, 0, "expected an attribute name"},
		{"paren", `userName`, `(userName)`, 0, "at the start of the path"},
		{"too long", `a`, strings.Repeat("a", MaxLength+1), MaxLength, "at most"},
		{"invalid utf8", `ab`, "a\xff", 1, "valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePath(tc.ok)
			require.NoError(t, err, "positive control")
			_, err = ParsePath(tc.bad)
			require.ErrorIs(t, err, ErrInvalidPath)
			var pe *Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.pos, pe.Pos, pe.Error())
			assert.Contains(t, pe.Msg, tc.msg)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range validFilters {
		f.Add(tc.in)
	}
	f.Add(`(a pr`)
	f.Add(`a eq "\ud800"`)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var pe *Error
			require.ErrorAs(t, err, &pe)
			require.ErrorIs(t, err, ErrInvalidFilter)
			require.True(t, pe.Pos >= 0 && pe.Pos <= len(s), "position %d in input of %d bytes", pe.Pos, len(s))
			return
		}
		out := e.String()
		// The canonical form may be longer than the input (added spaces,
		// longer escapes), so only the length limit is lifted here.
		again, err := parse(out, false)
		require.NoError(t, err, "canonical %q of %q", out, s)
		require.Equal(t, e, again, "canonical %q of %q", out, s)
		require.Equal(t, out, again.String())
	})
}

func FuzzParsePath(f *testing.F) {
	for _, tc := range validPaths {
		f.Add(tc.in)
	}
	f.Add(`emails[type eq "w"`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			var pe *Error
			require.ErrorAs(t, err, &pe)
			require.ErrorIs(t, err, ErrInvalidPath)
			require.True(t, pe.Pos >= 0 && pe.Pos <= len(s), "position %d in input of %d bytes", pe.Pos, len(s))
			return
		}
		out := p.String()
		if len(out) > MaxLength {
			// Only longer escapes can grow a path; check the filter part structurally.
			require.NotNil(t, p.Filter)
			f, err := parse(p.Filter.String(), false)
			require.NoError(t, err)
			require.Equal(t, p.Filter, f)
			return
		}
		again, err := ParsePath(out)
		require.NoError(t, err, "canonical %q of %q", out, s)
		require.Equal(t, p, again, "canonical %q of %q", out, s)
	})
}
