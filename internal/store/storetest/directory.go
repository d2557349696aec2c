package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// RunDirectory runs the conformance cases of the identity store
// (directory.Store) and of its interplay with sign-in, sessions and
// refresh tokens. newStore must return a new, empty store for each call
// and register its own cleanup with t.Cleanup. Run calls it.
func RunDirectory(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("UserRoundTrip", func(t *testing.T) { testDirUserRoundTrip(t, newStore) })
	t.Run("CreateUserErrors", func(t *testing.T) { testDirCreateUserErrors(t, newStore) })
	t.Run("NotFound", func(t *testing.T) { testDirNotFound(t, newStore) })
	t.Run("ReplaceUser", func(t *testing.T) { testDirReplaceUser(t, newStore) })
	t.Run("UpdateUser", func(t *testing.T) { testDirUpdateUser(t, newStore) })
	t.Run("ConcurrentUpdateUser", func(t *testing.T) { testDirConcurrentUpdate(t, newStore) })
	t.Run("Deactivation", func(t *testing.T) { testDirDeactivation(t, newStore) })
	t.Run("DeleteUser", func(t *testing.T) { testDirDeleteUser(t, newStore) })
	t.Run("Groups", func(t *testing.T) { testDirGroups(t, newStore) })
	t.Run("PatchGroupMembers", func(t *testing.T) { testDirPatchMembers(t, newStore) })
	t.Run("ConcurrentMembership", func(t *testing.T) { testDirConcurrentMembership(t, newStore) })
	t.Run("SignIn", func(t *testing.T) { testDirSignIn(t, newStore) })
	t.Run("Paging", func(t *testing.T) { testDirPaging(t, newStore) })
	t.Run("UserFilters", func(t *testing.T) { testDirUserFilters(t, newStore) })
	t.Run("GroupFilters", func(t *testing.T) { testDirGroupFilters(t, newStore) })
}

// dirUser is a user with every field set.
func dirUser(name string) directory.User {
	return directory.User{
		UserName:    name,
		ExternalID:  "ext-" + name,
		GivenName:   "Given " + name,
		FamilyName:  "Family " + name,
		DisplayName: "Display " + name,
		Emails: []directory.Email{
			{Value: name + "@home.example.com", Type: "home"},
			{Value: name + "@example.com", Type: "work", Primary: true},
		},
		Active:     true,
		Attributes: map[string]string{"department": "R&D <ünïcode>", "costCenter": "42"},
	}
}

// created returns what the store returns for u created with id at now.
func created(u directory.User, id string, now time.Time) directory.User {
	u = directory.NormalizeUser(u)
	u.ID, u.Version, u.CreatedAt, u.UpdatedAt = id, 1, now, now
	return u
}

func mustCreateUser(t *testing.T, s Store, u directory.User, now time.Time) directory.User {
	t.Helper()
	got, err := s.CreateDirectoryUser(t.Context(), u, now)
	require.NoError(t, err)
	return got
}

func mustGetUser(t *testing.T, s Store, id string) directory.User {
	t.Helper()
	got, err := s.DirectoryUser(t.Context(), id)
	require.NoError(t, err)
	return got
}

func mustGetGroup(t *testing.T, s Store, id string) directory.Group {
	t.Helper()
	got, err := s.Group(t.Context(), id)
	require.NoError(t, err)
	return got
}

// requireInvalid asserts that err is a *directory.ValidationError naming
// attr.
func requireInvalid(t *testing.T, err error, attr string) {
	t.Helper()
	require.ErrorIs(t, err, directory.ErrInvalid)
	var ve *directory.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, attr, ve.Attribute)
}

func userTotal(t *testing.T, s Store) int {
	t.Helper()
	p, err := s.ListDirectoryUsers(t.Context(), directory.Query{})
	require.NoError(t, err)
	return p.Total
}

func testDirUserRoundTrip(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	u := dirUser("alice")
	got := mustCreateUser(t, s, u, base)
	assert.Len(t, got.ID, 32, "random 128-bit hex ID")
	want := created(u, got.ID, base)
	assert.Equal(t, "alice@example.com", want.Email, "Email is the primary address")
	assert.Equal(t, want, got)
	assert.Equal(t, want, mustGetUser(t, s, got.ID))

	// The same user, as sign-in sees it.
	spu, err := s.GetUser(ctx, got.ID)
	require.NoError(t, err)
	assert.Equal(t, sp.User{ID: got.ID, UserName: "alice", Email: "alice@example.com", DisplayName: "Display alice", Groups: []string{}, Active: true}, spu)

	t.Run("explicit ID, Email only, read-only fields ignored", func(t *testing.T) {
		in := directory.User{
			ID: "u-bob", UserName: "bob", Email: "bob@example.com",
			Groups:  []directory.GroupRef{{ID: "g", DisplayName: "ignored"}},
			Version: 7, CreatedAt: base.Add(-time.Hour), UpdatedAt: base.Add(time.Hour),
		}
		got := mustCreateUser(t, s, in, base.Add(time.Second))
		assert.Equal(t, directory.User{
			ID: "u-bob", UserName: "bob", Email: "bob@example.com",
			Emails:  []directory.Email{{Value: "bob@example.com", Primary: true}},
			Version: 1, CreatedAt: base.Add(time.Second), UpdatedAt: base.Add(time.Second),
		}, got)
		assert.Equal(t, got, mustGetUser(t, s, "u-bob"))
	})
	t.Run("no primary: Email is the first address", func(t *testing.T) {
		in := directory.User{UserName: "carol", Email: "ignored@example.com", Emails: []directory.Email{
			{Value: "c1@example.com", Type: "work"}, {Value: "c2@example.com"},
		}}
		got := mustCreateUser(t, s, in, base)
		assert.Equal(t, "c1@example.com", got.Email)
		assert.Equal(t, in.Emails, got.Emails)
		assert.Equal(t, got, mustGetUser(t, s, got.ID))
	})
	t.Run("sub-microsecond time is cut", func(t *testing.T) {
		got := mustCreateUser(t, s, directory.User{UserName: "dave"}, base.Add(1500*time.Nanosecond))
		assert.Equal(t, base.Add(time.Microsecond), got.CreatedAt)
		assert.Equal(t, got, mustGetUser(t, s, got.ID))
	})
}

