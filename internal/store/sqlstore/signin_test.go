package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// TestSignInFlowIDHashedAtRest checks that signin_flows keeps only the
// SHA-256 of a flow ID, and that the hash does not open the flow.
func TestSignInFlowIDHashedAtRest(t *testing.T) {
	const rawID = "raw-flow-secret-4b1d9e7a2c5f8e3d6a0c"
	sum := sha256.Sum256([]byte(rawID))
	wantHash := hex.EncodeToString(sum[:])
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			user, err := s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
			require.NoError(t, err)
			require.NoError(t, s.SaveSignInFlow(ctx, signin.Flow{
				ID: rawID, UserID: user.ID, Stage: "mfa", Data: []byte("challenge"),
				CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour),
			}))
			// Positive control: the flow is found by its raw ID.
			_, err = s.SignInFlow(ctx, rawID, testNow)
			require.NoError(t, err)

			var idHash, stage string
			require.NoError(t, db.QueryRowContext(ctx, `SELECT id_hash, stage FROM signin_flows`).Scan(&idHash, &stage))
			assert.Equal(t, wantHash, idHash)
			assert.NotContains(t, stage, rawID)
			_, err = s.SignInFlow(ctx, idHash, testNow)
			require.ErrorIs(t, err, signin.ErrNotFound)
			require.ErrorIs(t, s.DeleteSignInFlow(ctx, idHash), signin.ErrNotFound)
		})
	}
}

// TestSignInCascades checks the schema itself: deleting a users row
// (whichever code path does it) deletes the user's sign-in rows.
func TestSignInCascades(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			user, err := s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
			require.NoError(t, err)
			require.NoError(t, s.SetPassword(ctx, user.ID, "$argon2id$x", testNow))
			_, err = s.RecordFailure(ctx, user.ID, testNow, func(int) time.Duration { return 0 })
			require.NoError(t, err)
			require.NoError(t, s.AddMFADevice(ctx, signin.MFADevice{
				ID: "d1", UserID: user.ID, Kind: signin.KindTOTP, Name: "phone", CreatedAt: testNow, Secret: []byte("s"),
			}, 5))
			require.NoError(t, s.SaveSignInFlow(ctx, signin.Flow{
				ID: "flow", UserID: user.ID, Stage: "mfa", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour),
			}))
			tables := []string{"user_passwords", "signin_lockouts", "mfa_devices", "signin_flows"}
			count := func(table string) int {
				var n int
				require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n))
				return n
			}
			for _, table := range tables {
				require.Equal(t, 1, count(table), "positive control: %s has the user's row", table)
			}
			_, err = db.ExecContext(ctx, s.d.rebind(`DELETE FROM users WHERE id = ?`), user.ID)
			require.NoError(t, err)
			for _, table := range tables {
				assert.Zero(t, count(table), table)
			}
		})
	}
}
