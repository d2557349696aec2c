package access

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	svc    *Service
	store  *fakeStore
	groups *fakeGroups
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{store: newFakeStore(), groups: &fakeGroups{}}
	svc, err := New(Config{Store: f.store, Groups: f.groups, Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	f.svc = svc
	return f
}

func account(id, ou string) Account {
	return Account{ID: id, Name: "acct " + id, Email: "aws-" + id + "@example.com", OU: ou,
		AssumeRoleARN: "arn:aws:iam::" + id + ":role/OrganizationAccountAccessRole"}
}

func permissionSet(name string) PermissionSet {
	return PermissionSet{Name: name, SessionDuration: time.Hour,
		ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}
}

func (f *fixture) account(t testing.TB, id, ou string) {
	t.Helper()
	_, err := f.svc.CreateAccount(context.Background(), account(id, ou))
	require.NoError(t, err)
}

func (f *fixture) permissionSet(t testing.TB, name string) {
	t.Helper()
	_, err := f.svc.CreatePermissionSet(context.Background(), permissionSet(name))
	require.NoError(t, err)
}

func (f *fixture) assign(t testing.TB, pt PrincipalType, pid, ps string, tt TargetType, tid string) string {
	t.Helper()
	a, created, err := f.svc.CreateAssignment(context.Background(), Assignment{
		PrincipalType: pt, PrincipalID: pid, PermissionSet: ps, TargetType: tt, TargetID: tid})
	require.NoError(t, err)
	require.True(t, created)
	return a.ID
}

const (
	acctProd = "111111111111" // /eng/prod
	acctDev  = "222222222222" // /eng/dev
	acctFin  = "333333333333" // /fin
	acctRoot = "444444444444" // /
)

// standard builds four accounts, permission sets Admin and ReadOnly, and
// user u1 in groups g1 and g2.
func standard(t *testing.T) *fixture {
	f := newFixture(t)
	f.account(t, acctProd, "/eng/prod")
	f.account(t, acctDev, "/eng/dev")
	f.account(t, acctFin, "/fin")
	f.account(t, acctRoot, "/")
	f.permissionSet(t, "Admin")
	f.permissionSet(t, "ReadOnly")
	f.groups.set("u1", "g1", "g2", "g1", "")
	f.store.resetCounts()
	return f
}

func TestNew(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "store")
	assert.Contains(t, err.Error(), "group resolver")
	_, err = New(Config{Store: newFakeStore()})
	require.ErrorContains(t, err, "group resolver")
	_, err = New(Config{Groups: &fakeGroups{}})
	require.ErrorContains(t, err, "store")
}

func TestEntitlementsFor(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	adminProd := f.assign(t, PrincipalGroup, "g1", "Admin", TargetAccount, acctProd)
	roEng := f.assign(t, PrincipalGroup, "g2", "ReadOnly", TargetOU, "/eng")
	roEng2 := f.assign(t, PrincipalGroup, "g1", "ReadOnly", TargetOU, "/eng")
	roProd := f.assign(t, PrincipalUser, "u1", "ReadOnly", TargetAccount, acctProd)
	adminFin := f.assign(t, PrincipalUser, "u1", "Admin", TargetOU, "/fin")
	f.assign(t, PrincipalGroup, "g3", "Admin", TargetAccount, acctDev) // not a member
	f.assign(t, PrincipalUser, "u2", "Admin", TargetAccount, acctRoot) // another user
	f.assign(t, PrincipalGroup, "g2", "Admin", TargetOU, "/empty")     // no account yet
	f.store.resetCounts()

	got, err := f.svc.EntitlementsFor(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, []Entitlement{
		{AccountID: acctProd, PermissionSet: "Admin", Via: []string{adminProd}},
		{AccountID: acctProd, PermissionSet: "ReadOnly", Via: sorted(roEng, roEng2, roProd)},
		{AccountID: acctDev, PermissionSet: "ReadOnly", Via: sorted(roEng, roEng2)},
		{AccountID: acctFin, PermissionSet: "Admin", Via: []string{adminFin}},
	}, got)

	calls, writes := f.store.counts()
	assert.Zero(t, writes)
	assert.Equal(t, map[string]int{
		"AssignmentsForPrincipals": 1,
		"PermissionSet":            2, // Admin, ReadOnly: once each
		"ListAccounts":             3, // /eng once for two assignments, /fin, /empty
	}, calls)

	t.Run("a user with no assignment", func(t *testing.T) {
		f.store.resetCounts()
		got, err := f.svc.EntitlementsFor(ctx, "nobody")
		require.NoError(t, err)
		assert.Empty(t, got)
		calls, _ := f.store.counts()
		assert.Equal(t, map[string]int{"AssignmentsForPrincipals": 1}, calls)
	})

	t.Run("group added to the user counts at once", func(t *testing.T) {
		f.groups.set("u1", "g1", "g2", "g3")
		defer f.groups.set("u1", "g1", "g2")
		got, err := f.svc.EntitlementsFor(ctx, "u1")
		require.NoError(t, err)
		assert.Contains(t, pairs(got), acctDev+"/Admin")
	})
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func pairs(es []Entitlement) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.AccountID + "/" + e.PermissionSet
	}
	return out
}

