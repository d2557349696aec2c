package peers

import (
	"bytes"
	"html"
	"strings"
)

// htmlForm is a <form> found in a page, with the <input> elements inside it.
type htmlForm struct {
	Action string // raw attribute value, entities decoded
	Method string // lower case; empty when absent
	Inputs []htmlInput
}

type htmlInput struct {
	Type    string // lower case; "text" when absent
	Name    string
	Value   string
	Checked bool
}

// field returns the value of the first input named name.
func (f htmlForm) field(name string) (string, bool) {
	for _, in := range f.Inputs {
		if in.Name == name {
			return in.Value, true
		}
	}
	return "", false
}

func (f htmlForm) hasPassword() bool {
	for _, in := range f.Inputs {
		if in.Type == "password" {
			return true
		}
	}
	return false
}

// rawTextElements hold text that must not be scanned for tags.
var rawTextElements = [...]string{"script", "style", "textarea", "title"}

// parseForms extracts the forms of an HTML page. It is a small tolerant
// tokenizer, enough for the login and auto-submit pages of the peers: tags,
// quoted and unquoted attributes, comments and raw-text elements (script,
// style, textarea, title) are handled; everything else is skipped. An input
// outside any form is ignored, and a <form> start closes an open form, as an
// HTML parser would.
func parseForms(doc []byte) []htmlForm {
	var forms []htmlForm
	cur := -1
	i := 0
	for i < len(doc) {
		lt := bytes.IndexByte(doc[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		rest := doc[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return forms
			}
			i += 4 + end + 3
			continue
		case bytes.HasPrefix(rest, []byte("<!")), bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				return forms
			}
			i += end + 1
			continue
		case bytes.HasPrefix(rest, []byte("</")):
			name, n := tagName(rest[2:])
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				return forms
			}
			if name == "form" {
				cur = -1
			}
			i += max(end+1, 2+n)
			continue
		}
		name, n := tagName(rest[1:])
		if n == 0 {
			i++
			continue
		}
		attrs, consumed, ok := parseAttrs(rest[1+n:])
		if !ok {
			return forms
		}
		i += 1 + n + consumed
		switch name {
		case "form":
			forms = append(forms, htmlForm{Action: attrs["action"], Method: strings.ToLower(attrs["method"])})
			cur = len(forms) - 1
		case "input":
			if cur < 0 {
				continue
			}
			typ := strings.ToLower(attrs["type"])
			if typ == "" {
				typ = "text"
			}
			_, checked := attrs["checked"]
			forms[cur].Inputs = append(forms[cur].Inputs, htmlInput{Type: typ, Name: attrs["name"], Value: attrs["value"], Checked: checked})
		default:
			for _, raw := range rawTextElements {
				if name == raw {
					i += skipRawText(doc[i:], name)
					break
				}
			}
		}
	}
	return forms
}

// tagName reads an ASCII tag name and returns it lower-cased with its length.
func tagName(b []byte) (string, int) {
	n := 0
	for n < len(b) && (isAlpha(b[n]) || (n > 0 && (b[n] >= '0' && b[n] <= '9' || b[n] == '-'))) {
		n++
	}
	return strings.ToLower(string(b[:n])), n
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// parseAttrs reads attributes up to and including the closing '>'. The first
// occurrence of a duplicated attribute wins. ok is false when the tag never
// closes.
func parseAttrs(b []byte) (attrs map[string]string, consumed int, ok bool) {
	attrs = map[string]string{}
	i := 0
	for {
		for i < len(b) && (isSpace(b[i]) || b[i] == '/') {
			i++
		}
		if i >= len(b) {
			return attrs, i, false
		}
		if b[i] == '>' {
			return attrs, i + 1, true
		}
		start := i
		for i < len(b) && !isSpace(b[i]) && b[i] != '=' && b[i] != '>' && !(b[i] == '/' && i > start) {
			i++
		}
		name := strings.ToLower(string(b[start:i]))
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		value := ""
		if i < len(b) && b[i] == '=' {
			i++
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i < len(b) && (b[i] == '"' || b[i] == '\'') {
				q := b[i]
				end := bytes.IndexByte(b[i+1:], q)
				if end < 0 {
					return attrs, len(b), false
				}
				value = string(b[i+1 : i+1+end])
				i += end + 2
			} else {
				vs := i
				for i < len(b) && !isSpace(b[i]) && b[i] != '>' {
					i++
				}
				value = string(b[vs:i])
			}
		}
		if _, dup := attrs[name]; !dup {
			attrs[name] = html.UnescapeString(value)
		}
	}
}

// skipRawText returns how many bytes of b precede the end of the raw-text
// element name (its closing tag included), or len(b) if it never closes.
func skipRawText(b []byte, name string) int {
	closing := "</" + name
	lower := make([]byte, len(b)) // ASCII-only lowering keeps offsets aligned with b
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for off := 0; ; {
		k := bytes.Index(lower[off:], []byte(closing))
		if k < 0 {
			return len(b)
		}
		k += off
		after := k + len(closing)
		if after == len(b) || isSpace(b[after]) || b[after] == '>' || b[after] == '/' {
			end := bytes.IndexByte(b[after:], '>')
			if end < 0 {
				return len(b)
			}
			return after + end + 1
		}
		off = after
	}
}
