package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// fillAccess stores 40 accounts in 8 OUs, two permission sets and 4,000
// assignments of 1,000 users and 1,000 groups (written directly, in one
// transaction, for speed), so that a planner has a reason to prefer an
// index.
func fillAccess(t *testing.T, s *Store, db *sql.DB) {
	t.Helper()
	ctx := t.Context()
	for _, name := range []string{"Admin", "ReadOnly"} {
		_, err := s.CreatePermissionSet(ctx, access.PermissionSet{Name: name}, testNow)
		require.NoError(t, err)
	}
	for i := range 40 {
		_, err := s.PutAccount(ctx, access.Account{ID: fmt.Sprintf("%012d", i), OU: fmt.Sprintf("/ou%d/sub%d", i%8, i%3)}, testNow)
		require.NoError(t, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	insert := s.d.rebind(`INSERT INTO assignments (` + assignmentColumns + `) VALUES (?, ?, ?, ?, 'AWS_ACCOUNT', ?, 'SUCCEEDED', '', 0, 0)`)
	for i := range 1000 {
		for _, ps := range []string{"Admin", "ReadOnly"} {
			for _, p := range []struct {
				typ access.PrincipalType
				id  string
			}{{access.PrincipalUser, fmt.Sprintf("user%d", i)}, {access.PrincipalGroup, fmt.Sprintf("group%d", i)}} {
				_, err := tx.ExecContext(ctx, insert, newID(), string(p.typ), p.id, ps, fmt.Sprintf("%012d", i%40))
				require.NoError(t, err)
			}
		}
	}
	require.NoError(t, tx.Commit())
}

// principalsArgs returns the arguments of principalsQuery(n) for user1
// and n groups.
func principalsArgs(n int) []any {
	args := []any{string(access.PrincipalUser), "user1", string(access.PrincipalGroup)}
	for i := range n {
		args = append(args, fmt.Sprintf("group%d", i))
	}
	return args
}

// TestAccessQueriesUseIndexes checks on SQLite that the access lookups
// search an index instead of scanning a table: in particular that
// AssignmentsForPrincipals searches the natural-key index by principal
// once per branch, so its cost does not grow with the number of
// assignments.
func TestAccessQueriesUseIndexes(t *testing.T) {
	s, db, _ := newSQLite(t, testOptions())
	fillAccess(t, s, db)
	_, err := db.ExecContext(t.Context(), `ANALYZE`)
	require.NoError(t, err)

	cases := []struct {
		name, query, want string
		args              []any
	}{
		{"principals, one group", principalsQuery(1), "(principal_type=? AND principal_id=?)", principalsArgs(1)},
		{"principals, 64 groups", principalsQuery(64), "(principal_type=? AND principal_id=?)", principalsArgs(64)},
		{"accounts in an OU", accountsInOU(SQLite), "accounts_ou", []any{"/ou1", "/ou1/", "/ou10"}},
		{"assignments for a target", `SELECT id FROM assignments WHERE target_type = ? AND target_id = ? ORDER BY id`,
			"assignments_target", []any{"AWS_ACCOUNT", "000000000001"}},
		{"assignments for a permission set", `SELECT id FROM assignments WHERE permission_set = ? ORDER BY id`,
			"assignments_permission_set", []any{"Admin"}},
		{"provisionings for a permission set", `SELECT account_id FROM provisionings WHERE permission_set = ? ORDER BY account_id`,
			"provisionings_permission_set", []any{"Admin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := queryPlan(t, db, c.query, c.args...)
			assert.Contains(t, plan, c.want, plan)
			assert.NotRegexp(t, `SCAN (assignments|accounts|provisionings)\b`, plan, "table scan")
		})
	}
	// Positive control: the query plan check sees a scan when there is
	// one (no index on reason).
	plan := queryPlan(t, db, `SELECT id FROM assignments WHERE reason = ?`, "x")
	assert.Regexp(t, `SCAN assignments\b`, plan)

	// Both principal branches are searches.
	plan = queryPlan(t, db, principalsQuery(2), principalsArgs(2)...)
	assert.Equal(t, 2, strings.Count(plan, "SEARCH assignments"), plan)
}

// TestAccessPostgresIndexes checks on PostgreSQL, with sequential scans
// discouraged, that the OU range (COLLATE "C" comparisons against an
// index built COLLATE "C") and the principal lookup can use an index: an
// index whose collation differed from the query's would leave a
// sequential scan in the plan.
func TestAccessPostgresIndexes(t *testing.T) {
	s, db := newPostgres(t, testOptions())
	fillAccess(t, s, db)
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `ANALYZE`)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `SET enable_seqscan = off`)
	require.NoError(t, err)
	explain := func(query string, args ...any) string {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+PostgreSQL.rebind(query), args...)
		require.NoError(t, err)
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			require.NoError(t, rows.Scan(&l))
			lines = append(lines, l)
		}
		require.NoError(t, rows.Err())
		return strings.Join(lines, "\n")
	}
	plan := explain(accountsInOU(PostgreSQL), "/ou1", "/ou1/", "/ou10")
	assert.Contains(t, plan, "accounts_ou", plan)
	assert.NotContains(t, plan, "Seq Scan", plan)
	plan = explain(principalsQuery(4), principalsArgs(4)...)
	assert.NotContains(t, plan, "Seq Scan", plan)
	// Positive control.
	plan = explain(`SELECT id FROM assignments WHERE reason = ?`, "x")
	assert.Contains(t, plan, "Seq Scan", plan)
}

// TestAccessSchema checks what the conformance suite cannot see: the
// reference from assignments to permission sets is a foreign key, so a
// row written around the store cannot name a missing permission set, and
// deleting an account deletes its provisioning rows by cascade.
func TestAccessSchema(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, db := b.open(t, testOptions())
			ctx := t.Context()
			insert := func(ps string) error {
				_, err := db.ExecContext(ctx, b.rebind(`INSERT INTO assignments
					(id, principal_type, principal_id, permission_set, target_type, target_id, status, reason, created_at, updated_at)
					VALUES (?, 'USER', 'u1', ?, 'OU', '/', 'IN_PROGRESS', '', 0, 0)`), newID(), ps)
				return err
			}
			_, err := s.CreatePermissionSet(ctx, access.PermissionSet{Name: "Admin"}, testNow)
			require.NoError(t, err)
			require.NoError(t, insert("Admin"), "positive control")
			err = insert("Missing")
			require.Error(t, err)
			assert.True(t, s.d.isForeignKeyViolation(err), "%v", err)

			_, err = s.PutAccount(ctx, access.Account{ID: "111111111111", OU: "/"}, testNow)
			require.NoError(t, err)
			require.NoError(t, s.PutProvisioning(ctx, access.Provisioning{AccountID: "111111111111", PermissionSet: "Admin"}))
			require.NoError(t, s.DeleteAccount(ctx, "111111111111"))
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM provisionings`).Scan(&n))
			assert.Zero(t, n)
		})
	}
}

// rebind is the backend's placeholder form.
func (b backend) rebind(q string) string {
	if b.name == "postgres" {
		return PostgreSQL.rebind(q)
	}
	return q
}