func TestEntitlementsForManyPermissionSetsListsOnce(t *testing.T) {
	f := standard(t)
	for i := range byPermissionSetLimit + 1 {
		name := fmt.Sprintf("PS%d", i)
		f.permissionSet(t, name)
		f.assign(t, PrincipalGroup, "g1", name, TargetAccount, acctProd)
	}
	f.store.forceDeletePermissionSet("PS0")
	f.store.resetCounts()
	got, err := f.svc.EntitlementsFor(context.Background(), "u1")
	require.NoError(t, err)
	var want []string
	for i := 1; i <= byPermissionSetLimit; i++ {
		want = append(want, fmt.Sprintf("%s/PS%d", acctProd, i))
	}
	assert.Equal(t, want, pairs(got))
	calls, _ := f.store.counts()
	assert.Equal(t, map[string]int{"AssignmentsForPrincipals": 1, "ListPermissionSets": 1}, calls)
}

func TestDeletedPermissionSetGrantsNothing(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	f.assign(t, PrincipalGroup, "g1", "Admin", TargetAccount, acctProd)
	f.assign(t, PrincipalGroup, "g1", "Admin", TargetOU, "/eng")
	f.assign(t, PrincipalGroup, "g1", "ReadOnly", TargetAccount, acctProd)
	ok, err := f.svc.Entitled(ctx, "u1", acctProd, "Admin")
	require.NoError(t, err)
	require.True(t, ok)

	// Deleted between the store's checks and our reads.
	f.store.forceDeletePermissionSet("Admin")
	got, err := f.svc.EntitlementsFor(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, []string{acctProd + "/ReadOnly"}, pairs(got))
	for _, acct := range []string{acctProd, acctDev} {
		ok, err = f.svc.Entitled(ctx, "u1", acct, "Admin")
		require.NoError(t, err)
		assert.False(t, ok, acct)
	}
}

