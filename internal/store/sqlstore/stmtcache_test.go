package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// cachedCount returns how many statements s's cache holds.
func cachedCount(s *Store) int {
	n := 0
	s.stmts.ready.Range(func(any, any) bool { n++; return true })
	return n
}

// TestStmtCacheConcurrentFirstUse starts many callers of one query that is
// not prepared yet at once: every caller gets its result and, on SQLite,
// the query is prepared once and cached once (on PostgreSQL pgx prepares,
// and the store's cache holds no statement).
func TestStmtCacheConcurrentFirstUse(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t, testOptions())
			const n = 32
			for i := range n {
				require.NoError(t, s.CreateSession(ctx, sp.Session{ID: fmt.Sprintf("sess-%d", i), UserID: fmt.Sprintf("user-%d", i), ExpiresAt: testNow.Add(time.Hour)}))
			}
			prepares, cached := s.stmts.prepares.Load(), cachedCount(s)

			start := make(chan struct{})
			var wg sync.WaitGroup
			users := make([]string, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					<-start
					sess, err := s.GetSession(ctx, fmt.Sprintf("sess-%d", i), testNow)
					users[i], errs[i] = sess.UserID, err
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				require.NoError(t, errs[i], "caller %d", i)
				assert.Equal(t, fmt.Sprintf("user-%d", i), users[i], "caller %d", i)
			}
			want := int64(1)
			if s.d == PostgreSQL {
				want = 0
			}
			assert.Equal(t, prepares+want, s.stmts.prepares.Load(), "GetSession's query prepared once")
			assert.Equal(t, cached+int(want), cachedCount(s), "and cached once")

			// Later calls use the cached statement.
			_, err := s.GetSession(ctx, "sess-0", testNow)
			require.NoError(t, err)
			assert.Equal(t, prepares+want, s.stmts.prepares.Load())
		})
	}
}

// TestStmtCacheTransactions checks how transactions use the cache: on
// SQLite the queries a transaction ran unprepared are prepared after it, so
// the next transaction prepares nothing; on PostgreSQL (pgx prepares
// queries itself) nothing is prepared through the cache.
func TestStmtCacheTransactions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t, testOptions())
			attrs := sp.UserAttributes{Email: "a@example.com", DisplayName: "A", Groups: []string{"staff", "admins"}}
			provision := func(nameID string) {
				t.Helper()
				u, err := s.ProvisionExternal(ctx, sp.ExternalIdentity{Issuer: "https://idp.example.com", NameID: nameID}, attrs, testNow)
				require.NoError(t, err)
				assert.Equal(t, nameID, u.UserName)
				assert.Equal(t, []string{"admins", "staff"}, u.Groups)
			}
			// The first provisioning creates the groups, later ones find
			// them and give them new versions: the third runs the
			// second's queries.
			provision("first")
			provision("second")
			afterFirst := s.stmts.prepares.Load()
			provision("third")
			assert.Equal(t, afterFirst, s.stmts.prepares.Load(), "the third transaction prepares nothing")
			if s.d == SQLite {
				assert.Positive(t, afterFirst, "the first transaction's queries were prepared after it")
			} else {
				assert.Zero(t, afterFirst, "PostgreSQL runs the query text")
			}
		})
	}
}

// TestStmtCacheFailedPrepareNotCached checks that a preparation that
// fails (here: the caller's context has ended) is not cached.
func TestStmtCacheFailedPrepareNotCached(t *testing.T) {
	s, _, _ := newSQLite(t, testOptions())
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.DeleteSession(canceled, "x")
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, cachedCount(s))

	require.NoError(t, s.DeleteSession(t.Context(), "x"))
	assert.Equal(t, 1, cachedCount(s))
}

