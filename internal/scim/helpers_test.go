package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

const baseURL = "https://gw.example.com/scim/v2"

// fakeAuditor keeps recorded events; fail makes Record fail.
type fakeAuditor struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (a *fakeAuditor) Record(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.events = append(a.events, e)
	return nil
}

func (a *fakeAuditor) recorded() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Event(nil), a.events...)
}

func (a *fakeAuditor) setFail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = err
}

// clock is a test clock that advances one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// env is a SCIM server on a memory store behind scimtoken's middleware,
// as the gateway mounts it.
type env struct {
	t       testing.TB
	store   directory.Store
	audit   *fakeAuditor
	handler http.Handler
	token   string
	tokenID string
}

type envOption func(*scim.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvWithStore(t, memory.New(), opts...)
}

func newEnvWithStore(t testing.TB, store directory.Store, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, store: store, audit: &fakeAuditor{}}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := scim.Config{Store: store, Auditor: e.audit, BaseURL: baseURL, Now: clk.Now}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := scim.New(cfg)
	require.NoError(t, err)
	tokens, err := scimtoken.New(scimtoken.Config{Store: scimtoken.NewMemoryStore(), Auditor: &fakeAuditor{}})
	require.NoError(t, err)
	created, err := tokens.Create(context.Background(), scimtoken.CreateRequest{Name: "test"})
	require.NoError(t, err)
	e.token, e.tokenID = created.Token, created.ID
	e.handler = tokens.Require(srv.Handler())
	return e
}

// response is a recorded answer with its body decoded (when JSON).
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request: body is a string (sent as is) or a value (encoded
// as JSON); headers are name, value pairs. Content-Type defaults to
// application/scim+json when there is a body.
func (e *env) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/scim+json") && w.Body.Len() > 0 {
		require.NoError(e.t, json.Unmarshal(w.Body.Bytes(), &res.body), "body %s", w.Body.String())
	}
	return res
}

// createUser posts a minimal user and returns its id.
func (e *env) createUser(userName string, extra ...map[string]any) string {
	e.t.Helper()
	body := map[string]any{"schemas": []any{scim.UserSchema}, "userName": userName, "active": true}
	for _, x := range extra {
		for k, v := range x {
			body[k] = v
		}
	}
	res := e.do(http.MethodPost, "/scim/v2/Users", body)
	require.Equal(e.t, http.StatusCreated, res.status, res.raw)
	return res.body["id"].(string)
}

// createGroup posts a group with members and returns its id.
func (e *env) createGroup(name string, members ...string) string {
	e.t.Helper()
	body := map[string]any{"schemas": []any{scim.GroupSchema}, "displayName": name}
	if len(members) > 0 {
		var list []any
		for _, m := range members {
			list = append(list, map[string]any{"value": m})
		}
		body["members"] = list
	}
	res := e.do(http.MethodPost, "/scim/v2/Groups", body)
	require.Equal(e.t, http.StatusCreated, res.status, res.raw)
	return res.body["id"].(string)
}

// patchBody is a PatchOp message with ops.
func patchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []any{scim.PatchOpSchema}, "Operations": list}
}

func op(name, path string, value any) map[string]any {
	o := map[string]any{"op": name}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	return o
}

// requireError checks a SCIM error response.
func requireError(t testing.TB, res response, status int, scimType string) {
	t.Helper()
	require.Equal(t, status, res.status, res.raw)
	require.Equal(t, "application/scim+json; charset=utf-8", res.header.Get("Content-Type"))
	require.Equal(t, []any{scimtoken.ErrorSchema}, res.body["schemas"], res.raw)
	require.Equal(t, strconv.Itoa(status), res.body["status"], res.raw)
	if scimType == "" {
		require.NotContains(t, res.body, "scimType", res.raw)
	} else {
		require.Equal(t, scimType, res.body["scimType"], res.raw)
	}
}

// failingStore fails every call with errBroken when broken is set.
type failingStore struct {
	directory.Store
	mu     sync.Mutex
	broken bool
}

var errBroken = errors.New("database is on fire")

func (s *failingStore) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return errBroken
	}
	return nil
}

func (s *failingStore) ListDirectoryUsers(ctx context.Context, q directory.Query) (directory.Page[directory.User], error) {
	if err := s.err(); err != nil {
		return directory.Page[directory.User]{}, err
	}
	return s.Store.ListDirectoryUsers(ctx, q)
}

func (s *failingStore) CreateDirectoryUser(ctx context.Context, u directory.User, now time.Time) (directory.User, error) {
	if err := s.err(); err != nil {
		return directory.User{}, err
	}
	return s.Store.CreateDirectoryUser(ctx, u, now)
}

// get reads a nested field by keys and array indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