func testDirCreateUserErrors(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	alice := mustCreateUser(t, s, directory.User{ID: "u-alice", UserName: "alice", ExternalID: "shared"}, base)
	mustCreateUser(t, s, directory.User{UserName: "Ünïcode"}, base)
	total := userTotal(t, s)

	conflicts := []struct {
		name string
		u    directory.User
	}{
		{"same userName", directory.User{UserName: "alice"}},
		{"userName differs in case", directory.User{UserName: "ALICE"}},
		{"userName differs in non-ASCII case", directory.User{UserName: "üNÏCODE"}},
		{"taken ID", directory.User{ID: alice.ID, UserName: "other"}},
	}
	for _, c := range conflicts {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateDirectoryUser(ctx, c.u, base)
			require.ErrorIs(t, err, directory.ErrConflict)
			assert.Equal(t, total, userTotal(t, s), "nothing stored")
		})
	}
	t.Run("externalId is not unique", func(t *testing.T) {
		u := mustCreateUser(t, s, directory.User{UserName: "alicia", ExternalID: "shared"}, base)
		require.NoError(t, s.DeleteDirectoryUser(ctx, u.ID, 0, base))
	})

	valid := dirUser("erin")
	long := func(n int) string { return strings.Repeat("x", n) }
	invalid := []struct {
		name, attr string
		change     func(u *directory.User)
	}{
		{"empty userName", "userName", func(u *directory.User) { u.UserName = "" }},
		{"long userName", "userName", func(u *directory.User) { u.UserName = long(directory.MaxNameLength + 1) }},
		{"control character in userName", "userName", func(u *directory.User) { u.UserName = "er\nin" }},
		{"invalid UTF-8", "userName", func(u *directory.User) { u.UserName = "er\xffin" }},
		{"NUL in displayName", "displayName", func(u *directory.User) { u.DisplayName = "a\x00b" }},
		{"long externalId", "externalId", func(u *directory.User) { u.ExternalID = long(directory.MaxNameLength + 1) }},
		{"long givenName", "name.givenName", func(u *directory.User) { u.GivenName = long(directory.MaxNameLength + 1) }},
		{"long familyName", "name.familyName", func(u *directory.User) { u.FamilyName = long(directory.MaxNameLength + 1) }},
		{"bad ID", "id", func(u *directory.User) { u.ID = "has space" }},
		{"long ID", "id", func(u *directory.User) { u.ID = long(directory.MaxIDLength + 1) }},
		{"two primaries", "emails", func(u *directory.User) { u.Emails[0].Primary = true }},
		{"too many emails", "emails", func(u *directory.User) {
			for i := range directory.MaxEmails {
				u.Emails = append(u.Emails, directory.Email{Value: fmt.Sprintf("e%d@example.com", i)})
			}
		}},
		{"empty email value", "emails.value", func(u *directory.User) { u.Emails[0].Value = "" }},
		{"long email", "emails.value", func(u *directory.User) { u.Emails[0].Value = long(directory.MaxEmailLength + 1) }},
		{"long email type", "emails.type", func(u *directory.User) { u.Emails[0].Type = long(directory.MaxEmailTypeLength + 1) }},
		{"bad attribute name", "attributes", func(u *directory.User) { u.Attributes["has space"] = "x" }},
		{"long attribute value", "attributes.costCenter", func(u *directory.User) {
			u.Attributes["costCenter"] = long(directory.MaxAttributeValueLength + 1)
		}},
		{"too many attributes", "attributes", func(u *directory.User) {
			for i := range directory.MaxAttributes {
				u.Attributes["a"+strconv.Itoa(i)] = "x"
			}
		}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			u := directory.NormalizeUser(valid)
			c.change(&u)
			_, err := s.CreateDirectoryUser(ctx, u, base)
			requireInvalid(t, err, c.attr)
			assert.Equal(t, total, userTotal(t, s), "nothing stored")
		})
	}
	t.Run("positive control", func(t *testing.T) {
		u := directory.NormalizeUser(valid)
		u.DisplayName = "multi\nline\tprose"
		u.Attributes["a.b:c/d-e_f"] = strings.Repeat("v", directory.MaxAttributeValueLength)
		mustCreateUser(t, s, u, base)
		assert.Equal(t, total+1, userTotal(t, s))
	})
}

func testDirNotFound(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	u := mustCreateUser(t, s, directory.User{UserName: "alice"}, base)
	g, err := s.CreateGroup(ctx, directory.Group{DisplayName: "eng"}, base)
	require.NoError(t, err)
	const unknown = "no-such-id"
	noop := func(*directory.User) error { return nil }
	noopGroup := func(*directory.Group) error { return nil }
	for name, err := range map[string]error{
		"DirectoryUser": func() error { _, err := s.DirectoryUser(ctx, unknown); return err }(),
		"ReplaceDirectoryUser": func() error {
			_, err := s.ReplaceDirectoryUser(ctx, directory.User{ID: unknown, UserName: "x"}, 0, base)
			return err
		}(),
		"UpdateDirectoryUser": func() error { _, err := s.UpdateDirectoryUser(ctx, unknown, 0, noop, base); return err }(),
		"DeleteDirectoryUser": s.DeleteDirectoryUser(ctx, unknown, 0, base),
		"Group":               func() error { _, err := s.Group(ctx, unknown); return err }(),
		"ReplaceGroup": func() error {
			_, err := s.ReplaceGroup(ctx, directory.Group{ID: unknown, DisplayName: "x"}, 0, base)
			return err
		}(),
		"UpdateGroup":       func() error { _, err := s.UpdateGroup(ctx, unknown, 0, noopGroup, base); return err }(),
		"DeleteGroup":       s.DeleteGroup(ctx, unknown, 0, base),
		"PatchGroupMembers": func() error { _, err := s.PatchGroupMembers(ctx, unknown, []string{u.ID}, nil, 0, base); return err }(),
		"group as user":     func() error { _, err := s.DirectoryUser(ctx, g.ID); return err }(),
		"user as group":     func() error { _, err := s.Group(ctx, u.ID); return err }(),
	} {
		assert.ErrorIs(t, err, directory.ErrNotFound, name)
	}
	// Positive controls.
	_, err = s.DirectoryUser(ctx, u.ID)
	require.NoError(t, err)
	_, err = s.Group(ctx, g.ID)
	require.NoError(t, err)
}

