package access

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeStore is an in-memory Store for the tests and the benchmark. It
// indexes assignments by principal and accounts by OU, as a real store
// would, so that lookups do not scan everything. It counts calls per
// method and write calls, and fails a method on demand.
type fakeStore struct {
	mu          sync.Mutex
	accounts    map[string]Account
	ouAccounts  map[string]map[string]bool // OU path -> IDs of accounts directly in it
	ouChildren  map[string]map[string]bool // OU path -> child OU paths
	sets        map[string]PermissionSet
	assignments map[string]Assignment
	byPrincipal map[principalKey]map[string]bool
	byTuple     map[assignmentTuple]string
	provs       map[[2]string]Provisioning
	nextID      int

	calls  map[string]int
	writes int
	fail   map[string]error
}

type principalKey struct {
	t  PrincipalType
	id string
}

type assignmentTuple struct {
	pt      PrincipalType
	pid, ps string
	tt      TargetType
	tid     string
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		accounts:    map[string]Account{},
		ouAccounts:  map[string]map[string]bool{},
		ouChildren:  map[string]map[string]bool{},
		sets:        map[string]PermissionSet{},
		assignments: map[string]Assignment{},
		byPrincipal: map[principalKey]map[string]bool{},
		byTuple:     map[assignmentTuple]string{},
		provs:       map[[2]string]Provisioning{},
		calls:       map[string]int{},
		fail:        map[string]error{},
	}
}

var _ Store = (*fakeStore)(nil)

// enter counts a call and returns the injected failure, if any. The
// caller holds f.mu.
func (f *fakeStore) enter(method string, write bool) error {
	f.calls[method]++
	if write {
		f.writes++
	}
	return f.fail[method]
}

// counts returns a copy of the call counters and the write count.
func (f *fakeStore) counts() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls), f.writes
}

func (f *fakeStore) resetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
	f.writes = 0
}

func (f *fakeStore) failOn(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

// forceDeletePermissionSet deletes a permission set even though it is
// assigned, as a concurrent deletion between two reads would look.
func (f *fakeStore) forceDeletePermissionSet(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sets, name)
}

// injectAssignment stores an assignment as is, bypassing every check (a
// misbehaving store).
func (f *fakeStore) injectAssignment(a Assignment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assignments[a.ID] = a
	k := principalKey{a.PrincipalType, a.PrincipalID}
	if f.byPrincipal[k] == nil {
		f.byPrincipal[k] = map[string]bool{}
	}
	f.byPrincipal[k][a.ID] = true
}

// addressPrincipal makes AssignmentsForPrincipals of user also return
// the assignments of other (a store ignoring its filter).
func (f *fakeStore) aliasPrincipal(user string, other principalKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := principalKey{PrincipalUser, user}
	if f.byPrincipal[k] == nil {
		f.byPrincipal[k] = map[string]bool{}
	}
	for id := range f.byPrincipal[other] {
		f.byPrincipal[k][id] = true
	}
}

func clonePS(ps PermissionSet) PermissionSet {
	ps.ManagedPolicies = slices.Clone(ps.ManagedPolicies)
	ps.CustomerPolicies = slices.Clone(ps.CustomerPolicies)
	ps.Tags = maps.Clone(ps.Tags)
	if ps.Boundary != nil {
		b := *ps.Boundary
		if b.CustomerPolicy != nil {
			c := *b.CustomerPolicy
			b.CustomerPolicy = &c
		}
		ps.Boundary = &b
	}
	return ps
}

func (f *fakeStore) indexOU(ou, id string, add bool) {
	if add {
		if f.ouAccounts[ou] == nil {
			f.ouAccounts[ou] = map[string]bool{}
		}
		f.ouAccounts[ou][id] = true
		for p := ou; p != "/"; {
			parent := p[:strings.LastIndexByte(p, '/')]
			if parent == "" {
				parent = "/"
			}
			if f.ouChildren[parent] == nil {
				f.ouChildren[parent] = map[string]bool{}
			}
			f.ouChildren[parent][p] = true
			p = parent
		}
		return
	}
	delete(f.ouAccounts[ou], id)
}

func (f *fakeStore) PutAccount(_ context.Context, a Account, now time.Time) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("PutAccount", true); err != nil {
		return Account{}, err
	}
	if old, ok := f.accounts[a.ID]; ok {
		f.indexOU(old.OU, a.ID, false)
		a.CreatedAt = old.CreatedAt
	} else {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	f.accounts[a.ID] = a
	f.indexOU(a.OU, a.ID, true)
	return a, nil
}

