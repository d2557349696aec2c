package sqlstore

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// whereClause is a compiled directory filter: SQL text with '?'
// placeholders and their arguments. Values only ever travel as
// arguments; the text is built from this file's constants and column
// names alone.
type whereClause struct {
	sql  string
	args []any
	// simple is whether the filter is at most one comparison (possibly
	// inside emails[...] or members[...]): such clauses have a bounded
	// number of shapes, so their queries may go through the statement
	// cache; others run uncached.
	simple bool
}

// The table aliases the compiled clauses use: u for users, g for groups,
// e for user_emails and m for group_members in subqueries.
const (
	aliasUser   = "u"
	aliasGroup  = "g"
	aliasEmail  = "e"
	aliasMember = "m"
)

// compileWhere translates a compiled filter on the resource whose table
// alias is top (aliasUser or aliasGroup) into SQL; a nil c selects every
// row. It fails only on a Cond that directory.CompileUserFilter or
// CompileGroupFilter would not produce for that resource.
func compileWhere(d Dialect, top string, c directory.Cond) (whereClause, error) {
	if c == nil {
		return whereClause{sql: "(1=1)", simple: true}, nil
	}
	b := sqlBuilder{d: d, top: top}
	if err := b.cond(c, ""); err != nil {
		return whereClause{}, err
	}
	return whereClause{sql: b.sb.String(), args: b.args, simple: isSimple(c)}, nil
}

func isSimple(c directory.Cond) bool {
	switch x := c.(type) {
	case directory.CondCompare, directory.CondPresent:
		return true
	case directory.CondAny:
		switch x.X.(type) {
		case directory.CondCompare, directory.CondPresent:
			return true
		}
	}
	return false
}

type sqlBuilder struct {
	d    Dialect
	top  string
	sb   strings.Builder
	args []any
}

// cond writes c; in is the alias of the multi-valued attribute's table
// inside its subquery, or "" at the top level.
func (b *sqlBuilder) cond(c directory.Cond, in string) error {
	switch x := c.(type) {
	case directory.CondAnd:
		return b.binary(x.L, x.R, " AND ", in)
	case directory.CondOr:
		return b.binary(x.L, x.R, " OR ", in)
	case directory.CondNot:
		b.sb.WriteString("NOT (")
		if err := b.cond(x.X, in); err != nil {
			return err
		}
		b.sb.WriteString(")")
		return nil
	case directory.CondAny:
		if in != "" {
			return fmt.Errorf("sqlstore: nested multi-valued filter")
		}
		// u.id IN (SELECT ...) rather than a correlated EXISTS: the
		// subquery runs once, on the index of the column it tests, and
		// neither column can be NULL, so NOT (... IN ...) is exact.
		switch {
		case x.Multi == directory.MultiEmails && b.top == aliasUser:
			b.sb.WriteString("u.id IN (SELECT e.user_id FROM user_emails e WHERE ")
			in = aliasEmail
		case x.Multi == directory.MultiMembers && b.top == aliasGroup:
			b.sb.WriteString("g.id IN (SELECT m.group_id FROM group_members m WHERE ")
			in = aliasMember
		default:
			return fmt.Errorf("sqlstore: multi-valued attribute %d on the wrong resource", x.Multi)
		}
		if err := b.cond(x.X, in); err != nil {
			return err
		}
		b.sb.WriteString(")")
		return nil
	case directory.CondPresent:
		col, err := b.column(x.Attr, in)
		if err != nil {
			return err
		}
		if x.Attr.Type() == directory.TypeString {
			b.sb.WriteString("(" + col + " <> '')")
		} else {
			b.sb.WriteString("(1=1)")
		}
		return nil
	case directory.CondCompare:
		col, err := b.column(x.Attr, in)
		if err != nil {
			return err
		}
		return b.compare(col, x)
	default:
		return fmt.Errorf("sqlstore: unsupported filter node %T", c)
	}
}

