package storetest

import (
	"github.com/gatehouse-dev/gatehouse/internal/store"

	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Store is the interface the suite tests.
type Store = store.Store

// Concurrency is the number of goroutines racing in the concurrency cases.
const Concurrency = 32

// base is the fixed clock every case starts from. It has no sub-microsecond
// part, so SQL backends (microsecond precision) round-trip it exactly.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535_897_000, time.UTC)

// Run runs the conformance suite. newStore must return a new, empty store
// for each call (each subtest calls it once) and register its own cleanup
// with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Ping", func(t *testing.T) {
		require.NoError(t, newStore(t).Ping(t.Context()))
	})
	t.Run("Requests", func(t *testing.T) { testRequests(t, newStore) })
	t.Run("ConcurrentConsume", func(t *testing.T) { testConcurrentConsume(t, newStore) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, newStore) })
	t.Run("ConcurrentMarkAssertionUsed", func(t *testing.T) { testConcurrentMark(t, newStore) })
	t.Run("StartSignIn", func(t *testing.T) { testStartSignIn(t, newStore) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newStore) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newStore) })
	t.Run("Provision", func(t *testing.T) { testProvision(t, newStore) })
	t.Run("ConcurrentProvision", func(t *testing.T) { testConcurrentProvision(t, newStore) })
	t.Run("Cleanup", func(t *testing.T) { testCleanup(t, newStore) })
	t.Run("OAuth", func(t *testing.T) {
		RunOAuth(t, func(t *testing.T) OAuthStore { return newStore(t) })
	})
	t.Run("Audit", func(t *testing.T) {
		RunAudit(t, func(t *testing.T) AuditStore { return newStore(t) })
	})
	t.Run("Directory", func(t *testing.T) { RunDirectory(t, newStore) })
	t.Run("SCIMTokens", func(t *testing.T) {
		RunSCIMTokens(t, func(t *testing.T) SCIMTokenStore { return newStore(t) })
	})
	t.Run("SignIn", func(t *testing.T) { RunSignIn(t, newStore) })
	t.Run("Access", func(t *testing.T) {
		RunAccess(t, func(t *testing.T) AccessStore { return newStore(t) })
	})
	t.Run("KeyRings", func(t *testing.T) {
		RunKeyRings(t, func(t *testing.T) keys.RingStore { return newStore(t) })
	})
}

func pending(id string, expires time.Time) sp.PendingRequest {
	return sp.PendingRequest{
		ID:             id,
		RelayState:     "rs-" + id,
		BrowserBinding: "bb-" + id,
		ReturnTo:       "/apps/" + id,
		Region:         "eu-west-1",
		CreatedAt:      base,
		ExpiresAt:      expires,
	}
}

// assertSameTime compares instants, ignoring location and monotonic
// readings, which backends need not preserve.
func assertSameTime(t *testing.T, want, got time.Time, field string) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "%s: want %v, got %v", field, want, got)
}

func assertRequest(t *testing.T, want, got sp.PendingRequest) {
	t.Helper()
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	want.CreatedAt, want.ExpiresAt, got.CreatedAt, got.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func testRequests(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("save and consume once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		r := pending("id-once", base.Add(5*time.Minute))
		require.NoError(t, s.SaveRequest(ctx, r))
		got, err := s.ConsumeRequest(ctx, r.ID, base.Add(time.Minute))
		require.NoError(t, err)
		assertRequest(t, r, got)
	})
	t.Run("consume twice", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		r := pending("id-twice", base.Add(5*time.Minute))
		require.NoError(t, s.SaveRequest(ctx, r))
		_, err := s.ConsumeRequest(ctx, r.ID, base)
		require.NoError(t, err)
		_, err = s.ConsumeRequest(ctx, r.ID, base)
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("consume unknown", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.SaveRequest(ctx, pending("id-known", base.Add(time.Minute))))
		_, err := s.ConsumeRequest(ctx, "id-unknown", base)
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("consume after expiry", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		exp := base.Add(5 * time.Minute)
		live := pending("id-live", exp)
		atExpiry := pending("id-at-expiry", exp)
		after := pending("id-after", exp)
		for _, r := range []sp.PendingRequest{live, atExpiry, after} {
			require.NoError(t, s.SaveRequest(ctx, r))
		}
		// Positive control: one microsecond before expiry still works.
		got, err := s.ConsumeRequest(ctx, live.ID, exp.Add(-time.Microsecond))
		require.NoError(t, err)
		assertRequest(t, live, got)
		_, err = s.ConsumeRequest(ctx, atExpiry.ID, exp)
		require.ErrorIs(t, err, sp.ErrNotFound, "ExpiresAt == now is expired")
		_, err = s.ConsumeRequest(ctx, after.ID, exp.Add(time.Hour))
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("duplicate ID", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.SaveRequest(ctx, pending("id-dup", base.Add(time.Minute))))
		require.NoError(t, s.SaveRequest(ctx, pending("id-other", base.Add(time.Minute))))
		require.ErrorIs(t, s.SaveRequest(ctx, pending("id-dup", base.Add(time.Hour))), sp.ErrConflict)
	})
	t.Run("empty ID rejected", func(t *testing.T) {
		s := newStore(t)
		require.Error(t, s.SaveRequest(t.Context(), pending("", base.Add(time.Minute))))
	})
}