func (f *fakeStore) Account(_ context.Context, id string) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Account", false); err != nil {
		return Account{}, err
	}
	a, ok := f.accounts[id]
	if !ok {
		return Account{}, fmt.Errorf("account %s: %w", id, ErrNotFound)
	}
	return a, nil
}

func (f *fakeStore) ListAccounts(_ context.Context, ou string) ([]Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("ListAccounts", false); err != nil {
		return nil, err
	}
	if ou == "" {
		ou = "/"
	}
	var out []Account
	var walk func(string)
	walk = func(p string) {
		for id := range f.ouAccounts[p] {
			out = append(out, f.accounts[id])
		}
		for c := range f.ouChildren[p] {
			walk(c)
		}
	}
	walk(ou)
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeStore) DeleteAccount(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteAccount", true); err != nil {
		return err
	}
	a, ok := f.accounts[id]
	if !ok {
		return ErrNotFound
	}
	for _, as := range f.assignments {
		if as.TargetType == TargetAccount && as.TargetID == id {
			return ErrInUse
		}
	}
	f.indexOU(a.OU, id, false)
	delete(f.accounts, id)
	return nil
}

func (f *fakeStore) CreatePermissionSet(_ context.Context, ps PermissionSet, now time.Time) (PermissionSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("CreatePermissionSet", true); err != nil {
		return PermissionSet{}, err
	}
	if _, ok := f.sets[ps.Name]; ok {
		return PermissionSet{}, ErrConflict
	}
	ps = clonePS(ps)
	ps.Version, ps.CreatedAt, ps.UpdatedAt = 1, now, now
	f.sets[ps.Name] = ps
	return clonePS(ps), nil
}

func (f *fakeStore) PermissionSet(_ context.Context, name string) (PermissionSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("PermissionSet", false); err != nil {
		return PermissionSet{}, err
	}
	ps, ok := f.sets[name]
	if !ok {
		return PermissionSet{}, fmt.Errorf("permission set %q: %w", name, ErrNotFound)
	}
	return clonePS(ps), nil
}

func (f *fakeStore) ListPermissionSets(context.Context) ([]PermissionSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("ListPermissionSets", false); err != nil {
		return nil, err
	}
	out := make([]PermissionSet, 0, len(f.sets))
	for _, ps := range f.sets {
		out = append(out, clonePS(ps))
	}
	slices.SortFunc(out, func(a, b PermissionSet) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeStore) UpdatePermissionSet(_ context.Context, ps PermissionSet, ifVersion int64, now time.Time) (PermissionSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("UpdatePermissionSet", true); err != nil {
		return PermissionSet{}, err
	}
	old, ok := f.sets[ps.Name]
	if !ok {
		return PermissionSet{}, ErrNotFound
	}
	if old.Version != ifVersion {
		return PermissionSet{}, ErrConflict
	}
	ps = clonePS(ps)
	ps.Version, ps.CreatedAt, ps.UpdatedAt = old.Version+1, old.CreatedAt, now
	f.sets[ps.Name] = ps
	return clonePS(ps), nil
}

func (f *fakeStore) DeletePermissionSet(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeletePermissionSet", true); err != nil {
		return err
	}
	if _, ok := f.sets[name]; !ok {
		return ErrNotFound
	}
	for _, a := range f.assignments {
		if a.PermissionSet == name {
			return ErrInUse
		}
	}
	delete(f.sets, name)
	return nil
}

func (f *fakeStore) CreateAssignment(_ context.Context, a Assignment, now time.Time) (Assignment, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("CreateAssignment", true); err != nil {
		return Assignment{}, false, err
	}
	if _, ok := f.sets[a.PermissionSet]; !ok {
		return Assignment{}, false, fmt.Errorf("permission set %q: %w", a.PermissionSet, ErrNotFound)
	}
	if _, ok := f.accounts[a.TargetID]; a.TargetType == TargetAccount && !ok {
		return Assignment{}, false, fmt.Errorf("account %s: %w", a.TargetID, ErrNotFound)
	}
	t := assignmentTuple{a.PrincipalType, a.PrincipalID, a.PermissionSet, a.TargetType, a.TargetID}
	if id, ok := f.byTuple[t]; ok {
		return f.assignments[id], false, nil
	}
	f.nextID++
	a.ID = fmt.Sprintf("as-%08d", f.nextID)
	a.Status, a.Reason, a.CreatedAt, a.UpdatedAt = StatusInProgress, "", now, now
	f.assignments[a.ID] = a
	f.byTuple[t] = a.ID
	k := principalKey{a.PrincipalType, a.PrincipalID}
	if f.byPrincipal[k] == nil {
		f.byPrincipal[k] = map[string]bool{}
	}
	f.byPrincipal[k][a.ID] = true
	return a, true, nil
}

