package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// rawBackend opens an empty database without migrating it.
type rawBackend struct {
	name string
	d    Dialect
	open func(t testing.TB) *sql.DB
}

var rawBackends = []rawBackend{
	{"sqlite", SQLite, func(t testing.TB) *sql.DB { db, _ := openSQLiteDB(t); return db }},
	{"postgres", PostgreSQL, openPostgresDB},
}

// openAtVersion migrates db up to version last only and returns a store
// over it, for building databases of earlier schema versions.
func openAtVersion(t *testing.T, db *sql.DB, d Dialect, last int64) *Store {
	t.Helper()
	s := &Store{db: db, d: d, now: testOptions().Now, batch: DefaultCleanupBatchSize, stmts: newStmtCache(db, d)}
	require.NoError(t, s.migrateTo(t.Context(), last))
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func mustExec(t *testing.T, db *sql.DB, d Dialect, query string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(t.Context(), d.rebind(query), args...)
	require.NoError(t, err, query)
}

func schemaVersion(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var v int64
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT MAX(version) FROM schema_migrations`).Scan(&v))
	return v
}

// seedVersion4 writes users, groups and memberships as the code of
// schema version 4 wrote them.
func seedVersion4(t *testing.T, db *sql.DB, d Dialect, users [][2]string) {
	t.Helper()
	for i, u := range users {
		mustExec(t, db, d, `INSERT INTO users (id, user_name, email, display_name, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u[0], u[1], strings.ToLower(u[1])+"@example.com", "Name "+u[1], i%2 == 0, int64(10*i+1), int64(10*i+2))
	}
}

func TestMigrationDirectoryBackfill(t *testing.T) {
	for _, b := range rawBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := b.open(t)
			openAtVersion(t, db, b.d, 4)
			require.Equal(t, int64(4), schemaVersion(t, db))
			seedVersion4(t, db, b.d, [][2]string{{"u1", "Alice"}, {"u2", "bob"}, {"u3", "Ünïcode"}})
			mustExec(t, db, b.d, `UPDATE users SET email = '' WHERE id = 'u2'`)
			mustExec(t, db, b.d, `INSERT INTO groups (id, display_name, created_at) VALUES ('g1', 'Eng', 5), ('g2', 'ops', 6)`)
			mustExec(t, db, b.d, `INSERT INTO group_members (group_id, user_id) VALUES ('g1', 'u1'), ('g2', 'u1'), ('g2', 'u3')`)

			s, err := Open(ctx, db, b.d, testOptions())
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, s.Close()) })

			u1, err := s.DirectoryUser(ctx, "u1")
			require.NoError(t, err)
			assert.Equal(t, directory.User{
				ID: "u1", UserName: "Alice", DisplayName: "Name Alice", Email: "alice@example.com",
				Emails: []directory.Email{{Value: "alice@example.com", Primary: true}}, Active: true,
				Groups:  []directory.GroupRef{{ID: "g1", DisplayName: "Eng"}, {ID: "g2", DisplayName: "ops"}},
				Version: 1, CreatedAt: fromMicros(1), UpdatedAt: fromMicros(2),
			}, u1)
			u2, err := s.DirectoryUser(ctx, "u2")
			require.NoError(t, err)
			assert.Nil(t, u2.Emails, "no address, no emails")
			assert.Equal(t, "", u2.Email)
			g2, err := s.Group(ctx, "g2")
			require.NoError(t, err)
			assert.Equal(t, directory.Group{ID: "g2", DisplayName: "ops", Members: []string{"u1", "u3"}, Version: 1,
				CreatedAt: fromMicros(6), UpdatedAt: fromMicros(6)}, g2)

			// The folded keys work for lookups, filters and uniqueness.
			for f, want := range map[string]string{
				`userName eq "alice"`:                   "u1",
				`userName eq "ÜNÏCODE"`:                 "u3",
				`emails eq "ALICE@EXAMPLE.COM"`:         "u1",
				`displayName eq "NAME BOB"`:             "u2",
				`emails.value eq "ünïcode@example.com"`: "u3",
			} {
				e, err := filter.Parse(f)
				require.NoError(t, err)
				p, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: e, Count: 10})
				require.NoError(t, err, f)
				require.Len(t, p.Items, 1, f)
				assert.Equal(t, want, p.Items[0].ID, f)
			}
			_, err = s.CreateDirectoryUser(ctx, directory.User{UserName: "ALICE"}, testNow)
			require.ErrorIs(t, err, directory.ErrConflict)
			_, err = s.CreateGroup(ctx, directory.Group{DisplayName: "ENG"}, testNow)
			require.ErrorIs(t, err, directory.ErrConflict)
			spu, err := s.GetUser(ctx, "u1")
			require.NoError(t, err)
			assert.Equal(t, sp.User{ID: "u1", UserName: "Alice", Email: "alice@example.com", DisplayName: "Name Alice", Groups: []string{"Eng", "ops"}, Active: true}, spu)
		})
	}
}

