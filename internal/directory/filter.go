package directory

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

// Attr is an attribute a filter can test, after resolution of its SCIM
// name (see CompileUserFilter and CompileGroupFilter).
type Attr int

// The filterable attributes. AttrEmailValue, AttrEmailType and
// AttrEmailPrimary belong to one e-mail address and AttrMemberValue to one
// member: they appear only inside a CondAny.
const (
	AttrID           Attr = iota + 1 // id (users, groups)
	AttrUserName                     // userName
	AttrExternalID                   // externalId (users, groups)
	AttrDisplayName                  // displayName (users, groups)
	AttrGivenName                    // name.givenName
	AttrFamilyName                   // name.familyName
	AttrActive                       // active
	AttrCreated                      // meta.created (users, groups)
	AttrLastModified                 // meta.lastModified (users, groups)
	AttrEmailValue                   // emails.value
	AttrEmailType                    // emails.type
	AttrEmailPrimary                 // emails.primary
	AttrMemberValue                  // members.value (a user ID)
)

// AttrType is the SCIM type of an attribute.
type AttrType int

// The attribute types filters support.
const (
	TypeString AttrType = iota + 1
	TypeBoolean
	TypeDateTime
)

// Type returns the attribute's type.
func (a Attr) Type() AttrType {
	switch a {
	case AttrActive, AttrEmailPrimary:
		return TypeBoolean
	case AttrCreated, AttrLastModified:
		return TypeDateTime
	default:
		return TypeString
	}
}

// CaseExact reports whether string comparisons on the attribute are
// exact (id, externalId, members.value) rather than case-insensitive (see
// Fold).
func (a Attr) CaseExact() bool {
	return a == AttrID || a == AttrExternalID || a == AttrMemberValue
}

// String returns the attribute's SCIM name.
func (a Attr) String() string {
	switch a {
	case AttrID:
		return "id"
	case AttrUserName:
		return "userName"
	case AttrExternalID:
		return "externalId"
	case AttrDisplayName:
		return "displayName"
	case AttrGivenName:
		return "name.givenName"
	case AttrFamilyName:
		return "name.familyName"
	case AttrActive:
		return "active"
	case AttrCreated:
		return "meta.created"
	case AttrLastModified:
		return "meta.lastModified"
	case AttrEmailValue:
		return "emails.value"
	case AttrEmailType:
		return "emails.type"
	case AttrEmailPrimary:
		return "emails.primary"
	case AttrMemberValue:
		return "members.value"
	default:
		return "Attr(?)"
	}
}

// Multi is a multi-valued attribute a CondAny ranges over.
type Multi int

// The multi-valued attributes.
const (
	MultiEmails  Multi = iota + 1 // a user's emails
	MultiMembers                  // a group's members
)

// Op is a comparison operator of RFC 7644 section 3.4.2.2.
type Op string

// The comparison operators.
const (
	OpEq Op = "eq"
	OpNe Op = "ne"
	OpCo Op = "co"
	OpSw Op = "sw"
	OpEw Op = "ew"
	OpGt Op = "gt"
	OpGe Op = "ge"
	OpLt Op = "lt"
	OpLe Op = "le"
)

// Cond is a compiled filter: CondCompare, CondPresent, CondAnd, CondOr,
// CondNot or CondAny. CompileUserFilter and CompileGroupFilter build it;
// MatchUser and MatchGroup evaluate it, and the SQL store translates it
// into a WHERE clause, so both backends decide every filter by the same
// resolution of names, operators and values.
type Cond interface{ isCond() }

// CondCompare is `Attr Op Value`. Value is a string for TypeString
// attributes (already passed through Fold when the attribute is not
// CaseExact), a bool for TypeBoolean (Op eq or ne) and a time.Time (UTC,
// microseconds, see NormalizeTime) for TypeDateTime (Op neither co, sw
// nor ew).
type CondCompare struct {
	Attr  Attr
	Op    Op
	Value any
}