func testDirReplaceUser(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	orig := mustCreateUser(t, s, dirUser("alice"), base)
	mustCreateUser(t, s, dirUser("bob"), base)
	t1 := base.Add(time.Minute)

	repl := directory.User{
		ID: orig.ID, UserName: "alice.new", ExternalID: "ext-2", GivenName: "A", FamilyName: "L",
		DisplayName: "Alice L", Emails: []directory.Email{{Value: "new@example.com", Type: "other"}},
		Active: true, Attributes: map[string]string{"level": "3"},
	}
	t.Run("version mismatch changes nothing", func(t *testing.T) {
		_, err := s.ReplaceDirectoryUser(ctx, repl, orig.Version+1, t1)
		require.ErrorIs(t, err, directory.ErrPreconditionFailed)
		assert.Equal(t, orig, mustGetUser(t, s, orig.ID))
	})
	t.Run("userName of another user ignoring case", func(t *testing.T) {
		r := repl
		r.UserName = "BOB"
		_, err := s.ReplaceDirectoryUser(ctx, r, 0, t1)
		require.ErrorIs(t, err, directory.ErrConflict)
		assert.Equal(t, orig, mustGetUser(t, s, orig.ID))
	})
	t.Run("invalid", func(t *testing.T) {
		r := repl
		r.Emails = []directory.Email{{Value: "a@x", Primary: true}, {Value: "b@x", Primary: true}}
		_, err := s.ReplaceDirectoryUser(ctx, r, 0, t1)
		requireInvalid(t, err, "emails")
		assert.Equal(t, orig, mustGetUser(t, s, orig.ID))
	})
	t.Run("replace", func(t *testing.T) {
		got, err := s.ReplaceDirectoryUser(ctx, repl, orig.Version, t1)
		require.NoError(t, err)
		want := directory.NormalizeUser(repl)
		want.Version, want.CreatedAt, want.UpdatedAt = 2, base, t1
		assert.Equal(t, want, got)
		assert.Equal(t, "new@example.com", got.Email)
		assert.Equal(t, want, mustGetUser(t, s, orig.ID))

		// Same content again: no change, no new version.
		again, err := s.ReplaceDirectoryUser(ctx, repl, 0, t1.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, want, again)

		// The old userName is free, and the user may change the case of
		// its own.
		r := repl
		r.UserName = "ALICE.NEW"
		got, err = s.ReplaceDirectoryUser(ctx, r, 2, t1)
		require.NoError(t, err)
		assert.Equal(t, "ALICE.NEW", got.UserName)
		assert.Equal(t, int64(3), got.Version)
		mustCreateUser(t, s, directory.User{UserName: "alice"}, t1)
	})
}

var errFromFn = errors.New("fn refused")

func testDirUpdateUser(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	orig := mustCreateUser(t, s, dirUser("alice"), base)
	t1 := base.Add(time.Minute)
	t.Run("fn error changes nothing", func(t *testing.T) {
		_, err := s.UpdateDirectoryUser(ctx, orig.ID, 0, func(u *directory.User) error {
			u.DisplayName = "changed"
			return errFromFn
		}, t1)
		require.ErrorIs(t, err, errFromFn)
		assert.Equal(t, orig, mustGetUser(t, s, orig.ID))
	})
	t.Run("ID is immutable", func(t *testing.T) {
		_, err := s.UpdateDirectoryUser(ctx, orig.ID, 0, func(u *directory.User) error {
			u.ID = "other"
			return nil
		}, t1)
		requireInvalid(t, err, "id")
		assert.Equal(t, orig, mustGetUser(t, s, orig.ID))
	})
	t.Run("read-only fields are ignored", func(t *testing.T) {
		got, err := s.UpdateDirectoryUser(ctx, orig.ID, 0, func(u *directory.User) error {
			u.Version, u.CreatedAt, u.UpdatedAt = 99, t1, t1
			u.Groups = []directory.GroupRef{{ID: "x", DisplayName: "x"}}
			return nil
		}, t1)
		require.NoError(t, err)
		assert.Equal(t, orig, got)
	})
	t.Run("update", func(t *testing.T) {
		got, err := s.UpdateDirectoryUser(ctx, orig.ID, 1, func(u *directory.User) error {
			assert.Equal(t, orig, *u, "fn sees the stored user")
			u.Attributes["clearance"] = "secret"
			delete(u.Attributes, "costCenter")
			u.Emails = u.Emails[:1]
			return nil
		}, t1)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"department": orig.Attributes["department"], "clearance": "secret"}, got.Attributes)
		assert.Equal(t, []directory.Email{orig.Emails[0]}, got.Emails)
		assert.Equal(t, orig.Emails[0].Value, got.Email, "no primary left: the first")
		assert.Equal(t, int64(2), got.Version)
		assert.Equal(t, t1, got.UpdatedAt)
		assert.Equal(t, got, mustGetUser(t, s, orig.ID))
		assert.Equal(t, "Display alice", got.DisplayName)
	})
	t.Run("clearing the addresses", func(t *testing.T) {
		got, err := s.UpdateDirectoryUser(ctx, orig.ID, 0, func(u *directory.User) error {
			u.Emails = nil
			return nil
		}, t1)
		require.NoError(t, err)
		assert.Nil(t, got.Emails)
		assert.Empty(t, got.Email)
		assert.Equal(t, got, mustGetUser(t, s, orig.ID))
		p, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: parse(t, `emails pr`), Count: 10})
		require.NoError(t, err)
		assert.Zero(t, p.Total, "no address is left to search")
		spu, err := s.GetUser(ctx, orig.ID)
		require.NoError(t, err)
		assert.Empty(t, spu.Email)
	})
}

