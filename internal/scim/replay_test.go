package scim_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replay is a fixture under testdata: the requests a provisioning client
// documents, in order, with what each answer must hold.
type replay struct {
	Client  string            `json:"client"`
	Sources []string          `json:"sources"`
	Steps   []json.RawMessage `json:"steps"`
}

// replayStep is one request. ${name} anywhere in the step is replaced by
// a value an earlier step saved. expect is a subset of the answer's body:
// objects must hold the listed keys, arrays must have the same length and
// matching elements, and the string "$present" matches any value. absent
// lists top-level attributes the body must not have; save names values
// of the body (dotted paths) for later steps.
type replayStep struct {
	Name    string `json:"name"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Expect  json.RawMessage   `json:"expect"`
	Absent  []string          `json:"absent"`
	Save    map[string]string `json:"save"`
}

func TestReplayEntra(t *testing.T) { runReplay(t, "entra.json") }

func TestReplayOkta(t *testing.T) { runReplay(t, "okta.json") }

func runReplay(t *testing.T, file string) {
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	var r replay
	require.NoError(t, json.Unmarshal(data, &r))
	require.NotEmpty(t, r.Steps)
	e := newEnv(t)
	saved := map[string]string{}
	expand := func(raw []byte) []byte {
		s := string(raw)
		for k, v := range saved {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		return []byte(s)
	}
	for i, raw := range r.Steps {
		var st replayStep
		require.NoError(t, json.Unmarshal(expand(raw), &st), "step %d", i)
		ok := t.Run(fmt.Sprintf("%02d %s", i, st.Name), func(t *testing.T) {
			var headers []string
			for k, v := range st.Request.Headers {
				headers = append(headers, k, v)
			}
			var body any
			if len(st.Request.Body) > 0 {
				body = []byte(st.Request.Body)
			}
			res := e.do(st.Request.Method, "/scim/v2"+encodeQuery(t, st.Request.Path), body, headers...)
			require.Equal(t, st.Status, res.status, res.raw)
			for k, v := range st.Save {
				val, ok := get(res.body, dotted(v)...).(string)
				require.True(t, ok, "save %s from %s: %s", k, v, res.raw)
				saved[k] = val
			}
			// Saved values may appear in the expectations.
			require.NoError(t, json.Unmarshal(expand(raw), &st))
			for k, v := range st.Headers {
				assert.Equal(t, v, res.header.Get(k), "header %s", k)
			}
			if len(st.Expect) > 0 {
				var want any
				require.NoError(t, json.Unmarshal(st.Expect, &want))
				matchSubset(t, "body", want, any(res.body), res.raw)
			}
			for _, k := range st.Absent {
				assert.NotContains(t, res.body, k, res.raw)
			}
		})
		if !ok {
			t.Fatalf("step %d failed; the later steps depend on it", i)
		}
	}
}

// encodeQuery percent-encodes the query of a fixture path, which is
// written readably (filter=userName eq "x").
func encodeQuery(t *testing.T, p string) string {
	path, query, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	values := url.Values{}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		values.Add(k, v)
	}
	require.NotEmpty(t, values)
	return path + "?" + values.Encode()
}

func dotted(p string) []any {
	var out []any
	for _, s := range strings.Split(p, ".") {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// tb is what matchSubset needs of a test.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
}

// matchSubset asserts that got holds want (see replayStep).
func matchSubset(t tb, at string, want, got any, raw string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.True(t, ok, "%s: want an object, got %v\n%s", at, got, raw) {
			return
		}
		for k, v := range w {
			gv, ok := g[k]
			if !assert.True(t, ok, "%s.%s is missing\n%s", at, k, raw) {
				continue
			}
			matchSubset(t, at+"."+k, v, gv, raw)
		}
	case []any:
		g, ok := got.([]any)
		if !assert.True(t, ok, "%s: want an array, got %v\n%s", at, got, raw) || !assert.Len(t, g, len(w), "%s\n%s", at, raw) {
			return
		}
		for i := range w {
			matchSubset(t, fmt.Sprintf("%s[%d]", at, i), w[i], g[i], raw)
		}
	case string:
		if w == "$present" {
			assert.NotNil(t, got, "%s\n%s", at, raw)
			return
		}
		assert.Equal(t, w, got, "%s\n%s", at, raw)
	default:
		assert.Equal(t, w, got, "%s\n%s", at, raw)
	}
}

// errorRecorder counts failed assertions.
type errorRecorder struct{ failures int }

func (r *errorRecorder) Helper()               {}
func (r *errorRecorder) Errorf(string, ...any) { r.failures++ }

// TestMatchSubset guards the replay matcher: it must notice a wrong value,
// a missing key, a wrong length and a wrong type, and accept a subset.
func TestMatchSubset(t *testing.T) {
	got := map[string]any{"active": false, "emails": []any{map[string]any{"value": "a", "type": "work"}}, "id": "x"}
	cases := []struct {
		name     string
		want     any
		failures int
	}{
		{"subset", map[string]any{"active": false, "emails": []any{map[string]any{"value": "a"}}, "id": "$present"}, 0},
		{"wrong value", map[string]any{"active": true}, 1},
		{"missing key", map[string]any{"userName": "a"}, 1},
		{"wrong length", map[string]any{"emails": []any{}}, 1},
		{"wrong type", map[string]any{"emails": map[string]any{}}, 1},
		{"present but absent", map[string]any{"name": "$present"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &errorRecorder{}
			matchSubset(r, "body", tc.want, any(got), "")
			assert.Equal(t, tc.failures, r.failures)
		})
	}
}