func TestMigrationDirectoryCaseCollision(t *testing.T) {
	for _, b := range rawBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := b.open(t)
			openAtVersion(t, db, b.d, 4)
			seedVersion4(t, db, b.d, [][2]string{{"u1", "Alice"}, {"u2", "alice"}})
			mustExec(t, db, b.d, `INSERT INTO groups (id, display_name, created_at) VALUES ('g1', 'Eng', 5), ('g2', 'ENG', 6)`)

			_, err := Open(ctx, db, b.d, testOptions())
			require.Error(t, err)
			assert.Contains(t, err.Error(), `users "Alice" and "alice" have user names that differ only in case`)
			assert.Equal(t, int64(4), schemaVersion(t, db), "the failed migration left nothing")
			_, err = db.ExecContext(ctx, `SELECT user_name_fold FROM users`)
			require.Error(t, err, "no column added")

			mustExec(t, db, b.d, `UPDATE users SET user_name = 'alice2' WHERE id = 'u2'`)
			_, err = Open(ctx, db, b.d, testOptions())
			require.Error(t, err)
			assert.Contains(t, err.Error(), `groups "Eng" and "ENG" have display names that differ only in case`)

			mustExec(t, db, b.d, `UPDATE groups SET display_name = 'eng-2' WHERE id = 'g2'`)
			s, err := Open(ctx, db, b.d, testOptions())
			require.NoError(t, err, "positive control")
			t.Cleanup(func() { assert.NoError(t, s.Close()) })
			all, err := loadMigrations()
			require.NoError(t, err)
			assert.Equal(t, int64(len(all)), schemaVersion(t, db), "every migration applied")
		})
	}
}

func TestSplitStatementsGoSteps(t *testing.T) {
	const valid = "CREATE TABLE a (x INT);\n-- go: fold-directory\nCREATE INDEX i ON a (x);\n"
	got, err := splitStatements(valid)
	require.NoError(t, err)
	assert.Equal(t, []migrationStmt{
		{text: "CREATE TABLE a (x INT)"},
		{step: "fold-directory"},
		{text: "CREATE INDEX i ON a (x)"},
	}, got)
	for name, body := range map[string]string{
		"unknown step":         strings.Replace(valid, "fold-directory", "drop-everything", 1),
		"empty step":           strings.Replace(valid, "go: fold-directory", "go:", 1),
		"inside a statement":   "CREATE TABLE a (\n-- go: fold-directory\nx INT);\n",
		"after a dialect line": "-- dialect: sqlite\n-- go: fold-directory\nCREATE TABLE a (x INT);\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := splitStatements(body)
			require.Error(t, err)
		})
	}
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN details for query.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var details []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notUsed, &detail))
		details = append(details, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(details, "\n")
}

