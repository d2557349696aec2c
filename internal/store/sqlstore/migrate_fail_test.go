package sqlstore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMigrationFailsHalfWay: a migration whose second statement fails
// leaves nothing behind: the table its first statement created is gone,
// no schema_migrations row records it, and a later attempt fails the same
// way (the instance refuses to start) instead of finding half a schema.
func TestMigrationFailsHalfWay(t *testing.T) {
	for _, b := range rawBackends {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			s := openAtVersion(t, db, b.d, 1<<62)
			bad := migration{version: 9001, name: "9001_half.sql", stmts: []migrationStmt{
				{text: `CREATE TABLE half_applied (id TEXT PRIMARY KEY)`},
				{text: `INSERT INTO half_applied (id) VALUES ('a')`},
				{text: `INSERT INTO no_such_table (id) VALUES ('b')`},
			}}
			// Positive control: the same migration without the bad
			// statement applies and is recorded.
			good := migration{version: 9000, name: "9000_ok.sql", stmts: []migrationStmt{{text: `CREATE TABLE fully_applied (id TEXT PRIMARY KEY)`}}}
			require.NoError(t, s.applyMigration(t.Context(), good))
			var n int
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations WHERE version = 9000`).Scan(&n))
			assert.Equal(t, 1, n)

			for range 2 {
				err := s.applyMigration(t.Context(), bad)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "migration 9001_half.sql statement 3")
				require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations WHERE version = 9001`).Scan(&n))
				assert.Zero(t, n, "the failed migration is not recorded")
				_, err = db.ExecContext(t.Context(), `SELECT count(*) FROM half_applied`)
				assert.Error(t, err, "the table of the failed migration's first statement was rolled back")
			}
		})
	}
}
