package memory

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
)

func TestSSOState(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := idp.PendingSSO{
		ID: "_s1", SPEntityID: "https://app.example.com", RequestID: "_r1",
		ACSURL: "https://app.example.com/acs", RelayState: "rs", ForceAuthn: true,
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}

	t.Run("save and consume once", func(t *testing.T) {
		s := New()
		require.NoError(t, s.SaveSSOState(ctx, st))
		got, err := s.ConsumeSSOState(ctx, st.ID, now.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, st, got)
		_, err = s.ConsumeSSOState(ctx, st.ID, now.Add(time.Minute))
		require.ErrorIs(t, err, idp.ErrNotFound)
	})
	t.Run("unknown", func(t *testing.T) {
		s := New()
		require.NoError(t, s.SaveSSOState(ctx, st))
		_, err := s.ConsumeSSOState(ctx, "_other", now)
		require.ErrorIs(t, err, idp.ErrNotFound)
	})
	t.Run("expired", func(t *testing.T) {
		s := New()
		require.NoError(t, s.SaveSSOState(ctx, st))
		_, err := s.ConsumeSSOState(ctx, st.ID, st.ExpiresAt)
		require.ErrorIs(t, err, idp.ErrNotFound)
	})
	t.Run("duplicate and empty IDs", func(t *testing.T) {
		s := New()
		require.NoError(t, s.SaveSSOState(ctx, st))
		require.Error(t, s.SaveSSOState(ctx, st))
		require.Error(t, s.SaveSSOState(ctx, idp.PendingSSO{}))
	})
	t.Run("cleanup", func(t *testing.T) {
		s := New()
		require.NoError(t, s.SaveSSOState(ctx, st))
		live := st
		live.ID, live.ExpiresAt = "_s2", now.Add(time.Hour)
		require.NoError(t, s.SaveSSOState(ctx, live))
		n, err := s.Cleanup(ctx, now.Add(30*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		_, err = s.ConsumeSSOState(ctx, live.ID, now.Add(30*time.Minute))
		require.NoError(t, err)
	})
}

func TestSSOStateConcurrentConsume(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	s := New()
	const states = 20
	for k := range states {
		require.NoError(t, s.SaveSSOState(ctx, idp.PendingSSO{ID: string(rune('a' + k)), ExpiresAt: now.Add(time.Minute)}))
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range states {
				if _, err := s.ConsumeSSOState(ctx, string(rune('a'+k)), now); err == nil {
					wins.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(states), wins.Load())
}
