package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// scimTestRecord returns a valid SCIM token record with a fresh ID and
// hash, created at testNow.
func scimTestRecord() scimtoken.Record {
	return scimtoken.Record{
		ID:        newID(),
		Hash:      scimtoken.HashToken("ghscim_" + newID()),
		Name:      "okta",
		CreatedAt: testNow,
		ExpiresAt: testNow.Add(scimtoken.Day),
	}
}

// warmPool opens n connections in db's pool and leaves them idle, so that
// concurrent calls start at once instead of one after another as
// connections are established (without it, a concurrency test can pass
// even with the PostgreSQL advisory lock removed).
func warmPool(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	db.SetMaxIdleConns(n)
	txs := make([]*sql.Tx, 0, n)
	for range n {
		tx, err := db.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		require.NoError(t, tx.Rollback())
	}
}

// TestSCIMTokensTwoInstances: two gateway instances, each with its own
// Store and warmed pool over one database, see each other's revocations
// at once and race to create tokens; exactly
// MaxActive succeed, on SQLite (one write lock) and on PostgreSQL (the
// advisory lock). Migration 0007 creates the table, with no migration of
// scimtoken's own.
func TestSCIMTokensTwoInstances(t *testing.T) {
	const n = 16
	for _, b := range []struct {
		name string
		open func(t *testing.T) (*Store, *Store)
	}{
		{"sqlite", func(t *testing.T) (*Store, *Store) {
			s, _, path := newSQLite(t, testOptions())
			db2, err := sql.Open("sqlite", SQLiteDSN(path))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db2.Close() })
			other, err := Open(t.Context(), db2, SQLite, testOptions())
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, other.Close()) })
			return s, other
		}},
		{"postgres", func(t *testing.T) (*Store, *Store) {
			s, db := newPostgres(t, testOptions())
			warmPool(t, db, n)
			other, err := Open(t.Context(), db, PostgreSQL, testOptions())
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, other.Close()) })
			return s, other
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			s, other := b.open(t)
			t.Run("revocation takes effect at once", func(t *testing.T) {
				svc := func(st scimtoken.Store) *scimtoken.Service {
					v, err := scimtoken.New(scimtoken.Config{Store: st, Auditor: discardAuditor{}, Now: func() time.Time { return testNow }})
					require.NoError(t, err)
					return v
				}
				a, o := svc(s), svc(other)
				c, err := a.Create(t.Context(), scimtoken.CreateRequest{})
				require.NoError(t, err)
				_, err = o.Authenticate(t.Context(), c.Token)
				require.NoError(t, err, "positive control")
				require.NoError(t, a.Revoke(t.Context(), c.ID))
				_, err = o.Authenticate(t.Context(), c.Token)
				var refused *scimtoken.RefusedError
				require.ErrorAs(t, err, &refused)
				assert.Equal(t, scimtoken.ReasonRevoked, refused.Reason)
			})
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, n)
			for i := range n {
				st := s
				if i%2 == 1 {
					st = other
				}
				wg.Go(func() {
					<-start
					errs[i] = st.InsertToken(context.Background(), scimTestRecord(), scimtoken.MaxActive)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, err := range errs {
				if err == nil {
					ok++
					continue
				}
				assert.ErrorIs(t, err, scimtoken.ErrLimit, "goroutine %d", i)
			}
			assert.Equal(t, scimtoken.MaxActive, ok)
			list, err := other.ListTokens(t.Context())
			require.NoError(t, err)
			assert.Len(t, list, scimtoken.MaxActive)
		})
	}
}

// discardAuditor accepts every audit event.
type discardAuditor struct{}

func (discardAuditor) Record(context.Context, audit.Event) error { return nil }

// TestSCIMTokensUnavailable: a store that cannot answer returns an error
// that is none of scimtoken's sentinels, so the Service refuses.
func TestSCIMTokensUnavailable(t *testing.T) {
	s, _, _ := newSQLite(t, testOptions())
	rec := scimTestRecord()
	require.NoError(t, s.InsertToken(t.Context(), rec, scimtoken.MaxActive), "positive control")
	require.NoError(t, s.Close())
	for name, call := range map[string]func() error{
		"insert": func() error { return s.InsertToken(t.Context(), scimTestRecord(), scimtoken.MaxActive) },
		"by hash": func() error {
			_, err := s.TokenByHash(t.Context(), rec.Hash)
			return err
		},
		"list": func() error {
			_, err := s.ListTokens(t.Context())
			return err
		},
		"revoke": func() error { return s.RevokeToken(t.Context(), rec.ID, testNow) },
		"touch":  func() error { return s.TouchToken(t.Context(), rec.ID, testNow, testNow) },
	} {
		err := call()
		require.ErrorIs(t, err, ErrClosed, name)
		for _, sentinel := range []error{scimtoken.ErrNotFound, scimtoken.ErrLimit, scimtoken.ErrConflict} {
			assert.False(t, errors.Is(err, sentinel), "%s: a failure is no sentinel: %v", name, err)
		}
	}
}
