package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
)

// AppStore is what RunApps tests: the application store of the admin API
// and the IdP's pending SSO states, with Cleanup.
type AppStore interface {
	apps.Store
	idp.SSOStateStore
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// RunApps runs the conformance cases of the app-facing IdP's storage.
// newStore must return a new, empty store for each call and register its
// own cleanup with t.Cleanup.
func RunApps(t *testing.T, newStore func(t *testing.T) AppStore) {
	t.Run("Applications", func(t *testing.T) { testApplications(t, newStore) })
	t.Run("ApplicationCopies", func(t *testing.T) { testApplicationCopies(t, newStore) })
	t.Run("ConcurrentCreateApplication", func(t *testing.T) { testConcurrentCreateApplication(t, newStore) })
	t.Run("SSOStates", func(t *testing.T) { testSSOStates(t, newStore) })
	t.Run("ConcurrentConsumeSSOState", func(t *testing.T) { testConcurrentConsumeSSO(t, newStore) })
	t.Run("CleanupSSOStates", func(t *testing.T) { testCleanupSSO(t, newStore) })
}

func appRecord(id string) apps.Record {
	return apps.Record{
		ID:   id,
		Name: "App " + id + " <&> \"ünïcode\"",
		Spec: apps.Spec{
			MetadataURL:  "https://" + id + ".example.com/saml/metadata",
			NameIDFormat: "persistent",
			Attributes: []apps.Attribute{
				{Name: "email", Field: "email"},
				{Name: "https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter", NameFormat: idp.AttrNameFormatURI, Field: "attributes.cost_center"},
			},
			Sign:                  "both",
			EncryptAssertions:     true,
			RequireSignedRequests: true,
			DefaultRelayState:     "/home",
			Assignments:           apps.Assignments{Groups: []string{"engineering", "ops"}, Users: []string{"alice"}},
		},
		MetadataCopy:      []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://` + id + `.example.com"/>`),
		MetadataFetchedAt: base.Add(-time.Minute),
		CreatedAt:         base,
		UpdatedAt:         base.Add(time.Second),
	}
}

// assertRecord compares records, times as instants.
func assertRecord(t *testing.T, want, got apps.Record) {
	t.Helper()
	assertSameTime(t, want.MetadataFetchedAt, got.MetadataFetchedAt, "MetadataFetchedAt")
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.UpdatedAt, got.UpdatedAt, "UpdatedAt")
	want.MetadataFetchedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	got.MetadataFetchedAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func testApplications(t *testing.T, newStore func(t *testing.T) AppStore) {
	ctx := t.Context()
	t.Run("create get list", func(t *testing.T) {
		s := newStore(t)
		list, err := s.ListApplications(ctx)
		require.NoError(t, err)
		assert.Empty(t, list)

		b, a := appRecord("b-app"), appRecord("a-app")
		a.Spec.MetadataURL, a.Spec.MetadataXML = "", "<x/>"
		a.MetadataCopy, a.MetadataFetchedAt = nil, time.Time{}
		a.Spec.Assignments = apps.Assignments{Groups: []string{}, Users: []string{}}
		require.NoError(t, s.CreateApplication(ctx, b))
		require.NoError(t, s.CreateApplication(ctx, a))

		got, err := s.GetApplication(ctx, "b-app")
		require.NoError(t, err)
		assertRecord(t, b, got)
		got, err = s.GetApplication(ctx, "a-app")
		require.NoError(t, err)
		assertRecord(t, a, got)
		assert.True(t, got.MetadataFetchedAt.IsZero(), "a zero time round-trips")

		list, err = s.ListApplications(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assertRecord(t, a, list[0])
		assertRecord(t, b, list[1])
	})
	t.Run("duplicate ID", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateApplication(ctx, appRecord("dup")))
		other := appRecord("dup")
		other.Name = "other"
		require.ErrorIs(t, s.CreateApplication(ctx, other), apps.ErrConflict)
		got, err := s.GetApplication(ctx, "dup")
		require.NoError(t, err)
		assertRecord(t, appRecord("dup"), got)
	})
	t.Run("update keeps CreatedAt", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateApplication(ctx, appRecord("up")))
		require.NoError(t, s.CreateApplication(ctx, appRecord("bystander")))
		next := appRecord("up")
		next.Name = "renamed"
		next.Spec.Sign = "assertion"
		next.Spec.Assignments.Users = []string{"bob"}
		next.MetadataCopy = []byte("<new/>")
		next.MetadataFetchedAt = base.Add(time.Hour)
		next.CreatedAt = base.Add(24 * time.Hour) // ignored
		next.UpdatedAt = base.Add(time.Hour)
		require.NoError(t, s.UpdateApplication(ctx, next))
		got, err := s.GetApplication(ctx, "up")
		require.NoError(t, err)
		want := next
		want.CreatedAt = base
		assertRecord(t, want, got)
		got, err = s.GetApplication(ctx, "bystander")
		require.NoError(t, err)
		assertRecord(t, appRecord("bystander"), got)
	})
	t.Run("save metadata copy", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateApplication(ctx, appRecord("cp")))
		require.NoError(t, s.SaveMetadataCopy(ctx, "cp", []byte("<fresh/>"), base.Add(2*time.Hour)))
		got, err := s.GetApplication(ctx, "cp")
		require.NoError(t, err)
		want := appRecord("cp")
		want.MetadataCopy, want.MetadataFetchedAt = []byte("<fresh/>"), base.Add(2*time.Hour)
		assertRecord(t, want, got)
	})
	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateApplication(ctx, appRecord("gone")))
		require.NoError(t, s.CreateApplication(ctx, appRecord("kept")))
		require.NoError(t, s.DeleteApplication(ctx, "gone"))
		_, err := s.GetApplication(ctx, "gone")
		require.ErrorIs(t, err, apps.ErrNotFound)
		require.ErrorIs(t, s.DeleteApplication(ctx, "gone"), apps.ErrNotFound)
		list, err := s.ListApplications(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "kept", list[0].ID)
		// The ID is free again.
		require.NoError(t, s.CreateApplication(ctx, appRecord("gone")))
	})
	t.Run("unknown ID", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.CreateApplication(ctx, appRecord("known")))
		_, err := s.GetApplication(ctx, "unknown")
		require.ErrorIs(t, err, apps.ErrNotFound)
		require.ErrorIs(t, s.UpdateApplication(ctx, appRecord("unknown")), apps.ErrNotFound)
		require.ErrorIs(t, s.DeleteApplication(ctx, "unknown"), apps.ErrNotFound)
		require.ErrorIs(t, s.SaveMetadataCopy(ctx, "unknown", []byte("<x/>"), base), apps.ErrNotFound)
		_, err = s.GetApplication(ctx, "unknown")
		require.ErrorIs(t, err, apps.ErrNotFound, "no call created it")
		// IDs are compared exactly.
		_, err = s.GetApplication(ctx, "KNOWN")
		require.ErrorIs(t, err, apps.ErrNotFound)
	})
}

