package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// ErrMalformed is wrapped by every error that reports input which is not a
// well-formed, bounded, DTD-free UTF-8 XML document, or not a valid SAML
// message of the expected shape.
var ErrMalformed = errors.New("saml: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// CheckXML validates b in one streaming pass of encoding/xml's RawToken (the
// tokenizer etree uses) before anything builds a tree from it. It rejects
// invalid UTF-8, a declared encoding other than UTF-8, any <!...> directive
// (DOCTYPE, ENTITY), processing instructions other than a leading XML
// declaration, undefined entity references, duplicate attributes, mismatched
// tags, anything but whitespace and comments outside the single root element,
// and documents over the size, depth or token limits. Errors wrap
// ErrMalformed.
func CheckXML(b []byte, lim Limits) error {
	return scanXML(b, lim, nil)
}

// elementVisitor receives, during the CheckXML pass, every start element
// whose attributes passed checkAttrs, with the local name of its parent (""
// for the root) and its depth (0 for the root). Names are raw: Space is the
// prefix, not a namespace URI. The element is not yet known to be part of a
// well-formed document, so a visitor only records; the caller acts on what
// it recorded once the pass has succeeded.
type elementVisitor func(el xml.StartElement, parent string, depth int)

// scanXML is CheckXML, calling visit (when not nil) for every start element
// so that callers check structure in the same pass instead of building a
// tree.
func scanXML(b []byte, lim Limits, visit elementVisitor) error {
	lim = lim.withDefaults()
	if len(b) > lim.MaxXMLBytes {
		return malformed("document larger than %d bytes", lim.MaxXMLBytes)
	}
	if !utf8.Valid(b) {
		return malformed("invalid UTF-8")
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("encoding %s not allowed", quoteShort(charset))
	}

	var stack []xml.Name
	roots, tokens := 0, 0
	for {
		start := dec.InputOffset()
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return malformed("%s", quoteShort(err.Error()))
		}
		tokens++
		if tokens > lim.MaxTokens {
			return malformed("more than %d tokens", lim.MaxTokens)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
				if roots > 1 {
					return malformed("content after the root element")
				}
			}
			if len(stack) >= lim.MaxDepth {
				return malformed("deeper than %d elements", lim.MaxDepth)
			}
			if err := checkAttrs(t.Attr); err != nil {
				return err
			}
			if visit != nil {
				parent := ""
				if len(stack) > 0 {
					parent = stack[len(stack)-1].Local
				}
				visit(t, parent, len(stack))
			}
			stack = append(stack, t.Name)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1] != t.Name {
				return malformed("mismatched end element")
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimLeft(t, " \t\r\n")) != 0 {
				return malformed("character data outside the root element")
			}
		case xml.ProcInst:
			if t.Target != "xml" || start != 0 {
				return malformed("processing instruction not allowed")
			}
			if enc := declaredEncoding(string(t.Inst)); enc != "" && !strings.EqualFold(enc, "utf-8") {
				return malformed("encoding %s not allowed", quoteShort(enc))
			}
		case xml.Directive:
			return malformed("DTD or directive not allowed")
		case xml.Comment:
			// Comments are allowed; canonicalization drops them.
		}
	}
	if len(stack) != 0 {
		return malformed("unexpected end of document")
	}
	if roots != 1 {
		return malformed("no root element")
	}
	return nil
}

// checkAttrs rejects duplicate attribute names (XML 1.0 §3.1 well-formedness
// constraint "Unique Att Spec"), which encoding/xml tolerates and which
// etree and encoding/xml resolve differently.
func checkAttrs(attrs []xml.Attr) error {
	for i := range attrs {
		for j := i + 1; j < len(attrs); j++ {
			if attrs[i].Name == attrs[j].Name {
				return malformed("duplicate attribute")
			}
		}
	}
	return nil
}

// declaredEncoding extracts the encoding pseudo-attribute of an XML
// declaration ("" when absent).
func declaredEncoding(inst string) string {
	i := strings.Index(inst, "encoding")
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(inst[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return "?"
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return "?"
	}
	end := strings.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return "?"
	}
	return rest[1 : 1+end]
}

// ParseXML runs CheckXML and then builds an etree document from the same
// bytes with the same depth limit.
func ParseXML(b []byte, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	if err := CheckXML(b, lim); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = lim.MaxDepth
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, malformed("%s", quoteShort(err.Error()))
	}
	if doc.Root() == nil {
		return nil, malformed("no root element")
	}
	return doc, nil
}

// quoteShort quotes s for an error message, truncated so that attacker
// supplied text stays short.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return fmt.Sprintf("%q", s)
}