// TestDirectoryFiltersUseIndexes checks on SQLite that the queries of the
// common SCIM lookups search an index instead of scanning the table.
func TestDirectoryFiltersUseIndexes(t *testing.T) {
	s, db, _ := newSQLite(t, testOptions())
	ctx := t.Context()
	for i := range 50 {
		_, err := s.CreateDirectoryUser(ctx, directory.User{UserName: fmt.Sprintf("user%02d", i), ExternalID: fmt.Sprintf("ext-%d", i), Email: fmt.Sprintf("u%d@example.com", i)}, testNow)
		require.NoError(t, err)
	}
	_, err := db.ExecContext(ctx, `ANALYZE`)
	require.NoError(t, err)
	cases := []struct {
		filter, index string
		uses          bool
	}{
		{`userName eq "user07"`, "users_user_name_fold", true},
		{`externalId eq "ext-7"`, "users_external_id", true},
		{`emails eq "u7@example.com"`, "user_emails_value_fold", true},
		{`emails.value eq "u7@example.com" and active eq true`, "user_emails_value_fold", true},
		// Negative control: a substring search cannot use the index.
		{`userName co "user07"`, "users_user_name_fold", false},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			e, err := filter.Parse(c.filter)
			require.NoError(t, err)
			cond, err := directory.CompileUserFilter(e)
			require.NoError(t, err)
			countSQL, listSQL, args, _, err := s.userListSQL(cond)
			require.NoError(t, err)
			for _, q := range []struct {
				sql  string
				args []any
			}{{countSQL, args}, {listSQL, append(args, 10, 0)}} {
				plan := queryPlan(t, db, q.sql, q.args...)
				search := regexp.MustCompile(`SEARCH \w+ USING (COVERING )?INDEX ` + c.index + ` \(`)
				assert.Equal(t, c.uses, search.MatchString(plan), plan)
			}
		})
	}
	t.Run("groups by display name", func(t *testing.T) {
		e, err := filter.Parse(`displayName eq "eng"`)
		require.NoError(t, err)
		cond, err := directory.CompileGroupFilter(e)
		require.NoError(t, err)
		w, err := compileWhere(SQLite, aliasGroup, cond)
		require.NoError(t, err)
		plan := queryPlan(t, db, `SELECT COUNT(*) FROM groups g WHERE `+w.sql, w.args...)
		assert.Regexp(t, `SEARCH g USING (COVERING )?INDEX groups_display_name_fold \(`, plan)
	})
}

// TestDirectoryFilterQueriesNotCached checks that queries built from
// filters with more than one comparison bypass the statement cache, so
// clients cannot grow it without bound, while single comparisons use it.
func TestDirectoryFilterQueriesNotCached(t *testing.T) {
	s, _, _ := newSQLite(t, testOptions())
	ctx := t.Context()
	_, err := s.CreateDirectoryUser(ctx, directory.User{UserName: "alice"}, testNow)
	require.NoError(t, err)
	list := func(f string) {
		t.Helper()
		e, err := filter.Parse(f)
		require.NoError(t, err)
		_, err = s.ListDirectoryUsers(ctx, directory.Query{Filter: e, Count: 10})
		require.NoError(t, err)
	}
	list(`userName eq "warm-up" and active eq true`)
	before := cachedCount(s)
	for i := range 40 {
		list(fmt.Sprintf(`userName eq "u%d" %s active eq true`, i, []string{"and", "or"}[i%2]) + strings.Repeat(` or displayName pr`, i%7))
	}
	assert.Equal(t, before, cachedCount(s), "compound filters are not cached")
	list(`userName eq "alice"`)
	list(`userName eq "bob"`)
	assert.Equal(t, before+2, cachedCount(s), "one count and one page statement for a single comparison")
}

func TestDirectoryMethodsAfterClose(t *testing.T) {
	compound, err := filter.Parse(`userName eq "a" or userName eq "b"`)
	require.NoError(t, err)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t, testOptions())
			u, err := s.CreateDirectoryUser(ctx, directory.User{UserName: "alice"}, testNow)
			require.NoError(t, err)
			g, err := s.CreateGroup(ctx, directory.Group{DisplayName: "eng"}, testNow)
			require.NoError(t, err)
			n := 0
			calls := map[string]func() error{
				"CreateDirectoryUser": func() error {
					n++
					_, err := s.CreateDirectoryUser(ctx, directory.User{UserName: fmt.Sprintf("user%d", n)}, testNow)
					return err
				},
				"DirectoryUser": func() error { _, err := s.DirectoryUser(ctx, u.ID); return err },
				"UpdateDirectoryUser": func() error {
					_, err := s.UpdateDirectoryUser(ctx, u.ID, 0, func(u *directory.User) error { u.DisplayName += "x"; return nil }, testNow)
					return err
				},
				"ListDirectoryUsers": func() error { _, err := s.ListDirectoryUsers(ctx, directory.Query{Count: 5}); return err },
				"ListDirectoryUsers compound": func() error {
					_, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: compound, Count: 5})
					return err
				},
				"Group":             func() error { _, err := s.Group(ctx, g.ID); return err },
				"PatchGroupMembers": func() error { _, err := s.PatchGroupMembers(ctx, g.ID, []string{u.ID}, nil, 0, testNow); return err },
				"ListGroups":        func() error { _, err := s.ListGroups(ctx, directory.Query{Count: 5}); return err },
			}
			for name, call := range calls {
				require.NoError(t, call(), "positive control: %s", name)
			}
			require.NoError(t, s.Close())
			for name, call := range calls {
				err := call()
				require.ErrorIs(t, err, ErrClosed, name)
				for _, sentinel := range []error{directory.ErrNotFound, directory.ErrConflict, directory.ErrInvalid, directory.ErrPreconditionFailed} {
					assert.NotErrorIs(t, err, sentinel, name)
				}
			}
			require.ErrorIs(t, s.DeleteDirectoryUser(ctx, u.ID, 0, testNow), ErrClosed)
			require.ErrorIs(t, s.DeleteGroup(ctx, g.ID, 0, testNow), ErrClosed)
		})
	}
}

