package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the size of a config file.
const MaxFileSize = 1 << 20

// ErrTooLarge is returned for a config file over MaxFileSize.
var ErrTooLarge = errors.New("config: file larger than 1 MiB")

// Load reads the config file at path, expands ${NAME} references with
// lookupEnv (os.LookupEnv when nil), applies defaults and resolves relative
// paths against the file's folder. It does not call Validate on success.
// Problems found while parsing (unknown keys, unset variables, wrong types)
// are returned as a *ValidationError that also lists what Validate finds in
// the rest of the file, so every problem is named at once.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(data, filepath.Dir(abs), lookupEnv)
}

// Parse is Load on bytes: baseDir is the folder relative paths are resolved
// against (left relative when empty).
//
// The file must be a single YAML document holding a mapping. Keys that are
// not part of the config are errors (nested ones too), as are duplicate keys,
// anchors and aliases. A scalar value may reference environment variables as
// ${NAME}; "$${" stands for a literal "${". Expansion happens after parsing,
// so a variable's value can never change the document's structure; a plain
// (unquoted) scalar is then typed by its expanded value, a quoted one stays a
// string.
//
// The unknown-key rule is yaml.v3's KnownFields, applied by walking the
// parsed node tree against the Config type: yaml.v3 offers KnownFields only
// on a Decoder reading bytes, while expansion must work on nodes. The walk
// reports every unknown key, each with its path and line, not only the first.
func Parse(data []byte, baseDir string, lookupEnv func(string) (string, bool)) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config: the file is empty")
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: the file must hold exactly one YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("config: the file must hold one YAML mapping")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: line %d: the top level must be a mapping of keys to values", root.Line)
	}

	w := &walker{lookupEnv: lookupEnv, lines: map[string]int{}, keyAtLine: map[int][]string{}}
	w.walk(root, reflect.TypeFor[Config](), "")
	problems := w.problems

	var cfg Config
	if err := root.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("config: %w", err)
		}
		// A value already reported (such as an unexpanded ${NAME}) is not
		// reported again for its type.
		problems = append(problems, unrelated(w.typeProblems(te), w.problems)...)
	}
	cfg.lines = w.lines
	// "directory:" or "saml:" with no value still selects that source.
	if cfg.IdentitySource.Directory == nil && cfg.has("identity_source.directory") {
		cfg.IdentitySource.Directory = &DirectoryConfig{}
	}
	if cfg.IdentitySource.SAML == nil && cfg.has("identity_source.saml") {
		cfg.IdentitySource.SAML = &SAMLSourceConfig{}
	}
	cfg.ApplyDefaults()
	cfg.resolvePaths(baseDir)
	if len(problems) > 0 {
		// Name every problem at once: add what Validate finds elsewhere.
		var ve *ValidationError
		if errors.As(cfg.Validate(), &ve) {
			problems = append(problems, unrelated(ve.Problems, problems)...)
		}
		return nil, &ValidationError{Problems: problems}
	}
	return &cfg, nil
}

// unrelated returns the problems in ps whose path is not at or below the
// path of a parse problem (whose value was not decoded as written).
func unrelated(ps, parse []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		related := false
		for _, q := range parse {
			if q.Path == "" || p.Path == q.Path || strings.HasPrefix(p.Path, q.Path+".") || strings.HasPrefix(p.Path, q.Path+"[") {
				related = true
				break
			}
		}
		if !related {
			out = append(out, p)
		}
	}
	return out
}

// has reports whether the parsed file set the key at path.
func (c *Config) has(path string) bool {
	_, ok := c.lines[path]
	return ok
}