func testDirConcurrentUpdate(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	increment := func(u *directory.User) error {
		n, err := strconv.Atoi(u.Attributes["counter"])
		if err != nil {
			return err
		}
		u.Attributes["counter"] = strconv.Itoa(n + 1)
		return nil
	}
	t.Run("any version: none lost", func(t *testing.T) {
		s := newStore(t)
		u := mustCreateUser(t, s, directory.User{UserName: "counter", Attributes: map[string]string{"counter": "0"}}, base)
		errs := race(Concurrency, func(int) error {
			_, err := s.UpdateDirectoryUser(ctx, u.ID, 0, increment, base)
			return err
		})
		for i, err := range errs {
			require.NoError(t, err, "goroutine %d", i)
		}
		got := mustGetUser(t, s, u.ID)
		assert.Equal(t, strconv.Itoa(Concurrency), got.Attributes["counter"])
		assert.Equal(t, int64(1+Concurrency), got.Version)
	})
	t.Run("if-match: winners counted, losers changed nothing", func(t *testing.T) {
		s := newStore(t)
		u := mustCreateUser(t, s, directory.User{UserName: "counter", Attributes: map[string]string{"counter": "0"}}, base)
		errs := race(Concurrency, func(int) error {
			_, err := s.UpdateDirectoryUser(ctx, u.ID, u.Version, increment, base)
			return err
		})
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			assert.ErrorIs(t, err, directory.ErrPreconditionFailed, "goroutine %d", i)
		}
		assert.Equal(t, 1, wins, "all raced for version 1")
		got := mustGetUser(t, s, u.ID)
		assert.Equal(t, strconv.Itoa(wins), got.Attributes["counter"])
		assert.Equal(t, int64(1+wins), got.Version)
	})
}

// access creates two sessions and two refresh token families of userID
// and returns the session IDs and token hashes.
func access(t *testing.T, s Store, userID, prefix string) (sessions, tokens []string) {
	t.Helper()
	ctx := t.Context()
	for i := range 2 {
		id := fmt.Sprintf("%s-session-%d", prefix, i)
		require.NoError(t, s.CreateSession(ctx, sp.Session{ID: id, UserID: userID, CreatedAt: base, ExpiresAt: base.Add(8 * time.Hour), Method: "saml"}))
		sessions = append(sessions, id)
		tok := refreshToken(fmt.Sprintf("%s-rt-%d", prefix, i), fmt.Sprintf("%s-fam-%d", prefix, i))
		tok.UserID = userID
		require.NoError(t, s.CreateRefreshToken(ctx, tok))
		tokens = append(tokens, tok.Hash)
	}
	return sessions, tokens
}

// accessIs asserts that the sessions and refresh tokens are all live
// (live) or all gone.
func accessIs(t *testing.T, s Store, sessions, tokens []string, live bool) {
	t.Helper()
	ctx := t.Context()
	for _, id := range sessions {
		_, err := s.GetSession(ctx, id, base)
		if live {
			assert.NoError(t, err, "session %s", id)
		} else {
			assert.ErrorIs(t, err, sp.ErrNotFound, "session %s", id)
		}
	}
	for _, h := range tokens {
		_, err := s.RefreshTokenByHash(ctx, h, base)
		if live {
			assert.NoError(t, err, "refresh token")
		} else {
			assert.ErrorIs(t, err, oauth.ErrNotFound, "refresh token")
		}
	}
}

func testDirDeactivation(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	alice := mustCreateUser(t, s, dirUser("alice"), base)
	bob := mustCreateUser(t, s, dirUser("bob"), base)
	aSessions, aTokens := access(t, s, alice.ID, "alice")
	bSessions, bTokens := access(t, s, bob.ID, "bob")
	accessIs(t, s, aSessions, aTokens, true)

	t.Run("a failed deactivation ends nothing", func(t *testing.T) {
		u := alice
		u.Active = false
		u.UserName = "BOB"
		_, err := s.ReplaceDirectoryUser(ctx, u, 0, base)
		require.ErrorIs(t, err, directory.ErrConflict)
		_, err = s.UpdateDirectoryUser(ctx, alice.ID, 0, func(u *directory.User) error {
			u.Active = false
			return errFromFn
		}, base)
		require.ErrorIs(t, err, errFromFn)
		accessIs(t, s, aSessions, aTokens, true)
		assert.True(t, mustGetUser(t, s, alice.ID).Active)
	})
	t.Run("other changes end nothing", func(t *testing.T) {
		_, err := s.UpdateDirectoryUser(ctx, alice.ID, 0, func(u *directory.User) error {
			u.DisplayName = "Still Active"
			return nil
		}, base)
		require.NoError(t, err)
		accessIs(t, s, aSessions, aTokens, true)
	})
	t.Run("deactivation ends sessions and refresh tokens", func(t *testing.T) {
		got, err := s.UpdateDirectoryUser(ctx, alice.ID, 0, func(u *directory.User) error {
			u.Active = false
			return nil
		}, base)
		require.NoError(t, err)
		assert.False(t, got.Active)
		accessIs(t, s, aSessions, aTokens, false)
		accessIs(t, s, bSessions, bTokens, true)
		spu, err := s.GetUser(ctx, alice.ID)
		require.NoError(t, err)
		assert.False(t, spu.Active, "sign-in sees the deactivation")
	})
	t.Run("while inactive, and after reactivation, new sessions live", func(t *testing.T) {
		more, moreTokens := access(t, s, alice.ID, "alice-later")
		_, err := s.UpdateDirectoryUser(ctx, alice.ID, 0, func(u *directory.User) error {
			u.DisplayName = "Inactive"
			return nil
		}, base)
		require.NoError(t, err)
		accessIs(t, s, more, moreTokens, true)
		u := mustGetUser(t, s, alice.ID)
		u.Active = true
		_, err = s.ReplaceDirectoryUser(ctx, u, 0, base)
		require.NoError(t, err)
		accessIs(t, s, more, moreTokens, true)
		// Replace deactivates too.
		u.Active = false
		_, err = s.ReplaceDirectoryUser(ctx, u, 0, base)
		require.NoError(t, err)
		accessIs(t, s, more, moreTokens, false)
		accessIs(t, s, bSessions, bTokens, true)
	})
}