// TestDirectoryWriteIsAllOrNothing checks, on the database itself, that
// a deactivation commits with the end of the user's sessions and refresh
// tokens or not at all: a trigger makes the last statement of the
// transaction (revoking the refresh tokens) fail after the user row, its
// e-mail rows and its sessions were written, and all of it must roll
// back.
func TestDirectoryWriteIsAllOrNothing(t *testing.T) {
	triggers := map[Dialect][]string{
		SQLite: {`CREATE TRIGGER refresh_boom BEFORE UPDATE ON refresh_tokens BEGIN SELECT RAISE(ABORT, 'boom'); END`},
		PostgreSQL: {
			`CREATE FUNCTION refresh_boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refresh_boom BEFORE UPDATE ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION refresh_boom()`,
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			u, err := s.CreateDirectoryUser(ctx, directory.User{UserName: "alice", Email: "a@example.com", Active: true}, testNow)
			require.NoError(t, err)
			require.NoError(t, s.CreateSession(ctx, sp.Session{ID: "sess", UserID: u.ID, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}))
			require.NoError(t, s.CreateRefreshToken(ctx, oauth.RefreshToken{Hash: "h", FamilyID: "f", UserID: u.ID,
				ExpiresAt: testNow.Add(time.Hour), FamilyExpiresAt: testNow.Add(time.Hour)}))
			deactivate := func(u *directory.User) error {
				u.Active = false
				u.Emails = []directory.Email{{Value: "new@example.com", Primary: true}}
				return nil
			}
			for _, q := range triggers[s.d] {
				_, err := db.ExecContext(ctx, q)
				require.NoError(t, err)
			}
			_, err = s.UpdateDirectoryUser(ctx, u.ID, 0, deactivate, testNow)
			require.ErrorContains(t, err, "boom")

			var sessions, emails int
			require.NoError(t, db.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM sessions WHERE user_id = ?`), u.ID).Scan(&sessions))
			require.NoError(t, db.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM user_emails WHERE user_id = ? AND value_fold = ?`),
				u.ID, directory.Fold("a@example.com")).Scan(&emails))
			assert.Equal(t, 1, sessions, "session kept")
			assert.Equal(t, 1, emails, "e-mail rows kept")
			got, err := s.DirectoryUser(ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, u, got, "user unchanged")
			_, err = s.RefreshTokenByHash(ctx, "h", testNow)
			require.NoError(t, err, "refresh token kept")

			// Positive control: without the trigger the same update
			// commits, with its effects.
			_, err = db.ExecContext(ctx, `DROP TRIGGER refresh_boom`+map[Dialect]string{PostgreSQL: " ON refresh_tokens"}[s.d])
			require.NoError(t, err)
			got, err = s.UpdateDirectoryUser(ctx, u.ID, 0, deactivate, testNow)
			require.NoError(t, err)
			assert.False(t, got.Active)
			_, err = s.GetSession(ctx, "sess", testNow)
			require.ErrorIs(t, err, sp.ErrNotFound)
			_, err = s.RefreshTokenByHash(ctx, "h", testNow)
			require.ErrorIs(t, err, oauth.ErrNotFound)
		})
	}
}

