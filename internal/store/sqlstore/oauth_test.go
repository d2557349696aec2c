package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// TestOAuthMethodsAfterClose checks that the OAuth and audit methods fail
// with ErrClosed (and no sentinel callers branch on) after Close.
func TestOAuthMethodsAfterClose(t *testing.T) {
	exp := testNow.Add(time.Hour)
	calls := map[string]func(ctx context.Context, s *Store) error{
		"CreateDevice": func(ctx context.Context, s *Store) error {
			return s.CreateDevice(ctx, oauth.DeviceAuthorization{DeviceCodeHash: "dc-new", UserCode: "NEWCODE1", CreatedAt: testNow, ExpiresAt: exp})
		},
		"DeviceByUserCode": func(ctx context.Context, s *Store) error {
			_, err := s.DeviceByUserCode(ctx, "PENDING1", testNow)
			return err
		},
		"DeviceByCode": func(ctx context.Context, s *Store) error {
			_, err := s.DeviceByCode(ctx, "dc-pending")
			return err
		},
		"DecideDevice": func(ctx context.Context, s *Store) error {
			return s.DecideDevice(ctx, "PENDING1", "user-1", true, testNow)
		},
		"TouchDevice": func(ctx context.Context, s *Store) error {
			return s.TouchDevice(ctx, "dc-pending", testNow, 10*time.Second)
		},
		"ConsumeDevice": func(ctx context.Context, s *Store) error { return s.ConsumeDevice(ctx, "dc-approved") },
		"CreateRefreshToken": func(ctx context.Context, s *Store) error {
			return s.CreateRefreshToken(ctx, oauth.RefreshToken{Hash: "rt-new", FamilyID: "fam-new", ExpiresAt: exp, FamilyExpiresAt: exp})
		},
		"RefreshTokenByHash": func(ctx context.Context, s *Store) error {
			_, err := s.RefreshTokenByHash(ctx, "rt-1", testNow)
			return err
		},
		"RotateRefreshToken": func(ctx context.Context, s *Store) error {
			return s.RotateRefreshToken(ctx, "rt-1", oauth.RefreshToken{Hash: "rt-2", FamilyID: "fam-1", UserID: "user-1", ExpiresAt: exp, FamilyExpiresAt: exp}, testNow)
		},
		"RevokeRefreshFamily": func(ctx context.Context, s *Store) error { return s.RevokeRefreshFamily(ctx, "fam-1") },
		"RevokeUserRefreshTokens": func(ctx context.Context, s *Store) error {
			_, err := s.RevokeUserRefreshTokens(ctx, "user-1")
			return err
		},
		"Revoke": func(ctx context.Context, s *Store) error { return s.Revoke(ctx, "jti-2", exp) },
		"IsRevoked": func(ctx context.Context, s *Store) error {
			_, err := s.IsRevoked(ctx, "jti-1", testNow)
			return err
		},
		"AppendAudit": func(ctx context.Context, s *Store) error {
			return s.AppendAudit(ctx, []audit.Event{{Type: "token.issued", Time: testNow}})
		},
		"QueryAudit": func(ctx context.Context, s *Store) error {
			_, err := s.QueryAudit(ctx, audit.Query{Type: "token."})
			return err
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					ctx := t.Context()
					s, _ := b.open(t, testOptions())
					require.NoError(t, s.CreateDevice(ctx, oauth.DeviceAuthorization{DeviceCodeHash: "dc-pending", UserCode: "PENDING1", CreatedAt: testNow, ExpiresAt: exp}))
					require.NoError(t, s.CreateDevice(ctx, oauth.DeviceAuthorization{DeviceCodeHash: "dc-approved", UserCode: "APPROVED", CreatedAt: testNow, ExpiresAt: exp}))
					require.NoError(t, s.DecideDevice(ctx, "APPROVED", "user-1", true, testNow))
					require.NoError(t, s.CreateRefreshToken(ctx, oauth.RefreshToken{Hash: "rt-1", FamilyID: "fam-1", UserID: "user-1", ExpiresAt: exp, FamilyExpiresAt: exp}))
					require.NoError(t, s.Revoke(ctx, "jti-1", exp))
					require.NoError(t, call(ctx, s), "positive control")
					require.NoError(t, s.Close())
					err := call(ctx, s)
					require.ErrorIs(t, err, ErrClosed)
					for _, sentinel := range []error{oauth.ErrNotFound, oauth.ErrConflict, oauth.ErrRefreshReused} {
						assert.NotErrorIs(t, err, sentinel)
					}
				})
			}
		})
	}
}

