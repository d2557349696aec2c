package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// MaxJSONDepth bounds the nesting of arrays and objects in a request
// body. SCIM resources need four levels; the rest is headroom.
const MaxJSONDepth = 16

// object is a decoded JSON object. Keys are unique ignoring case (see
// decodeJSON).
type object = map[string]any

// decodeJSON parses data as exactly one JSON value: objects become
// object, arrays []any, numbers json.Number, and strings, booleans and
// null string, bool and nil. It is stricter than encoding/json: the input
// must be valid UTF-8, nesting is bounded by MaxJSONDepth, an object may
// not have two keys that are equal ignoring case (SCIM attribute names are
// case-insensitive, so they would name one attribute twice), and nothing
// but white space may follow the value. Errors are 400 invalidSyntax.
func decodeJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errorf(TypeInvalidSyntax, "the body is not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, syntaxError(d, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errorf(TypeInvalidSyntax, "the body holds data after the JSON value (at offset %d)", d.InputOffset())
	}
	return v, nil
}

var errTooDeep = errors.New("too deeply nested")

// keyError is a duplicate key.
type keyError struct{ key string }

func (e *keyError) Error() string { return "duplicate key " + quote(e.key) }

func syntaxError(d *json.Decoder, err error) error {
	var ke *keyError
	switch {
	case errors.As(err, &ke):
		return errorf(TypeInvalidSyntax, "the body names attribute %s twice (names are case-insensitive)", quote(ke.key))
	case errors.Is(err, errTooDeep):
		return errorf(TypeInvalidSyntax, "the body is nested more than %d levels deep", MaxJSONDepth)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(TypeInvalidSyntax, "the body is empty or truncated JSON")
	}
	return errorf(TypeInvalidSyntax, "the body is not valid JSON (near offset %d)", d.InputOffset())
}

func decodeValue(d *json.Decoder, depth int) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= MaxJSONDepth {
			return nil, errTooDeep
		}
		switch t {
		case '{':
			return decodeObject(d, depth+1)
		case '[':
			return decodeArray(d, depth+1)
		}
		return nil, errors.New("unexpected delimiter")
	default:
		return t, nil
	}
}

func decodeObject(d *json.Decoder, depth int) (object, error) {
	out := object{}
	folded := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		f := directory.Fold(key)
		if folded[f] {
			return nil, &keyError{key}
		}
		folded[f] = true
		v, err := decodeValue(d, depth)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := d.Token(); err != nil { // '}'
		return nil, err
	}
	return out, nil
}

func decodeArray(d *json.Decoder, depth int) ([]any, error) {
	out := []any{}
	for d.More() {
		v, err := decodeValue(d, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := d.Token(); err != nil { // ']'
		return nil, err
	}
	return out, nil
}

// lookup returns the value of the key of o equal to name ignoring case.
func lookup(o object, name string) (any, string, bool) {
	if v, ok := o[name]; ok {
		return v, name, true
	}
	for k, v := range o {
		if strings.EqualFold(k, name) {
			return v, k, true
		}
	}
	return nil, "", false
}

// sortedKeys returns the keys of o in byte order, for deterministic
// processing and error messages.
func sortedKeys(o object) []string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quote quotes at most a short prefix of s, for error details.
func quote(s string) string {
	const max = 48
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	b, err := json.Marshal(s)
	if err != nil {
		return `"?"`
	}
	return string(b)
}

// jsonType names the JSON type of a decoded value, for error details.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case object:
		return "an object"
	case []any:
		return "an array"
	}
	return "an unknown value"
}

// ordered is a JSON object whose keys are written in a fixed order: by
// rank (0 for names rank does not list), then in byte order. Responses
// use it so that schemas and id come first and meta last, as people
// reading them expect. HTML characters are not escaped: responses are
// application/scim+json, never markup.
type ordered struct {
	o    object
	rank map[string]int
}

// MarshalJSON writes the object with its keys in order; nested objects
// get the same treatment.
func (m ordered) MarshalJSON() ([]byte, error) {
	keys := sortedKeys(m.o)
	slices.SortStableFunc(keys, func(a, b string) int { return m.rank[a] - m.rank[b] })
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encode(&b, k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := encode(&b, m.wrap(m.o[k])); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encode writes the JSON of v to b without HTML escaping or newline.
func encode(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // the newline Encode adds
	return nil
}

func (m ordered) wrap(v any) any {
	switch x := v.(type) {
	case object:
		return ordered{x, m.rank}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.wrap(e)
		}
		return out
	}
	return v
}