func testDirDeleteUser(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	const issuer = "https://idp.example.com"
	alice := mustCreateUser(t, s, dirUser("alice"), base)
	bob := mustCreateUser(t, s, dirUser("bob"), base)
	_, err := s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "alice"})
	require.NoError(t, err)
	eng, err := s.CreateGroup(ctx, directory.Group{DisplayName: "eng", Members: []string{alice.ID, bob.ID}}, base)
	require.NoError(t, err)
	ops, err := s.CreateGroup(ctx, directory.Group{DisplayName: "ops", Members: []string{bob.ID}}, base)
	require.NoError(t, err)
	aSessions, aTokens := access(t, s, alice.ID, "alice")
	bSessions, bTokens := access(t, s, bob.ID, "bob")
	bobBefore := mustGetUser(t, s, bob.ID)

	t1 := base.Add(time.Minute)
	require.NoError(t, s.DeleteDirectoryUser(ctx, alice.ID, 0, t1))
	_, err = s.DirectoryUser(ctx, alice.ID)
	require.ErrorIs(t, err, directory.ErrNotFound)
	_, err = s.GetUser(ctx, alice.ID)
	require.ErrorIs(t, err, sp.ErrNotFound)
	_, err = s.LookupExternal(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "alice"})
	require.ErrorIs(t, err, sp.ErrNotFound, "identity link removed")
	accessIs(t, s, aSessions, aTokens, false)
	accessIs(t, s, bSessions, bTokens, true)

	g := mustGetGroup(t, s, eng.ID)
	assert.Equal(t, []string{bob.ID}, g.Members)
	assert.Equal(t, eng.Version+1, g.Version, "a membership change is a group change")
	assert.Equal(t, t1, g.UpdatedAt)
	assert.Equal(t, ops, mustGetGroup(t, s, ops.ID), "other groups unchanged")
	assert.Equal(t, bobBefore, mustGetUser(t, s, bob.ID), "other users unchanged")

	require.ErrorIs(t, s.DeleteDirectoryUser(ctx, alice.ID, 0, t1), directory.ErrNotFound)
	// A stale version deletes nothing; the current one does.
	stale := mustCreateUser(t, s, directory.User{UserName: "stale"}, t1)
	require.ErrorIs(t, s.DeleteDirectoryUser(ctx, stale.ID, stale.Version+1, t1), directory.ErrPreconditionFailed)
	assert.Equal(t, stale, mustGetUser(t, s, stale.ID), "nothing deleted")
	require.NoError(t, s.DeleteDirectoryUser(ctx, stale.ID, stale.Version, t1))
	// The userName and the identity are free for a new user.
	again := mustCreateUser(t, s, directory.User{UserName: "Alice"}, t1)
	_, err = s.CreateUser(ctx, sp.User{UserName: "alice"})
	require.ErrorIs(t, err, sp.ErrConflict, "ignoring case")
	require.NoError(t, s.DeleteDirectoryUser(ctx, again.ID, 0, t1))
	again = mustCreateUser(t, s, directory.User{UserName: "alice"}, t1)
	linked, err := s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "alice"})
	require.NoError(t, err)
	assert.Equal(t, again.ID, linked.ID)
}