// race starts n goroutines that call fn(i) at once and returns their
// errors in index order.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOneWinner asserts that exactly one error is nil and every other
// one is target (anything else, such as a lock timeout, fails), and
// returns the winner's index.
func exactlyOneWinner(t *testing.T, errs []error, target error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, target):
			t.Errorf("goroutine %d: want %v, got %v", i, target, err)
		}
	}
	if winner < 0 {
		t.Errorf("no goroutine succeeded")
	}
	return winner
}

func testConcurrentConsume(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	for round := range 3 {
		r := pending(fmt.Sprintf("id-race-%d", round), base.Add(time.Minute))
		require.NoError(t, s.SaveRequest(ctx, r))
		got := make([]sp.PendingRequest, Concurrency)
		errs := race(Concurrency, func(i int) error {
			var err error
			got[i], err = s.ConsumeRequest(ctx, r.ID, base)
			return err
		})
		if w := exactlyOneWinner(t, errs, sp.ErrNotFound); w >= 0 {
			assertRequest(t, r, got[w])
		}
	}
}

func testReplay(t *testing.T, newStore func(t *testing.T) Store) {
	const idp1, idp2 = "https://idp1.example.com", "https://idp2.example.com"
	exp := base.Add(5 * time.Minute)
	t.Run("mark twice", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp, base))
		require.ErrorIs(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp, base), sp.ErrReplay)
		require.ErrorIs(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp.Add(time.Hour), exp.Add(-time.Microsecond)), sp.ErrReplay,
			"a record is live until its expiry")
	})
	t.Run("other issuer or ID", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp, base))
		require.NoError(t, s.MarkAssertionUsed(ctx, idp2, "_a1", exp, base), "same ID, other issuer")
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a2", exp, base), "same issuer, other ID")
		require.ErrorIs(t, s.MarkAssertionUsed(ctx, idp2, "_a1", exp, base), sp.ErrReplay)
	})
	t.Run("expired record re-marked", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp, base))
		require.ErrorIs(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp.Add(time.Hour), exp.Add(-time.Microsecond)), sp.ErrReplay)
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp.Add(time.Hour), exp), "expiresAt == now is expired")
		// The replacement record is live with its own expiry.
		require.ErrorIs(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp.Add(2*time.Hour), exp.Add(time.Minute)), sp.ErrReplay)
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp.Add(2*time.Hour), exp.Add(time.Hour)))
	})
	t.Run("empty values rejected", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.MarkAssertionUsed(ctx, idp1, "_a1", exp, base))
		for _, tc := range []struct{ issuer, id string }{{"", "_a2"}, {idp1, ""}} {
			err := s.MarkAssertionUsed(ctx, tc.issuer, tc.id, exp, base)
			require.Error(t, err)
		}
	})
}

func testConcurrentMark(t *testing.T, newStore func(t *testing.T) Store) {
	const issuer = "https://idp.example.com"
	exp := base.Add(5 * time.Minute)
	t.Run("new pair", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for round := range 3 {
			id := fmt.Sprintf("_race-%d", round)
			errs := race(Concurrency, func(int) error { return s.MarkAssertionUsed(ctx, issuer, id, exp, base) })
			exactlyOneWinner(t, errs, sp.ErrReplay)
		}
	})
	t.Run("expired pair", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.MarkAssertionUsed(ctx, issuer, "_old", exp, base))
		errs := race(Concurrency, func(int) error {
			return s.MarkAssertionUsed(ctx, issuer, "_old", exp.Add(time.Hour), exp.Add(time.Minute))
		})
		exactlyOneWinner(t, errs, sp.ErrReplay)
	})
}

