package admin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

const (
	adminSecret = "0123456789abcdef0123456789abcdef-admin"
	configFile  = "/etc/gatehouse/gatehouse.yaml"
)

// testNow has no sub-microsecond part, so it round-trips through SQL.
var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// spMD returns valid SP metadata (samltest) for entityID.
func spMD(t testing.TB, entityID, acsURL string, encryption bool) string {
	t.Helper()
	sp, err := samltest.NewSP(entityID, acsURL)
	require.NoError(t, err)
	md, err := sp.Metadata(false, encryption)
	require.NoError(t, err)
	return string(md)
}

// mdCache shares generated SP metadata between tests (key generation is
// slow).
var mdCache sync.Map

func cachedMD(t testing.TB, entityID string, encryption bool) string {
	key := entityID + map[bool]string{true: "+enc", false: ""}[encryption]
	if v, ok := mdCache.Load(key); ok {
		return v.(string)
	}
	md := spMD(t, entityID, strings.TrimSuffix(entityID, "/sp")+"/acs", encryption)
	v, _ := mdCache.LoadOrStore(key, md)
	return v.(string)
}

// openSQLite opens a SQLite store in dir (the same file for every call
// with the same dir).
func openSQLite(t testing.TB, dir string) *sqlstore.Store {
	t.Helper()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "gatehouse.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := sqlstore.Open(context.Background(), db, sqlstore.SQLite, sqlstore.Options{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type adminAPI struct {
	h     http.Handler
	reg   *apps.Registry
	store apps.Store
}

