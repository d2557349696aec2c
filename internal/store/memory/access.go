package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ access.Store = (*Store)(nil)

// accessTables holds multi-account access (access.Store), created on
// first use. Values are kept as the caller's copies are returned: times
// to the microsecond, permission sets in store.CopyPermissionSet form.
type accessTables struct {
	accounts    map[string]access.Account
	permSets    map[string]access.PermissionSet
	assignments map[string]access.Assignment // by ID
	// byKey maps an assignment's natural key to its ID.
	byKey map[assignmentKey]string
	// byPrincipal indexes assignment IDs by principal, so
	// AssignmentsForPrincipals does not walk every assignment.
	byPrincipal   map[principalKey]map[string]struct{}
	provisionings map[provisioningKey]access.Provisioning
}

type assignmentKey struct {
	principalType access.PrincipalType
	principalID   string
	permissionSet string
	targetType    access.TargetType
	targetID      string
}

type principalKey struct {
	typ access.PrincipalType
	id  string
}

type provisioningKey struct{ accountID, permissionSet string }

func keyOf(a access.Assignment) assignmentKey {
	return assignmentKey{a.PrincipalType, a.PrincipalID, a.PermissionSet, a.TargetType, a.TargetID}
}

// accessLocked returns the tables, creating them; s.mu must be held.
func (s *Store) accessLocked() *accessTables {
	if s.access == nil {
		s.access = &accessTables{
			accounts:      map[string]access.Account{},
			permSets:      map[string]access.PermissionSet{},
			assignments:   map[string]access.Assignment{},
			byKey:         map[assignmentKey]string{},
			byPrincipal:   map[principalKey]map[string]struct{}{},
			provisionings: map[provisioningKey]access.Provisioning{},
		}
	}
	return s.access
}

func accessNotFound(op string) error { return fmt.Errorf("memory: %s: %w", op, access.ErrNotFound) }

func byID(a, b access.Assignment) int { return strings.Compare(a.ID, b.ID) }

// PutAccount implements access.Store.
func (s *Store) PutAccount(_ context.Context, a access.Account, now time.Time) (access.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	a.CreatedAt, a.UpdatedAt = micro(now), micro(now)
	if cur, ok := t.accounts[a.ID]; ok {
		a.CreatedAt = cur.CreatedAt
	}
	t.accounts[a.ID] = a
	return a, nil
}

// Account implements access.Store.
func (s *Store) Account(_ context.Context, id string) (access.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accessLocked().accounts[id]
	if !ok {
		return access.Account{}, accessNotFound("account")
	}
	return a, nil
}