func testSessions(t *testing.T, newStore func(t *testing.T) Store) {
	sess := sp.Session{
		ID:           "s3cr3t-session-id-0123456789abcdef",
		UserID:       "user-1",
		CreatedAt:    base,
		ExpiresAt:    base.Add(8 * time.Hour),
		AuthnInstant: base.Add(-time.Minute),
		SessionIndex: "_idx-42",
		Method:       "saml",

		AuthnContextClassRef: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
	}
	assertSession := func(t *testing.T, want, got sp.Session) {
		t.Helper()
		assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
		assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
		assertSameTime(t, want.AuthnInstant, got.AuthnInstant, "AuthnInstant")
		assert.Equal(t, want.AuthnInstant.IsZero(), got.AuthnInstant.IsZero(), "AuthnInstant.IsZero")
		want.CreatedAt, want.ExpiresAt, want.AuthnInstant = time.Time{}, time.Time{}, time.Time{}
		got.CreatedAt, got.ExpiresAt, got.AuthnInstant = time.Time{}, time.Time{}, time.Time{}
		assert.Equal(t, want, got)
	}
	t.Run("create and get", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.CreateSession(ctx, sess))
		got, err := s.GetSession(ctx, sess.ID, base.Add(time.Hour))
		require.NoError(t, err)
		assertSession(t, sess, got)
	})
	t.Run("zero authn instant", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		z := sess
		z.AuthnInstant = time.Time{}
		require.NoError(t, s.CreateSession(ctx, z))
		got, err := s.GetSession(ctx, z.ID, base)
		require.NoError(t, err)
		assertSession(t, z, got)
	})
	t.Run("unknown", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.CreateSession(ctx, sess))
		_, err := s.GetSession(ctx, sess.ID+"x", base)
		require.ErrorIs(t, err, sp.ErrNotFound)
		_, err = s.GetSession(ctx, "", base)
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("expired", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.CreateSession(ctx, sess))
		_, err := s.GetSession(ctx, sess.ID, sess.ExpiresAt.Add(-time.Microsecond))
		require.NoError(t, err)
		_, err = s.GetSession(ctx, sess.ID, sess.ExpiresAt)
		require.ErrorIs(t, err, sp.ErrNotFound)
		_, err = s.GetSession(ctx, sess.ID, sess.ExpiresAt.Add(time.Hour))
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		other := sess
		other.ID = "another-session-id"
		require.NoError(t, s.CreateSession(ctx, sess))
		require.NoError(t, s.CreateSession(ctx, other))
		require.NoError(t, s.DeleteSession(ctx, sess.ID))
		_, err := s.GetSession(ctx, sess.ID, base)
		require.ErrorIs(t, err, sp.ErrNotFound)
		require.NoError(t, s.DeleteSession(ctx, sess.ID), "deleting twice is not an error")
		_, err = s.GetSession(ctx, other.ID, base)
		require.NoError(t, err, "other sessions survive")
	})
	t.Run("duplicate ID", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		require.NoError(t, s.CreateSession(ctx, sess))
		dup := sess
		dup.UserID = "user-2"
		require.ErrorIs(t, s.CreateSession(ctx, dup), sp.ErrConflict)
		got, err := s.GetSession(ctx, sess.ID, base)
		require.NoError(t, err)
		assert.Equal(t, sess.UserID, got.UserID, "the first session is unchanged")
	})
	t.Run("empty ID rejected", func(t *testing.T) {
		s := newStore(t)
		z := sess
		z.ID = ""
		require.Error(t, s.CreateSession(t.Context(), z))
	})
}

