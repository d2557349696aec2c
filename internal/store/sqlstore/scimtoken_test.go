package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// TestSCIMTokens: migration 0007 creates the table scimtoken's SQL store
// uses, so the store serves SCIM tokens with no Migrate of its own, and
// the two-active limit holds.
func TestSCIMTokens(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rec := func(i int) scimtoken.Record {
		return scimtoken.Record{
			ID:        strings.Repeat(string(rune('a'+i)), 32),
			Hash:      strings.Repeat(string(rune('0'+i)), 64),
			Name:      "token",
			CreatedAt: now,
			ExpiresAt: now.Add(24 * time.Hour),
		}
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t, testOptions())
			ctx := t.Context()
			require.NoError(t, s.InsertToken(ctx, rec(0), scimtoken.MaxActive))
			require.NoError(t, s.InsertToken(ctx, rec(1), scimtoken.MaxActive))
			require.ErrorIs(t, s.InsertToken(ctx, rec(2), scimtoken.MaxActive), scimtoken.ErrLimit)

			got, err := s.TokenByHash(ctx, rec(1).Hash)
			require.NoError(t, err)
			assert.Equal(t, rec(1).ID, got.ID)
			assert.True(t, got.ExpiresAt.Equal(rec(1).ExpiresAt))

			require.NoError(t, s.RevokeToken(ctx, rec(0).ID, now.Add(time.Minute)))
			require.NoError(t, s.InsertToken(ctx, rec(2), scimtoken.MaxActive), "a revoked token frees its place")
			list, err := s.ListTokens(ctx)
			require.NoError(t, err)
			assert.Len(t, list, 2)
		})
	}
}