func testDirGroups(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	alice := mustCreateUser(t, s, directory.User{ID: "u-alice", UserName: "alice"}, base)
	bob := mustCreateUser(t, s, directory.User{ID: "u-bob", UserName: "bob"}, base)
	carol := mustCreateUser(t, s, directory.User{ID: "u-carol", UserName: "carol"}, base)
	t1, t2 := base.Add(time.Minute), base.Add(2*time.Minute)

	groupTotal := func() int {
		p, err := s.ListGroups(ctx, directory.Query{})
		require.NoError(t, err)
		return p.Total
	}
	t.Run("create errors change nothing", func(t *testing.T) {
		_, err := s.CreateGroup(ctx, directory.Group{DisplayName: "eng", Members: []string{alice.ID, "u-nobody"}}, t1)
		requireInvalid(t, err, "members")
		_, err = s.CreateGroup(ctx, directory.Group{DisplayName: ""}, t1)
		requireInvalid(t, err, "displayName")
		_, err = s.CreateGroup(ctx, directory.Group{DisplayName: "eng", Members: []string{"bad id"}}, t1)
		requireInvalid(t, err, "members")
		assert.Zero(t, groupTotal())
		assert.Equal(t, alice, mustGetUser(t, s, alice.ID), "member versions unchanged")
	})

	eng, err := s.CreateGroup(ctx, directory.Group{DisplayName: "Eng", ExternalID: "ext-eng", Members: []string{bob.ID, alice.ID, bob.ID}}, t1)
	require.NoError(t, err)
	assert.Len(t, eng.ID, 32)
	assert.Equal(t, directory.Group{ID: eng.ID, DisplayName: "Eng", ExternalID: "ext-eng", Members: []string{alice.ID, bob.ID}, Version: 1, CreatedAt: t1, UpdatedAt: t1}, eng)
	assert.Equal(t, eng, mustGetGroup(t, s, eng.ID))

	a := mustGetUser(t, s, alice.ID)
	assert.Equal(t, []directory.GroupRef{{ID: eng.ID, DisplayName: "Eng"}}, a.Groups)
	assert.Equal(t, int64(2), a.Version, "joining a group is a user change")
	assert.Equal(t, t1, a.UpdatedAt)
	assert.Equal(t, carol, mustGetUser(t, s, carol.ID), "non-members unchanged")
	spu, err := s.GetUser(ctx, alice.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"Eng"}, spu.Groups)

	t.Run("conflicts", func(t *testing.T) {
		_, err := s.CreateGroup(ctx, directory.Group{DisplayName: "ENG"}, t1)
		require.ErrorIs(t, err, directory.ErrConflict)
		_, err = s.CreateGroup(ctx, directory.Group{ID: eng.ID, DisplayName: "other"}, t1)
		require.ErrorIs(t, err, directory.ErrConflict)
		_, err = s.CreateGroup(ctx, directory.Group{DisplayName: "ops", ExternalID: "ext-eng"}, t1.Add(time.Second))
		require.NoError(t, err, "externalId is not unique")
	})
	ops, err := s.ListGroups(ctx, directory.Query{Filter: parse(t, `displayName eq "ops"`), Count: 10})
	require.NoError(t, err)
	require.Len(t, ops.Items, 1)

	t.Run("replace", func(t *testing.T) {
		_, err := s.ReplaceGroup(ctx, directory.Group{ID: eng.ID, DisplayName: "Engineering", Members: []string{carol.ID}}, 2, t2)
		require.ErrorIs(t, err, directory.ErrPreconditionFailed)
		_, err = s.ReplaceGroup(ctx, directory.Group{ID: eng.ID, DisplayName: "OPS"}, 0, t2)
		require.ErrorIs(t, err, directory.ErrConflict)
		_, err = s.ReplaceGroup(ctx, directory.Group{ID: eng.ID, DisplayName: "Engineering", Members: []string{carol.ID, "u-nobody"}}, 0, t2)
		requireInvalid(t, err, "members")
		assert.Equal(t, eng, mustGetGroup(t, s, eng.ID), "failures change nothing")

		bobBefore := mustGetUser(t, s, bob.ID)
		got, err := s.ReplaceGroup(ctx, directory.Group{ID: eng.ID, DisplayName: "Engineering", Members: []string{carol.ID, bob.ID}}, 1, t2)
		require.NoError(t, err)
		assert.Equal(t, directory.Group{ID: eng.ID, DisplayName: "Engineering", Members: []string{bob.ID, carol.ID}, Version: 2, CreatedAt: t1, UpdatedAt: t2}, got)
		assert.Equal(t, got, mustGetGroup(t, s, eng.ID))
		a := mustGetUser(t, s, alice.ID)
		assert.Nil(t, a.Groups)
		assert.Equal(t, int64(3), a.Version, "left")
		c := mustGetUser(t, s, carol.ID)
		assert.Equal(t, []directory.GroupRef{{ID: eng.ID, DisplayName: "Engineering"}}, c.Groups)
		assert.Equal(t, int64(2), c.Version, "joined")
		b := mustGetUser(t, s, bob.ID)
		assert.Equal(t, bobBefore.Version, b.Version, "stayed: no user change")
		assert.Equal(t, "Engineering", b.Groups[0].DisplayName, "reads show the new name")

		same, err := s.ReplaceGroup(ctx, got, 0, t2.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, got, same, "no change, no new version")
		eng = got
	})
	t.Run("update", func(t *testing.T) {
		_, err := s.UpdateGroup(ctx, eng.ID, 0, func(g *directory.Group) error {
			g.DisplayName = "changed"
			return errFromFn
		}, t2)
		require.ErrorIs(t, err, errFromFn)
		_, err = s.UpdateGroup(ctx, eng.ID, 0, func(g *directory.Group) error {
			g.ID = "other"
			return nil
		}, t2)
		requireInvalid(t, err, "id")
		assert.Equal(t, eng, mustGetGroup(t, s, eng.ID))
		got, err := s.UpdateGroup(ctx, eng.ID, eng.Version, func(g *directory.Group) error {
			assert.Equal(t, eng, *g)
			g.ExternalID = "ext-2"
			g.Members = append(g.Members, alice.ID)
			return nil
		}, t2)
		require.NoError(t, err)
		assert.Equal(t, []string{alice.ID, bob.ID, carol.ID}, got.Members)
		assert.Equal(t, "ext-2", got.ExternalID)
		assert.Equal(t, eng.Version+1, got.Version)
		eng = got
	})
	t.Run("list without members", func(t *testing.T) {
		p, err := s.ListGroups(ctx, directory.Query{Count: 10, WithoutMembers: true})
		require.NoError(t, err)
		require.Len(t, p.Items, 2)
		for _, g := range p.Items {
			assert.Nil(t, g.Members)
		}
		p, err = s.ListGroups(ctx, directory.Query{Count: 10})
		require.NoError(t, err)
		assert.Equal(t, []directory.Group{eng, ops.Items[0]}, p.Items, "creation order")
	})
	t.Run("delete", func(t *testing.T) {
		before := mustGetUser(t, s, alice.ID)
		t3 := t2.Add(time.Minute)
		cur := mustGetGroup(t, s, eng.ID)
		require.ErrorIs(t, s.DeleteGroup(ctx, eng.ID, cur.Version-1, t3), directory.ErrPreconditionFailed, "a stale version")
		assert.Equal(t, cur, mustGetGroup(t, s, eng.ID), "nothing deleted")
		require.NoError(t, s.DeleteGroup(ctx, eng.ID, cur.Version, t3))
		_, err := s.Group(ctx, eng.ID)
		require.ErrorIs(t, err, directory.ErrNotFound)
		a := mustGetUser(t, s, alice.ID)
		assert.Nil(t, a.Groups)
		assert.Equal(t, before.Version+1, a.Version)
		assert.Equal(t, t3, a.UpdatedAt)
		require.ErrorIs(t, s.DeleteGroup(ctx, eng.ID, 0, t3), directory.ErrNotFound)
		_, err = s.CreateGroup(ctx, directory.Group{DisplayName: "engineering"}, t3)
		require.NoError(t, err, "the name is free again")
		assert.Equal(t, 2, groupTotal())
	})
}