func testUsers(t *testing.T, newStore func(t *testing.T) Store) {
	const idp1, idp2 = "https://idp1.example.com", "https://idp2.example.com"
	alice := sp.User{UserName: "alice@example.com", Email: "alice@example.com", DisplayName: "Alice", Active: true}
	t.Run("create and get", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := alice
		u.Groups = []string{"eng", "admins", "eng", ""}
		got, err := s.CreateUser(ctx, u)
		require.NoError(t, err)
		assert.Len(t, got.ID, 32, "random 128-bit hex ID")
		want := u
		want.ID = got.ID
		want.Groups = []string{"admins", "eng"}
		assert.Equal(t, want, got)
		fetched, err := s.GetUser(ctx, got.ID)
		require.NoError(t, err)
		assert.Equal(t, want, fetched)

		other, err := s.CreateUser(ctx, sp.User{UserName: "bob@example.com"})
		require.NoError(t, err)
		assert.NotEqual(t, got.ID, other.ID)
		assert.False(t, other.Active)
		assert.Empty(t, other.Groups)
	})
	t.Run("create conflicts", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := alice
		u.ID = "fixed-id"
		_, err := s.CreateUser(ctx, u)
		require.NoError(t, err)
		_, err = s.CreateUser(ctx, sp.User{UserName: alice.UserName})
		require.ErrorIs(t, err, sp.ErrConflict, "duplicate user_name")
		_, err = s.CreateUser(ctx, sp.User{ID: "fixed-id", UserName: "other@example.com"})
		require.ErrorIs(t, err, sp.ErrConflict, "duplicate ID")
		_, err = s.CreateUser(ctx, sp.User{UserName: "other@example.com"})
		require.NoError(t, err, "positive control")
		_, err = s.CreateUser(ctx, sp.User{})
		require.Error(t, err, "empty user_name")
	})
	t.Run("unknown IDs", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u, err := s.CreateUser(ctx, alice)
		require.NoError(t, err)
		_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp1, NameID: alice.UserName})
		require.NoError(t, err)

		_, err = s.GetUser(ctx, u.ID+"0")
		require.ErrorIs(t, err, sp.ErrNotFound)
		_, err = s.UpdateAttributes(ctx, u.ID+"0", sp.UserAttributes{Email: "x@example.com"}, base)
		require.ErrorIs(t, err, sp.ErrNotFound)
		_, err = s.LookupExternal(ctx, sp.ExternalIdentity{Issuer: idp2, NameID: alice.UserName})
		require.ErrorIs(t, err, sp.ErrNotFound, "other issuer")
		_, err = s.LookupExternal(ctx, sp.ExternalIdentity{Issuer: idp1, NameID: "ALICE@example.com"})
		require.ErrorIs(t, err, sp.ErrNotFound, "NameIDs compare exactly")
		_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp1, NameID: "nobody@example.com"})
		require.ErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("link by user name", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u, err := s.CreateUser(ctx, alice)
		require.NoError(t, err)
		ext := sp.ExternalIdentity{Issuer: idp1, NameID: alice.UserName}
		_, err = s.LookupExternal(ctx, ext)
		require.ErrorIs(t, err, sp.ErrNotFound, "not linked yet")

		linked, err := s.LinkByUserName(ctx, ext)
		require.NoError(t, err)
		assert.Equal(t, u, linked)
		found, err := s.LookupExternal(ctx, ext)
		require.NoError(t, err)
		assert.Equal(t, u, found)

		again, err := s.LinkByUserName(ctx, ext)
		require.NoError(t, err, "relinking the same pair is idempotent")
		assert.Equal(t, u.ID, again.ID)

		other, err := s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp2, NameID: alice.UserName})
		require.NoError(t, err, "one identity per issuer")
		assert.Equal(t, u.ID, other.ID)
	})
	t.Run("update attributes", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := alice
		u.Groups = []string{"eng", "ops"}
		created, err := s.CreateUser(ctx, u)
		require.NoError(t, err)
		bob, err := s.CreateUser(ctx, sp.User{UserName: "bob@example.com", Groups: []string{"eng"}, Active: true})
		require.NoError(t, err)

		got, err := s.UpdateAttributes(ctx, created.ID, sp.UserAttributes{Email: "a2@example.com", DisplayName: "Alice Two", Groups: []string{"sales", "admins"}}, base)
		require.NoError(t, err)
		assert.Equal(t, sp.User{ID: created.ID, UserName: alice.UserName, Email: "a2@example.com", DisplayName: "Alice Two", Groups: []string{"admins", "sales"}, Active: true}, got)

		got, err = s.UpdateAttributes(ctx, created.ID, sp.UserAttributes{Email: "a3@example.com", DisplayName: "Alice Three"}, base)
		require.NoError(t, err)
		assert.Equal(t, []string{"admins", "sales"}, got.Groups, "nil groups leave memberships")
		assert.Equal(t, "a3@example.com", got.Email)

		got, err = s.UpdateAttributes(ctx, created.ID, sp.UserAttributes{Email: "a3@example.com", Groups: []string{}}, base)
		require.NoError(t, err)
		assert.Empty(t, got.Groups, "empty groups clear memberships")
		fetched, err := s.GetUser(ctx, created.ID)
		require.NoError(t, err)
		assert.Equal(t, got, fetched)

		b, err := s.GetUser(ctx, bob.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"eng"}, b.Groups, "other users' memberships are untouched")
	})
}

