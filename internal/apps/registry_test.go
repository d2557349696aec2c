package apps_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// staticFixture is three valid config-file applications: one per metadata
// source.
type staticFixture struct {
	apps   []config.ApplicationConfig
	server *mdServer
	file   string
}

func newStaticFixture(t *testing.T) staticFixture {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "wiki-sp.xml")
	require.NoError(t, os.WriteFile(file, spMetadata(t, "https://wiki.example.com/sp", "https://wiki.example.com/acs", false), 0o600))
	srv := newMDServer(t, spMetadata(t, "https://crm.example.com/sp", "https://crm.example.com/acs", true))
	return staticFixture{
		file:   file,
		server: srv,
		apps: []config.ApplicationConfig{
			{
				ID: "wiki", Name: "Team wiki", MetadataFile: file, NameIDFormat: "emailAddress",
				Attributes:  map[string]string{"groups": "groups", "email": "email", "https://aws.amazon.com/SAML/Attributes/AccessControl:Dept": "attributes.department"},
				Assignments: config.ApplicationAssignments{Groups: []string{"engineering"}},
			},
			{
				ID: "crm", Name: "CRM", MetadataURL: srv.URL + "/md", NameIDFormat: "persistent",
				Assignments: config.ApplicationAssignments{Users: []string{"alice"}},
			},
			{
				ID: "chat", Name: "Chat", MetadataXML: string(spMetadata(t, "https://chat.example.com/sp", "https://chat.example.com/acs", false)),
				NameIDFormat: "unspecified",
				Assignments:  config.ApplicationAssignments{Groups: []string{"everyone"}, Users: []string{"bob"}},
			},
		},
	}
}

