package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	acs "github.com/gatehouse-dev/gatehouse/internal/access"
)

// AccessStore is the interface RunAccess tests.
type AccessStore = acs.Store

// AccessConcurrency is the number of goroutines racing in RunAccess's
// concurrency cases.
const AccessConcurrency = 16

// RunAccess runs the conformance cases of multi-account access
// (access.Store; imported as acs, since the package has a helper
// named access): every method's contract and error, the references and
// uniqueness the store enforces, compare-and-set versions and idempotent
// creation under concurrency, ordering, microsecond times, and that
// returned values are copies. newStore must return a new, empty store for
// each call and register its own cleanup with t.Cleanup. Run calls it.
func RunAccess(t *testing.T, newStore func(t *testing.T) AccessStore) {
	t.Run("Accounts", func(t *testing.T) { testAccessAccounts(t, newStore) })
	t.Run("ListAccountsByOU", func(t *testing.T) { testAccessListAccounts(t, newStore) })
	t.Run("DeleteAccount", func(t *testing.T) { testAccessDeleteAccount(t, newStore) })
	t.Run("PermissionSets", func(t *testing.T) { testAccessPermissionSets(t, newStore) })
	t.Run("ConcurrentUpdatePermissionSet", func(t *testing.T) { testAccessConcurrentUpdate(t, newStore) })
	t.Run("DeletePermissionSet", func(t *testing.T) { testAccessDeletePermissionSet(t, newStore) })
	t.Run("Assignments", func(t *testing.T) { testAccessAssignments(t, newStore) })
	t.Run("AssignmentReferences", func(t *testing.T) { testAccessAssignmentReferences(t, newStore) })
	t.Run("ConcurrentCreateAssignment", func(t *testing.T) { testAccessConcurrentCreate(t, newStore) })
	t.Run("ConcurrentDeleteAndAssign", func(t *testing.T) { testAccessConcurrentDelete(t, newStore) })
	t.Run("AssignmentsForPrincipals", func(t *testing.T) { testAccessForPrincipals(t, newStore) })
	t.Run("AssignmentLists", func(t *testing.T) { testAccessAssignmentLists(t, newStore) })
	t.Run("Provisioning", func(t *testing.T) { testAccessProvisioning(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testAccessCopies(t, newStore) })
}

// at returns base + d with a sub-microsecond part, and what a store
// returns for it.
func at(d time.Duration) (in, stored time.Time) {
	in = base.Add(d + subMicro)
	return in, in.Truncate(time.Microsecond)
}

func account(id, ou string) acs.Account {
	return acs.Account{
		ID:            id,
		Name:          "Account " + id + " <ünïcode>",
		Email:         "aws+" + id + "@example.com",
		OU:            ou,
		AssumeRoleARN: "arn:aws:iam::" + id + ":role/GatehouseProvisioner",
	}
}

func mustPutAccount(t *testing.T, s AccessStore, a acs.Account) acs.Account {
	t.Helper()
	now, _ := at(0)
	got, err := s.PutAccount(t.Context(), a, now)
	require.NoError(t, err)
	return got
}

func permissionSet(name string) acs.PermissionSet {
	return acs.PermissionSet{
		Name:            name,
		Description:     "the " + name + " job function",
		SessionDuration: 4*time.Hour + 30*time.Minute,
		RelayState:      "https://console.aws.amazon.com/ec2/home?region=eu-west-1",
		ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/job-function/Billing"},
		CustomerPolicies: []acs.CustomerPolicyRef{
			{Name: "LocalPolicy", Path: "/"},
			{Name: "TeamPolicy", Path: "/teams/"},
		},
		InlinePolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}`,
		Boundary:     &acs.Boundary{CustomerPolicy: &acs.CustomerPolicyRef{Name: "Boundary", Path: "/b/"}},
		Tags:         map[string]string{"team": "platform", "cost-center": "42"},
	}
}

func mustCreatePermissionSet(t *testing.T, s AccessStore, ps acs.PermissionSet) acs.PermissionSet {
	t.Helper()
	now, _ := at(0)
	got, err := s.CreatePermissionSet(t.Context(), ps, now)
	require.NoError(t, err)
	return got
}

func assignment(pt acs.PrincipalType, principal, ps string, tt acs.TargetType, target string) acs.Assignment {
	return acs.Assignment{PrincipalType: pt, PrincipalID: principal, PermissionSet: ps, TargetType: tt, TargetID: target}
}

func mustAssign(t *testing.T, s AccessStore, a acs.Assignment) acs.Assignment {
	t.Helper()
	now, _ := at(time.Minute)
	got, created, err := s.CreateAssignment(t.Context(), a, now)
	require.NoError(t, err)
	require.True(t, created, "%+v", a)
	return got
}

func assignmentIDs(l []acs.Assignment) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.ID
	}
	return out
}

// sortedIDs returns the IDs sorted, as the lists must return them.
func sortedIDs(as ...acs.Assignment) []string {
	ids := assignmentIDs(as)
	slices.Sort(ids)
	return ids
}

func accountIDs(l []acs.Account) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.ID
	}
	return out
}

func testAccessAccounts(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	created, createdStored := at(0)
	in := account("111111111111", "/workloads/dev")
	got, err := s.PutAccount(ctx, in, created)
	require.NoError(t, err)
	want := in
	want.CreatedAt, want.UpdatedAt = createdStored, createdStored
	assert.Equal(t, want, got)
	read, err := s.Account(ctx, in.ID)
	require.NoError(t, err)
	assert.Equal(t, want, read)

	// Update: every field replaced, CreatedAt kept, UpdatedAt now.
	updated, updatedStored := at(time.Hour)
	in2 := acs.Account{ID: in.ID, Name: "renamed", Email: "other@example.com", OU: "/sandbox", AssumeRoleARN: "arn:aws:iam::111111111111:role/Other"}
	got, err = s.PutAccount(ctx, in2, updated)
	require.NoError(t, err)
	want2 := in2
	want2.CreatedAt, want2.UpdatedAt = createdStored, updatedStored
	assert.Equal(t, want2, got)
	read, err = s.Account(ctx, in.ID)
	require.NoError(t, err)
	assert.Equal(t, want2, read)

	// Another account changes nothing of the first.
	mustPutAccount(t, s, account("222222222222", "/"))
	read, err = s.Account(ctx, in.ID)
	require.NoError(t, err)
	assert.Equal(t, want2, read)

	_, err = s.Account(ctx, "333333333333")
	require.ErrorIs(t, err, acs.ErrNotFound)
}

func testAccessListAccounts(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	byOU := map[string]string{
		"900000000000": "/workloads",
		"100000000000": "/workloads/dev",
		"500000000000": "/workloads/dev/eu",
		"300000000000": "/workloadsX",
		"700000000000": "/workloads-a",
		"200000000000": "/workloads0",
		"600000000000": "/sandbox",
		"400000000000": "/",
	}
	// Insert in an order that is neither ID nor OU order.
	for _, id := range []string{"500000000000", "300000000000", "900000000000", "100000000000", "700000000000", "600000000000", "200000000000", "400000000000"} {
		mustPutAccount(t, s, account(id, byOU[id]))
	}
	all := []string{"100000000000", "200000000000", "300000000000", "400000000000", "500000000000", "600000000000", "700000000000", "900000000000"}
	cases := []struct {
		ou   string
		want []string
	}{
		{"", all},
		{"/", all},
		{"/workloads", []string{"100000000000", "500000000000", "900000000000"}},
		{"/workloads/", []string{"100000000000", "500000000000", "900000000000"}},
		{"/workloads/dev", []string{"100000000000", "500000000000"}},
		{"/workloads/dev/eu", []string{"500000000000"}},
		{"/workloads/de", []string{}},
		{"/workloadsX", []string{"300000000000"}},
		{"/sandbox", []string{"600000000000"}},
		{"/none", []string{}},
	}
	for _, c := range cases {
		got, err := s.ListAccounts(ctx, c.ou)
		require.NoError(t, err, c.ou)
		assert.Equal(t, c.want, accountIDs(got), "OU %q", c.ou)
		for _, a := range got {
			assert.Equal(t, byOU[a.ID], a.OU)
			assert.Equal(t, account(a.ID, a.OU).Name, a.Name)
		}
	}
}

func testAccessDeleteAccount(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	direct := mustPutAccount(t, s, account("111111111111", "/workloads"))
	viaOU := mustPutAccount(t, s, account("222222222222", "/workloads/dev"))
	now, _ := at(time.Minute)
	prov := func(accountID string) acs.Provisioning {
		return acs.Provisioning{AccountID: accountID, PermissionSet: "Admin", Version: 1, RoleName: "AWSReservedSSO_Admin_0123456789abcdef", Status: acs.StatusSucceeded, UpdatedAt: now}
	}
	require.NoError(t, s.PutProvisioning(ctx, prov(direct.ID)))
	require.NoError(t, s.PutProvisioning(ctx, prov(viaOU.ID)))
	a := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, direct.ID))
	mustAssign(t, s, assignment(acs.PrincipalGroup, "g1", "Admin", acs.TargetOU, "/workloads"))

	require.ErrorIs(t, s.DeleteAccount(ctx, direct.ID), acs.ErrInUse)
	_, err := s.Account(ctx, direct.ID)
	require.NoError(t, err, "an account in use stays")
	_, err = s.Provisioning(ctx, direct.ID, "Admin")
	require.NoError(t, err, "and so does its provisioning")

	// An OU assignment covering the account does not keep it.
	require.NoError(t, s.DeleteAccount(ctx, viaOU.ID))
	_, err = s.Account(ctx, viaOU.ID)
	require.ErrorIs(t, err, acs.ErrNotFound)
	_, err = s.Provisioning(ctx, viaOU.ID, "Admin")
	require.ErrorIs(t, err, acs.ErrNotFound, "provisioning records go with the account")
	_, err = s.Provisioning(ctx, direct.ID, "Admin")
	require.NoError(t, err, "another account's provisioning stays")
	require.ErrorIs(t, s.DeleteAccount(ctx, viaOU.ID), acs.ErrNotFound)

	require.NoError(t, s.DeleteAssignment(ctx, a.ID))
	require.NoError(t, s.DeleteAccount(ctx, direct.ID))
	_, err = s.Account(ctx, direct.ID)
	require.ErrorIs(t, err, acs.ErrNotFound)
	got, err := s.ProvisioningsForPermissionSet(ctx, "Admin")
	require.NoError(t, err)
	assert.Empty(t, got)
	require.ErrorIs(t, s.DeleteAccount(ctx, "999999999999"), acs.ErrNotFound)
}

func testAccessPermissionSets(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	created, createdStored := at(0)
	in := permissionSet("ReadOnly")
	got, err := s.CreatePermissionSet(ctx, in, created)
	require.NoError(t, err)
	want := in
	want.Version, want.CreatedAt, want.UpdatedAt = 1, createdStored, createdStored
	assert.Equal(t, want, got)
	read, err := s.PermissionSet(ctx, in.Name)
	require.NoError(t, err)
	assert.Equal(t, want, read)

	// A taken name conflicts and changes nothing.
	other := permissionSet("ReadOnly")
	other.Description = "impostor"
	_, err = s.CreatePermissionSet(ctx, other, created.Add(time.Hour))
	require.ErrorIs(t, err, acs.ErrConflict)
	read, err = s.PermissionSet(ctx, in.Name)
	require.NoError(t, err)
	assert.Equal(t, want, read)

	// A minimal one: empty lists, no boundary, no tags.
	minimal := acs.PermissionSet{Name: "Minimal", SessionDuration: time.Hour}
	gotMin, err := s.CreatePermissionSet(ctx, minimal, created)
	require.NoError(t, err)
	wantMin := minimal
	wantMin.Version, wantMin.CreatedAt, wantMin.UpdatedAt = 1, createdStored, createdStored
	assert.Equal(t, wantMin, gotMin)
	// Empty (non-nil) lists and map read back as nil, like missing ones.
	empty := acs.PermissionSet{Name: "Empty", SessionDuration: time.Hour, ManagedPolicies: []string{},
		CustomerPolicies: []acs.CustomerPolicyRef{}, Tags: map[string]string{},
		Boundary: &acs.Boundary{ManagedPolicyARN: "arn:aws:iam::aws:policy/PowerUserAccess"}}
	_, err = s.CreatePermissionSet(ctx, empty, created)
	require.NoError(t, err)
	readEmpty, err := s.PermissionSet(ctx, "Empty")
	require.NoError(t, err)
	assert.Nil(t, readEmpty.ManagedPolicies)
	assert.Nil(t, readEmpty.CustomerPolicies)
	assert.Nil(t, readEmpty.Tags)
	assert.Equal(t, &acs.Boundary{ManagedPolicyARN: "arn:aws:iam::aws:policy/PowerUserAccess"}, readEmpty.Boundary)

	list, err := s.ListPermissionSets(ctx)
	require.NoError(t, err)
	names := make([]string, len(list))
	for i, ps := range list {
		names[i] = ps.Name
	}
	assert.Equal(t, []string{"Empty", "Minimal", "ReadOnly"}, names)
	assert.Equal(t, want, list[2])

	_, err = s.PermissionSet(ctx, "Unknown")
	require.ErrorIs(t, err, acs.ErrNotFound)

	// Update at the current version: replaced, version incremented,
	// CreatedAt kept.
	updated, updatedStored := at(time.Hour)
	next := permissionSet("ReadOnly")
	next.Description = "changed"
	next.SessionDuration = 12 * time.Hour
	next.ManagedPolicies = []string{"arn:aws:iam::aws:policy/ViewOnlyAccess"}
	next.CustomerPolicies = nil
	next.Boundary = nil
	next.Tags = map[string]string{"team": "security"}
	next.InlinePolicy = ""
	next.RelayState = ""
	got, err = s.UpdatePermissionSet(ctx, next, 1, updated)
	require.NoError(t, err)
	wantNext := next
	wantNext.Version, wantNext.CreatedAt, wantNext.UpdatedAt = 2, createdStored, updatedStored
	assert.Equal(t, wantNext, got)
	read, err = s.PermissionSet(ctx, in.Name)
	require.NoError(t, err)
	assert.Equal(t, wantNext, read)

	// A stale version conflicts and changes nothing.
	stale := permissionSet("ReadOnly")
	for _, v := range []int64{0, 1, 3} {
		_, err = s.UpdatePermissionSet(ctx, stale, v, updated.Add(time.Hour))
		require.ErrorIs(t, err, acs.ErrConflict, "ifVersion %d", v)
	}
	read, err = s.PermissionSet(ctx, in.Name)
	require.NoError(t, err)
	assert.Equal(t, wantNext, read)

	// The positive control again: version 2 is current.
	got, err = s.UpdatePermissionSet(ctx, stale, 2, updated.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.Version)

	_, err = s.UpdatePermissionSet(ctx, permissionSet("Unknown"), 1, updated)
	require.ErrorIs(t, err, acs.ErrNotFound)
	_, err = s.PermissionSet(ctx, "Unknown")
	require.ErrorIs(t, err, acs.ErrNotFound, "an update does not create")
}

func testAccessConcurrentUpdate(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	for round := range 3 {
		name := fmt.Sprintf("Racy%d", round)
		mustCreatePermissionSet(t, s, permissionSet(name))
		errs := race(AccessConcurrency, func(i int) error {
			ps := permissionSet(name)
			ps.Description = fmt.Sprintf("writer %d", i)
			_, err := s.UpdatePermissionSet(context.Background(), ps, 1, base.Add(time.Duration(i)*time.Second))
			return err
		})
		winner := exactlyOneWinner(t, errs, acs.ErrConflict)
		got, err := s.PermissionSet(t.Context(), name)
		require.NoError(t, err)
		assert.Equal(t, int64(2), got.Version, "round %d", round)
		assert.Equal(t, fmt.Sprintf("writer %d", winner), got.Description, "round %d", round)
	}
}

func testAccessDeletePermissionSet(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Used"))
	mustCreatePermissionSet(t, s, permissionSet("Unused"))
	a := mustAssign(t, s, assignment(acs.PrincipalGroup, "g1", "Used", acs.TargetOU, "/"))

	require.ErrorIs(t, s.DeletePermissionSet(ctx, "Used"), acs.ErrInUse)
	_, err := s.PermissionSet(ctx, "Used")
	require.NoError(t, err, "a permission set in use stays")

	require.NoError(t, s.DeletePermissionSet(ctx, "Unused"))
	_, err = s.PermissionSet(ctx, "Unused")
	require.ErrorIs(t, err, acs.ErrNotFound)
	require.ErrorIs(t, s.DeletePermissionSet(ctx, "Unused"), acs.ErrNotFound)

	require.NoError(t, s.DeleteAssignment(ctx, a.ID))
	require.NoError(t, s.DeletePermissionSet(ctx, "Used"))
	_, err = s.PermissionSet(ctx, "Used")
	require.ErrorIs(t, err, acs.ErrNotFound)

	// The name is free again, at version 1.
	got := mustCreatePermissionSet(t, s, permissionSet("Used"))
	assert.Equal(t, int64(1), got.Version)
}

func testAccessAssignments(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	acct := mustPutAccount(t, s, account("111111111111", "/workloads"))

	now, stored := at(time.Minute)
	in := assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, acct.ID)
	// What the caller sets of the ID, status, reason and times is not
	// kept.
	in.ID, in.Status, in.Reason, in.CreatedAt = "chosen-by-caller", acs.StatusFailed, "stale", base.Add(-time.Hour)
	got, created, err := s.CreateAssignment(ctx, in, now)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, got.ID)
	assert.NotEqual(t, "chosen-by-caller", got.ID)
	want := assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, acct.ID)
	want.ID, want.Status, want.CreatedAt, want.UpdatedAt = got.ID, acs.StatusInProgress, stored, stored
	assert.Equal(t, want, got)
	read, err := s.Assignment(ctx, got.ID)
	require.NoError(t, err)
	assert.Equal(t, want, read)

	// The same natural key again: the existing one, unchanged.
	again, created, err := s.CreateAssignment(ctx, in, now.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, want, again)

	// Changing any one part of the key makes a new assignment.
	mustCreatePermissionSet(t, s, permissionSet("Other"))
	mustPutAccount(t, s, account("222222222222", "/workloads"))
	for _, v := range []acs.Assignment{
		assignment(acs.PrincipalGroup, "u1", "Admin", acs.TargetAccount, acct.ID),
		assignment(acs.PrincipalUser, "u2", "Admin", acs.TargetAccount, acct.ID),
		assignment(acs.PrincipalUser, "u1", "Other", acs.TargetAccount, acct.ID),
		assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetOU, acct.ID),
		assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "222222222222"),
	} {
		other := mustAssign(t, s, v)
		assert.NotEqual(t, got.ID, other.ID, "%+v", v)
	}

	// SetAssignmentStatus changes status, reason and UpdatedAt only.
	later, laterStored := at(2 * time.Hour)
	require.NoError(t, s.SetAssignmentStatus(ctx, got.ID, acs.StatusFailed, "AccessDenied: sts:AssumeRole", later))
	read, err = s.Assignment(ctx, got.ID)
	require.NoError(t, err)
	wantFailed := want
	wantFailed.Status, wantFailed.Reason, wantFailed.UpdatedAt = acs.StatusFailed, "AccessDenied: sts:AssumeRole", laterStored
	assert.Equal(t, wantFailed, read)
	require.NoError(t, s.SetAssignmentStatus(ctx, got.ID, acs.StatusSucceeded, "", later))
	read, err = s.Assignment(ctx, got.ID)
	require.NoError(t, err)
	assert.Equal(t, acs.StatusSucceeded, read.Status)
	assert.Empty(t, read.Reason)
	require.ErrorIs(t, s.SetAssignmentStatus(ctx, "unknown", acs.StatusFailed, "x", later), acs.ErrNotFound)

	// A re-created assignment keeps its status (creation returns the
	// existing one).
	again, created, err = s.CreateAssignment(ctx, in, now)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, acs.StatusSucceeded, again.Status)

	_, err = s.Assignment(ctx, "unknown")
	require.ErrorIs(t, err, acs.ErrNotFound)

	require.NoError(t, s.DeleteAssignment(ctx, got.ID))
	_, err = s.Assignment(ctx, got.ID)
	require.ErrorIs(t, err, acs.ErrNotFound)
	require.ErrorIs(t, s.DeleteAssignment(ctx, got.ID), acs.ErrNotFound)

	// After deletion the natural key is free: a new ID.
	fresh, created, err := s.CreateAssignment(ctx, in, now)
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotEqual(t, got.ID, fresh.ID)
	assert.Equal(t, acs.StatusInProgress, fresh.Status)
}

func testAccessAssignmentReferences(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	mustPutAccount(t, s, account("111111111111", "/workloads"))
	now, _ := at(0)

	for name, a := range map[string]acs.Assignment{
		"unknown permission set":              assignment(acs.PrincipalUser, "u1", "Unknown", acs.TargetAccount, "111111111111"),
		"unknown account":                     assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "999999999999"),
		"unknown permission set on an OU":     assignment(acs.PrincipalUser, "u1", "Unknown", acs.TargetOU, "/workloads"),
		"account ID that is only an OU value": assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "/workloads"),
	} {
		_, created, err := s.CreateAssignment(ctx, a, now)
		require.ErrorIs(t, err, acs.ErrNotFound, name)
		assert.False(t, created, name)
	}
	got, err := s.AssignmentsForPrincipals(ctx, "u1", nil)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing stored")
	got, err = s.AssignmentsForTarget(ctx, acs.TargetAccount, "999999999999")
	require.NoError(t, err)
	assert.Empty(t, got, "nothing stored")

	// Positive controls: a known account; an OU with no account at all.
	mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "111111111111"))
	mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetOU, "/empty/ou"))
	got, err = s.AssignmentsForPrincipals(ctx, "u1", nil)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

func testAccessConcurrentCreate(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	mustPutAccount(t, s, account("111111111111", "/workloads"))
	for round := range 3 {
		a := assignment(acs.PrincipalGroup, fmt.Sprintf("g%d", round), "Admin", acs.TargetAccount, "111111111111")
		type result struct {
			a       acs.Assignment
			created bool
		}
		results := make([]result, AccessConcurrency)
		errs := race(AccessConcurrency, func(i int) error {
			got, created, err := s.CreateAssignment(context.Background(), a, base.Add(time.Duration(i)*time.Second))
			results[i] = result{got, created}
			return err
		})
		createdCount := 0
		for i, err := range errs {
			require.NoError(t, err, "round %d, goroutine %d", round, i)
			if results[i].created {
				createdCount++
			}
		}
		assert.Equal(t, 1, createdCount, "round %d: exactly one creates", round)
		id := results[0].a.ID
		require.NotEmpty(t, id)
		for i, r := range results {
			assert.Equal(t, id, r.a.ID, "round %d, goroutine %d", round, i)
		}
		got, err := s.AssignmentsForPrincipals(t.Context(), "", []string{a.PrincipalID})
		require.NoError(t, err)
		assert.Equal(t, []string{id}, assignmentIDs(got), "round %d: one stored", round)
	}
}

func testAccessForPrincipals(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	mustCreatePermissionSet(t, s, permissionSet("ReadOnly"))
	mustPutAccount(t, s, account("111111111111", "/workloads"))
	user := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "111111111111"))
	userOU := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "ReadOnly", acs.TargetOU, "/"))
	g1 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g1", "ReadOnly", acs.TargetAccount, "111111111111"))
	g2 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g2", "Admin", acs.TargetOU, "/workloads"))
	g2b := mustAssign(t, s, assignment(acs.PrincipalGroup, "g2", "ReadOnly", acs.TargetOU, "/workloads"))
	g3 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g3", "Admin", acs.TargetOU, "/"))
	// Noise: other principals, and IDs equal across principal types.
	mustAssign(t, s, assignment(acs.PrincipalUser, "u2", "Admin", acs.TargetAccount, "111111111111"))
	userNamedG1 := mustAssign(t, s, assignment(acs.PrincipalUser, "g1", "Admin", acs.TargetOU, "/"))
	mustAssign(t, s, assignment(acs.PrincipalGroup, "u1", "Admin", acs.TargetOU, "/"))

	cases := []struct {
		name   string
		user   string
		groups []string
		want   []string
	}{
		{"user and groups", "u1", []string{"g2", "g1"}, sortedIDs(user, userOU, g1, g2, g2b)},
		{"user only", "u1", nil, sortedIDs(user, userOU)},
		{"groups only", "", []string{"g3"}, sortedIDs(g3)},
		{"duplicate and unknown groups", "u1", []string{"g1", "g1", "nope", "g3"}, sortedIDs(user, userOU, g1, g3)},
		{"a user named like a group", "g1", []string{"u9"}, sortedIDs(userNamedG1)},
		{"none", "nobody", []string{"nogroup"}, []string{}},
		{"nothing asked", "", nil, []string{}},
	}
	// Many groups, more than one query's worth in the SQL stores.
	many := []string{"g2"}
	for i := range 700 {
		many = append(many, fmt.Sprintf("other-%03d", i))
	}
	many = append(many, "g3")
	cases = append(cases, struct {
		name   string
		user   string
		groups []string
		want   []string
	}{"many groups", "u1", many, sortedIDs(user, userOU, g2, g2b, g3)})
	for _, c := range cases {
		got, err := s.AssignmentsForPrincipals(ctx, c.user, c.groups)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, assignmentIDs(got), c.name)
	}
	// The rows are whole assignments.
	got, err := s.AssignmentsForPrincipals(ctx, "", []string{"g1"})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, g1, got[0])
}

func testAccessAssignmentLists(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	mustCreatePermissionSet(t, s, permissionSet("ReadOnly"))
	mustCreatePermissionSet(t, s, permissionSet("Unused"))
	mustPutAccount(t, s, account("111111111111", "/workloads"))
	mustPutAccount(t, s, account("222222222222", "/workloads"))
	a1 := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetAccount, "111111111111"))
	a2 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g1", "ReadOnly", acs.TargetAccount, "111111111111"))
	a3 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g1", "Admin", acs.TargetAccount, "222222222222"))
	o1 := mustAssign(t, s, assignment(acs.PrincipalGroup, "g2", "Admin", acs.TargetOU, "/workloads"))
	o2 := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "ReadOnly", acs.TargetOU, "/workloads/dev"))
	// An OU whose path equals an account ID is still a different target.
	o3 := mustAssign(t, s, assignment(acs.PrincipalUser, "u3", "ReadOnly", acs.TargetOU, "111111111111"))

	targets := []struct {
		typ  acs.TargetType
		id   string
		want []string
	}{
		{acs.TargetAccount, "111111111111", sortedIDs(a1, a2)},
		{acs.TargetAccount, "222222222222", sortedIDs(a3)},
		{acs.TargetOU, "/workloads", sortedIDs(o1)},
		{acs.TargetOU, "/workloads/dev", sortedIDs(o2)},
		{acs.TargetOU, "111111111111", sortedIDs(o3)},
		{acs.TargetOU, "/", []string{}},
		{acs.TargetAccount, "333333333333", []string{}},
	}
	for _, c := range targets {
		got, err := s.AssignmentsForTarget(ctx, c.typ, c.id)
		require.NoError(t, err)
		assert.Equal(t, c.want, assignmentIDs(got), "%s %s", c.typ, c.id)
	}
	got, err := s.AssignmentsForTarget(ctx, acs.TargetAccount, "222222222222")
	require.NoError(t, err)
	assert.Equal(t, []acs.Assignment{a3}, got)

	for name, want := range map[string][]string{
		"Admin":    sortedIDs(a1, a3, o1),
		"ReadOnly": sortedIDs(a2, o2, o3),
		"Unused":   {},
		"Unknown":  {},
	} {
		got, err := s.AssignmentsForPermissionSet(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, want, assignmentIDs(got), name)
	}
}

func testAccessProvisioning(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	mustCreatePermissionSet(t, s, permissionSet("Admin"))
	for _, id := range []string{"333333333333", "111111111111", "222222222222"} {
		mustPutAccount(t, s, account(id, "/"))
	}
	now, stored := at(time.Minute)
	p := acs.Provisioning{AccountID: "111111111111", PermissionSet: "Admin", Version: 1,
		RoleName: "AWSReservedSSO_Admin_0123456789abcdef", Status: acs.StatusInProgress, UpdatedAt: now}
	require.NoError(t, s.PutProvisioning(ctx, p))
	got, err := s.Provisioning(ctx, p.AccountID, p.PermissionSet)
	require.NoError(t, err)
	want := p
	want.UpdatedAt = stored
	assert.Equal(t, want, got)

	// Put replaces.
	later, laterStored := at(time.Hour)
	p2 := p
	p2.Version, p2.Status, p2.Reason, p2.UpdatedAt = 3, acs.StatusFailed, "LimitExceeded", later
	require.NoError(t, s.PutProvisioning(ctx, p2))
	got, err = s.Provisioning(ctx, p.AccountID, p.PermissionSet)
	require.NoError(t, err)
	want2 := p2
	want2.UpdatedAt = laterStored
	assert.Equal(t, want2, got)

	// A permission set need not exist (a record outlives it until its
	// role is removed); the account must.
	gone := acs.Provisioning{AccountID: "222222222222", PermissionSet: "Deleted", Version: 7, Status: acs.StatusSucceeded, UpdatedAt: now}
	require.NoError(t, s.PutProvisioning(ctx, gone))
	orphan := acs.Provisioning{AccountID: "999999999999", PermissionSet: "Admin", Version: 1, UpdatedAt: now}
	require.ErrorIs(t, s.PutProvisioning(ctx, orphan), acs.ErrNotFound)
	_, err = s.Provisioning(ctx, orphan.AccountID, orphan.PermissionSet)
	require.ErrorIs(t, err, acs.ErrNotFound, "nothing stored")

	p3 := acs.Provisioning{AccountID: "333333333333", PermissionSet: "Admin", Version: 1, Status: acs.StatusSucceeded, UpdatedAt: now}
	require.NoError(t, s.PutProvisioning(ctx, p3))
	list, err := s.ProvisioningsForPermissionSet(ctx, "Admin")
	require.NoError(t, err)
	wantP3 := p3
	wantP3.UpdatedAt = stored
	assert.Equal(t, []acs.Provisioning{want2, wantP3}, list, "ordered by account ID")
	list, err = s.ProvisioningsForPermissionSet(ctx, "Unknown")
	require.NoError(t, err)
	assert.Empty(t, list)

	_, err = s.Provisioning(ctx, "111111111111", "Deleted")
	require.ErrorIs(t, err, acs.ErrNotFound)
	require.NoError(t, s.DeleteProvisioning(ctx, p.AccountID, p.PermissionSet))
	_, err = s.Provisioning(ctx, p.AccountID, p.PermissionSet)
	require.ErrorIs(t, err, acs.ErrNotFound)
	require.ErrorIs(t, s.DeleteProvisioning(ctx, p.AccountID, p.PermissionSet), acs.ErrNotFound)
	list, err = s.ProvisioningsForPermissionSet(ctx, "Admin")
	require.NoError(t, err)
	assert.Equal(t, []acs.Provisioning{wantP3}, list)
}

// mutatePermissionSet changes every slice, map and pointer field of ps in
// place.
func mutatePermissionSet(ps acs.PermissionSet) {
	if len(ps.ManagedPolicies) > 0 {
		ps.ManagedPolicies[0] = "mutated"
	}
	if len(ps.CustomerPolicies) > 0 {
		ps.CustomerPolicies[0].Name = "mutated"
	}
	if ps.Tags != nil {
		ps.Tags["team"] = "mutated"
		ps.Tags["new"] = "mutated"
	}
	if ps.Boundary != nil {
		ps.Boundary.ManagedPolicyARN = "mutated"
		if ps.Boundary.CustomerPolicy != nil {
			ps.Boundary.CustomerPolicy.Name = "mutated"
		}
	}
}

func testAccessCopies(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	in := permissionSet("Admin")
	got := mustCreatePermissionSet(t, s, in)
	want := permissionSet("Admin")
	want.Version, want.CreatedAt, want.UpdatedAt = got.Version, got.CreatedAt, got.UpdatedAt
	require.Equal(t, want, got)

	check := func(step string) {
		t.Helper()
		read, err := s.PermissionSet(ctx, "Admin")
		require.NoError(t, err)
		assert.Equal(t, want, read, step)
	}
	mutatePermissionSet(in)
	check("after mutating the argument of CreatePermissionSet")
	mutatePermissionSet(got)
	check("after mutating the result of CreatePermissionSet")
	read, err := s.PermissionSet(ctx, "Admin")
	require.NoError(t, err)
	mutatePermissionSet(read)
	check("after mutating the result of PermissionSet")
	list, err := s.ListPermissionSets(ctx)
	require.NoError(t, err)
	for _, ps := range list {
		mutatePermissionSet(ps)
	}
	check("after mutating the result of ListPermissionSets")

	upd := permissionSet("Admin")
	upd.Description = "updated"
	got, err = s.UpdatePermissionSet(ctx, upd, 1, base)
	require.NoError(t, err)
	want = permissionSet("Admin")
	want.Description = "updated"
	want.Version, want.CreatedAt, want.UpdatedAt = got.Version, got.CreatedAt, got.UpdatedAt
	mutatePermissionSet(upd)
	check("after mutating the argument of UpdatePermissionSet")
	mutatePermissionSet(got)
	check("after mutating the result of UpdatePermissionSet")

	// Lists are the caller's: changing one changes no later result.
	mustPutAccount(t, s, account("111111111111", "/"))
	accounts, err := s.ListAccounts(ctx, "/")
	require.NoError(t, err)
	accounts[0].Name = "mutated"
	again, err := s.Account(ctx, "111111111111")
	require.NoError(t, err)
	assert.False(t, strings.Contains(again.Name, "mutated"))
	a := mustAssign(t, s, assignment(acs.PrincipalUser, "u1", "Admin", acs.TargetOU, "/"))
	as, err := s.AssignmentsForPrincipals(ctx, "u1", nil)
	require.NoError(t, err)
	as[0].Status = "mutated"
	readA, err := s.Assignment(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, readA)
}

// testAccessConcurrentDelete races assignments to an account and a
// permission set against their deletion: whatever the order, no
// assignment is left referring to a deleted one, and a deletion fails
// only because an assignment was made.
func testAccessConcurrentDelete(t *testing.T, newStore func(t *testing.T) AccessStore) {
	s := newStore(t)
	ctx := t.Context()
	for round := range 4 {
		acct := fmt.Sprintf("%012d", round)
		ps := fmt.Sprintf("Set%d", round)
		mustPutAccount(t, s, account(acct, "/"))
		mustCreatePermissionSet(t, s, permissionSet(ps))
		errs := race(AccessConcurrency, func(i int) error {
			switch i {
			case 0:
				return s.DeleteAccount(context.Background(), acct)
			case 1:
				return s.DeletePermissionSet(context.Background(), ps)
			}
			a := assignment(acs.PrincipalUser, fmt.Sprintf("u%d", i), ps, acs.TargetAccount, acct)
			_, _, err := s.CreateAssignment(context.Background(), a, base)
			return err
		})
		created := 0
		for i, err := range errs[2:] {
			if err == nil {
				created++
				continue
			}
			assert.ErrorIs(t, err, acs.ErrNotFound, "round %d, goroutine %d", round, i+2)
		}
		_, accountErr := s.Account(ctx, acct)
		_, psErr := s.PermissionSet(ctx, ps)
		byTarget, err := s.AssignmentsForTarget(ctx, acs.TargetAccount, acct)
		require.NoError(t, err)
		byPS, err := s.AssignmentsForPermissionSet(ctx, ps)
		require.NoError(t, err)
		assert.Len(t, byTarget, created, "round %d", round)
		assert.Len(t, byPS, created, "round %d", round)
		for name, c := range map[string]struct{ deleteErr, readErr error }{
			"account":        {errs[0], accountErr},
			"permission set": {errs[1], psErr},
		} {
			if c.deleteErr == nil {
				assert.ErrorIs(t, c.readErr, acs.ErrNotFound, "round %d: deleted %s", round, name)
				assert.Zero(t, created, "round %d: assignments to a deleted %s", round, name)
				continue
			}
			assert.ErrorIs(t, c.deleteErr, acs.ErrInUse, "round %d: %s", round, name)
			assert.NoError(t, c.readErr, "round %d: %s kept", round, name)
			assert.NotZero(t, created, "round %d: %s in use", round, name)
		}
	}
}
