// Package filter parses SCIM 2.0 filters (RFC 7644 section 3.4.2.2) and
// PATCH operation paths (RFC 7644 section 3.5.2) into a small AST.
//
// Parse returns an Expr (Compare, Present, And, Or, Not, ValuePath);
// ParsePath returns a Path. Every node's String method gives a canonical
// form that parses back to an equal value. Attributes lists the attributes
// a filter refers to, so a server can allow-list filterable attributes
// before it evaluates anything. Evaluation is not part of this package.
//
// # Security model
//
// Input is hostile: it comes from any holder of a SCIM token. Work is
// bounded before and during parsing: input longer than MaxLength bytes or
// not valid UTF-8 is rejected before it is lexed, nesting of parentheses,
// not and value filters is capped at MaxDepth (so recursion depth is
// bounded), and a filter may have at most MaxNodes terms. Parsing is a
// single left-to-right pass with one token of lookahead, so its cost is
// linear in the input. The parser never panics; every failure is an *Error
// that wraps ErrInvalidFilter or ErrInvalidPath and names the byte offset
// and what was expected there. It fails closed: unknown operators, values
// of the wrong type for an operator (co/sw/ew need strings, gt/ge/lt/le
// strings or numbers), a value after pr, nested value filters and invalid
// attribute names are errors, never silently ignored. Error messages quote
// at most a short prefix of the offending token.
package filter