func TestRemovedAssignmentGrantsNothing(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	id := f.assign(t, PrincipalGroup, "g2", "Admin", TargetOU, "/eng")
	ok, err := f.svc.Entitled(ctx, "u1", acctDev, "Admin")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, f.svc.DeleteAssignment(ctx, id))
	ok, err = f.svc.Entitled(ctx, "u1", acctDev, "Admin")
	require.NoError(t, err)
	assert.False(t, ok)
	got, err := f.svc.EntitlementsFor(ctx, "u1")
	require.NoError(t, err)
	assert.Empty(t, got)

	t.Run("user removed from the group", func(t *testing.T) {
		f.assign(t, PrincipalGroup, "g2", "Admin", TargetOU, "/eng")
		ok, err := f.svc.Entitled(ctx, "u1", acctDev, "Admin")
		require.NoError(t, err)
		require.True(t, ok)
		f.groups.set("u1", "g1")
		ok, err = f.svc.Entitled(ctx, "u1", acctDev, "Admin")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

func TestEntitledReadsTheStoreEachTime(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	f.assign(t, PrincipalGroup, "g1", "Admin", TargetOU, "/eng")
	f.store.resetCounts()
	for range 3 {
		ok, err := f.svc.Entitled(ctx, "u1", acctProd, "Admin")
		require.NoError(t, err)
		require.True(t, ok)
	}
	calls, _ := f.store.counts()
	assert.Equal(t, map[string]int{"AssignmentsForPrincipals": 3, "PermissionSet": 3, "Account": 3}, calls)
	assert.Equal(t, 3, f.groups.calls)
}

func TestEntitledMovedAccount(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	f.assign(t, PrincipalGroup, "g1", "Admin", TargetOU, "/eng")
	ok, err := f.svc.Entitled(ctx, "u1", acctFin, "Admin")
	require.NoError(t, err)
	require.False(t, ok)
	_, err = f.svc.UpdateAccount(ctx, account(acctFin, "/eng/fin"))
	require.NoError(t, err)
	ok, err = f.svc.Entitled(ctx, "u1", acctFin, "Admin")
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = f.svc.UpdateAccount(ctx, account(acctFin, "/engineering"))
	require.NoError(t, err)
	ok, err = f.svc.Entitled(ctx, "u1", acctFin, "Admin")
	require.NoError(t, err)
	assert.False(t, ok, "/eng must not contain /engineering")
}

// TestEntitledAgreesWithEntitlementsFor checks every (user, account,
// permission set) of a random world.
func TestEntitledAgreesWithEntitlementsFor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	ous := []string{"/", "/a", "/a/b", "/a/b/c", "/ab", "/d", "/d/e"}
	var accounts []string
	for i := range 12 {
		id := fmt.Sprintf("%012d", 100+i)
		accounts = append(accounts, id)
		f.account(t, id, ous[rng.IntN(len(ous))])
	}
	sets := []string{"P0", "P1", "P2"}
	for _, s := range sets {
		f.permissionSet(t, s)
	}
	users := []string{"u0", "u1", "u2", "u3"}
	for _, u := range users {
		f.groups.set(u, fmt.Sprintf("g%d", rng.IntN(4)), fmt.Sprintf("g%d", rng.IntN(4)))
	}
	for range 40 {
		pt, pid := PrincipalGroup, fmt.Sprintf("g%d", rng.IntN(4))
		if rng.IntN(3) == 0 {
			pt, pid = PrincipalUser, users[rng.IntN(len(users))]
		}
		tt, tid := TargetAccount, accounts[rng.IntN(len(accounts))]
		if rng.IntN(2) == 0 {
			tt, tid = TargetOU, ous[rng.IntN(len(ous))]
		}
		_, _, err := f.svc.CreateAssignment(ctx, Assignment{PrincipalType: pt, PrincipalID: pid,
			PermissionSet: sets[rng.IntN(len(sets))], TargetType: tt, TargetID: tid})
		require.NoError(t, err)
	}
	f.store.forceDeletePermissionSet("P2")
	total := 0
	for _, u := range users {
		es, err := f.svc.EntitlementsFor(ctx, u)
		require.NoError(t, err)
		have := map[string]bool{}
		for _, e := range es {
			have[e.AccountID+"/"+e.PermissionSet] = true
			assert.NotEmpty(t, e.Via)
		}
		total += len(es)
		for _, a := range accounts {
			for _, s := range sets {
				ok, err := f.svc.Entitled(ctx, u, a, s)
				require.NoError(t, err)
				assert.Equal(t, have[a+"/"+s], ok, "%s %s %s", u, a, s)
			}
		}
	}
	assert.Positive(t, total, "the world grants something")
}

func TestEntitlementsFailClosed(t *testing.T) {
	boom := errors.New("boom")
	ctx := context.Background()
	setup := func(t *testing.T) *fixture {
		f := standard(t)
		f.assign(t, PrincipalGroup, "g1", "Admin", TargetOU, "/eng")
		return f
	}
	t.Run("group resolver", func(t *testing.T) {
		f := setup(t)
		f.groups.fail = boom
		got, err := f.svc.EntitlementsFor(ctx, "u1")
		require.ErrorIs(t, err, boom)
		assert.Nil(t, got)
		ok, err := f.svc.Entitled(ctx, "u1", acctProd, "Admin")
		require.ErrorIs(t, err, boom)
		assert.False(t, ok)
	})
	for _, method := range []string{"AssignmentsForPrincipals", "PermissionSet", "ListAccounts", "Account"} {
		t.Run(method, func(t *testing.T) {
			f := setup(t)
			f.store.failOn(method, boom)
			got, err := f.svc.EntitlementsFor(ctx, "u1")
			if method != "Account" {
				require.ErrorIs(t, err, boom)
				assert.Nil(t, got)
			}
			if method != "ListAccounts" {
				ok, err := f.svc.Entitled(ctx, "u1", acctProd, "Admin")
				require.ErrorIs(t, err, boom)
				assert.False(t, ok)
			}
		})
	}
}

func TestForeignAssignmentsIgnored(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	f.assign(t, PrincipalUser, "u2", "Admin", TargetAccount, acctProd)
	f.assign(t, PrincipalGroup, "g9", "Admin", TargetOU, "/")
	f.store.aliasPrincipal("u1", principalKey{PrincipalUser, "u2"})
	f.store.aliasPrincipal("u1", principalKey{PrincipalGroup, "g9"})
	got, err := f.svc.EntitlementsFor(ctx, "u1")
	require.NoError(t, err)
	assert.Empty(t, got)
	ok, err := f.svc.Entitled(ctx, "u1", acctProd, "Admin")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestEntitledInvalidArguments(t *testing.T) {
	f := standard(t)
	ctx := context.Background()
	for _, tc := range []struct{ user, account, ps, field string }{
		{"", acctProd, "Admin", "user_id"},
		{"u1", "1234", "Admin", "account_id"},
		{"u1", acctProd, "Ad min", "permission_set"},
	} {
		ok, err := f.svc.Entitled(ctx, tc.user, tc.account, tc.ps)
		requireInvalid(t, err, tc.field)
		assert.False(t, ok)
	}
	_, err := f.svc.EntitlementsFor(ctx, "")
	requireInvalid(t, err, "user_id")
	calls, _ := f.store.counts()
	assert.Empty(t, calls)
}

func TestAdminWritesValidateFirst(t *testing.T) {
	ctx := context.Background()
	badAccount := account(acctProd, "/eng/")
	badPS := permissionSet("ReadOnly")
	badPS.SessionDuration = 13 * time.Hour
	cases := []struct {
		name  string
		call  func(s *Service) error
		is    error
		field string
	}{
		{"CreateAccount invalid", func(s *Service) error { _, err := s.CreateAccount(ctx, badAccount); return err }, ErrInvalid, "ou"},
		{"CreateAccount taken", func(s *Service) error { _, err := s.CreateAccount(ctx, account(acctProd, "/")); return err }, ErrConflict, "id"},
		{"UpdateAccount invalid", func(s *Service) error { _, err := s.UpdateAccount(ctx, badAccount); return err }, ErrInvalid, "ou"},
		{"UpdateAccount unknown", func(s *Service) error {
			_, err := s.UpdateAccount(ctx, account("999999999999", "/"))
			return err
		}, ErrNotFound, "id"},
		{"CreatePermissionSet invalid", func(s *Service) error { _, err := s.CreatePermissionSet(ctx, badPS); return err }, ErrInvalid, "session_duration"},
		{"CreatePermissionSet taken", func(s *Service) error {
			_, err := s.CreatePermissionSet(ctx, permissionSet("Admin"))
			return err
		}, ErrConflict, "Admin"},
		{"UpdatePermissionSet invalid", func(s *Service) error { _, err := s.UpdatePermissionSet(ctx, badPS, 1); return err }, ErrInvalid, "session_duration"},
		{"UpdatePermissionSet version 0", func(s *Service) error {
			_, err := s.UpdatePermissionSet(ctx, permissionSet("ReadOnly"), 0)
			return err
		}, ErrInvalid, "version"},
		{"UpdatePermissionSet stale", func(s *Service) error {
			_, err := s.UpdatePermissionSet(ctx, permissionSet("ReadOnly"), 2)
			return err
		}, ErrConflict, "ReadOnly"},
		{"DeletePermissionSet invalid", func(s *Service) error { return s.DeletePermissionSet(ctx, "a/b") }, ErrInvalid, "name"},
		{"DeletePermissionSet in use", func(s *Service) error { return s.DeletePermissionSet(ctx, "Admin") }, ErrInUse, "Admin"},
		{"CreateAssignment invalid", func(s *Service) error {
			a := validAssignment()
			a.TargetType = TargetOU
			_, _, err := s.CreateAssignment(ctx, a)
			return err
		}, ErrInvalid, "target_id"},
		{"CreateAssignment unknown permission set", func(s *Service) error {
			a := validAssignment()
			a.PermissionSet, a.TargetID = "Nope", acctProd
			_, _, err := s.CreateAssignment(ctx, a)
			return err
		}, ErrNotFound, "permission_set"},
		{"CreateAssignment unknown account", func(s *Service) error {
			a := validAssignment()
			a.PermissionSet, a.TargetID = "Admin", "999999999999"
			_, _, err := s.CreateAssignment(ctx, a)
			return err
		}, ErrNotFound, "target_id"},
		{"DeleteAssignment empty", func(s *Service) error { return s.DeleteAssignment(ctx, "") }, ErrInvalid, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := standard(t)
			f.assign(t, PrincipalGroup, "g1", "Admin", TargetAccount, acctProd)
			f.store.resetCounts()
			err := tc.call(f.svc)
			require.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.field)
			_, writes := f.store.counts()
			if tc.is == ErrInvalid || tc.name == "CreateAccount taken" || tc.name == "UpdateAccount unknown" ||
				tc.name == "CreateAssignment unknown permission set" || tc.name == "CreateAssignment unknown account" {
				assert.Zero(t, writes, "nothing stored")
			}
		})
	}
}