// TestAuditAppendAllOrNoneInDatabase makes the database refuse one event
// in the middle of a batch (a trigger on SQLite, a CHECK constraint on
// PostgreSQL): none of the batch is stored, and later appends still get
// increasing IDs.
func TestAuditAppendAllOrNoneInDatabase(t *testing.T) {
	refuse := map[Dialect]string{
		SQLite: `CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_events WHEN NEW.type = 'refused.by.db'
			BEGIN SELECT RAISE(ABORT, 'refused'); END`,
		PostgreSQL: `ALTER TABLE audit_events ADD CONSTRAINT audit_refuse CHECK (type <> 'refused.by.db')`,
	}
	ev := func(typ string) audit.Event { return audit.Event{Type: typ, Outcome: audit.Success, Time: testNow} }
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			require.NoError(t, s.AppendAudit(ctx, []audit.Event{ev("before")}))
			_, err := db.ExecContext(ctx, refuse[s.d])
			require.NoError(t, err)

			err = s.AppendAudit(ctx, []audit.Event{ev("first"), ev("second"), ev("refused.by.db"), ev("fourth")})
			require.Error(t, err)
			got, err := s.QueryAudit(ctx, audit.Query{})
			require.NoError(t, err)
			require.Len(t, got, 1, "nothing of the failed batch is stored")
			assert.Equal(t, "before", got[0].Type)

			require.NoError(t, s.AppendAudit(ctx, []audit.Event{ev("after")}), "positive control")
			got, err = s.QueryAudit(ctx, audit.Query{})
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, "after", got[0].Type)
			assert.Greater(t, got[0].ID, got[1].ID)
		})
	}
}

// TestOAuthSchema checks the stored form: list columns and the audit data
// column hold JSON, a corrupt value is an error (never a half-read
// record), and the audit table, written once per dialect, has the same
// columns on both.
func TestOAuthSchema(t *testing.T) {
	exp := testNow.Add(time.Hour)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			rows, err := db.QueryContext(ctx, `SELECT * FROM audit_events`)
			require.NoError(t, err)
			columns, err := rows.Columns()
			require.NoError(t, err)
			require.NoError(t, rows.Close())
			assert.Equal(t, []string{"id", "occurred_at", "type", "outcome", "actor", "subject", "client_id", "source", "request_id", "reason", "data"}, columns)

			require.NoError(t, s.AppendAudit(ctx, []audit.Event{{
				Type: "token.issued", Time: testNow, Scopes: []string{"a", "b"}, Details: map[string]string{"jti": "j1"},
			}}))
			var data string
			require.NoError(t, db.QueryRowContext(ctx, `SELECT data FROM audit_events`).Scan(&data))
			assert.JSONEq(t, `{"scopes":["a","b"],"details":{"jti":"j1"}}`, data)

			require.NoError(t, s.CreateRefreshToken(ctx, oauth.RefreshToken{Hash: "rt-1", FamilyID: "fam-1", Scopes: []string{"openid"}, ExpiresAt: exp, FamilyExpiresAt: exp}))
			require.NoError(t, s.CreateDevice(ctx, oauth.DeviceAuthorization{DeviceCodeHash: "dc-1", UserCode: "CODE1234", Scopes: []string{"openid"}, ExpiresAt: exp}))
			for _, table := range []string{"refresh_tokens", "device_authorizations"} {
				var scopes string
				require.NoError(t, db.QueryRowContext(ctx, "SELECT scopes FROM "+table).Scan(&scopes))
				assert.JSONEq(t, `["openid"]`, scopes, table)
			}

			// Positive control, then corrupt every JSON column.
			_, err = s.RefreshTokenByHash(ctx, "rt-1", testNow)
			require.NoError(t, err)
			for _, stmt := range []string{
				`UPDATE audit_events SET data = '{not json'`,
				`UPDATE refresh_tokens SET scopes = '{not json'`,
				`UPDATE device_authorizations SET scopes = '{not json'`,
			} {
				_, err := db.ExecContext(ctx, stmt)
				require.NoError(t, err)
			}
			_, err = s.QueryAudit(ctx, audit.Query{})
			require.Error(t, err)
			_, err = s.RefreshTokenByHash(ctx, "rt-1", testNow)
			require.Error(t, err)
			assert.NotErrorIs(t, err, oauth.ErrNotFound)
			_, err = s.DeviceByCode(ctx, "dc-1")
			require.Error(t, err)
			assert.NotErrorIs(t, err, oauth.ErrNotFound)
			_, err = s.DeviceByUserCode(ctx, "CODE1234", testNow)
			require.Error(t, err)
			assert.NotErrorIs(t, err, oauth.ErrNotFound)
		})
	}
}
