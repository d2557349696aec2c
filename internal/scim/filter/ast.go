package filter

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Expr is a node of a parsed filter. Its concrete type is one of Compare,
// Present, And, Or, Not or ValuePath. String returns the canonical form,
// which Parse turns back into an equal Expr.
type Expr interface {
	isExpr()
	String() string
}

// AttrPath names an attribute: an optional schema URN (without the trailing
// colon), the attribute name and an optional sub-attribute. Names keep the
// case they were written in; SCIM attribute names are case-insensitive, so
// compare them with strings.EqualFold.
type AttrPath struct {
	URN  string
	Name string
	Sub  string
}

// String returns "urn:...:name.sub" with the empty parts left out.
func (a AttrPath) String() string {
	var b strings.Builder
	if a.URN != "" {
		b.WriteString(a.URN)
		b.WriteByte(':')
	}
	b.WriteString(a.Name)
	if a.Sub != "" {
		b.WriteByte('.')
		b.WriteString(a.Sub)
	}
	return b.String()
}

// Compare is `Path Op Value`. Op is one of eq, ne, co, sw, ew, gt, ge, lt,
// le, always lower case. Value is a string, a json.Number, a bool, or nil
// for null.
type Compare struct {
	Path  AttrPath
	Op    string
	Value any
}

// Present is `Path pr`.
type Present struct {
	Path AttrPath
}

// And is `L and R`.
type And struct {
	L, R Expr
}

// Or is `L or R`.
type Or struct {
	L, R Expr
}

// Not is `not (X)`.
type Not struct {
	X Expr
}

// ValuePath is `Attr[Filter]`: Filter applies to each value of the
// multi-valued attribute Attr, and its attribute paths name sub-attributes
// of Attr (bare names, no URN, no sub-attribute).
type ValuePath struct {
	Attr   AttrPath
	Filter Expr
}

func (Compare) isExpr()   {}
func (Present) isExpr()   {}
func (And) isExpr()       {}
func (Or) isExpr()        {}
func (Not) isExpr()       {}
func (ValuePath) isExpr() {}

func (c Compare) String() string {
	return c.Path.String() + " " + c.Op + " " + formatValue(c.Value)
}

func (p Present) String() string { return p.Path.String() + " pr" }

func (a And) String() string {
	l, r := exprString(a.L), exprString(a.R)
	if _, ok := a.L.(Or); ok {
		l = "(" + l + ")"
	}
	switch a.R.(type) {
	case Or, And:
		r = "(" + r + ")"
	}
	return l + " and " + r
}

func (o Or) String() string {
	r := exprString(o.R)
	if _, ok := o.R.(Or); ok {
		r = "(" + r + ")"
	}
	return exprString(o.L) + " or " + r
}

func (n Not) String() string { return "not (" + exprString(n.X) + ")" }

func (v ValuePath) String() string {
	return v.Attr.String() + "[" + exprString(v.Filter) + "]"
}

// exprString tolerates nil children of hand-built values instead of
// panicking; a parsed Expr never has them.
func exprString(e Expr) string {
	if e == nil {
		return "<nil>"
	}
	return e.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case string:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return strconv.Quote(x)
		}
		return strings.TrimSuffix(b.String(), "\n")
	default:
		return "<invalid>"
	}
}

// Path is a PATCH operation path (RFC 7644 section 3.5.2).
//
// Without a value filter, Attr holds the whole path, including its
// sub-attribute (`name.familyName`), Filter is nil and SubAttr is empty.
// With a value filter (`emails[type eq "work"].value`), Attr.Sub is empty,
// Filter is the filter between the brackets and SubAttr is the optional
// sub-attribute after them.
type Path struct {
	Attr    AttrPath
	Filter  Expr
	SubAttr string
}

// String returns the canonical form, which ParsePath turns back into an
// equal Path.
func (p Path) String() string {
	s := p.Attr.String()
	if p.Filter != nil {
		s += "[" + p.Filter.String() + "]"
	}
	if p.SubAttr != "" {
		s += "." + p.SubAttr
	}
	return s
}

// Attributes lists the attributes e refers to, in order of first
// appearance, without case-insensitive duplicates. An attribute inside a
// value filter is reported as a sub-attribute of the filtered attribute:
// `emails[type eq "work"]` yields emails.type.
func Attributes(e Expr) []AttrPath {
	var out []AttrPath
	add := func(a AttrPath) {
		for _, o := range out {
			if strings.EqualFold(o.URN, a.URN) && strings.EqualFold(o.Name, a.Name) && strings.EqualFold(o.Sub, a.Sub) {
				return
			}
		}
		out = append(out, a)
	}
	var walk func(e Expr, parent *AttrPath)
	walk = func(e Expr, parent *AttrPath) {
		leaf := func(a AttrPath) {
			if parent != nil {
				a = AttrPath{URN: parent.URN, Name: parent.Name, Sub: a.Name}
			}
			add(a)
		}
		switch x := e.(type) {
		case Compare:
			leaf(x.Path)
		case Present:
			leaf(x.Path)
		case And:
			walk(x.L, parent)
			walk(x.R, parent)
		case Or:
			walk(x.L, parent)
			walk(x.R, parent)
		case Not:
			walk(x.X, parent)
		case ValuePath:
			a := x.Attr
			walk(x.Filter, &a)
		}
	}
	walk(e, nil)
	return out
}