func testProvision(t *testing.T, newStore func(t *testing.T) Store) {
	const idp1, idp2 = "https://idp1.example.com", "https://idp2.example.com"
	ext := sp.ExternalIdentity{Issuer: idp1, NameID: "carol@example.com"}
	t.Run("creates then updates", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "carol@example.com", DisplayName: "Carol", Groups: []string{"eng", "ops"}}, base)
		require.NoError(t, err)
		assert.NotEmpty(t, u.ID)
		assert.Equal(t, sp.User{ID: u.ID, UserName: ext.NameID, Email: "carol@example.com", DisplayName: "Carol", Groups: []string{"eng", "ops"}, Active: true}, u)
		found, err := s.LookupExternal(ctx, ext)
		require.NoError(t, err)
		assert.Equal(t, u, found)

		u2, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "c2@example.com", DisplayName: "Carol Two", Groups: []string{"ops", "sales"}}, base.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, sp.User{ID: u.ID, UserName: ext.NameID, Email: "c2@example.com", DisplayName: "Carol Two", Groups: []string{"ops", "sales"}, Active: true}, u2, "groups replaced")

		u3, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "c3@example.com"}, base.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, []string{"ops", "sales"}, u3.Groups, "nil groups leave memberships")
		assert.Equal(t, u.ID, u3.ID)
		fetched, err := s.GetUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u3, fetched)
	})
	t.Run("nil groups on create", func(t *testing.T) {
		s := newStore(t)
		u, err := s.ProvisionExternal(t.Context(), ext, sp.UserAttributes{Email: "carol@example.com"}, base)
		require.NoError(t, err)
		assert.Empty(t, u.Groups)
	})
	t.Run("does not take over an existing user_name", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		local, err := s.CreateUser(ctx, sp.User{UserName: ext.NameID, Email: "local@example.com", Active: true})
		require.NoError(t, err)
		_, err = s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "evil@example.com"}, base)
		require.ErrorIs(t, err, sp.ErrConflict)
		_, err = s.LookupExternal(ctx, ext)
		require.ErrorIs(t, err, sp.ErrNotFound, "nothing linked")
		got, err := s.GetUser(ctx, local.ID)
		require.NoError(t, err)
		assert.Equal(t, local, got, "existing user unchanged")

		// Positive control: once linked explicitly, provisioning updates.
		_, err = s.LinkByUserName(ctx, ext)
		require.NoError(t, err)
		u, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "new@example.com"}, base)
		require.NoError(t, err)
		assert.Equal(t, local.ID, u.ID)
		assert.Equal(t, "new@example.com", u.Email)
	})
	t.Run("same NameID at another issuer is another identity", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		_, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{}, base)
		require.NoError(t, err)
		_, err = s.ProvisionExternal(ctx, sp.ExternalIdentity{Issuer: idp2, NameID: ext.NameID}, sp.UserAttributes{}, base)
		require.ErrorIs(t, err, sp.ErrConflict)
		_, err = s.ProvisionExternal(ctx, sp.ExternalIdentity{Issuer: idp2, NameID: "dave@example.com"}, sp.UserAttributes{}, base)
		require.NoError(t, err, "positive control")
	})
	t.Run("keeps an inactive user inactive", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		_, err := s.CreateUser(ctx, sp.User{UserName: ext.NameID, Active: false})
		require.NoError(t, err)
		_, err = s.LinkByUserName(ctx, ext)
		require.NoError(t, err)
		u, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "carol@example.com"}, base)
		require.NoError(t, err)
		assert.False(t, u.Active)
	})
	t.Run("shared groups", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Groups: []string{"eng"}}, base)
		require.NoError(t, err)
		b, err := s.ProvisionExternal(ctx, sp.ExternalIdentity{Issuer: idp1, NameID: "erin@example.com"}, sp.UserAttributes{Groups: []string{"eng", "ops"}}, base)
		require.NoError(t, err)
		assert.Equal(t, []string{"eng", "ops"}, b.Groups)
		a, err = s.GetUser(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"eng"}, a.Groups)
	})
	t.Run("empty identity rejected", func(t *testing.T) {
		s := newStore(t)
		_, err := s.ProvisionExternal(t.Context(), sp.ExternalIdentity{Issuer: idp1}, sp.UserAttributes{}, base)
		require.Error(t, err)
		_, err = s.ProvisionExternal(t.Context(), sp.ExternalIdentity{NameID: "x"}, sp.UserAttributes{}, base)
		require.Error(t, err)
	})
}

