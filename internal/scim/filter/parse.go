package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on the input Parse and ParsePath accept. They bound the work done on
// hostile input.
const (
	MaxLength = 4096 // bytes of input
	MaxDepth  = 32   // nesting of parentheses, not and value filters
	MaxNodes  = 256  // Expr nodes in one filter
)

// Sentinel errors; every *Error wraps one of them. A SCIM server answers
// ErrInvalidFilter with scimType invalidFilter and ErrInvalidPath with
// invalidPath.
var (
	ErrInvalidFilter = errors.New("scim: invalid filter")
	ErrInvalidPath   = errors.New("scim: invalid path")
)

// Error reports where parsing failed (Pos, a byte offset into the input)
// and what was expected there (Msg).
type Error struct {
	Pos  int
	Msg  string
	kind error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: at offset %d: %s", e.kind, e.Pos, e.Msg)
}

// Unwrap returns ErrInvalidFilter or ErrInvalidPath.
func (e *Error) Unwrap() error { return e.kind }

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tString
	tWord
)

type token struct {
	kind tokKind
	pos  int // offset of the first byte
	end  int // offset after the last byte
	text string
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString, tWord:
		s := t.text
		if len(s) > 24 {
			s = s[:24] + "..."
		}
		return fmt.Sprintf("%q", s)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

func (t token) isWord(w string) bool { return t.kind == tWord && strings.EqualFold(t.text, w) }

type parser struct {
	s       string
	kind    error
	tok     token
	depth   int
	nodes   int
	inValue bool
	// closeEnd is the offset after the last ']' that closed a value filter.
	closeEnd int
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), kind: p.kind}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// lex returns the token starting at or after offset i.
func (p *parser) lex(i int) (token, error) {
	s := p.s
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i >= len(s) {
		return token{kind: tEOF, pos: len(s), end: len(s)}, nil
	}
	switch s[i] {
	case '(':
		return token{tLParen, i, i + 1, "("}, nil
	case ')':
		return token{tRParen, i, i + 1, ")"}, nil
	case '[':
		return token{tLBrack, i, i + 1, "["}, nil
	case ']':
		return token{tRBrack, i, i + 1, "]"}, nil
	case '"':
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return token{}, p.errf(i, "expected closing '\"' of the string starting here, found end of input")
		}
		return token{tString, i, j + 1, s[i : j+1]}, nil
	}
	j := i
	for j < len(s) && !isSpace(s[j]) && !strings.ContainsRune("()[]\"", rune(s[j])) {
		j++
	}
	return token{tWord, i, j, s[i:j]}, nil
}

func (p *parser) advance() error {
	t, err := p.lex(p.tok.end)
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) node() error {
	p.nodes++
	if p.nodes > MaxNodes {
		return p.errf(p.tok.pos, "filter has more than %d terms", MaxNodes)
	}
	return nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf(pos, "expected at most %d nested levels of parentheses, not and value filters", MaxDepth)
	}
	return nil
}