func TestLoadFromConfig(t *testing.T) {
	f := newStaticFixture(t)
	h := newHarness(t, apps.Config{Static: f.apps, ConfigFile: "/etc/gatehouse.yaml"})
	ctx := t.Context()
	require.NoError(t, h.reg.Load(ctx))

	for _, tc := range []struct{ id, entityID, acs string }{
		{"wiki", "https://wiki.example.com/sp", "https://wiki.example.com/acs"},
		{"crm", "https://crm.example.com/sp", "https://crm.example.com/acs"},
		{"chat", "https://chat.example.com/sp", "https://chat.example.com/acs"},
	} {
		byID, err := h.reg.ServiceProviderByID(ctx, tc.id)
		require.NoError(t, err, tc.id)
		byEntity, err := h.reg.ServiceProviderByEntityID(ctx, tc.entityID)
		require.NoError(t, err, tc.id)
		assert.Same(t, byID, byEntity)
		assert.Equal(t, tc.id, byID.ID)
		require.Len(t, byID.ACS, 1)
		assert.Equal(t, tc.acs, byID.ACS[0].Location)
	}
	wiki, err := h.reg.ServiceProviderByID(ctx, "wiki")
	require.NoError(t, err)
	assert.Equal(t, idp.NameIDEmail, wiki.NameIDFormat)
	assert.Equal(t, []idp.AttributeMapping{
		{Name: "email", NameFormat: idp.AttrNameFormatBasic, Field: "email"},
		{Name: "groups", NameFormat: idp.AttrNameFormatBasic, Field: "groups"},
		{Name: "https://aws.amazon.com/SAML/Attributes/AccessControl:Dept", NameFormat: idp.AttrNameFormatURI, Field: "attributes.department"},
	}, wiki.Attributes, "sorted by name; ABAC names get the uri format")
	crm, err := h.reg.ServiceProviderByID(ctx, "crm")
	require.NoError(t, err)
	assert.Equal(t, idp.NameIDPersistent, crm.NameIDFormat)

	_, err = h.reg.ServiceProviderByEntityID(ctx, "https://unknown.example.com/sp")
	require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
	_, err = h.reg.ServiceProviderByID(ctx, "unknown")
	require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)

	list := h.reg.List()
	require.Len(t, list, 3)
	assert.Equal(t, []string{"chat", "crm", "wiki"}, []string{list[0].ID, list[1].ID, list[2].ID})
	for _, a := range list {
		assert.Equal(t, apps.SourceConfig, a.Source)
		assert.True(t, a.Available)
	}
	assert.Equal(t, f.file, list[2].MetadataFile)
	v, ok := h.metric(t, "gatehouse_app_unavailable", "crm")
	require.True(t, ok)
	assert.Zero(t, v)
	v, ok = h.metric(t, "gatehouse_app_metadata_last_success_timestamp_seconds", "crm")
	require.True(t, ok)
	assert.Positive(t, v)
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, f *staticFixture)
		want   []string // substrings of the error; nil: Load succeeds
	}{
		{"valid", func(*testing.T, *staticFixture) {}, nil},
		{"missing file", func(t *testing.T, f *staticFixture) {
			f.apps[0].MetadataFile = filepath.Join(t.TempDir(), "nope.xml")
		}, []string{`application "wiki"`, "nope.xml", "/etc/gatehouse.yaml"}},
		{"invalid inline XML", func(_ *testing.T, f *staticFixture) {
			f.apps[2].MetadataXML = strings.Replace(f.apps[2].MetadataXML, "</md:EntityDescriptor>", "", 1)
		}, []string{`application "chat"`, "metadata_xml"}},
		{"javascript ACS in file", func(t *testing.T, f *staticFixture) {
			b, err := os.ReadFile(f.file)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(f.file, []byte(strings.Replace(string(b), "https://wiki.example.com/acs", "javascript:alert(1)", 1)), 0o600))
		}, []string{`application "wiki"`, "metadata_file", "wiki-sp.xml", "javascript"}},
		{"URL down", func(_ *testing.T, f *staticFixture) {
			f.server.set(http.StatusInternalServerError, nil)
		}, []string{`application "crm"`, "metadata_url", "/md", "500"}},
		{"unknown attribute field", func(_ *testing.T, f *staticFixture) {
			f.apps[0].Attributes["phone"] = "phone"
		}, []string{`application "wiki"`, `attributes.phone: "phone" is not one of id, user_name`}},
		{"duplicate entity ID", func(_ *testing.T, f *staticFixture) {
			f.apps[2].MetadataXML = string(spMetadata(t, "https://wiki.example.com/sp", "https://chat.example.com/acs", false))
		}, []string{`applications "wiki" and "chat"`, `"https://wiki.example.com/sp"`}},
		{"two problems at once", func(t *testing.T, f *staticFixture) {
			f.apps[0].MetadataFile = filepath.Join(t.TempDir(), "nope.xml")
			f.server.set(http.StatusNotFound, nil)
		}, []string{`application "wiki"`, `application "crm"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStaticFixture(t)
			tc.change(t, &f)
			h := newHarness(t, apps.Config{Static: f.apps, ConfigFile: "/etc/gatehouse.yaml"})
			err := h.reg.Load(t.Context())
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			t.Log(err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, h.reg.List(), "nothing is installed")
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	valid := apps.Config{Store: memory.New()}
	_, err := apps.New(valid)
	require.NoError(t, err, "positive control")
	for name, cfg := range map[string]apps.Config{
		"no store":         {},
		"tiny interval":    {Store: memory.New(), RefreshInterval: time.Millisecond},
		"duplicate app ID": {Store: memory.New(), Static: []config.ApplicationConfig{{ID: "a", MetadataXML: "<x/>"}, {ID: "a", MetadataXML: "<x/>"}}},
		"no metadata":      {Store: memory.New(), Static: []config.ApplicationConfig{{ID: "a"}}},
		"bad ID":           {Store: memory.New(), Static: []config.ApplicationConfig{{ID: "../a", MetadataXML: "<x/>"}}},
	} {
		_, err := apps.New(cfg)
		assert.Error(t, err, name)
	}
}

func TestCanAccess(t *testing.T) {
	f := newStaticFixture(t)
	h := newHarness(t, apps.Config{Static: f.apps})
	ctx := t.Context()
	require.NoError(t, h.reg.Load(ctx))
	sp := func(id string) *idp.ServiceProvider {
		s, err := h.reg.ServiceProviderByID(ctx, id)
		require.NoError(t, err)
		return s
	}
	for _, tc := range []struct {
		name string
		app  string
		p    idp.Principal
		want bool
	}{
		{"group member", "wiki", idp.Principal{UserID: "u1", UserName: "carol", Groups: []string{"sales", "engineering"}}, true},
		{"other groups only", "wiki", idp.Principal{UserID: "u1", UserName: "carol", Groups: []string{"sales"}}, false},
		{"no groups", "wiki", idp.Principal{UserID: "u1", UserName: "carol"}, false},
		{"group name case differs", "wiki", idp.Principal{UserID: "u1", UserName: "carol", Groups: []string{"Engineering"}}, false},
		{"assigned user", "crm", idp.Principal{UserID: "u2", UserName: "alice"}, true},
		{"user ID is not user name", "crm", idp.Principal{UserID: "alice", UserName: "mallory"}, false},
		{"group named like a user", "crm", idp.Principal{UserID: "u3", UserName: "mallory", Groups: []string{"alice"}}, false},
		{"user or group", "chat", idp.Principal{UserID: "u4", UserName: "bob"}, true},
		{"user or group, by group", "chat", idp.Principal{UserID: "u5", UserName: "dave", Groups: []string{"everyone"}}, true},
		{"empty user name never matches", "crm", idp.Principal{UserID: "u6"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.reg.CanAccess(ctx, sp(tc.app), tc.p)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ok)
		})
	}

	t.Run("empty assignments admit nobody", func(t *testing.T) {
		md := spMetadata(t, "https://empty.example.com/sp", "https://empty.example.com/acs", false)
		_, err := h.reg.Create(ctx, "empty", "", apps.Spec{MetadataXML: string(md)})
		require.NoError(t, err)
		ok, err := h.reg.CanAccess(ctx, sp("empty"), idp.Principal{UserID: "u", UserName: "alice", Groups: []string{"engineering", "everyone"}})
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("deleted or replaced application", func(t *testing.T) {
		md := spMetadata(t, "https://temp.example.com/sp", "https://temp.example.com/acs", false)
		spec := apps.Spec{MetadataXML: string(md), Assignments: apps.Assignments{Users: []string{"alice"}}}
		_, err := h.reg.Create(ctx, "temp", "", spec)
		require.NoError(t, err)
		old := sp("temp")
		alice := idp.Principal{UserID: "u", UserName: "alice"}
		ok, err := h.reg.CanAccess(ctx, old, alice)
		require.NoError(t, err)
		require.True(t, ok, "positive control")

		spec.MetadataXML = string(spMetadata(t, "https://temp2.example.com/sp", "https://temp.example.com/acs", false))
		_, err = h.reg.Update(ctx, "temp", "", spec)
		require.NoError(t, err)
		ok, err = h.reg.CanAccess(ctx, old, alice)
		require.NoError(t, err)
		assert.False(t, ok, "sp now names another entity")

		require.NoError(t, h.reg.Delete(ctx, "temp"))
		ok, err = h.reg.CanAccess(ctx, old, alice)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

func TestApplicationsFor(t *testing.T) {
	f := newStaticFixture(t)
	h := newHarness(t, apps.Config{Static: f.apps})
	ctx := t.Context()
	require.NoError(t, h.reg.Load(ctx))
	md := spMetadata(t, "https://b.example.com/sp", "https://b.example.com/acs", false)
	_, err := h.reg.Create(ctx, "aaa", "Billing", apps.Spec{MetadataXML: string(md), Assignments: apps.Assignments{Groups: []string{"engineering"}}})
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		p    idp.Principal
		want []apps.Summary
	}{
		{"several, by name", idp.Principal{UserID: "1", UserName: "alice", Groups: []string{"engineering", "everyone"}},
			[]apps.Summary{{ID: "aaa", Name: "Billing"}, {ID: "crm", Name: "CRM"}, {ID: "chat", Name: "Chat"}, {ID: "wiki", Name: "Team wiki"}}},
		{"one", idp.Principal{UserID: "2", UserName: "bob"}, []apps.Summary{{ID: "chat", Name: "Chat"}}},
		{"none", idp.Principal{UserID: "3", UserName: "eve", Groups: []string{"guests"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, h.reg.ApplicationsFor(ctx, tc.p))
		})
	}
}

func TestExpiredMetadataIsNotServed(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	h := newHarness(t, apps.Config{Now: func() time.Time { return clock }})
	ctx := t.Context()
	require.NoError(t, h.reg.Load(ctx))
	md := string(spMetadata(t, "https://exp.example.com/sp", "https://exp.example.com/acs", false))
	md = strings.Replace(md, `entityID=`, `validUntil="2030-01-02T00:00:00Z" entityID=`, 1)
	_, err := h.reg.Create(ctx, "exp", "", apps.Spec{MetadataXML: md, Assignments: apps.Assignments{Users: []string{"alice"}}})
	require.NoError(t, err)
	_, err = h.reg.ServiceProviderByEntityID(ctx, "https://exp.example.com/sp")
	require.NoError(t, err, "positive control")
	assert.Len(t, h.reg.ApplicationsFor(ctx, idp.Principal{UserID: "1", UserName: "alice"}), 1)

	clock = now.Add(24 * time.Hour)
	_, err = h.reg.ServiceProviderByEntityID(ctx, "https://exp.example.com/sp")
	require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
	_, err = h.reg.ServiceProviderByID(ctx, "exp")
	require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
	assert.Empty(t, h.reg.ApplicationsFor(ctx, idp.Principal{UserID: "1", UserName: "alice"}))
}

func TestConfigAppsAreReadOnly(t *testing.T) {
	f := newStaticFixture(t)
	h := newHarness(t, apps.Config{Static: f.apps, ConfigFile: "/etc/gatehouse.yaml"})
	ctx := t.Context()
	require.NoError(t, h.reg.Load(ctx))
	before := h.reg.List()
	md := string(spMetadata(t, "https://new.example.com/sp", "https://new.example.com/acs", false))

	_, err := h.reg.Create(ctx, "wiki", "", apps.Spec{MetadataXML: md})
	require.ErrorIs(t, err, apps.ErrReadOnly)
	require.ErrorIs(t, err, apps.ErrConflict)
	assert.Contains(t, err.Error(), "/etc/gatehouse.yaml")
	_, err = h.reg.Update(ctx, "wiki", "", apps.Spec{MetadataXML: md})
	require.ErrorIs(t, err, apps.ErrReadOnly)
	require.ErrorIs(t, h.reg.Delete(ctx, "wiki"), apps.ErrReadOnly)

	assert.Equal(t, before, h.reg.List())
	stored, err := h.store.ListApplications(ctx)
	require.NoError(t, err)
	assert.Empty(t, stored)

	_, err = h.reg.Create(ctx, "new", "", apps.Spec{MetadataXML: md})
	require.NoError(t, err, "positive control")
}

func TestStoredAppsAtStartup(t *testing.T) {
	ctx := t.Context()
	good := spMetadata(t, "https://stored.example.com/sp", "https://stored.example.com/acs", false)
	srv := newMDServer(t, good)
	store := memory.New()

	// Registered while the URL answered: the store keeps the copy.
	first := newHarness(t, apps.Config{Store: store})
	require.NoError(t, first.reg.Load(ctx))
	_, err := first.reg.Create(ctx, "stored", "Stored", apps.Spec{MetadataURL: srv.URL + "/md", Assignments: apps.Assignments{Users: []string{"alice"}}})
	require.NoError(t, err)
	rec, err := store.GetApplication(ctx, "stored")
	require.NoError(t, err)
	assert.Equal(t, good, rec.MetadataCopy)

	t.Run("URL down: last good copy", func(t *testing.T) {
		srv.set(http.StatusServiceUnavailable, nil)
		t.Cleanup(func() { srv.set(http.StatusOK, good) })
		h := newHarness(t, apps.Config{Store: store})
		require.NoError(t, h.reg.Load(ctx))
		sp, err := h.reg.ServiceProviderByEntityID(ctx, "https://stored.example.com/sp")
		require.NoError(t, err)
		assert.Equal(t, "stored", sp.ID)
		n, ok := h.metric(t, "gatehouse_app_metadata_refresh_failures_total", "stored")
		require.True(t, ok)
		assert.Equal(t, 1.0, n)
		assert.True(t, hasLog(h.logs, "fetching metadata failed"))
	})
	t.Run("URL down and no copy: skipped, not fatal", func(t *testing.T) {
		s2 := memory.New()
		rec := rec.Clone()
		rec.MetadataCopy, rec.MetadataFetchedAt = nil, time.Time{}
		require.NoError(t, s2.CreateApplication(ctx, rec))
		inline := apps.Record{ID: "inline", Name: "Inline", Spec: apps.Spec{
			MetadataXML: string(spMetadata(t, "https://inline.example.com/sp", "https://inline.example.com/acs", false)),
		}}
		require.NoError(t, s2.CreateApplication(ctx, inline))
		srv.set(http.StatusServiceUnavailable, nil)
		t.Cleanup(func() { srv.set(http.StatusOK, good) })

		h := newHarness(t, apps.Config{Store: s2})
		require.NoError(t, h.reg.Load(ctx))
		_, err := h.reg.ServiceProviderByID(ctx, "stored")
		require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
		_, err = h.reg.ServiceProviderByID(ctx, "inline")
		require.NoError(t, err, "the other applications are served")
		a, err := h.reg.Get("stored")
		require.NoError(t, err)
		assert.False(t, a.Available)
		assert.Contains(t, a.Problem, "metadata_url")
		v, ok := h.metric(t, "gatehouse_app_unavailable", "stored")
		require.True(t, ok)
		assert.Equal(t, 1.0, v)
		assert.True(t, hasLog(h.logs, "level=ERROR"))
	})
	t.Run("entity ID taken by a config app: skipped", func(t *testing.T) {
		cfgApp := config.ApplicationConfig{ID: "cfg", Name: "cfg", MetadataXML: string(spMetadata(t, "https://stored.example.com/sp", "https://cfg.example.com/acs", false)), NameIDFormat: "unspecified"}
		h := newHarness(t, apps.Config{Store: store, Static: []config.ApplicationConfig{cfgApp}})
		require.NoError(t, h.reg.Load(ctx))
		sp, err := h.reg.ServiceProviderByEntityID(ctx, "https://stored.example.com/sp")
		require.NoError(t, err)
		assert.Equal(t, "cfg", sp.ID, "the config file wins")
		a, err := h.reg.Get("stored")
		require.NoError(t, err)
		assert.False(t, a.Available)
		assert.Contains(t, a.Problem, `already used by application "cfg"`)
	})
	t.Run("store down: error", func(t *testing.T) {
		h := newHarness(t, apps.Config{Store: failingStore{}})
		require.Error(t, h.reg.Load(ctx))
	})
}

// failingStore fails every call, like an unreachable database.
type failingStore struct{}

var errDown = errors.New("database is down")

func (failingStore) ListApplications(context.Context) ([]apps.Record, error) { return nil, errDown }
func (failingStore) GetApplication(context.Context, string) (apps.Record, error) {
	return apps.Record{}, errDown
}
func (failingStore) CreateApplication(context.Context, apps.Record) error { return errDown }
func (failingStore) UpdateApplication(context.Context, apps.Record) error { return errDown }
func (failingStore) DeleteApplication(context.Context, string) error      { return errDown }
func (failingStore) SaveMetadataCopy(context.Context, string, []byte, time.Time) error {
	return errDown
}