// ListAccounts implements access.Store.
func (s *Store) ListAccounts(_ context.Context, ou string) ([]access.Account, error) {
	p := strings.TrimSuffix(ou, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []access.Account{}
	for _, a := range s.accessLocked().accounts {
		if access.OUContains(p, a.OU) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b access.Account) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteAccount implements access.Store.
func (s *Store) DeleteAccount(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	if _, ok := t.accounts[id]; !ok {
		return accessNotFound("delete account")
	}
	for _, a := range t.assignments {
		if a.TargetType == access.TargetAccount && a.TargetID == id {
			return fmt.Errorf("memory: delete account %s: %w", id, access.ErrInUse)
		}
	}
	delete(t.accounts, id)
	for k := range t.provisionings {
		if k.accountID == id {
			delete(t.provisionings, k)
		}
	}
	return nil
}

// CreatePermissionSet implements access.Store.
func (s *Store) CreatePermissionSet(_ context.Context, ps access.PermissionSet, now time.Time) (access.PermissionSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	if _, ok := t.permSets[ps.Name]; ok {
		return access.PermissionSet{}, fmt.Errorf("memory: create permission set %s: %w", ps.Name, access.ErrConflict)
	}
	ps.Version, ps.CreatedAt, ps.UpdatedAt = 1, now, now
	ps = store.CopyPermissionSet(ps)
	t.permSets[ps.Name] = ps
	return store.CopyPermissionSet(ps), nil
}

// PermissionSet implements access.Store.
func (s *Store) PermissionSet(_ context.Context, name string) (access.PermissionSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.accessLocked().permSets[name]
	if !ok {
		return access.PermissionSet{}, accessNotFound("permission set")
	}
	return store.CopyPermissionSet(ps), nil
}

// ListPermissionSets implements access.Store, ordered by name.
func (s *Store) ListPermissionSets(context.Context) ([]access.PermissionSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	out := make([]access.PermissionSet, 0, len(t.permSets))
	for _, name := range slices.Sorted(maps.Keys(t.permSets)) {
		out = append(out, store.CopyPermissionSet(t.permSets[name]))
	}
	return out, nil
}

// UpdatePermissionSet implements access.Store.
func (s *Store) UpdatePermissionSet(_ context.Context, ps access.PermissionSet, ifVersion int64, now time.Time) (access.PermissionSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	cur, ok := t.permSets[ps.Name]
	if !ok {
		return access.PermissionSet{}, accessNotFound("update permission set")
	}
	if cur.Version != ifVersion {
		return access.PermissionSet{}, fmt.Errorf("memory: update permission set %s: version is not %d: %w",
			ps.Name, ifVersion, access.ErrConflict)
	}
	ps.Version, ps.CreatedAt, ps.UpdatedAt = cur.Version+1, cur.CreatedAt, now
	ps = store.CopyPermissionSet(ps)
	t.permSets[ps.Name] = ps
	return store.CopyPermissionSet(ps), nil
}

// DeletePermissionSet implements access.Store. Provisioning records stay:
// the roles they describe still exist.
func (s *Store) DeletePermissionSet(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	if _, ok := t.permSets[name]; !ok {
		return accessNotFound("delete permission set")
	}
	for _, a := range t.assignments {
		if a.PermissionSet == name {
			return fmt.Errorf("memory: delete permission set %s: %w", name, access.ErrInUse)
		}
	}
	delete(t.permSets, name)
	return nil
}

// CreateAssignment implements access.Store.
func (s *Store) CreateAssignment(_ context.Context, a access.Assignment, now time.Time) (access.Assignment, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	if _, ok := t.permSets[a.PermissionSet]; !ok {
		return access.Assignment{}, false, fmt.Errorf("memory: create assignment: permission set %q: %w", a.PermissionSet, access.ErrNotFound)
	}
	if _, ok := t.accounts[a.TargetID]; a.TargetType == access.TargetAccount && !ok {
		return access.Assignment{}, false, fmt.Errorf("memory: create assignment: account %q: %w", a.TargetID, access.ErrNotFound)
	}
	k := keyOf(a)
	if id, ok := t.byKey[k]; ok {
		return t.assignments[id], false, nil
	}
	a.ID, a.Status, a.Reason = newID(), access.StatusInProgress, ""
	a.CreatedAt, a.UpdatedAt = micro(now), micro(now)
	t.assignments[a.ID] = a
	t.byKey[k] = a.ID
	pk := principalKey{a.PrincipalType, a.PrincipalID}
	if t.byPrincipal[pk] == nil {
		t.byPrincipal[pk] = map[string]struct{}{}
	}
	t.byPrincipal[pk][a.ID] = struct{}{}
	return a, true, nil
}

// Assignment implements access.Store.
func (s *Store) Assignment(_ context.Context, id string) (access.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accessLocked().assignments[id]
	if !ok {
		return access.Assignment{}, accessNotFound("assignment")
	}
	return a, nil
}

// SetAssignmentStatus implements access.Store.
func (s *Store) SetAssignmentStatus(_ context.Context, id string, status access.Status, reason string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	a, ok := t.assignments[id]
	if !ok {
		return accessNotFound("set assignment status")
	}
	a.Status, a.Reason, a.UpdatedAt = status, reason, micro(now)
	t.assignments[id] = a
	return nil
}

// DeleteAssignment implements access.Store.
func (s *Store) DeleteAssignment(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	a, ok := t.assignments[id]
	if !ok {
		return accessNotFound("delete assignment")
	}
	delete(t.assignments, id)
	delete(t.byKey, keyOf(a))
	pk := principalKey{a.PrincipalType, a.PrincipalID}
	delete(t.byPrincipal[pk], id)
	if len(t.byPrincipal[pk]) == 0 {
		delete(t.byPrincipal, pk)
	}
	return nil
}

// assignmentsWhere returns the assignments keep selects, ordered by ID;
// s.mu must be held.
func (s *Store) assignmentsWhere(keep func(access.Assignment) bool) []access.Assignment {
	out := []access.Assignment{}
	for _, a := range s.accessLocked().assignments {
		if keep(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, byID)
	return out
}

// AssignmentsForTarget implements access.Store.
func (s *Store) AssignmentsForTarget(_ context.Context, typ access.TargetType, id string) ([]access.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assignmentsWhere(func(a access.Assignment) bool { return a.TargetType == typ && a.TargetID == id }), nil
}

// AssignmentsForPermissionSet implements access.Store, ordered by ID.
func (s *Store) AssignmentsForPermissionSet(_ context.Context, name string) ([]access.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assignmentsWhere(func(a access.Assignment) bool { return a.PermissionSet == name }), nil
}

// AssignmentsForPrincipals implements access.Store through the principal
// index.
func (s *Store) AssignmentsForPrincipals(_ context.Context, userID string, groupIDs []string) ([]access.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	keys := make([]principalKey, 0, 1+len(groupIDs))
	keys = append(keys, principalKey{access.PrincipalUser, userID})
	for _, g := range groupIDs {
		keys = append(keys, principalKey{access.PrincipalGroup, g})
	}
	seen := map[string]bool{}
	out := []access.Assignment{}
	for _, k := range keys {
		for id := range t.byPrincipal[k] {
			if !seen[id] {
				seen[id] = true
				out = append(out, t.assignments[id])
			}
		}
	}
	slices.SortFunc(out, byID)
	return out, nil
}

// PutProvisioning implements access.Store: the account must exist; the
// permission set need not (a record outlives it until its role is
// removed).
func (s *Store) PutProvisioning(_ context.Context, p access.Provisioning) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	if _, ok := t.accounts[p.AccountID]; !ok {
		return fmt.Errorf("memory: put provisioning: account %q: %w", p.AccountID, access.ErrNotFound)
	}
	p.UpdatedAt = micro(p.UpdatedAt)
	t.provisionings[provisioningKey{p.AccountID, p.PermissionSet}] = p
	return nil
}

// Provisioning implements access.Store.
func (s *Store) Provisioning(_ context.Context, accountID, permissionSet string) (access.Provisioning, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.accessLocked().provisionings[provisioningKey{accountID, permissionSet}]
	if !ok {
		return access.Provisioning{}, accessNotFound("provisioning")
	}
	return p, nil
}

// ProvisioningsForPermissionSet implements access.Store, ordered by
// account ID.
func (s *Store) ProvisioningsForPermissionSet(_ context.Context, name string) ([]access.Provisioning, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []access.Provisioning{}
	for k, p := range s.accessLocked().provisionings {
		if k.permissionSet == name {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b access.Provisioning) int { return cmp.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

// DeleteProvisioning implements access.Store.
func (s *Store) DeleteProvisioning(_ context.Context, accountID, permissionSet string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.accessLocked()
	k := provisioningKey{accountID, permissionSet}
	if _, ok := t.provisionings[k]; !ok {
		return accessNotFound("delete provisioning")
	}
	delete(t.provisionings, k)
	return nil
}