func TestAdminWrites(t *testing.T) {
	f := standard(t)
	ctx := context.Background()

	ps := permissionSet("ReadOnly")
	ps.Description = "read only"
	out, err := f.svc.UpdatePermissionSet(ctx, ps, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(2), out.Version)
	assert.Equal(t, "read only", out.Description)

	a, created, err := f.svc.CreateAssignment(ctx, Assignment{ID: "mine", Status: StatusSucceeded,
		PrincipalType: PrincipalUser, PrincipalID: "u1", PermissionSet: "ReadOnly", TargetType: TargetOU, TargetID: "/future"})
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotEqual(t, "mine", a.ID, "the store assigns the ID")
	assert.Equal(t, StatusInProgress, a.Status)
	again, created, err := f.svc.CreateAssignment(ctx, Assignment{
		PrincipalType: PrincipalUser, PrincipalID: "u1", PermissionSet: "ReadOnly", TargetType: TargetOU, TargetID: "/future"})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, a.ID, again.ID)

	// An OU assignment covers an account placed there later.
	f.account(t, "555555555555", "/future/x")
	ok, err := f.svc.Entitled(ctx, "u1", "555555555555", "ReadOnly")
	require.NoError(t, err)
	assert.True(t, ok)

	require.NoError(t, f.svc.DeleteAssignment(ctx, a.ID))
	require.ErrorIs(t, f.svc.DeleteAssignment(ctx, a.ID), ErrNotFound)
	require.NoError(t, f.svc.DeletePermissionSet(ctx, "ReadOnly"))
	_, err = f.store.PermissionSet(ctx, "ReadOnly")
	require.ErrorIs(t, err, ErrNotFound)

	upd := account(acctProd, "/fin")
	upd.Name = "renamed"
	got, err := f.svc.UpdateAccount(ctx, upd)
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.Name)
	assert.Equal(t, testNow, got.UpdatedAt)
}