func (b *sqlBuilder) binary(l, r directory.Cond, op, in string) error {
	b.sb.WriteString("(")
	if err := b.cond(l, in); err != nil {
		return err
	}
	b.sb.WriteString(op)
	if err := b.cond(r, in); err != nil {
		return err
	}
	b.sb.WriteString(")")
	return nil
}

// column returns the column an attribute is compared on: the folded key
// for case-insensitive strings.
func (b *sqlBuilder) column(a directory.Attr, in string) (string, error) {
	var col string
	switch in {
	case aliasEmail:
		switch a {
		case directory.AttrEmailValue:
			col = "e.value_fold"
		case directory.AttrEmailType:
			col = "e.type_fold"
		case directory.AttrEmailPrimary:
			col = "e.is_primary"
		}
	case aliasMember:
		if a == directory.AttrMemberValue {
			col = "m.user_id"
		}
	case "":
		switch a {
		case directory.AttrID:
			col = b.top + ".id"
		case directory.AttrExternalID:
			col = b.top + ".external_id"
		case directory.AttrDisplayName:
			col = b.top + ".display_name_fold"
		case directory.AttrCreated:
			col = b.top + ".created_at"
		case directory.AttrLastModified:
			col = b.top + ".updated_at"
		}
		if b.top == aliasUser {
			switch a {
			case directory.AttrUserName:
				col = "u.user_name_fold"
			case directory.AttrGivenName:
				col = "u.given_name_fold"
			case directory.AttrFamilyName:
				col = "u.family_name_fold"
			case directory.AttrActive:
				col = "u.active"
			}
		}
	}
	if col == "" {
		return "", fmt.Errorf("sqlstore: attribute %v is not filterable here", a)
	}
	return col, nil
}

var sqlOps = map[directory.Op]string{
	directory.OpEq: "=", directory.OpNe: "<>",
	directory.OpGt: ">", directory.OpGe: ">=", directory.OpLt: "<", directory.OpLe: "<=",
}

func (b *sqlBuilder) compare(col string, c directory.CondCompare) error {
	switch v := c.Value.(type) {
	case bool:
		if c.Op != directory.OpEq && c.Op != directory.OpNe {
			return fmt.Errorf("sqlstore: operator %s on a boolean", c.Op)
		}
		b.sb.WriteString("(" + col + " " + sqlOps[c.Op] + " ?)")
		b.args = append(b.args, v)
	case time.Time:
		op, ok := sqlOps[c.Op]
		if !ok {
			return fmt.Errorf("sqlstore: operator %s on a date-time", c.Op)
		}
		b.sb.WriteString("(" + col + " " + op + " ?)")
		b.args = append(b.args, toMicros(v))
	case string:
		n := utf8.RuneCountInString(v)
		switch c.Op {
		case directory.OpEq, directory.OpNe:
			b.sb.WriteString("(" + col + " " + sqlOps[c.Op] + " ?)")
			b.args = append(b.args, v)
		case directory.OpGt, directory.OpGe, directory.OpLt, directory.OpLe:
			b.sb.WriteString("(" + col + b.d.binary() + " " + sqlOps[c.Op] + " ?)")
			b.args = append(b.args, v)
		case directory.OpCo:
			b.sb.WriteString("(" + b.d.contains(col) + ")")
			b.args = append(b.args, v)
		case directory.OpSw:
			b.sb.WriteString("(substr(" + col + ", 1, ?) = ?)")
			b.args = append(b.args, n, v)
		case directory.OpEw:
			b.sb.WriteString("(length(" + col + ") >= ? AND substr(" + col + ", length(" + col + ") - ? + 1) = ?)")
			b.args = append(b.args, n, n, v)
		default:
			return fmt.Errorf("sqlstore: unsupported operator %q", c.Op)
		}
	default:
		return fmt.Errorf("sqlstore: unsupported filter value %T", c.Value)
	}
	return nil
}