func testDirPatchMembers(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	var ids []string
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		ids = append(ids, mustCreateUser(t, s, directory.User{ID: "u-" + n, UserName: n}, base).ID)
	}
	alice, bob, carol, dave := ids[0], ids[1], ids[2], ids[3]
	g, err := s.CreateGroup(ctx, directory.Group{DisplayName: "eng", Members: []string{alice}}, base)
	require.NoError(t, err)
	t1 := base.Add(time.Minute)

	unchanged := func(t *testing.T) {
		t.Helper()
		assert.Equal(t, g, mustGetGroup(t, s, g.ID))
		assert.Equal(t, int64(1), mustGetUser(t, s, bob).Version)
	}
	t.Run("unknown user changes nothing", func(t *testing.T) {
		_, err := s.PatchGroupMembers(ctx, g.ID, []string{bob, "u-nobody"}, []string{alice}, 0, t1)
		requireInvalid(t, err, "members")
		unchanged(t)
	})
	t.Run("invalid arguments", func(t *testing.T) {
		_, err := s.PatchGroupMembers(ctx, g.ID, []string{"bad id"}, nil, 0, t1)
		requireInvalid(t, err, "members")
		_, err = s.PatchGroupMembers(ctx, g.ID, nil, []string{""}, 0, t1)
		requireInvalid(t, err, "members")
		many := make([]string, directory.MaxPatchMembers+1)
		for i := range many {
			many[i] = bob
		}
		_, err = s.PatchGroupMembers(ctx, g.ID, many, nil, 0, t1)
		requireInvalid(t, err, "members")
		unchanged(t)
	})
	t.Run("version mismatch", func(t *testing.T) {
		_, err := s.PatchGroupMembers(ctx, g.ID, []string{bob}, nil, 2, t1)
		require.ErrorIs(t, err, directory.ErrPreconditionFailed)
		unchanged(t)
	})
	t.Run("no-ops keep the version", func(t *testing.T) {
		got, err := s.PatchGroupMembers(ctx, g.ID, []string{alice}, []string{bob}, 1, t1)
		require.NoError(t, err)
		assert.Equal(t, g, got)
		got, err = s.PatchGroupMembers(ctx, g.ID, nil, nil, 0, t1)
		require.NoError(t, err)
		assert.Equal(t, g, got)
		got, err = s.PatchGroupMembers(ctx, g.ID, []string{alice}, []string{alice}, 0, t1)
		require.NoError(t, err, "remove, then add")
		assert.Equal(t, g, got)
		unchanged(t)
	})
	t.Run("add and remove", func(t *testing.T) {
		aliceBefore := mustGetUser(t, s, alice)
		got, err := s.PatchGroupMembers(ctx, g.ID, []string{carol, bob, carol}, []string{alice, dave}, 1, t1)
		require.NoError(t, err)
		assert.Equal(t, directory.Group{ID: g.ID, DisplayName: "eng", Members: []string{bob, carol}, Version: 2, CreatedAt: base, UpdatedAt: t1}, got)
		assert.Equal(t, got, mustGetGroup(t, s, g.ID))
		a := mustGetUser(t, s, alice)
		assert.Nil(t, a.Groups)
		assert.Equal(t, aliceBefore.Version+1, a.Version)
		b := mustGetUser(t, s, bob)
		assert.Equal(t, []directory.GroupRef{{ID: g.ID, DisplayName: "eng"}}, b.Groups)
		assert.Equal(t, int64(2), b.Version)
		assert.Equal(t, t1, b.UpdatedAt)
		assert.Equal(t, int64(1), mustGetUser(t, s, dave).Version, "removing a non-member changes nothing")
	})
}

func testDirConcurrentMembership(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	users := make([]string, Concurrency)
	for i := range users {
		users[i] = mustCreateUser(t, s, directory.User{UserName: fmt.Sprintf("user-%02d", i)}, base).ID
	}
	groups := make([]string, 4)
	for i := range groups {
		g, err := s.CreateGroup(ctx, directory.Group{DisplayName: fmt.Sprintf("group-%d", i)}, base)
		require.NoError(t, err)
		groups[i] = g.ID
	}
	// Each goroutine adds its user to every group and changes the user
	// and then deletes one user, racing the others' changes of the same
	// rows in other orders.
	errs := race(Concurrency, func(i int) error {
		for j := range groups {
			g := groups[(i+j)%len(groups)]
			if _, err := s.PatchGroupMembers(ctx, g, []string{users[i], users[(i+1)%Concurrency]}, nil, 0, base); err != nil {
				return err
			}
		}
		_, err := s.UpdateDirectoryUser(ctx, users[i], 0, func(u *directory.User) error {
			u.DisplayName = "done"
			return nil
		}, base)
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}
	for _, gid := range groups {
		g := mustGetGroup(t, s, gid)
		assert.Len(t, g.Members, Concurrency)
	}
	for _, id := range users {
		u := mustGetUser(t, s, id)
		assert.Len(t, u.Groups, len(groups))
		// Created (1), joined each group (4), display name (1).
		assert.Equal(t, int64(1+len(groups)+1), u.Version, u.UserName)
	}
	errs = race(Concurrency, func(i int) error {
		if i%2 == 0 {
			return s.DeleteDirectoryUser(ctx, users[i], 0, base)
		}
		_, err := s.PatchGroupMembers(ctx, groups[i%len(groups)], nil, []string{users[i]}, 0, base)
		return err
	})
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}
	for gi, gid := range groups {
		g := mustGetGroup(t, s, gid)
		var want []string
		for i, id := range users {
			if i%2 == 1 && i%len(groups) != gi {
				want = append(want, id)
			}
		}
		assert.ElementsMatch(t, want, g.Members)
	}
}

