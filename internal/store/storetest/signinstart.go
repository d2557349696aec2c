package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// testStartSignIn checks sp.SignInStarter, for stores that implement it:
// each result is what the single call (MarkAssertionUsed, ConsumeRequest,
// LookupExternal) would have returned, and the marking and the consumption
// are as atomic as theirs.
func testStartSignIn(t *testing.T, newStore func(t *testing.T) Store) {
	probe := newStore(t)
	if _, ok := probe.(sp.SignInStarter); !ok {
		t.Skipf("%T does not implement sp.SignInStarter (the SP makes the three calls)", probe)
	}
	const idp = "https://idp.example.com"
	exp := base.Add(5 * time.Minute)
	setup := func(t *testing.T) (Store, sp.SignInStarter, sp.User, sp.ExternalIdentity) {
		s := newStore(t)
		u, err := s.CreateUser(t.Context(), sp.User{UserName: "alice@example.com", Email: "alice@example.com", Active: true, Groups: []string{"eng", "ops"}})
		require.NoError(t, err)
		ext := sp.ExternalIdentity{Issuer: idp, NameID: u.UserName}
		_, err = s.LinkByUserName(t.Context(), ext)
		require.NoError(t, err)
		u, err = s.LookupExternal(t.Context(), ext)
		require.NoError(t, err)
		return s, s.(sp.SignInStarter), u, ext
	}
	pending := sp.PendingRequest{ID: "_req1", RelayState: "rs", BrowserBinding: "bind", ReturnTo: "/portal", Region: "eu", CreatedAt: base, ExpiresAt: exp}

	t.Run("sp_initiated", func(t *testing.T) {
		s, starter, u, ext := setup(t)
		require.NoError(t, s.SaveRequest(t.Context(), pending))
		got, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, AssertionID: "_a1", ReplayUntil: exp, RequestID: pending.ID, External: ext, Now: base})
		require.NoError(t, err)
		require.NoError(t, got.Replay)
		require.NoError(t, got.RequestErr)
		assert.Equal(t, pending, got.Request)
		require.NoError(t, got.UserErr)
		assert.Equal(t, u, got.User, "the user with its groups, as LookupExternal returns it")

		// Both were done: the assertion is marked, the request consumed.
		require.ErrorIs(t, s.MarkAssertionUsed(t.Context(), idp, "_a1", exp, base), sp.ErrReplay)
		_, err = s.ConsumeRequest(t.Context(), pending.ID, base)
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("idp_initiated_unknown_identity", func(t *testing.T) {
		_, starter, _, _ := setup(t)
		got, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, AssertionID: "_a1", ReplayUntil: exp, External: sp.ExternalIdentity{Issuer: idp, NameID: "nobody@example.com"}, Now: base})
		require.NoError(t, err)
		require.NoError(t, got.Replay)
		require.NoError(t, got.RequestErr, "no request asked for")
		require.ErrorIs(t, got.UserErr, sp.ErrNotFound)
	})
	t.Run("unknown_or_expired_request", func(t *testing.T) {
		s, starter, u, ext := setup(t)
		require.NoError(t, s.SaveRequest(t.Context(), pending))
		for i, tc := range []struct {
			id  string
			now time.Time
		}{{"_other", base}, {pending.ID, exp}} {
			got, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, AssertionID: "_x" + string(rune('a'+i)), ReplayUntil: exp.Add(time.Hour), RequestID: tc.id, External: ext, Now: tc.now})
			require.NoError(t, err)
			require.NoError(t, got.Replay)
			require.ErrorIs(t, got.RequestErr, sp.ErrNotFound, "request %s at %s", tc.id, tc.now)
			assert.Equal(t, u.ID, got.User.ID)
		}
	})
	t.Run("replay", func(t *testing.T) {
		s, starter, _, ext := setup(t)
		require.NoError(t, s.MarkAssertionUsed(t.Context(), idp, "_a1", exp, base))
		require.NoError(t, s.SaveRequest(t.Context(), pending))
		got, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, AssertionID: "_a1", ReplayUntil: exp, RequestID: pending.ID, External: ext, Now: base})
		require.NoError(t, err)
		require.ErrorIs(t, got.Replay, sp.ErrReplay)
		assert.Empty(t, got.User.ID, "nothing else is reported for a replay")
	})
	t.Run("concurrent", func(t *testing.T) {
		s, starter, _, ext := setup(t)
		require.NoError(t, s.SaveRequest(t.Context(), pending))
		const n = 16
		var (
			wg                sync.WaitGroup
			mu                sync.Mutex
			fresh, gotRequest int
		)
		for range n {
			wg.Go(func() {
				got, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, AssertionID: "_race", ReplayUntil: exp, RequestID: pending.ID, External: ext, Now: base})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if got.Replay == nil {
					fresh++
					if got.RequestErr == nil {
						gotRequest++
					}
				} else {
					assert.ErrorIs(t, got.Replay, sp.ErrReplay)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, fresh, "one of concurrent uses of an assertion is fresh")
		assert.Equal(t, 1, gotRequest, "and it gets the pending request")
	})
	t.Run("invalid", func(t *testing.T) {
		_, starter, _, ext := setup(t)
		_, err := starter.StartSignIn(t.Context(), sp.SignInStart{Issuer: idp, ReplayUntil: exp, External: ext, Now: base})
		require.Error(t, err, "no assertion ID")
	})
}