// lineOf returns the line of path or of its nearest ancestor set in the file,
// or 0.
func (c *Config) lineOf(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walker checks keys against the Config type, rejects anchors and aliases,
// expands environment references in scalars and records where each key is.
type walker struct {
	lookupEnv func(string) (string, bool)
	lines     map[string]int
	keyAtLine map[int][]string
	problems  []Problem
}

func (w *walker) add(path string, line int, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

// record notes the line of path; isKey says path ends with a mapping key
// (rather than a list index), for naming type errors by line.
func (w *walker) record(path string, line int, isKey bool) {
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = line
		if isKey {
			w.keyAtLine[line] = append(w.keyAtLine[line], path)
		}
	}
}

// walk visits n, which is decoded into a value of type t (nil: unknown, keys
// are not checked below it).
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		w.add(path, n.Line, "YAML anchors and aliases are not supported")
		return
	}
	if n.Kind == yaml.ScalarNode {
		w.expand(n, path)
		return
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(unmarshalerType) {
		t = nil // a custom scalar type given a collection: decoding reports it
	}
	switch n.Kind {
	case yaml.MappingNode:
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = yamlFields(t)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Anchor != "" {
				w.add(path, k.Line, "keys must be plain strings")
				continue
			}
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			if k.Value == "<<" {
				w.add(child, k.Line, "YAML merge keys are not supported")
				continue
			}
			if first, dup := seen[k.Value]; dup {
				w.add(child, k.Line, "duplicate key (first set at line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
			w.record(child, k.Line, true)
			childType := elem
			if fields != nil {
				ft, ok := fields[k.Value]
				if !ok {
					w.add(child, k.Line, "unknown key %q", truncate(k.Value, 64))
					continue
				}
				childType = ft
			}
			w.walk(v, childType, child)
		}
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i, item := range n.Content {
			child := path + "[" + strconv.Itoa(i) + "]"
			w.record(child, item.Line, false)
			w.walk(item, elem, child)
		}
	default:
		w.add(path, n.Line, "unexpected YAML node")
	}
}

// expand replaces ${NAME} references in a scalar.
func (w *walker) expand(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	out, missing, err := expandEnv(n.Value, w.lookupEnv)
	if err != nil {
		w.add(path, n.Line, "%v", err)
		return
	}
	for _, name := range missing {
		w.add(path, n.Line, "environment variable %s is not set", name)
	}
	if len(missing) > 0 || out == n.Value {
		return
	}
	n.Value = out
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		n.Tag = "" // a plain scalar takes the type of its expanded value
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv expands ${NAME} in s. "$${" is a literal "${"; any other "$" is
// kept as is. It returns the names that lookup did not find, in order.
func expandEnv(s string, lookup func(string) (string, bool)) (string, []string, error) {
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, errors.New(`unterminated "${" (write "$${" for a literal "${")`)
			}
			name := s[i+2 : i+2+end]
			if !envName.MatchString(name) {
				return "", nil, fmt.Errorf("invalid environment variable name %q in ${...}", truncate(name, 64))
			}
			v, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			}
			b.WriteString(v)
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), missing, nil
}

// yamlFields maps the YAML keys of struct type t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// pathAtLine picks the key a type error on a line is about: the deepest key
// when only one is that deep (as in "session: {lifetime: x}"), else the
// outermost one.
func pathAtLine(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	depth := func(p string) int { return strings.Count(p, ".") + strings.Count(p, "[") }
	best, bestDepth, ties := keys[0], depth(keys[0]), 0
	for _, k := range keys[1:] {
		switch d := depth(k); {
		case d > bestDepth:
			best, bestDepth, ties = k, d, 0
		case d == bestDepth:
			ties++
		}
	}
	if ties > 0 {
		return keys[0]
	}
	return best
}

// typeProblems turns a yaml.TypeError into problems, naming the key on the
// reported line when there is only one.
func (w *walker) typeProblems(te *yaml.TypeError) []Problem {
	ps := make([]Problem, 0, len(te.Errors))
	for _, e := range te.Errors {
		if strings.Contains(e, "already defined at line") {
			continue // duplicate keys are reported by walk
		}
		p := Problem{Message: e}
		if m := typeErrLine.FindStringSubmatch(e); m != nil {
			line, _ := strconv.Atoi(m[1])
			p.Line, p.Message = line, m[2]
			p.Path = pathAtLine(w.keyAtLine[line])
		}
		ps = append(ps, p)
	}
	return ps
}