func (f *fakeStore) Assignment(_ context.Context, id string) (Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Assignment", false); err != nil {
		return Assignment{}, err
	}
	a, ok := f.assignments[id]
	if !ok {
		return Assignment{}, ErrNotFound
	}
	return a, nil
}

func (f *fakeStore) SetAssignmentStatus(_ context.Context, id string, status Status, reason string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("SetAssignmentStatus", true); err != nil {
		return err
	}
	a, ok := f.assignments[id]
	if !ok {
		return ErrNotFound
	}
	a.Status, a.Reason, a.UpdatedAt = status, reason, now
	f.assignments[id] = a
	return nil
}

func (f *fakeStore) DeleteAssignment(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteAssignment", true); err != nil {
		return err
	}
	a, ok := f.assignments[id]
	if !ok {
		return ErrNotFound
	}
	delete(f.assignments, id)
	delete(f.byTuple, assignmentTuple{a.PrincipalType, a.PrincipalID, a.PermissionSet, a.TargetType, a.TargetID})
	delete(f.byPrincipal[principalKey{a.PrincipalType, a.PrincipalID}], id)
	return nil
}

func (f *fakeStore) sortedAssignments(keep func(Assignment) bool) []Assignment {
	var out []Assignment
	for _, a := range f.assignments {
		if keep(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Assignment) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (f *fakeStore) AssignmentsForTarget(_ context.Context, t TargetType, id string) ([]Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AssignmentsForTarget", false); err != nil {
		return nil, err
	}
	return f.sortedAssignments(func(a Assignment) bool { return a.TargetType == t && a.TargetID == id }), nil
}

func (f *fakeStore) AssignmentsForPrincipals(_ context.Context, userID string, groupIDs []string) ([]Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AssignmentsForPrincipals", false); err != nil {
		return nil, err
	}
	var out []Assignment
	add := func(k principalKey) {
		for id := range f.byPrincipal[k] {
			if a, ok := f.assignments[id]; ok {
				out = append(out, a)
			}
		}
	}
	add(principalKey{PrincipalUser, userID})
	for _, g := range groupIDs {
		add(principalKey{PrincipalGroup, g})
	}
	slices.SortFunc(out, func(a, b Assignment) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b Assignment) bool { return a.ID == b.ID }), nil
}

func (f *fakeStore) AssignmentsForPermissionSet(_ context.Context, name string) ([]Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("AssignmentsForPermissionSet", false); err != nil {
		return nil, err
	}
	return f.sortedAssignments(func(a Assignment) bool { return a.PermissionSet == name }), nil
}

func (f *fakeStore) PutProvisioning(_ context.Context, p Provisioning) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("PutProvisioning", true); err != nil {
		return err
	}
	f.provs[[2]string{p.AccountID, p.PermissionSet}] = p
	return nil
}

func (f *fakeStore) Provisioning(_ context.Context, accountID, permissionSet string) (Provisioning, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Provisioning", false); err != nil {
		return Provisioning{}, err
	}
	p, ok := f.provs[[2]string{accountID, permissionSet}]
	if !ok {
		return Provisioning{}, ErrNotFound
	}
	return p, nil
}

func (f *fakeStore) ProvisioningsForPermissionSet(_ context.Context, name string) ([]Provisioning, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("ProvisioningsForPermissionSet", false); err != nil {
		return nil, err
	}
	var out []Provisioning
	for _, p := range f.provs {
		if p.PermissionSet == name {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Provisioning) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

func (f *fakeStore) DeleteProvisioning(_ context.Context, accountID, permissionSet string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("DeleteProvisioning", true); err != nil {
		return err
	}
	delete(f.provs, [2]string{accountID, permissionSet})
	return nil
}

// fakeGroups is a GroupResolver over a map; fail makes it fail.
type fakeGroups struct {
	mu     sync.Mutex
	groups map[string][]string
	fail   error
	calls  int
}

func (g *fakeGroups) GroupIDs(_ context.Context, userID string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.fail != nil {
		return nil, g.fail
	}
	return slices.Clone(g.groups[userID]), nil
}

func (g *fakeGroups) set(user string, groups ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groups == nil {
		g.groups = map[string][]string{}
	}
	g.groups[user] = groups
}
