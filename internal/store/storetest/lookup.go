package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// LookupStore is what RunLookup tests.
type LookupStore interface {
	CreateUser(ctx context.Context, u sp.User) (sp.User, error)
	UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error)
}

// RunLookup runs the conformance cases of UserByAttribute. newStore must
// return a new, empty store for each call.
func RunLookup(t *testing.T, newStore func(t *testing.T) LookupStore) {
	ctx := t.Context()
	s := newStore(t)
	alice, err := s.CreateUser(ctx, sp.User{ID: "u-alice", UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, sp.User{ID: "u-bob", UserName: "bob", Email: "shared@example.com", Active: true})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, sp.User{ID: "u-carol", UserName: "carol", Email: "shared@example.com", Active: false})
	require.NoError(t, err)
	dave, err := s.CreateUser(ctx, sp.User{ID: "u-dave", UserName: "dave", Email: "dave@example.com", Active: false})
	require.NoError(t, err)

	found := []struct {
		name, attr, value string
		want              sp.User
	}{
		{"email", "email", "alice@example.com", alice},
		{"user_name", "user_name", "alice", alice},
		{"id", "id", "u-alice", alice},
		{"inactive user is returned with Active false", "email", "dave@example.com", dave},
	}
	for _, c := range found {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.UserByAttribute(ctx, c.attr, c.value)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	notFound := []struct{ name, attr, value string }{
		{"unknown email", "email", "nobody@example.com"},
		{"email differs in case", "email", "Alice@example.com"},
		{"unknown user_name", "user_name", "alicia"},
		{"unknown id", "id", "u-nobody"},
		{"empty email", "email", ""},
		{"empty user_name", "user_name", ""},
		{"email is not a user_name", "user_name", "alice@example.com"},
	}
	for _, c := range notFound {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.UserByAttribute(ctx, c.attr, c.value)
			require.ErrorIs(t, err, sp.ErrNotFound)
		})
	}
	t.Run("shared email is a conflict", func(t *testing.T) {
		_, err := s.UserByAttribute(ctx, "email", "shared@example.com")
		require.ErrorIs(t, err, sp.ErrConflict)
		assert.NotErrorIs(t, err, sp.ErrNotFound)
	})
	t.Run("unsupported attribute", func(t *testing.T) {
		for _, attr := range []string{"groups", "display_name", "Email", ""} {
			_, err := s.UserByAttribute(ctx, attr, "alice")
			require.Error(t, err, attr)
			assert.NotErrorIs(t, err, sp.ErrNotFound, attr)
			assert.NotErrorIs(t, err, sp.ErrConflict, attr)
		}
	})
}
