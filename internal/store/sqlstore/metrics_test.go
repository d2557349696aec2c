package sqlstore

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// storeErrors gathers gatehouse_store_errors_total by operation.
func storeErrors(t *testing.T, s *Store) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s.Metrics()))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		require.Equal(t, "gatehouse_store_errors_total", mf.GetName())
		for _, m := range mf.GetMetric() {
			require.Len(t, m.GetLabel(), 1)
			require.Equal(t, "operation", m.GetLabel()[0].GetName())
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestStoreErrorsMetric: database failures are counted once by operation;
// not-found results, uniqueness conflicts and cancelled requests are not.
func TestStoreErrorsMetric(t *testing.T) {
	db, _ := openSQLiteDB(t)
	s, err := Open(context.Background(), db, SQLite, testOptions())
	require.NoError(t, err)
	ctx := context.Background()

	// Expected outcomes of a healthy database are not store errors.
	_, err = s.GetUser(ctx, "no-such-user")
	require.ErrorIs(t, err, sp.ErrNotFound)
	_, err = s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
	require.ErrorIs(t, err, sp.ErrConflict)
	rec := scimTestRecord()
	require.NoError(t, s.InsertToken(ctx, rec, 2))
	require.ErrorIs(t, s.InsertToken(ctx, rec, 2), scimtoken.ErrConflict)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.IsRevoked(cancelled, "jti-1", testNow)
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, storeErrors(t, s))
	assert.Equal(t, 0, testutil.CollectAndCount(s.Metrics()))

	// The database goes away: every operation fails and is counted under
	// its own name, once, even when a transaction wraps it.
	require.NoError(t, db.Close())
	_, err = s.GetUser(ctx, "some-user")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sqlstore: read user: ")
	_, err = s.IsRevoked(ctx, "jti-1", testNow)
	require.Error(t, err)
	_, err = s.IsRevoked(ctx, "jti-2", testNow)
	require.Error(t, err)
	err = s.InsertToken(ctx, scimTestRecord(), 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sqlstore: insert scim token: ")
	assert.Equal(t, map[string]float64{"read user": 1, "is revoked": 2, "begin": 1}, storeErrors(t, s))
}
