package apps_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// noKeepAlive is an HTTP client whose connections close after each
// response, so no connection goroutine outlives a fetch inside a synctest
// bubble.
func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// TestRefreshKeepsLastGoodCopy runs the refresh loop on synctest's fake
// clock: a metadata URL that fails keeps the copy in use and counts the
// failure; new metadata is swapped in at the next refresh; a copy naming
// another entity is refused.
func TestRefreshKeepsLastGoodCopy(t *testing.T) {
	v1 := spMetadata(t, "https://sp.example.com/sp", "https://sp.example.com/acs-v1", false)
	v2 := spMetadata(t, "https://sp.example.com/sp", "https://sp.example.com/acs-v2", false)
	other := spMetadata(t, "https://other.example.com/sp", "https://sp.example.com/acs-v3", false)
	cfgV1 := spMetadata(t, "https://cfg.example.com/sp", "https://cfg.example.com/acs-v1", false)
	cfgV2 := spMetadata(t, "https://cfg.example.com/sp", "https://cfg.example.com/acs-v2", false)
	// The servers live outside the bubble; only the client runs inside.
	srv := newMDServer(t, v1)
	cfgSrv := newMDServer(t, cfgV1)

	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		store := memory.New()
		h := newHarness(t, apps.Config{
			Store:           store,
			HTTPClient:      noKeepAlive(),
			RefreshInterval: time.Hour,
			SyncInterval:    10 * time.Hour, // out of the way
			Static: []config.ApplicationConfig{{
				ID: "cfg", Name: "cfg", MetadataURL: cfgSrv.URL + "/md", NameIDFormat: "unspecified",
			}},
		})
		require.NoError(t, h.reg.Load(ctx))
		_, err := h.reg.Create(ctx, "app", "App", apps.Spec{MetadataURL: srv.URL + "/md"})
		require.NoError(t, err)
		acs := func(entityID string) string {
			sp, err := h.reg.ServiceProviderByEntityID(ctx, entityID)
			require.NoError(t, err)
			return sp.ACS[0].Location
		}
		failures := func(app string) float64 {
			v, _ := h.metric(t, "gatehouse_app_metadata_refresh_failures_total", app)
			return v
		}
		lastSuccess := func(app string) float64 {
			v, ok := h.metric(t, "gatehouse_app_metadata_last_success_timestamp_seconds", app)
			require.True(t, ok)
			return v
		}
		require.Equal(t, "https://sp.example.com/acs-v1", acs("https://sp.example.com/sp"))
		start := time.Now()
		assert.Equal(t, float64(start.Unix()), lastSuccess("app"))

		h.reg.Start(ctx)
		hits := srv.hits.Load()

		// 1. The URL fails: the copy in use stays, the failure counts.
		srv.set(http.StatusInternalServerError, nil)
		cfgSrv.set(http.StatusBadGateway, nil)
		time.Sleep(time.Hour + time.Second)
		assert.Equal(t, hits+1, srv.hits.Load(), "refreshed once")
		assert.Equal(t, "https://sp.example.com/acs-v1", acs("https://sp.example.com/sp"))
		assert.Equal(t, "https://cfg.example.com/acs-v1", acs("https://cfg.example.com/sp"))
		assert.Equal(t, 1.0, failures("app"))
		assert.Equal(t, 1.0, failures("cfg"))
		assert.Equal(t, float64(start.Unix()), lastSuccess("app"), "no success since")
		assert.True(t, hasLog(h.logs, "keeping the last good copy"))

		// 2. An invalid document is no better than an error.
		srv.set(http.StatusOK, []byte("<md:EntityDescriptor"))
		time.Sleep(time.Hour)
		assert.Equal(t, "https://sp.example.com/acs-v1", acs("https://sp.example.com/sp"))
		assert.Equal(t, 2.0, failures("app"))

		// 3. New metadata is swapped in and stored as the last good copy.
		srv.set(http.StatusOK, v2)
		cfgSrv.set(http.StatusOK, cfgV2)
		time.Sleep(time.Hour)
		assert.Equal(t, "https://sp.example.com/acs-v2", acs("https://sp.example.com/sp"))
		assert.Equal(t, "https://cfg.example.com/acs-v2", acs("https://cfg.example.com/sp"))
		assert.Equal(t, 2.0, failures("app"))
		assert.Equal(t, float64(start.Add(3*time.Hour).Unix()), lastSuccess("app"), "the third tick")
		rec, err := store.GetApplication(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, v2, rec.MetadataCopy)

		// 4. A copy naming another entity is refused.
		srv.set(http.StatusOK, other)
		time.Sleep(time.Hour)
		assert.Equal(t, "https://sp.example.com/acs-v2", acs("https://sp.example.com/sp"))
		_, err = h.reg.ServiceProviderByEntityID(ctx, "https://other.example.com/sp")
		require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
		assert.Equal(t, 3.0, failures("app"))

		cancel()
		<-h.reg.Done()
	})
}

// TestSyncPicksUpOtherInstances runs two registries on one store, as two
// gateway instances on one database: what one changes, the other installs
// at its next sync.
func TestSyncPicksUpOtherInstances(t *testing.T) {
	mdA := spMetadata(t, "https://a.example.com/sp", "https://a.example.com/acs", false)
	mdA2 := spMetadata(t, "https://a.example.com/sp", "https://a.example.com/acs-2", false)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		store := memory.New()
		cfg := apps.Config{Store: store, SyncInterval: time.Minute, RefreshInterval: 100 * time.Hour}
		one, two := newHarness(t, cfg), newHarness(t, cfg)
		require.NoError(t, one.reg.Load(ctx))
		require.NoError(t, two.reg.Load(ctx))
		two.reg.Start(ctx)

		_, err := one.reg.Create(ctx, "a", "A", apps.Spec{MetadataXML: string(mdA), Assignments: apps.Assignments{Users: []string{"alice"}}})
		require.NoError(t, err)
		_, err = two.reg.ServiceProviderByID(ctx, "a")
		require.ErrorIs(t, err, idp.ErrUnknownServiceProvider, "not before the sync")

		time.Sleep(time.Minute + time.Second)
		sp, err := two.reg.ServiceProviderByID(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, "https://a.example.com/acs", sp.ACS[0].Location)
		ok, err := two.reg.CanAccess(ctx, sp, idp.Principal{UserID: "1", UserName: "alice"})
		require.NoError(t, err)
		assert.True(t, ok)

		_, err = one.reg.Update(ctx, "a", "A", apps.Spec{MetadataXML: string(mdA2)})
		require.NoError(t, err)
		time.Sleep(time.Minute)
		sp, err = two.reg.ServiceProviderByID(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, "https://a.example.com/acs-2", sp.ACS[0].Location)
		ok, err = two.reg.CanAccess(ctx, sp, idp.Principal{UserID: "1", UserName: "alice"})
		require.NoError(t, err)
		assert.False(t, ok, "assignments follow the update")

		require.NoError(t, one.reg.Delete(ctx, "a"))
		time.Sleep(time.Minute)
		_, err = two.reg.ServiceProviderByID(ctx, "a")
		require.ErrorIs(t, err, idp.ErrUnknownServiceProvider)
		_, err = two.reg.Get("a")
		require.ErrorIs(t, err, apps.ErrNotFound)

		cancel()
		<-two.reg.Done()
	})
}