// BenchmarkListUsersByUserName measures a SCIM lookup by userName over
// 10,000 users on SQLite.
func BenchmarkListUsersByUserName(b *testing.B) {
	s, _, _ := newSQLite(b, testOptions())
	ctx := b.Context()
	const n = 10_000
	err := s.inTx(ctx, func(r runner) error {
		for i := range n {
			u, err := directory.PrepareUser(directory.User{
				ID: newID(), UserName: fmt.Sprintf("user%05d@example.com", i), Email: fmt.Sprintf("user%05d@example.com", i),
				DisplayName: fmt.Sprintf("User %d", i), Active: true,
			})
			if err != nil {
				return err
			}
			if err := s.insertDirUser(ctx, r, u, testNow, directory.ErrConflict); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	e, err := filter.Parse(`userName eq "USER04242@example.com"`)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: e, Count: 100})
		if err != nil || p.Total != 1 {
			b.Fatal(p.Total, err)
		}
	}
}

// BenchmarkCreateDirectoryUser measures CreateDirectoryUser of a user
// with two e-mail addresses and custom attributes.
func BenchmarkCreateDirectoryUser(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.open(b, testOptions())
			ctx := b.Context()
			i := 0
			for b.Loop() {
				i++
				_, err := s.CreateDirectoryUser(ctx, directory.User{
					UserName: fmt.Sprintf("user%d", i), DisplayName: "User", GivenName: "U", FamilyName: "Ser",
					Emails:     []directory.Email{{Value: fmt.Sprintf("u%d@example.com", i), Type: "work", Primary: true}, {Value: "home@example.com", Type: "home"}},
					Attributes: map[string]string{"department": "R&D", "clearance": "2"}, Active: true,
				}, testNow)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzFilterAgreement checks that, for any filter the parser accepts,
// the SQL translation selects on SQLite exactly the users the reference
// evaluator (directory.MatchUser, which the memory store uses) selects,
// or that both refuse the filter.
func FuzzFilterAgreement(f *testing.F) {
	for _, seed := range []string{
		`userName eq "alice"`, `userName co "%"`, `userName sw "a_"`, `displayName ew "É"`,
		`emails[type eq "work" and not (value co "x")]`, `externalId gt "E"`, `meta.created ge "2026-03-14T15:09:26Z"`,
		`not (emails pr) or active eq false`, `name.familyName le "straße"`, `emails.primary ne true`,
	} {
		f.Add(seed)
	}
	s, _, _ := newSQLite(f, testOptions())
	ctx := context.Background()
	var users []directory.User
	for i, u := range []directory.User{
		{UserName: "alice", ExternalID: "E1", DisplayName: "Élodie", Emails: []directory.Email{{Value: "a@x.example", Type: "work", Primary: true}}, Active: true},
		{UserName: "A_lice%", ExternalID: "e1", GivenName: "ς", FamilyName: "Straße", Emails: []directory.Email{{Value: "b%@x", Type: "Home"}, {Value: "c_@x"}}},
		{UserName: `q"u'o\te`, DisplayName: "\u212Aelvin", FamilyName: "STRASSE", Active: true},
		{UserName: "ΣΊΣΥΦΟΣ", ExternalID: "", DisplayName: " ", Emails: []directory.Email{{Value: "ü@ÿ", Type: "WORK"}}},
	} {
		got, err := s.CreateDirectoryUser(ctx, u, testNow.Add(time.Duration(i)*time.Second))
		if err != nil {
			f.Fatal(err)
		}
		users = append(users, got)
	}
	f.Fuzz(func(t *testing.T, text string) {
		e, err := filter.Parse(text)
		if err != nil {
			return
		}
		c, cerr := directory.CompileUserFilter(e)
		p, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: e, Count: 10})
		if cerr != nil {
			if !errors.Is(err, directory.ErrInvalidFilter) {
				t.Fatalf("%q: compile refused (%v), store answered %v", text, cerr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		var want, got []string
		for _, u := range users {
			if directory.MatchUser(c, u) {
				want = append(want, u.ID)
			}
		}
		for _, u := range p.Items {
			got = append(got, u.ID)
		}
		if !slices.Equal(want, got) || p.Total != len(want) {
			t.Fatalf("%q: reference %v, SQL %v (total %d)", text, want, got, p.Total)
		}
	})
}