// CondPresent is `Attr pr`: true when a string attribute is not empty;
// always true for boolean and date-time attributes, which always have a
// value.
type CondPresent struct{ Attr Attr }

// CondAnd is L and R.
type CondAnd struct{ L, R Cond }

// CondOr is L or R.
type CondOr struct{ L, R Cond }

// CondNot is not X.
type CondNot struct{ X Cond }

// CondAny is true when X holds for at least one value of the
// multi-valued attribute Multi (false when it has none): `emails[X]`, and
// also `emails.value eq "x"`, which is `emails[value eq "x"]`.
type CondAny struct {
	Multi Multi
	X     Cond
}

func (CondCompare) isCond() {}
func (CondPresent) isCond() {}
func (CondAnd) isCond()     {}
func (CondOr) isCond()      {}
func (CondNot) isCond()     {}
func (CondAny) isCond()     {}

// Schema URNs a filter may put before an attribute name.
const (
	UserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

type resource int

const (
	users resource = iota + 1
	groups
)

// CompileUserFilter resolves a parsed filter on Users. Supported
// attributes (names case-insensitive, optionally after the core User
// schema URN): id, userName, externalId, displayName, name.givenName,
// name.familyName, emails (meaning emails.value), emails.value,
// emails.type, emails.primary, active, meta.created, meta.lastModified,
// and value filters emails[...] over value, type and primary. Operators:
// every one on strings; eq and ne on booleans (active, emails.primary);
// eq, ne, gt, ge, lt, le on date-times, whose values are RFC 3339
// strings; pr on all. userName, displayName, the name parts and the
// e-mail value and type compare ignoring case (see Fold), id and
// externalId exactly; ordering is by the (folded) strings' bytes. An
// unset string attribute is the empty string: `externalId eq ""` selects
// users without one, and pr means non-empty. A multi-valued attribute
// matches when one of its values does. Anything else returns a
// *ValidationError wrapping ErrInvalidFilter; so does a string value
// containing NUL. A nil filter compiles to a nil Cond, which matches
// everything.
func CompileUserFilter(e filter.Expr) (Cond, error) {
	return compileFilter(users, e)
}

// CompileGroupFilter resolves a parsed filter on Groups, as
// CompileUserFilter does for users. Supported attributes: id,
// displayName (ignoring case), externalId, members (meaning
// members.value, a user ID, compared exactly), members.value,
// meta.created, meta.lastModified, and value filters members[value ...].
func CompileGroupFilter(e filter.Expr) (Cond, error) {
	return compileFilter(groups, e)
}

func compileFilter(r resource, e filter.Expr) (Cond, error) {
	if e == nil {
		return nil, nil
	}
	return compiler{r}.expr(e, 0)
}

type compiler struct{ r resource }

// expr compiles e at the top level (in == 0) or inside a value filter
// over in.
func (c compiler) expr(e filter.Expr, in Multi) (Cond, error) {
	switch x := e.(type) {
	case filter.And:
		l, r, err := c.pair(x.L, x.R, in)
		return CondAnd{l, r}, err
	case filter.Or:
		l, r, err := c.pair(x.L, x.R, in)
		return CondOr{l, r}, err
	case filter.Not:
		if x.X == nil {
			return nil, invalidFilter("empty not")
		}
		inner, err := c.expr(x.X, in)
		return CondNot{inner}, err
	case filter.ValuePath:
		if in != 0 {
			return nil, invalidFilter("nested value filter")
		}
		m, err := c.multi(x.Attr)
		if err != nil {
			return nil, err
		}
		if x.Filter == nil {
			return nil, invalidFilter("empty value filter")
		}
		inner, err := c.expr(x.Filter, m)
		if err != nil {
			return nil, err
		}
		return CondAny{m, inner}, nil
	case filter.Present:
		a, m, err := c.attr(x.Path, in)
		if err != nil {
			return nil, err
		}
		return wrapAny(m, CondPresent{a}), nil
	case filter.Compare:
		a, m, err := c.attr(x.Path, in)
		if err != nil {
			return nil, err
		}
		cmp, err := compare(a, x.Op, x.Value)
		if err != nil {
			return nil, err
		}
		return wrapAny(m, cmp), nil
	default:
		return nil, invalidFilter("unsupported filter node")
	}
}

func (c compiler) pair(l, r filter.Expr, in Multi) (Cond, Cond, error) {
	if l == nil || r == nil {
		return nil, nil, invalidFilter("missing operand of and/or")
	}
	lc, err := c.expr(l, in)
	if err != nil {
		return nil, nil, err
	}
	rc, err := c.expr(r, in)
	if err != nil {
		return nil, nil, err
	}
	return lc, rc, nil
}

// wrapAny puts a condition on a sub-attribute of a multi-valued attribute
// used at the top level into a CondAny.
func wrapAny(m Multi, x Cond) Cond {
	if m == 0 {
		return x
	}
	return CondAny{m, x}
}

func (c compiler) schemaOK(urn string) bool {
	if urn == "" {
		return true
	}
	if c.r == users {
		return strings.EqualFold(urn, UserSchema)
	}
	return strings.EqualFold(urn, GroupSchema)
}

func unsupported(p filter.AttrPath) error {
	return invalidFilter("unsupported attribute %s", quote(p.String()))
}

// multi resolves the attribute of a value filter.
func (c compiler) multi(p filter.AttrPath) (Multi, error) {
	if !c.schemaOK(p.URN) || p.Sub != "" {
		return 0, unsupported(p)
	}
	switch {
	case c.r == users && strings.EqualFold(p.Name, "emails"):
		return MultiEmails, nil
	case c.r == groups && strings.EqualFold(p.Name, "members"):
		return MultiMembers, nil
	}
	return 0, unsupported(p)
}

// attr resolves an attribute path. Inside a value filter over in, p names
// a sub-attribute of in; at the top level a sub-attribute of a
// multi-valued attribute comes back with that attribute, for wrapAny.
func (c compiler) attr(p filter.AttrPath, in Multi) (Attr, Multi, error) {
	if in != 0 {
		if p.URN != "" || p.Sub != "" {
			return 0, 0, unsupported(p)
		}
		if a, ok := element(in, p.Name); ok {
			return a, 0, nil
		}
		return 0, 0, unsupported(p)
	}
	if !c.schemaOK(p.URN) {
		return 0, 0, unsupported(p)
	}
	name, sub := p.Name, p.Sub
	is := strings.EqualFold
	switch {
	case is(name, "id") && sub == "":
		return AttrID, 0, nil
	case is(name, "externalId") && sub == "":
		return AttrExternalID, 0, nil
	case is(name, "displayName") && sub == "":
		return AttrDisplayName, 0, nil
	case is(name, "meta") && is(sub, "created"):
		return AttrCreated, 0, nil
	case is(name, "meta") && is(sub, "lastModified"):
		return AttrLastModified, 0, nil
	}
	if c.r == groups {
		if is(name, "members") {
			if a, ok := element(MultiMembers, cmpOr(sub, "value")); ok {
				return a, MultiMembers, nil
			}
		}
		return 0, 0, unsupported(p)
	}
	switch {
	case is(name, "userName") && sub == "":
		return AttrUserName, 0, nil
	case is(name, "active") && sub == "":
		return AttrActive, 0, nil
	case is(name, "name") && is(sub, "givenName"):
		return AttrGivenName, 0, nil
	case is(name, "name") && is(sub, "familyName"):
		return AttrFamilyName, 0, nil
	case is(name, "emails"):
		if a, ok := element(MultiEmails, cmpOr(sub, "value")); ok {
			return a, MultiEmails, nil
		}
	}
	return 0, 0, unsupported(p)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// element resolves the sub-attribute name of one value of m.
func element(m Multi, name string) (Attr, bool) {
	is := strings.EqualFold
	switch {
	case m == MultiEmails && is(name, "value"):
		return AttrEmailValue, true
	case m == MultiEmails && is(name, "type"):
		return AttrEmailType, true
	case m == MultiEmails && is(name, "primary"):
		return AttrEmailPrimary, true
	case m == MultiMembers && is(name, "value"):
		return AttrMemberValue, true
	}
	return 0, false
}

// compare checks the operator and value against the attribute's type
// and returns the comparison with its value normalized.
func compare(a Attr, op string, v any) (Cond, error) {
	o := Op(strings.ToLower(op))
	switch o {
	case OpEq, OpNe, OpCo, OpSw, OpEw, OpGt, OpGe, OpLt, OpLe:
	default:
		return nil, invalidFilter("unsupported operator %s", quote(op))
	}
	switch a.Type() {
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, invalidFilter("%s needs true or false", a)
		}
		if o != OpEq && o != OpNe {
			return nil, invalidFilter("operator %s is not supported on boolean attribute %s", o, a)
		}
		return CondCompare{a, o, b}, nil
	case TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, invalidFilter("%s needs a date-time string", a)
		}
		if o == OpCo || o == OpSw || o == OpEw {
			return nil, invalidFilter("operator %s is not supported on date-time attribute %s", o, a)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, invalidFilter("%s needs an RFC 3339 date-time, not %s", a, quote(s))
		}
		return CondCompare{a, o, NormalizeTime(t)}, nil
	default:
		s, ok := v.(string)
		if !ok {
			return nil, invalidFilter("%s needs a string value", a)
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return nil, invalidFilter("value for %s is not valid UTF-8 or contains NUL", a)
		}
		if !a.CaseExact() {
			s = Fold(s)
		}
		return CondCompare{a, o, s}, nil
	}
}

