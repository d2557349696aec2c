package sqlstore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestLookupConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunLookup(t, func(t *testing.T) storetest.LookupStore {
				s, _ := b.open(t, testOptions())
				return s
			})
		})
	}
}

// TestUserByAttributeUsesIndexes: the token exchange's user lookup
// searches an index for every attribute (a scan made each exchange cost
// linear time in the number of users).
func TestUserByAttributeUsesIndexes(t *testing.T) {
	s, db, _ := newSQLite(t, testOptions())
	for i := range 50 {
		_, err := s.CreateDirectoryUser(t.Context(), directory.User{UserName: fmt.Sprintf("user%02d", i), Email: fmt.Sprintf("u%d@example.com", i)}, testNow)
		require.NoError(t, err)
	}
	_, err := db.ExecContext(t.Context(), `ANALYZE`)
	require.NoError(t, err)
	for attr, q := range lookupQueries {
		plan := queryPlan(t, db, q, "u1@example.com")
		assert.NotContains(t, plan, "SCAN users", "%s:\n%s", attr, plan)
		assert.Contains(t, plan, "SEARCH", attr)
	}
}