func testDirSignIn(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	const issuer = "https://idp.example.com"
	t.Run("sign-in writes keep versions and e-mail addresses consistent", func(t *testing.T) {
		s := newStore(t)
		ext := sp.ExternalIdentity{Issuer: issuer, NameID: "alice"}
		u, err := s.ProvisionExternal(ctx, ext, sp.UserAttributes{Email: "alice@example.com", DisplayName: "Alice", Groups: []string{"eng"}}, base)
		require.NoError(t, err)
		d := mustGetUser(t, s, u.ID)
		assert.Equal(t, int64(1), d.Version)
		assert.Equal(t, []directory.Email{{Value: "alice@example.com", Primary: true}}, d.Emails)
		require.Len(t, d.Groups, 1)
		eng := mustGetGroup(t, s, d.Groups[0].ID)
		assert.Equal(t, int64(1), eng.Version, "a group created by sign-in starts at version 1")
		assert.Equal(t, []string{u.ID}, eng.Members)

		// SCIM adds a second address.
		_, err = s.UpdateDirectoryUser(ctx, u.ID, 0, func(u *directory.User) error {
			u.Emails = append(u.Emails, directory.Email{Value: "alice@home.example.com", Type: "home"})
			return nil
		}, base)
		require.NoError(t, err)

		// A sign-in asserting the same values changes nothing.
		_, err = s.UpdateAttributes(ctx, u.ID, sp.UserAttributes{Email: "alice@example.com", DisplayName: "Alice", Groups: []string{"ENG"}}, base.Add(time.Minute))
		require.NoError(t, err)
		d = mustGetUser(t, s, u.ID)
		assert.Equal(t, int64(2), d.Version)
		assert.Equal(t, eng, mustGetGroup(t, s, eng.ID), "groups are found ignoring case")

		// A new primary address replaces the primary only.
		t1 := base.Add(time.Hour)
		spu, err := s.UpdateAttributes(ctx, u.ID, sp.UserAttributes{Email: "a2@example.com", DisplayName: "Alice", Groups: []string{"eng", "ops"}}, t1)
		require.NoError(t, err)
		assert.Equal(t, "a2@example.com", spu.Email)
		assert.Equal(t, []string{"eng", "ops"}, spu.Groups)
		d = mustGetUser(t, s, u.ID)
		assert.Equal(t, []directory.Email{{Value: "a2@example.com", Primary: true}, {Value: "alice@home.example.com", Type: "home"}}, d.Emails)
		assert.Equal(t, int64(3), d.Version, "one change, one version")
		assert.Equal(t, t1, d.UpdatedAt)
		assert.Equal(t, eng, mustGetGroup(t, s, eng.ID), "eng kept its member")

		// Only the memberships change: still a user change.
		_, err = s.UpdateAttributes(ctx, u.ID, sp.UserAttributes{Email: "a2@example.com", DisplayName: "Alice", Groups: []string{"ops"}}, t1)
		require.NoError(t, err)
		d = mustGetUser(t, s, u.ID)
		assert.Equal(t, int64(4), d.Version)
		e := mustGetGroup(t, s, eng.ID)
		assert.Nil(t, e.Members)
		assert.Equal(t, int64(2), e.Version)

		// An empty address removes the primary; the next one takes over.
		spu, err = s.UpdateAttributes(ctx, u.ID, sp.UserAttributes{DisplayName: "Alice"}, t1)
		require.NoError(t, err)
		assert.Equal(t, "alice@home.example.com", spu.Email)
		assert.Equal(t, []string{"ops"}, spu.Groups, "nil groups leave memberships")
	})
	t.Run("user names are unique ignoring case for sign-in too", func(t *testing.T) {
		s := newStore(t)
		mustCreateUser(t, s, directory.User{UserName: "Bob"}, base)
		_, err := s.CreateUser(ctx, sp.User{UserName: "BOB"})
		require.ErrorIs(t, err, sp.ErrConflict)
		_, err = s.ProvisionExternal(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "bob"}, sp.UserAttributes{}, base)
		require.ErrorIs(t, err, sp.ErrConflict, "provisioning never takes over an account")
		_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "bob"})
		require.ErrorIs(t, err, sp.ErrNotFound, "linking compares exactly")
		_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: issuer, NameID: "Bob"})
		require.NoError(t, err, "positive control")
	})
	t.Run("sign-in sees SCIM changes", func(t *testing.T) {
		s := newStore(t)
		u, err := s.CreateUser(ctx, sp.User{UserName: "carol", Email: "carol@example.com", Groups: []string{"staff"}, Active: true})
		require.NoError(t, err)
		d := mustGetUser(t, s, u.ID)
		assert.Equal(t, int64(1), d.Version)
		g, err := s.CreateGroup(ctx, directory.Group{DisplayName: "admins", Members: []string{u.ID}}, base)
		require.NoError(t, err)
		_, err = s.UpdateDirectoryUser(ctx, u.ID, 0, func(u *directory.User) error {
			u.DisplayName = "Carol C"
			u.Emails = []directory.Email{{Value: "cc@example.com", Type: "work"}, {Value: "carol@example.com", Primary: true}}
			return nil
		}, base)
		require.NoError(t, err)
		spu, err := s.GetUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, sp.User{ID: u.ID, UserName: "carol", Email: "carol@example.com", DisplayName: "Carol C", Groups: []string{"admins", "staff"}, Active: true}, spu)
		_, err = s.PatchGroupMembers(ctx, g.ID, nil, []string{u.ID}, 0, base)
		require.NoError(t, err)
		spu, err = s.GetUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"staff"}, spu.Groups)
	})
}

func testDirPaging(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := t.Context()
	s := newStore(t)
	const n = 25
	var want []directory.User
	for i := range n {
		// Three users per instant, so the ID decides among them.
		at := base.Add(time.Duration(i/3) * time.Second)
		want = append(want, mustCreateUser(t, s, directory.User{ID: fmt.Sprintf("u-%02d", (i*7)%n), UserName: fmt.Sprintf("user%02d", i)}, at))
	}
	// The expected order: creation time, then ID.
	for i := 0; i < len(want); i += 3 {
		end := min(i+3, len(want))
		chunk := want[i:end]
		for a := range chunk {
			for b := a + 1; b < len(chunk); b++ {
				if chunk[b].ID < chunk[a].ID {
					chunk[a], chunk[b] = chunk[b], chunk[a]
				}
			}
		}
	}
	cases := []struct {
		start, count int
		from, to     int // want[from:to]
	}{
		{1, 10, 0, 10},
		{11, 10, 10, 20},
		{21, 10, 20, 25},
		{0, 5, 0, 5},
		{-3, 5, 0, 5},
		{25, 10, 24, 25},
		{26, 10, 25, 25},
		{1000, 10, 25, 25},
		{1, 0, 0, 0},
		{3, -1, 0, 0},
		{1, 100, 0, 25},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("start=%d,count=%d", c.start, c.count), func(t *testing.T) {
			p, err := s.ListDirectoryUsers(ctx, directory.Query{StartIndex: c.start, Count: c.count})
			require.NoError(t, err)
			assert.Equal(t, n, p.Total)
			if c.from == c.to {
				assert.Nil(t, p.Items)
			} else {
				assert.Equal(t, want[c.from:c.to], p.Items)
			}
		})
	}
	t.Run("filtered", func(t *testing.T) {
		p, err := s.ListDirectoryUsers(ctx, directory.Query{Filter: parse(t, `userName sw "user1"`), StartIndex: 3, Count: 4})
		require.NoError(t, err)
		assert.Equal(t, 10, p.Total)
		var names []string
		for _, u := range p.Items {
			names = append(names, u.UserName)
		}
		var all []string
		for _, u := range want {
			if strings.HasPrefix(u.UserName, "user1") {
				all = append(all, u.UserName)
			}
		}
		assert.Equal(t, all[2:6], names)
	})
}