// TestSchemaChangeUnderCache changes the sessions table under a query the
// store has already run: the store keeps working. On PostgreSQL a column
// type change makes a prepared statement stale (SQLSTATE 0A000, "cached
// plan must not change result type"); pgx's statement cache drops it after
// that one failure, whereas a statement prepared through database/sql
// would fail on that connection until the process restarts.
func TestSchemaChangeUnderCache(t *testing.T) {
	for _, tc := range []struct {
		backend backend
		alter   string
		// failures is how many calls may fail after the change, per
		// pooled connection.
		failures int
	}{
		{backends[0], `ALTER TABLE sessions ADD COLUMN note TEXT`, 0},
		{backends[1], `ALTER TABLE sessions ALTER COLUMN method TYPE VARCHAR(100)`, 1},
	} {
		t.Run(tc.backend.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := tc.backend.open(t, testOptions())
			db.SetMaxOpenConns(1)
			want := sp.Session{ID: "sess", UserID: "u", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), AuthnInstant: testNow, Method: "saml"}
			require.NoError(t, s.CreateSession(ctx, want))
			for range 2 { // positive control, and the statement is now prepared
				got, err := s.GetSession(ctx, "sess", testNow)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}

			_, err := db.ExecContext(ctx, tc.alter)
			require.NoError(t, err)
			for range tc.failures {
				_, _ = s.GetSession(ctx, "sess", testNow)
			}
			got, err := s.GetSession(ctx, "sess", testNow)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// TestCloseFailsLaterCalls checks that after Close every method returns an
// error wrapping ErrClosed (and none of the sentinels callers branch on),
// while the *sql.DB stays open for its owner.
func TestCloseFailsLaterCalls(t *testing.T) {
	ext := sp.ExternalIdentity{Issuer: "https://idp.example.com", NameID: "alice"}
	attrs := sp.UserAttributes{Email: "alice@example.com", Groups: []string{"staff"}}
	calls := map[string]func(ctx context.Context, s *Store) error{
		"SaveRequest": func(ctx context.Context, s *Store) error {
			return s.SaveRequest(ctx, sp.PendingRequest{ID: "req-2", ExpiresAt: testNow.Add(time.Hour)})
		},
		"ConsumeRequest": func(ctx context.Context, s *Store) error {
			_, err := s.ConsumeRequest(ctx, "req-1", testNow)
			return err
		},
		"MarkAssertionUsed": func(ctx context.Context, s *Store) error {
			return s.MarkAssertionUsed(ctx, ext.Issuer, "_a2", testNow.Add(time.Hour), testNow)
		},
		"CreateSession": func(ctx context.Context, s *Store) error {
			return s.CreateSession(ctx, sp.Session{ID: "sess-2", ExpiresAt: testNow.Add(time.Hour)})
		},
		"GetSession": func(ctx context.Context, s *Store) error {
			_, err := s.GetSession(ctx, "sess-1", testNow)
			return err
		},
		"DeleteSession": func(ctx context.Context, s *Store) error { return s.DeleteSession(ctx, "sess-1") },
		"CreateUser": func(ctx context.Context, s *Store) error {
			_, err := s.CreateUser(ctx, sp.User{UserName: "bob", Active: true})
			return err
		},
		"GetUser": func(ctx context.Context, s *Store) error {
			_, err := s.GetUser(ctx, "user-1")
			return err
		},
		"LookupExternal": func(ctx context.Context, s *Store) error {
			_, err := s.LookupExternal(ctx, ext)
			return err
		},
		"LinkByUserName": func(ctx context.Context, s *Store) error {
			_, err := s.LinkByUserName(ctx, ext)
			return err
		},
		"ProvisionExternal": func(ctx context.Context, s *Store) error {
			_, err := s.ProvisionExternal(ctx, ext, attrs, testNow)
			return err
		},
		"UpdateAttributes": func(ctx context.Context, s *Store) error {
			_, err := s.UpdateAttributes(ctx, "user-1", attrs, testNow)
			return err
		},
		"Cleanup": func(ctx context.Context, s *Store) error {
			_, err := s.Cleanup(ctx, testNow)
			return err
		},
		"Ping": func(ctx context.Context, s *Store) error { return s.Ping(ctx) },
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			// setUp returns a store holding the rows the calls touch, with
			// every query of the calls cached.
			setUp := func(t *testing.T) (*Store, func() error) {
				ctx := t.Context()
				s, db := b.open(t, testOptions())
				_, err := s.CreateUser(ctx, sp.User{ID: "user-1", UserName: "alice", Active: true})
				require.NoError(t, err)
				_, err = s.LinkByUserName(ctx, ext)
				require.NoError(t, err)
				require.NoError(t, s.SaveRequest(ctx, sp.PendingRequest{ID: "req-1", ExpiresAt: testNow.Add(time.Hour)}))
				require.NoError(t, s.CreateSession(ctx, sp.Session{ID: "sess-1", UserID: "user-1", ExpiresAt: testNow.Add(time.Hour)}))
				return s, func() error { return db.PingContext(ctx) }
			}
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					// Positive control: the call succeeds on the open store
					// (and its queries are now cached).
					s, pingDB := setUp(t)
					require.NoError(t, call(t.Context(), s))

					require.NoError(t, s.Close())
					err := call(t.Context(), s)
					require.ErrorIs(t, err, ErrClosed)
					for _, sentinel := range []error{sp.ErrNotFound, sp.ErrConflict, sp.ErrReplay} {
						assert.NotErrorIs(t, err, sentinel)
					}
					require.NoError(t, s.Close(), "closing twice")
					require.NoError(t, pingDB(), "Close leaves the *sql.DB open")
				})
			}
		})
	}
}

// TestCloseWhileInUse closes a store while callers run: no call panics,
// each returns a result or an error, and calls after Close fail.
func TestCloseWhileInUse(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t, testOptions())
			require.NoError(t, s.CreateSession(ctx, sp.Session{ID: "sess", UserID: "u", ExpiresAt: testNow.Add(time.Hour)}))
			ext := sp.ExternalIdentity{Issuer: "https://idp.example.com", NameID: "alice"}
			_, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{}, testNow)
			require.NoError(t, err)

			const workers = 4
			started := make(chan struct{}, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					started <- struct{}{}
					for i := 0; ; i++ {
						var err error
						if w%2 == 0 {
							_, err = s.GetSession(ctx, "sess", testNow)
						} else {
							_, err = s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: fmt.Sprint(i)}, testNow)
						}
						if err != nil {
							return // ErrClosed, or a statement closed under a call in progress
						}
					}
				})
			}
			for range workers {
				<-started
			}
			require.NoError(t, s.Close())
			wg.Wait()
			_, err = s.GetSession(ctx, "sess", testNow)
			require.ErrorIs(t, err, ErrClosed)
			_, err = s.ProvisionExternal(ctx, ext, sp.UserAttributes{}, testNow)
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}