// testApplicationCopies checks that records are values: changing what was
// passed in or handed out does not change the store.
func testApplicationCopies(t *testing.T, newStore func(t *testing.T) AppStore) {
	ctx := t.Context()
	s := newStore(t)
	in := appRecord("iso")
	require.NoError(t, s.CreateApplication(ctx, in))
	in.Spec.Assignments.Groups[0] = "changed-in"
	in.Spec.Attributes[0].Field = "id"
	in.MetadataCopy[0] = 'X'

	got, err := s.GetApplication(ctx, "iso")
	require.NoError(t, err)
	assertRecord(t, appRecord("iso"), got)
	got.Spec.Assignments.Users[0] = "changed-out"
	got.MetadataCopy[1] = 'Y'
	list, err := s.ListApplications(ctx)
	require.NoError(t, err)
	list[0].Spec.Attributes[1].Name = "changed-list"

	got, err = s.GetApplication(ctx, "iso")
	require.NoError(t, err)
	assertRecord(t, appRecord("iso"), got)
}

func testConcurrentCreateApplication(t *testing.T, newStore func(t *testing.T) AppStore) {
	s := newStore(t)
	ctx := t.Context()
	errs := race(Concurrency, func(i int) error {
		r := appRecord("race")
		r.Name = fmt.Sprintf("writer-%d", i)
		return s.CreateApplication(ctx, r)
	})
	w := exactlyOneWinner(t, errs, apps.ErrConflict)
	got, err := s.GetApplication(ctx, "race")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("writer-%d", w), got.Name, "the winner's record is stored")
}

func ssoState(id string, expires time.Time) idp.PendingSSO {
	return idp.PendingSSO{
		ID:         id,
		SPEntityID: "https://app.example.com/sp",
		RequestID:  "_req-" + id,
		ACSURL:     "https://app.example.com/acs?x=<1>&y=\"2\"",
		RelayState: "relay " + id + " ünïcode",
		ForceAuthn: true,
		CreatedAt:  base,
		ExpiresAt:  expires,
	}
}

