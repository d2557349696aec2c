package scimpeers

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

// The canonical S-expression of a filter, shared by both parsers' trees:
//
//	(and A B ...)  (or A B ...)   nested and/or of one kind flattened
//	(not A)
//	(eq "path" VALUE)             any comparison operator, lower case
//	(pr "path")
//	([] "attr" A)                 a value filter
//
// Paths are written as given (urn:...:name.sub). VALUE is a JSON string,
// true, false, null, or a number as strconv.FormatFloat(v, 'g', -1, 64)
// writes it (the Node library parses numbers into doubles).

// SExpr returns the canonical S-expression of a filter parsed by
// internal/scim/filter.
func SExpr(e filter.Expr) string {
	switch x := e.(type) {
	case filter.And:
		return logical("and", flattenGo(e, "and"))
	case filter.Or:
		return logical("or", flattenGo(e, "or"))
	case filter.Not:
		return "(not " + SExpr(x.X) + ")"
	case filter.Compare:
		return "(" + x.Op + " " + strconv.Quote(x.Path.String()) + " " + goValue(x.Value) + ")"
	case filter.Present:
		return "(pr " + strconv.Quote(x.Path.String()) + ")"
	case filter.ValuePath:
		return "([] " + strconv.Quote(x.Attr.String()) + " " + SExpr(x.Filter) + ")"
	}
	return "(?)"
}

func flattenGo(e filter.Expr, op string) []string {
	var l, r filter.Expr
	switch x := e.(type) {
	case filter.And:
		if op != "and" {
			return []string{SExpr(e)}
		}
		l, r = x.L, x.R
	case filter.Or:
		if op != "or" {
			return []string{SExpr(e)}
		}
		l, r = x.L, x.R
	default:
		return []string{SExpr(e)}
	}
	return append(flattenGo(l, op), flattenGo(r, op)...)
}

func logical(op string, parts []string) string {
	return "(" + op + " " + strings.Join(parts, " ") + ")"
}

func goValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return "NaN"
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	}
	return "?"
}

// jsNode is a node of scim2-parse-filter's tree.
type jsNode struct {
	Op        string            `json:"op"`
	AttrPath  string            `json:"attrPath"`
	CompValue json.RawMessage   `json:"compValue"`
	Filters   []json.RawMessage `json:"filters"`
	Filter    json.RawMessage   `json:"filter"`
	ValFilter json.RawMessage   `json:"valFilter"`
}

// JSSExpr returns the canonical S-expression of a scim2-parse-filter
// tree (FilterResult.AST).
func JSSExpr(ast json.RawMessage) (string, error) {
	var n jsNode
	if err := json.Unmarshal(ast, &n); err != nil {
		return "", fmt.Errorf("scimpeers: filter tree: %w", err)
	}
	switch n.Op {
	case "and", "or":
		parts, err := flattenJS(n)
		if err != nil {
			return "", err
		}
		return logical(n.Op, parts), nil
	case "not":
		x, err := JSSExpr(n.Filter)
		return "(not " + x + ")", err
	case "pr":
		return "(pr " + strconv.Quote(n.AttrPath) + ")", nil
	case "[]":
		x, err := JSSExpr(n.ValFilter)
		return "([] " + strconv.Quote(n.AttrPath) + " " + x + ")", err
	case "eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le":
		v, err := jsValue(n.CompValue)
		return "(" + n.Op + " " + strconv.Quote(n.AttrPath) + " " + v + ")", err
	}
	return "", fmt.Errorf("scimpeers: unknown filter node %q", n.Op)
}

func flattenJS(n jsNode) ([]string, error) {
	var out []string
	for _, raw := range n.Filters {
		var c jsNode
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("scimpeers: filter tree: %w", err)
		}
		if c.Op == n.Op {
			parts, err := flattenJS(c)
			if err != nil {
				return nil, err
			}
			out = append(out, parts...)
			continue
		}
		s, err := JSSExpr(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func jsValue(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("scimpeers: filter value: %w", err)
	}
	switch x := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case string:
		return strconv.Quote(x), nil
	}
	return "", fmt.Errorf("scimpeers: filter value %s", raw)
}