// Match reports whether u matches the SCIM filter e (see
// CompileUserFilter); a nil e matches every user.
func Match(e filter.Expr, u User) (bool, error) {
	c, err := CompileUserFilter(e)
	if err != nil {
		return false, err
	}
	return MatchUser(c, u), nil
}

// MatchGroupFilter reports whether g matches the SCIM filter e (see
// CompileGroupFilter); a nil e matches every group.
func MatchGroupFilter(e filter.Expr, g Group) (bool, error) {
	c, err := CompileGroupFilter(e)
	if err != nil {
		return false, err
	}
	return MatchGroup(c, g), nil
}

// MatchUser evaluates a compiled user filter on a normalized user (see
// NormalizeUser). A nil c matches; a condition on an attribute users do
// not have is false.
func MatchUser(c Cond, u User) bool {
	return eval(c, userObject{&u})
}

// MatchGroup evaluates a compiled group filter on a normalized group
// (see NormalizeGroup). A nil c matches; a condition on an attribute
// groups do not have is false.
func MatchGroup(c Cond, g Group) bool {
	return eval(c, groupObject{&g})
}

// object is what a condition is evaluated on: a user, a group, or one
// value of a multi-valued attribute.
type object interface {
	// value returns the attribute's value (string, bool or time.Time)
	// and whether the object has the attribute.
	value(a Attr) (any, bool)
	// values returns the values of a multi-valued attribute.
	values(m Multi) []object
}