func testConcurrentProvision(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	ext := sp.ExternalIdentity{Issuer: "https://idp.example.com", NameID: "frank@example.com"}
	const n = 8
	users := make([]sp.User, n)
	errs := race(n, func(i int) error {
		var err error
		users[i], err = s.ProvisionExternal(ctx, ext, sp.UserAttributes{Groups: []string{"eng", "ops"}}, base)
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
		assert.Equal(t, users[0].ID, users[i].ID, "one user for one identity")
	}
	got, err := s.LookupExternal(ctx, ext)
	require.NoError(t, err)
	assert.Equal(t, users[0].ID, got.ID)
	assert.Equal(t, []string{"eng", "ops"}, got.Groups)
}

func testCleanup(t *testing.T, newStore func(t *testing.T) Store) {
	const issuer = "https://idp.example.com"
	s := newStore(t)
	ctx := t.Context()
	now := base.Add(time.Hour)
	session := func(id string, exp time.Time) sp.Session {
		return sp.Session{ID: id, UserID: "u", CreatedAt: base, ExpiresAt: exp, Method: "saml"}
	}
	// Expired: strictly before now, and exactly at now.
	require.NoError(t, s.SaveRequest(ctx, pending("req-old", now.Add(-time.Minute))))
	require.NoError(t, s.SaveRequest(ctx, pending("req-edge", now)))
	require.NoError(t, s.MarkAssertionUsed(ctx, issuer, "_old", now.Add(-time.Minute), base))
	require.NoError(t, s.MarkAssertionUsed(ctx, issuer, "_edge", now, base))
	require.NoError(t, s.CreateSession(ctx, session("sess-old", now.Add(-time.Minute))))
	require.NoError(t, s.CreateSession(ctx, session("sess-edge", now)))
	// Live: one microsecond after now, and later.
	require.NoError(t, s.SaveRequest(ctx, pending("req-live", now.Add(time.Microsecond))))
	require.NoError(t, s.SaveRequest(ctx, pending("req-later", now.Add(time.Hour))))
	require.NoError(t, s.MarkAssertionUsed(ctx, issuer, "_live", now.Add(time.Microsecond), base))
	require.NoError(t, s.CreateSession(ctx, session("sess-live", now.Add(time.Microsecond))))

	n, err := s.Cleanup(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, int64(6), n)
	n, err = s.Cleanup(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, int64(0), n, "expired rows are gone")

	// Every live row survived, as seen one moment before now.
	before := now.Add(-time.Second)
	_, err = s.ConsumeRequest(ctx, "req-live", before)
	require.NoError(t, err)
	_, err = s.ConsumeRequest(ctx, "req-later", before)
	require.NoError(t, err)
	require.ErrorIs(t, s.MarkAssertionUsed(ctx, issuer, "_live", now.Add(time.Hour), before), sp.ErrReplay)
	_, err = s.GetSession(ctx, "sess-live", before)
	require.NoError(t, err)
	// And the expired ones are really gone, even to a caller whose clock
	// is behind.
	_, err = s.ConsumeRequest(ctx, "req-old", base)
	require.ErrorIs(t, err, sp.ErrNotFound)
	_, err = s.GetSession(ctx, "sess-edge", base)
	require.ErrorIs(t, err, sp.ErrNotFound)
	require.NoError(t, s.MarkAssertionUsed(ctx, issuer, "_old", now.Add(time.Hour), base))
}
