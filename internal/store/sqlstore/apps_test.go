package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestAppsConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunApps(t, func(t *testing.T) storetest.AppStore {
				s, _ := b.open(t, testOptions())
				return s
			})
		})
	}
}

// TestApplicationSpecIsJSON checks the stored form: the spec column holds
// the JSON of apps.Spec.
func TestApplicationSpecIsJSON(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			rec := apps.Record{ID: "wiki", Name: "Wiki", Spec: apps.Spec{
				MetadataXML: "<x/>", Sign: "response",
				Assignments: apps.Assignments{Groups: []string{"eng"}, Users: []string{}},
			}}
			require.NoError(t, s.CreateApplication(ctx, rec))
			var spec string
			require.NoError(t, db.QueryRowContext(ctx, s.d.rebind(`SELECT spec FROM applications WHERE id = ?`), "wiki").Scan(&spec))
			assert.JSONEq(t, `{"metadata_xml":"<x/>","sign":"response","assignments":{"groups":["eng"],"users":[]}}`, spec)

			// A corrupt row is an error, never a half-read record.
			_, err := db.ExecContext(ctx, s.d.rebind(`UPDATE applications SET spec = ? WHERE id = ?`), "{not json", "wiki")
			require.NoError(t, err)
			_, err = s.GetApplication(ctx, "wiki")
			require.Error(t, err)
			assert.NotErrorIs(t, err, apps.ErrNotFound)
			_, err = s.ListApplications(ctx)
			require.Error(t, err)
		})
	}
}

// TestAppMethodsAfterClose checks that the new methods fail with ErrClosed
// (and no sentinel callers branch on) after Close.
func TestAppMethodsAfterClose(t *testing.T) {
	calls := map[string]func(ctx context.Context, s *Store) error{
		"ListApplications": func(ctx context.Context, s *Store) error {
			_, err := s.ListApplications(ctx)
			return err
		},
		"GetApplication": func(ctx context.Context, s *Store) error {
			_, err := s.GetApplication(ctx, "app")
			return err
		},
		"CreateApplication": func(ctx context.Context, s *Store) error {
			return s.CreateApplication(ctx, apps.Record{ID: "app-2"})
		},
		"UpdateApplication": func(ctx context.Context, s *Store) error {
			return s.UpdateApplication(ctx, apps.Record{ID: "app", Name: "x"})
		},
		"DeleteApplication": func(ctx context.Context, s *Store) error { return s.DeleteApplication(ctx, "app") },
		"SaveMetadataCopy": func(ctx context.Context, s *Store) error {
			return s.SaveMetadataCopy(ctx, "app", []byte("<x/>"), testNow)
		},
		"SaveSSOState": func(ctx context.Context, s *Store) error {
			return s.SaveSSOState(ctx, idp.PendingSSO{ID: "st-2", ExpiresAt: testNow.Add(time.Hour)})
		},
		"ConsumeSSOState": func(ctx context.Context, s *Store) error {
			_, err := s.ConsumeSSOState(ctx, "st", testNow)
			return err
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					ctx := t.Context()
					s, _ := b.open(t, testOptions())
					require.NoError(t, s.CreateApplication(ctx, apps.Record{ID: "app"}))
					require.NoError(t, s.SaveSSOState(ctx, idp.PendingSSO{ID: "st", ExpiresAt: testNow.Add(time.Hour)}))
					require.NoError(t, call(ctx, s), "positive control")
					require.NoError(t, s.Close())
					err := call(ctx, s)
					require.ErrorIs(t, err, ErrClosed)
					for _, sentinel := range []error{apps.ErrNotFound, apps.ErrConflict, idp.ErrNotFound} {
						assert.NotErrorIs(t, err, sentinel)
					}
				})
			}
		})
	}
}