func eval(c Cond, o object) bool {
	switch x := c.(type) {
	case nil:
		return true
	case CondAnd:
		return eval(x.L, o) && eval(x.R, o)
	case CondOr:
		return eval(x.L, o) || eval(x.R, o)
	case CondNot:
		return !eval(x.X, o)
	case CondAny:
		for _, v := range o.values(x.Multi) {
			if eval(x.X, v) {
				return true
			}
		}
		return false
	case CondPresent:
		v, ok := o.value(x.Attr)
		if !ok {
			return false
		}
		s, isString := v.(string)
		return !isString || s != ""
	case CondCompare:
		v, ok := o.value(x.Attr)
		if !ok {
			return false
		}
		return compareValues(x, v)
	default:
		return false
	}
}

func compareValues(c CondCompare, v any) bool {
	switch have := v.(type) {
	case bool:
		want, ok := c.Value.(bool)
		if !ok {
			return false
		}
		switch c.Op {
		case OpEq:
			return have == want
		case OpNe:
			return have != want
		}
		return false
	case time.Time:
		want, ok := c.Value.(time.Time)
		if !ok {
			return false
		}
		return ordered(c.Op, have.Compare(want))
	case string:
		want, ok := c.Value.(string)
		if !ok {
			return false
		}
		if !c.Attr.CaseExact() {
			have = Fold(have)
		}
		switch c.Op {
		case OpCo:
			return strings.Contains(have, want)
		case OpSw:
			return strings.HasPrefix(have, want)
		case OpEw:
			return strings.HasSuffix(have, want)
		}
		return ordered(c.Op, strings.Compare(have, want))
	}
	return false
}