func checkInput(s string, maxLen int, kind error) error {
	if len(s) > maxLen {
		return &Error{Pos: maxLen, Msg: fmt.Sprintf("expected at most %d bytes, found %d", maxLen, len(s)), kind: kind}
	}
	if !utf8.ValidString(s) {
		pos := 0
		for pos < len(s) {
			r, n := utf8.DecodeRuneInString(s[pos:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			pos += n
		}
		return &Error{Pos: pos, Msg: "expected valid UTF-8", kind: kind}
	}
	return nil
}

// Parse parses a SCIM filter (RFC 7644 section 3.4.2.2). Operator and
// logical keywords and the literals true, false and null are
// case-insensitive; `not` must be followed by a parenthesised filter;
// precedence is not, then and, then or, and and/or associate to the left.
// Errors are *Error values wrapping ErrInvalidFilter.
func Parse(s string) (Expr, error) {
	return parse(s, true)
}

func parse(s string, limitLength bool) (Expr, error) {
	maxLen := MaxLength
	if !limitLength {
		maxLen = len(s)
	}
	if err := checkInput(s, maxLen, ErrInvalidFilter); err != nil {
		return nil, err
	}
	p := &parser{s: s, kind: ErrInvalidFilter}
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf(p.tok.pos, "expected 'and', 'or' or end of filter, found %s", p.tok.describe())
	}
	return e, nil
}

func (p *parser) parseOr() (Expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.isWord("or") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = Or{L: l, R: r}
		if err := p.node(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) parseAnd() (Expr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.tok.isWord("and") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = And{L: l, R: r}
		if err := p.node(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// parseGroup parses `( filter )` with p.tok at the '('.
func (p *parser) parseGroup() (Expr, error) {
	open := p.tok.pos
	if err := p.enter(open); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		return nil, p.errf(p.tok.pos, "expected ')' closing the '(' at offset %d, found %s", open, p.tok.describe())
	}
	p.depth--
	return e, p.advance()
}

func (p *parser) parseUnary() (Expr, error) {
	switch p.tok.kind {
	case tLParen:
		return p.parseGroup()
	case tWord:
		if p.tok.isWord("not") {
			next, err := p.lex(p.tok.end)
			if err != nil {
				return nil, err
			}
			if next.kind != tLParen {
				return nil, p.errf(next.pos, "expected '(' after 'not', found %s", next.describe())
			}
			p.tok = next
			x, err := p.parseGroup()
			if err != nil {
				return nil, err
			}
			if err := p.node(); err != nil {
				return nil, err
			}
			return Not{X: x}, nil
		}
		return p.parseAttrExp()
	default:
		return nil, p.errf(p.tok.pos, "expected attribute name, '(' or 'not', found %s", p.tok.describe())
	}
}

var compareOps = map[string]bool{
	"eq": true, "ne": true, "co": true, "sw": true, "ew": true,
	"gt": true, "ge": true, "lt": true, "le": true,
}

func (p *parser) parseAttrExp() (Expr, error) {
	pathTok := p.tok
	path, err := p.attrPath(pathTok.text, pathTok.pos)
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tLBrack {
		return p.parseValuePath(path, pathTok)
	}
	if p.inValue && (path.URN != "" || path.Sub != "") {
		return nil, p.errf(pathTok.pos, "expected a bare sub-attribute name inside a value filter, found %s", pathTok.describe())
	}
	if p.tok.kind != tWord {
		return nil, p.errf(p.tok.pos, "expected operator (eq, ne, co, sw, ew, pr, gt, ge, lt, le) after attribute, found %s", p.tok.describe())
	}
	op := strings.ToLower(p.tok.text)
	opPos := p.tok.pos
	if op == "pr" {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tString || (p.tok.kind == tWord && isLiteralWord(p.tok.text)) {
			return nil, p.errf(p.tok.pos, "expected no value after 'pr', found %s", p.tok.describe())
		}
		if err := p.node(); err != nil {
			return nil, err
		}
		return Present{Path: path}, nil
	}
	if !compareOps[op] {
		return nil, p.errf(opPos, "expected operator (eq, ne, co, sw, ew, pr, gt, ge, lt, le), found %s", p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	val, err := p.value()
	if err != nil {
		return nil, err
	}
	switch op {
	case "co", "sw", "ew":
		if _, ok := val.(string); !ok {
			return nil, p.errf(p.tok.pos, "expected a string value for '%s', found %s", op, p.tok.describe())
		}
	case "gt", "ge", "lt", "le":
		switch val.(type) {
		case string, json.Number:
		default:
			return nil, p.errf(p.tok.pos, "expected a string or number value for '%s', found %s", op, p.tok.describe())
		}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.node(); err != nil {
		return nil, err
	}
	return Compare{Path: path, Op: op, Value: val}, nil
}

func (p *parser) parseValuePath(path AttrPath, pathTok token) (Expr, error) {
	open := p.tok.pos
	if p.inValue {
		return nil, p.errf(open, "expected an operator, found a nested value filter '['")
	}
	if path.Sub != "" {
		return nil, p.errf(pathTok.pos, "expected an attribute without sub-attribute before '[', found %s", pathTok.describe())
	}
	if err := p.enter(open); err != nil {
		return nil, err
	}
	p.inValue = true
	if err := p.advance(); err != nil {
		return nil, err
	}
	f, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRBrack {
		return nil, p.errf(p.tok.pos, "expected ']' closing the '[' at offset %d, found %s", open, p.tok.describe())
	}
	p.inValue = false
	p.depth--
	p.closeEnd = p.tok.end
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.node(); err != nil {
		return nil, err
	}
	return ValuePath{Attr: path, Filter: f}, nil
}

func isLiteralWord(w string) bool {
	return strings.EqualFold(w, "true") || strings.EqualFold(w, "false") || strings.EqualFold(w, "null") || isJSONNumber(w)
}

// value converts p.tok to a comparison value without consuming it.
func (p *parser) value() (any, error) {
	t := p.tok
	switch t.kind {
	case tString:
		var s string
		if err := json.Unmarshal([]byte(t.text), &s); err != nil {
			return nil, p.errf(t.pos, "expected a valid JSON string, found %s", t.describe())
		}
		return s, nil
	case tWord:
		switch {
		case strings.EqualFold(t.text, "true"):
			return true, nil
		case strings.EqualFold(t.text, "false"):
			return false, nil
		case strings.EqualFold(t.text, "null"):
			return nil, nil
		case isJSONNumber(t.text):
			return json.Number(t.text), nil
		}
	}
	return nil, p.errf(t.pos, "expected a value (string, number, true, false or null), found %s", t.describe())
}

// isJSONNumber reports whether s matches the JSON number grammar.
func isJSONNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// isAttrName reports whether s is an RFC 7643 ATTRNAME or "$ref".
func isAttrName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isURNChar(c byte) bool {
	return isAlpha(c) || (c >= '0' && c <= '9') || strings.IndexByte(":.-_+%", c) >= 0
}

// attrPath splits and validates `[urn:...:]name[.sub]` found at pos.
func (p *parser) attrPath(text string, pos int) (AttrPath, error) {
	var a AttrPath
	rest, restPos := text, pos
	if len(text) >= 4 && strings.EqualFold(text[:4], "urn:") {
		i := strings.LastIndexByte(text, ':')
		for j := 0; j < i; j++ {
			if !isURNChar(text[j]) {
				return a, p.errf(pos+j, "expected a schema URN character, found %q", text[j])
			}
		}
		if i <= 4 || text[i-1] == ':' {
			return a, p.errf(pos, "expected a schema URN before the attribute name, found %q", text[:i+1])
		}
		a.URN = text[:i]
		rest, restPos = text[i+1:], pos+i+1
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	if !isAttrName(name) {
		return a, p.errf(restPos, "expected an attribute name (a letter, then letters, digits, '-' or '_'), found %q", truncate(name))
	}
	if hasSub && !isAttrName(sub) {
		return a, p.errf(restPos+len(name)+1, "expected a sub-attribute name (a letter, then letters, digits, '-' or '_'), found %q", truncate(sub))
	}
	a.Name, a.Sub = name, sub
	return a, nil
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// ParsePath parses a PATCH operation path (RFC 7644 section 3.5.2): `attr`,
// `attr.sub`, `urn:...:attr[.sub]`, `attr[filter]` and `attr[filter].sub`.
// Whitespace is allowed only inside the brackets. Errors are *Error values
// wrapping ErrInvalidPath.
func ParsePath(s string) (Path, error) {
	if err := checkInput(s, MaxLength, ErrInvalidPath); err != nil {
		return Path{}, err
	}
	p := &parser{s: s, kind: ErrInvalidPath}
	if err := p.advance(); err != nil {
		return Path{}, err
	}
	if p.tok.kind != tWord || p.tok.pos != 0 {
		return Path{}, p.errf(p.tok.pos, "expected an attribute name at the start of the path, found %s", p.tok.describe())
	}
	attrTok := p.tok
	attr, err := p.attrPath(attrTok.text, attrTok.pos)
	if err != nil {
		return Path{}, err
	}
	if attrTok.end == len(s) {
		return Path{Attr: attr}, nil
	}
	if s[attrTok.end] != '[' {
		return Path{}, p.errf(attrTok.end, "expected '[' or end of path, found %q", s[attrTok.end])
	}
	if err := p.advance(); err != nil {
		return Path{}, err
	}
	e, err := p.parseValuePath(attr, attrTok)
	if err != nil {
		return Path{}, err
	}
	vp := e.(ValuePath)
	out := Path{Attr: vp.Attr, Filter: vp.Filter}
	end := p.closeEnd
	if end == len(s) {
		return out, nil
	}
	if s[end] != '.' {
		return Path{}, p.errf(end, "expected '.' and a sub-attribute or end of path after ']', found %q", s[end])
	}
	if p.tok.kind != tWord || p.tok.pos != end || p.tok.end != len(s) || !isAttrName(p.tok.text[1:]) {
		return Path{}, p.errf(end+1, "expected a sub-attribute name ending the path after ']', found %q", truncate(s[end+1:]))
	}
	out.SubAttr = p.tok.text[1:]
	return out, nil
}