func newAdminAPI(t testing.TB, store apps.Store) *adminAPI {
	t.Helper()
	wiki := config.ApplicationConfig{
		ID: "wiki", Name: "Team wiki", MetadataXML: cachedMD(t, "https://wiki.example.com/sp", false),
		NameIDFormat: "emailAddress", Attributes: map[string]string{"email": "email"},
		Assignments: config.ApplicationAssignments{Groups: []string{"engineering"}},
	}
	reg, err := apps.New(apps.Config{
		Static: []config.ApplicationConfig{wiki}, ConfigFile: configFile, Store: store,
		Now: func() time.Time { return testNow }, Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	require.NoError(t, reg.Load(t.Context()))
	mux := http.NewServeMux()
	Routes(mux, NewToken(adminSecret), reg)
	return &adminAPI{h: mux, reg: reg, store: store}
}

func (a *adminAPI) do(t testing.TB, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func decodeJSON[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

// validApp is a valid POST body for application id with the given entity.
func validApp(t testing.TB, id, entityID string) map[string]any {
	return map[string]any{
		"id":             id,
		"name":           "CRM <Sales & Co>",
		"metadata_xml":   cachedMD(t, entityID, true),
		"name_id_format": "emailAddress",
		"attributes": []any{
			map[string]any{"name": "email", "field": "email"},
			map[string]any{"name": "groups", "field": "groups"},
			map[string]any{"name": "https://aws.amazon.com/SAML/Attributes/AccessControl:Dept", "field": "attributes.department"},
		},
		"sign":                "both",
		"encrypt_assertions":  true,
		"default_relay_state": "/home",
		"assignments":         map[string]any{"groups": []any{"sales"}, "users": []any{"alice"}},
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestApplicationsCRUD(t *testing.T) {
	dir := t.TempDir()
	store := openSQLite(t, dir)
	api := newAdminAPI(t, store)
	mdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(cachedMD(t, "https://crm.example.com/sp", true)))
	}))
	t.Cleanup(mdSrv.Close)

	// Create.
	w := api.do(t, http.MethodPost, applicationsPath, mustJSON(t, validApp(t, "crm", "https://crm.example.com/sp")))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, applicationsPath+"/crm", w.Header().Get("Location"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	created := decodeJSON[map[string]any](t, w)
	assert.Equal(t, "crm", created["id"])
	assert.Equal(t, "CRM <Sales & Co>", created["name"])
	assert.Equal(t, "api", created["source"])
	assert.Equal(t, "active", created["status"])
	assert.Equal(t, "https://crm.example.com/sp", created["entity_id"])
	assert.Equal(t, "both", created["sign"])
	assert.Equal(t, testNow.Format(time.RFC3339), created["created_at"])
	assert.NotContains(t, w.Body.String(), "metadata_copy")

	sp, err := api.reg.ServiceProviderByEntityID(t.Context(), "https://crm.example.com/sp")
	require.NoError(t, err, "served at once")
	assert.True(t, sp.EncryptAssertions)

	// Read.
	w = api.do(t, http.MethodGet, applicationsPath+"/crm", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, created, decodeJSON[map[string]any](t, w))
	w = api.do(t, http.MethodGet, applicationsPath, "")
	require.Equal(t, http.StatusOK, w.Code)
	list := decodeJSON[struct {
		Applications []map[string]any `json:"applications"`
	}](t, w)
	require.Len(t, list.Applications, 2)
	assert.Equal(t, "crm", list.Applications[0]["id"])
	assert.Equal(t, "wiki", list.Applications[1]["id"])
	assert.Equal(t, "config", list.Applications[1]["source"])

	// Update: a new name, metadata from a URL, other attributes.
	upd := validApp(t, "crm", "https://crm.example.com/sp")
	delete(upd, "id")
	delete(upd, "metadata_xml")
	upd["name"] = "CRM"
	upd["metadata_url"] = mdSrv.URL + "/md"
	upd["attributes"] = []any{map[string]any{"name": "mail", "field": "email"}}
	w = api.do(t, http.MethodPut, applicationsPath+"/crm", mustJSON(t, upd))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	updated := decodeJSON[map[string]any](t, w)
	assert.Equal(t, "CRM", updated["name"])
	assert.Equal(t, mdSrv.URL+"/md", updated["metadata_url"])
	assert.Nil(t, updated["metadata_xml"])
	assert.Equal(t, created["created_at"], updated["created_at"])
	sp, err = api.reg.ServiceProviderByID(t.Context(), "crm")
	require.NoError(t, err)
	require.Len(t, sp.Attributes, 1)
	assert.Equal(t, "mail", sp.Attributes[0].Name)

	// Persistence: a new registry on the same database serves the same.
	again := newAdminAPI(t, openSQLite(t, dir))
	w = again.do(t, http.MethodGet, applicationsPath+"/crm", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, updated, decodeJSON[map[string]any](t, w))
	_, err = again.reg.ServiceProviderByEntityID(t.Context(), "https://crm.example.com/sp")
	require.NoError(t, err)

	// Delete.
	w = api.do(t, http.MethodDelete, applicationsPath+"/crm", "")
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, w.Body.String())
	w = api.do(t, http.MethodGet, applicationsPath+"/crm", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w = api.do(t, http.MethodDelete, applicationsPath+"/crm", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	_, err = api.reg.ServiceProviderByEntityID(t.Context(), "https://crm.example.com/sp")
	require.Error(t, err)
	third := newAdminAPI(t, openSQLite(t, dir))
	w = third.do(t, http.MethodGet, applicationsPath+"/crm", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
}

// TestApplicationsBadInput sends requests that each differ from a valid one
// in one way, and checks the answer names the problem and that neither
// the API's view nor the store changed.
func TestApplicationsBadInput(t *testing.T) {
	store := openSQLite(t, t.TempDir())
	api := newAdminAPI(t, store)
	ctx := t.Context()
	existing := validApp(t, "existing", "https://existing.example.com/sp")
	w := api.do(t, http.MethodPost, applicationsPath, mustJSON(t, existing))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())

	notFoundSrv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFoundSrv.Close)
	const newEntity = "https://new.example.com/sp"

	type req struct{ method, path, body, contentType string }
	post := func(change func(m map[string]any)) req {
		m := validApp(t, "new", newEntity)
		change(m)
		return req{http.MethodPost, applicationsPath, mustJSON(t, m), ""}
	}
	put := func(id string, change func(m map[string]any)) req {
		m := validApp(t, id, "https://"+id+".example.com/sp")
		change(m)
		return req{http.MethodPut, applicationsPath + "/" + id, mustJSON(t, m), ""}
	}
	replaceMD := func(old, new string) func(m map[string]any) {
		return func(m map[string]any) {
			md := m["metadata_xml"].(string)
			require.Contains(t, md, old)
			m["metadata_xml"] = strings.Replace(md, old, new, 1)
		}
	}
	for _, tc := range []struct {
		name       string
		req        req
		status     int
		code, want string
	}{
		{"bad metadata XML", post(replaceMD("</md:EntityDescriptor>", "")), 400, "invalid_request", "metadata_xml: "},
		{"DOCTYPE in metadata", post(replaceMD("<md:EntityDescriptor", `<!DOCTYPE x [<!ENTITY a "b">]><md:EntityDescriptor`)), 400, "invalid_request", "metadata_xml: "},
		{"javascript: ACS in metadata", post(replaceMD("https://new.example.com/acs", "javascript:alert(1)")), 400, "invalid_request", `metadata_xml: entity "https://new.example.com/sp": AssertionConsumerService index 0 Location: "javascript:alert(1)"`},
		{"http ACS off loopback", post(replaceMD("https://new.example.com/acs", "http://new.example.com/acs")), 400, "invalid_request", "metadata_xml: "},
		{"unknown attribute field", post(func(m map[string]any) {
			m["attributes"].([]any)[2].(map[string]any)["field"] = "phone"
		}), 400, "invalid_request", `attributes[2].field: "phone" is not one of id, user_name`},
		{"repeated attribute name", post(func(m map[string]any) {
			m["attributes"].([]any)[1].(map[string]any)["name"] = "email"
		}), 400, "invalid_request", `attributes[1].name: "email" repeats attributes[0]`},
		{"bad attribute name format", post(func(m map[string]any) {
			m["attributes"].([]any)[0].(map[string]any)["name_format"] = "basic"
		}), 400, "invalid_request", `attributes[0].name_format: `},
		{"both metadata_xml and metadata_url", post(func(m map[string]any) { m["metadata_url"] = "https://new.example.com/md" }), 400, "invalid_request", "metadata_url: only one of metadata_xml and metadata_url"},
		{"no metadata", post(func(m map[string]any) { delete(m, "metadata_xml") }), 400, "invalid_request", "metadata_xml: one of metadata_xml and metadata_url is required"},
		{"insecure metadata URL", post(func(m map[string]any) {
			delete(m, "metadata_xml")
			m["metadata_url"] = "http://new.example.com/md"
		}), 400, "invalid_request", "metadata_url: "},
		{"metadata URL answers 404", post(func(m map[string]any) {
			delete(m, "metadata_xml")
			m["metadata_url"] = notFoundSrv.URL + "/md"
		}), 400, "invalid_request", "metadata_url: metadata: fetching"},
		{"unknown JSON field", post(func(m map[string]any) { m["colour"] = "red" }), 400, "invalid_request", "colour: unknown field"},
		{"unknown nested field", post(func(m map[string]any) { m["assignments"].(map[string]any)["roles"] = []any{"x"} }), 400, "invalid_request", "roles: unknown field"},
		{"metadata_file through the API", post(func(m map[string]any) { m["metadata_file"] = "/etc/passwd" }), 400, "invalid_request", "metadata_file: unknown field"},
		{"wrong JSON type", post(func(m map[string]any) { m["encrypt_assertions"] = "yes" }), 400, "invalid_request", "encrypt_assertions: must be true or false"},
		{"bad ID", post(func(m map[string]any) { m["id"] = "../etc" }), 400, "invalid_request", "id: "},
		{"missing ID", post(func(m map[string]any) { delete(m, "id") }), 400, "invalid_request", "id: is required"},
		{"name with control characters", post(func(m map[string]any) { m["name"] = "a\x07b" }), 400, "invalid_request", "name: holds control characters"},
		{"bad sign mode", post(func(m map[string]any) { m["sign"] = "sha1" }), 400, "invalid_request", `sign: "sha1" is not one of assertion, response, both`},
		{"bad NameID format", post(func(m map[string]any) { m["name_id_format"] = "email" }), 400, "invalid_request", "name_id_format: "},
		{"encryption without certificate", post(func(m map[string]any) {
			m["metadata_xml"] = cachedMD(t, newEntity, false)
		}), 400, "invalid_request", "encrypt_assertions: "},
		{"relay state too long", post(func(m map[string]any) { m["default_relay_state"] = strings.Repeat("r", 81) }), 400, "invalid_request", "default_relay_state: "},
		{"empty group", post(func(m map[string]any) { m["assignments"].(map[string]any)["groups"] = []any{"sales", ""} }), 400, "invalid_request", "assignments.groups[1]: is empty"},
		{"duplicate ID", post(func(m map[string]any) { m["id"] = "existing" }), 409, "conflict", `application "existing" already exists`},
		{"duplicate entity ID", post(func(m map[string]any) {
			m["metadata_xml"] = cachedMD(t, "https://existing.example.com/sp", true)
		}), 409, "conflict", `entity ID "https://existing.example.com/sp" is already used by application "existing"`},
		{"config app's entity ID", post(func(m map[string]any) {
			m["metadata_xml"] = cachedMD(t, "https://wiki.example.com/sp", true)
			m["encrypt_assertions"] = false
			_ = m
		}), 409, "conflict", `is already used by application "wiki"`},
		{"create over a config app", post(func(m map[string]any) { m["id"] = "wiki" }), 409, "conflict", `application "wiki" is defined in ` + configFile},
		{"oversized body", post(func(m map[string]any) { m["name"] = strings.Repeat("n", MaxApplicationBody) }), 413, "request_too_large", "body: larger than 1048576 bytes"},
		{"trailing data", req{http.MethodPost, applicationsPath, mustJSON(t, validApp(t, "new", newEntity)) + "{}", ""}, 400, "invalid_request", "body: holds data after the JSON object"},
		{"malformed JSON", req{http.MethodPost, applicationsPath, `{"id": "new",`, ""}, 400, "invalid_request", "body: "},
		{"empty body", req{http.MethodPost, applicationsPath, " ", ""}, 400, "invalid_request", "body: is empty"},
		{"not JSON", req{http.MethodPost, applicationsPath, mustJSON(t, validApp(t, "new", newEntity)), "text/plain"}, 415, "unsupported_media_type", "Content-Type"},
		{"update a config app", put("wiki", func(map[string]any) {}), 409, "conflict", `application "wiki" is defined in ` + configFile + " and cannot be changed through the API"},
		{"delete a config app", req{http.MethodDelete, applicationsPath + "/wiki", "", ""}, 409, "conflict", configFile},
		{"update with a bad mapping", put("existing", func(m map[string]any) {
			m["attributes"].([]any)[2].(map[string]any)["field"] = "password"
		}), 400, "invalid_request", `attributes[2].field: "password" is not one of`},
		{"update with bad metadata", put("existing", replaceMD("https://existing.example.com/acs", "data:text/html,x")), 400, "invalid_request", "metadata_xml: "},
		{"update with an ID that differs", put("existing", func(m map[string]any) { m["id"] = "other" }), 400, "invalid_request", "id: does not match"},
		{"update an unknown app", put("unknown", func(map[string]any) {}), 404, "not_found", `application "unknown" does not exist`},
		{"delete an unknown app", req{http.MethodDelete, applicationsPath + "/unknown", "", ""}, 404, "not_found", `"unknown"`},
		{"get an unknown app", req{http.MethodGet, applicationsPath + "/unknown", "", ""}, 404, "not_found", `"unknown"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listBefore := api.do(t, http.MethodGet, applicationsPath, "").Body.String()
			storedBefore, err := store.ListApplications(ctx)
			require.NoError(t, err)

			r := httptest.NewRequest(tc.req.method, tc.req.path, strings.NewReader(tc.req.body))
			r.Header.Set("Authorization", "Bearer "+adminSecret)
			r.Header.Set("Content-Type", "application/json")
			if tc.req.contentType != "" {
				r.Header.Set("Content-Type", tc.req.contentType)
			}
			w := httptest.NewRecorder()
			api.h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			body := decodeJSON[server.ErrorBody](t, w)
			t.Log(body.Message)
			assert.Equal(t, tc.code, body.Error)
			assert.Contains(t, body.Message, tc.want)
			if tc.code == "invalid_request" {
				assert.Regexp(t, `^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: `, body.Message, "the message starts with the field")
			}

			assert.Equal(t, listBefore, api.do(t, http.MethodGet, applicationsPath, "").Body.String(), "the API's view is unchanged")
			storedAfter, err := store.ListApplications(ctx)
			require.NoError(t, err)
			assert.Equal(t, storedBefore, storedAfter, "the store is unchanged")
		})
	}

	// Positive control: the valid request the cases start from succeeds.
	w = api.do(t, http.MethodPost, applicationsPath, mustJSON(t, validApp(t, "new", newEntity)))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	w = api.do(t, http.MethodPut, applicationsPath+"/existing", mustJSON(t, validApp(t, "existing", "https://existing.example.com/sp")))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

func TestApplicationsRequireToken(t *testing.T) {
	api := newAdminAPI(t, openSQLite(t, t.TempDir()))
	body := mustJSON(t, validApp(t, "new", "https://new.example.com/sp"))
	for _, rt := range []struct{ method, path, body string }{
		{http.MethodGet, applicationsPath, ""},
		{http.MethodGet, applicationsPath + "/wiki", ""},
		{http.MethodPost, applicationsPath, body},
		{http.MethodPut, applicationsPath + "/new", body},
		{http.MethodDelete, applicationsPath + "/wiki", ""},
	} {
		for name, header := range map[string]string{"none": "", "wrong": "Bearer " + adminSecret + "x", "basic": "Basic " + adminSecret} {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				r.Header.Set("Content-Type", "application/json")
				if header != "" {
					r.Header.Set("Authorization", header)
				}
				w := httptest.NewRecorder()
				api.h.ServeHTTP(w, r)
				require.Equal(t, http.StatusUnauthorized, w.Code)
				assert.Equal(t, "unauthorized", decodeJSON[server.ErrorBody](t, w).Error)
			})
		}
	}
	assert.Len(t, api.reg.List(), 1, "nothing was created or deleted")
	// Positive control.
	w := api.do(t, http.MethodGet, applicationsPath+"/wiki", "")
	assert.Equal(t, http.StatusOK, w.Code)
}

// TestApplicationsStoreDown checks that a store failure is a generic 503
// and leaves the registry as it was.
func TestApplicationsStoreDown(t *testing.T) {
	dir := t.TempDir()
	store := openSQLite(t, dir)
	api := newAdminAPI(t, store)
	before := api.do(t, http.MethodGet, applicationsPath, "").Body.String()
	require.NoError(t, store.Close())
	w := api.do(t, http.MethodPost, applicationsPath, mustJSON(t, validApp(t, "new", "https://new.example.com/sp")))
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	body := decodeJSON[server.ErrorBody](t, w)
	assert.Equal(t, "unavailable", body.Error)
	assert.NotContains(t, body.Message, "sqlstore")
	assert.Equal(t, before, api.do(t, http.MethodGet, applicationsPath, "").Body.String())
	_, err := api.reg.ServiceProviderByEntityID(t.Context(), "https://new.example.com/sp")
	require.Error(t, err)
}

func TestJSONProblemNamesField(t *testing.T) {
	var req applicationRequest
	dec := json.NewDecoder(bytes.NewReader([]byte(`{"assignments":{"groups":"eng"}}`)))
	err := dec.Decode(&req)
	require.Error(t, err)
	assert.Equal(t, "assignments.groups: must be an array, not string", jsonProblem(err))
}