// ordered applies eq, ne, gt, ge, lt or le to the result of a
// three-way comparison.
func ordered(op Op, cmp int) bool {
	switch op {
	case OpEq:
		return cmp == 0
	case OpNe:
		return cmp != 0
	case OpGt:
		return cmp > 0
	case OpGe:
		return cmp >= 0
	case OpLt:
		return cmp < 0
	case OpLe:
		return cmp <= 0
	}
	return false
}

type userObject struct{ u *User }

func (o userObject) value(a Attr) (any, bool) {
	u := o.u
	switch a {
	case AttrID:
		return u.ID, true
	case AttrUserName:
		return u.UserName, true
	case AttrExternalID:
		return u.ExternalID, true
	case AttrDisplayName:
		return u.DisplayName, true
	case AttrGivenName:
		return u.GivenName, true
	case AttrFamilyName:
		return u.FamilyName, true
	case AttrActive:
		return u.Active, true
	case AttrCreated:
		return NormalizeTime(u.CreatedAt), true
	case AttrLastModified:
		return NormalizeTime(u.UpdatedAt), true
	}
	return nil, false
}

func (o userObject) values(m Multi) []object {
	if m != MultiEmails {
		return nil
	}
	out := make([]object, len(o.u.Emails))
	for i := range o.u.Emails {
		out[i] = emailObject{&o.u.Emails[i]}
	}
	return out
}

type emailObject struct{ e *Email }

func (o emailObject) value(a Attr) (any, bool) {
	switch a {
	case AttrEmailValue:
		return o.e.Value, true
	case AttrEmailType:
		return o.e.Type, true
	case AttrEmailPrimary:
		return o.e.Primary, true
	}
	return nil, false
}

func (emailObject) values(Multi) []object { return nil }

type groupObject struct{ g *Group }

func (o groupObject) value(a Attr) (any, bool) {
	g := o.g
	switch a {
	case AttrID:
		return g.ID, true
	case AttrExternalID:
		return g.ExternalID, true
	case AttrDisplayName:
		return g.DisplayName, true
	case AttrCreated:
		return NormalizeTime(g.CreatedAt), true
	case AttrLastModified:
		return NormalizeTime(g.UpdatedAt), true
	}
	return nil, false
}

func (o groupObject) values(m Multi) []object {
	if m != MultiMembers {
		return nil
	}
	out := make([]object, len(o.g.Members))
	for i, id := range o.g.Members {
		out[i] = memberObject(id)
	}
	return out
}

type memberObject string

func (o memberObject) value(a Attr) (any, bool) {
	if a == AttrMemberValue {
		return string(o), true
	}
	return nil, false
}

func (memberObject) values(Multi) []object { return nil }