func assertSSO(t *testing.T, want, got idp.PendingSSO) {
	t.Helper()
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	want.CreatedAt, want.ExpiresAt, got.CreatedAt, got.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func testSSOStates(t *testing.T, newStore func(t *testing.T) AppStore) {
	ctx := t.Context()
	t.Run("save and consume once", func(t *testing.T) {
		s := newStore(t)
		st := ssoState("sso-once", base.Add(10*time.Minute))
		require.NoError(t, s.SaveSSOState(ctx, st))
		got, err := s.ConsumeSSOState(ctx, st.ID, base.Add(time.Minute))
		require.NoError(t, err)
		assertSSO(t, st, got)
		_, err = s.ConsumeSSOState(ctx, st.ID, base.Add(time.Minute))
		require.ErrorIs(t, err, idp.ErrNotFound)
	})
	t.Run("false flag round-trips", func(t *testing.T) {
		s := newStore(t)
		st := ssoState("sso-false", base.Add(10*time.Minute))
		st.ForceAuthn, st.RelayState = false, ""
		require.NoError(t, s.SaveSSOState(ctx, st))
		got, err := s.ConsumeSSOState(ctx, st.ID, base)
		require.NoError(t, err)
		assertSSO(t, st, got)
	})
	t.Run("unknown", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-known", base.Add(time.Hour))))
		_, err := s.ConsumeSSOState(ctx, "sso-unknown", base)
		require.ErrorIs(t, err, idp.ErrNotFound)
		_, err = s.ConsumeSSOState(ctx, "sso-known", base)
		require.NoError(t, err, "positive control")
	})
	t.Run("expired", func(t *testing.T) {
		s := newStore(t)
		exp := base.Add(5 * time.Minute)
		require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-edge", exp)))
		require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-past", exp)))
		require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-live", exp)))
		_, err := s.ConsumeSSOState(ctx, "sso-edge", exp)
		require.ErrorIs(t, err, idp.ErrNotFound, "ExpiresAt equal to now is expired")
		_, err = s.ConsumeSSOState(ctx, "sso-past", exp.Add(time.Second))
		require.ErrorIs(t, err, idp.ErrNotFound)
		_, err = s.ConsumeSSOState(ctx, "sso-live", exp.Add(-time.Microsecond))
		require.NoError(t, err, "one microsecond before expiry")
	})
	t.Run("duplicate and empty IDs", func(t *testing.T) {
		s := newStore(t)
		st := ssoState("sso-dup", base.Add(time.Hour))
		require.NoError(t, s.SaveSSOState(ctx, st))
		other := st
		other.ACSURL = "https://evil.example.com/acs"
		require.Error(t, s.SaveSSOState(ctx, other))
		require.Error(t, s.SaveSSOState(ctx, idp.PendingSSO{ExpiresAt: base.Add(time.Hour)}))
		got, err := s.ConsumeSSOState(ctx, st.ID, base)
		require.NoError(t, err)
		assertSSO(t, st, got)
	})
}

func testConcurrentConsumeSSO(t *testing.T, newStore func(t *testing.T) AppStore) {
	s := newStore(t)
	ctx := t.Context()
	for round := range 3 {
		st := ssoState(fmt.Sprintf("sso-race-%d", round), base.Add(time.Minute))
		require.NoError(t, s.SaveSSOState(ctx, st))
		got := make([]idp.PendingSSO, Concurrency)
		errs := race(Concurrency, func(i int) error {
			var err error
			got[i], err = s.ConsumeSSOState(ctx, st.ID, base)
			return err
		})
		if w := exactlyOneWinner(t, errs, idp.ErrNotFound); w >= 0 {
			assertSSO(t, st, got[w])
		}
	}
}

func testCleanupSSO(t *testing.T, newStore func(t *testing.T) AppStore) {
	s := newStore(t)
	ctx := t.Context()
	now := base.Add(time.Hour)
	require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-old", now.Add(-time.Minute))))
	require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-edge", now)))
	require.NoError(t, s.SaveSSOState(ctx, ssoState("sso-live", now.Add(time.Microsecond))))
	require.NoError(t, s.CreateApplication(ctx, appRecord("never-expires")))

	n, err := s.Cleanup(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	before := now.Add(-time.Second)
	_, err = s.ConsumeSSOState(ctx, "sso-live", before)
	require.NoError(t, err, "a live state survives")
	for _, id := range []string{"sso-old", "sso-edge"} {
		_, err = s.ConsumeSSOState(ctx, id, base)
		require.ErrorIs(t, err, idp.ErrNotFound, "%s is really gone", id)
	}
	list, err := s.ListApplications(ctx)
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(list, func(r apps.Record) bool { return r.ID == "never-expires" }), "applications are not cleaned up")
}
