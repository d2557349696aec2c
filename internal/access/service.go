package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// GroupResolver returns the groups a user belongs to, as the group IDs
// that assignments name in PrincipalID (not display names): the gateway
// adapts its directory to it. An error makes the entitlement computation
// fail; it never falls back to the user's own assignments only.
type GroupResolver interface {
	GroupIDs(ctx context.Context, userID string) ([]string, error)
}

// Config configures New.
type Config struct {
	// Store keeps accounts, permission sets and assignments (required).
	Store Store
	// Groups resolves a user's groups (required).
	Groups GroupResolver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives administrative changes and anomalies; nil discards
	// them.
	Logger *slog.Logger
}

// Service computes entitlements from the Store and validates
// administrative changes before they reach it. It keeps no state besides
// its configuration: every call reads the Store. It is safe for
// concurrent use.
type Service struct {
	store  Store
	groups GroupResolver
	now    func() time.Time
	log    *slog.Logger
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if cfg.Groups == nil {
		errs = append(errs, errors.New("a group resolver is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("access: %w", errors.Join(errs...))
	}
	s := &Service{store: cfg.Store, groups: cfg.Groups, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// byPermissionSetLimit is the number of distinct permission sets up to
// which a computation reads them one by one (PermissionSet); above it, it
// lists them all once (ListPermissionSets).
const byPermissionSetLimit = 4

// principalAssignments returns the assignments of the user and their
// groups, keeping only those that really name one of them (a store that
// returned others would otherwise grant them).
func (s *Service) principalAssignments(ctx context.Context, userID string) ([]Assignment, error) {
	if r := principalIDProblem(userID); r != "" {
		return nil, invalid("user_id", r)
	}
	groups, err := s.groups.GroupIDs(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("access: groups of user %q: %w", userID, err)
	}
	groupSet := make(map[string]bool, len(groups))
	ids := make([]string, 0, len(groups))
	for _, g := range groups {
		if g != "" && !groupSet[g] {
			groupSet[g] = true
			ids = append(ids, g)
		}
	}
	all, err := s.store.AssignmentsForPrincipals(ctx, userID, ids)
	if err != nil {
		return nil, fmt.Errorf("access: assignments of user %q: %w", userID, err)
	}
	out := all[:0]
	for _, a := range all {
		switch {
		case a.PrincipalType == PrincipalUser && a.PrincipalID == userID,
			a.PrincipalType == PrincipalGroup && groupSet[a.PrincipalID]:
			out = append(out, a)
		default:
			s.log.Warn("access: store returned an assignment of another principal; ignored",
				"assignment", a.ID, "principal_type", a.PrincipalType, "principal", a.PrincipalID, "user", userID)
		}
	}
	return out, nil
}

// existingPermissionSets returns which of the named permission sets
// exist, reading them one by one when there are few, all at once
// otherwise.
func (s *Service) existingPermissionSets(ctx context.Context, names map[string]bool) (map[string]bool, error) {
	exist := make(map[string]bool, len(names))
	if len(names) <= byPermissionSetLimit {
		for name := range names {
			_, err := s.store.PermissionSet(ctx, name)
			switch {
			case err == nil:
				exist[name] = true
			case errors.Is(err, ErrNotFound):
			default:
				return nil, fmt.Errorf("access: permission set %q: %w", name, err)
			}
		}
		return exist, nil
	}
	all, err := s.store.ListPermissionSets(ctx)
	if err != nil {
		return nil, fmt.Errorf("access: permission sets: %w", err)
	}
	for _, ps := range all {
		if names[ps.Name] {
			exist[ps.Name] = true
		}
	}
	return exist, nil
}

// EntitlementsFor returns the (account, permission set) pairs userID may
// use: those of the assignments naming the user or one of their groups,
// an OU assignment counting for every account in the OU and below it, and
// only for permission sets that still exist. It reads the store on every
// call: the assignments once, the permission sets once (or once each when
// at most byPermissionSetLimit are involved), each distinct OU once. The
// result is sorted by account ID then permission set; Via lists the
// granting assignment IDs, sorted.
func (s *Service) EntitlementsFor(ctx context.Context, userID string) ([]Entitlement, error) {
	as, err := s.principalAssignments(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return []Entitlement{}, nil
	}
	names := make(map[string]bool)
	for _, a := range as {
		names[a.PermissionSet] = true
	}
	exist, err := s.existingPermissionSets(ctx, names)
	if err != nil {
		return nil, err
	}

	type key struct{ account, ps string }
	via := make(map[key][]string)
	ous := make(map[string][]Account)
	for _, a := range as {
		if !exist[a.PermissionSet] {
			continue
		}
		switch a.TargetType {
		case TargetAccount:
			k := key{a.TargetID, a.PermissionSet}
			via[k] = append(via[k], a.ID)
		case TargetOU:
			accounts, listed := ous[a.TargetID]
			if !listed {
				accounts, err = s.store.ListAccounts(ctx, a.TargetID)
				if err != nil {
					return nil, fmt.Errorf("access: accounts of OU %q: %w", a.TargetID, err)
				}
				ous[a.TargetID] = accounts
			}
			for _, acct := range accounts {
				k := key{acct.ID, a.PermissionSet}
				via[k] = append(via[k], a.ID)
			}
		default:
			s.log.Warn("access: assignment with an unknown target type; ignored",
				"assignment", a.ID, "target_type", a.TargetType)
		}
	}

	out := make([]Entitlement, 0, len(via))
	for k, ids := range via {
		slices.Sort(ids)
		out = append(out, Entitlement{AccountID: k.account, PermissionSet: k.ps, Via: slices.Compact(ids)})
	}
	slices.SortFunc(out, func(a, b Entitlement) int {
		if c := strings.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		return strings.Compare(a.PermissionSet, b.PermissionSet)
	})
	return out, nil
}

// Entitled reports whether userID may use permissionSet in accountID. It
// is the check made when credentials are vended, so it reads the store
// every time (the user's groups, their assignments, the permission set
// and, for OU assignments, the account) and never a cache: an assignment
// removed or a permission set deleted a moment ago grants nothing. It
// agrees with EntitlementsFor. Malformed arguments are ErrInvalid.
func (s *Service) Entitled(ctx context.Context, userID, accountID, permissionSet string) (bool, error) {
	var p problems
	p.check("account_id", accountIDProblem(accountID))
	p.check("permission_set", permissionSetNameProblem(permissionSet))
	if err := p.err(); err != nil {
		return false, err
	}
	as, err := s.principalAssignments(ctx, userID)
	if err != nil {
		return false, err
	}
	direct, viaOU := false, []string(nil)
	for _, a := range as {
		if a.PermissionSet != permissionSet {
			continue
		}
		switch {
		case a.TargetType == TargetAccount && a.TargetID == accountID:
			direct = true
		case a.TargetType == TargetOU:
			viaOU = append(viaOU, a.TargetID)
		}
	}
	if !direct && len(viaOU) == 0 {
		return false, nil
	}
	if _, err := s.store.PermissionSet(ctx, permissionSet); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("access: permission set %q: %w", permissionSet, err)
	}
	if direct {
		return true, nil
	}
	acct, err := s.store.Account(ctx, accountID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("access: account %s: %w", accountID, err)
	}
	for _, ou := range viaOU {
		if OUContains(ou, acct.OU) {
			return true, nil
		}
	}
	return false, nil
}

// CreateAccount validates a and stores it; an account with the same ID is
// ErrConflict. (Two concurrent creations of one ID may both succeed, the
// second replacing the first: both are the administrator's.)
func (s *Service) CreateAccount(ctx context.Context, a Account) (Account, error) {
	if err := ValidateAccount(a); err != nil {
		return Account{}, err
	}
	switch _, err := s.store.Account(ctx, a.ID); {
	case err == nil:
		return Account{}, fmt.Errorf("access: id: account %s already exists: %w", a.ID, ErrConflict)
	case !errors.Is(err, ErrNotFound):
		return Account{}, fmt.Errorf("access: account %s: %w", a.ID, err)
	}
	out, err := s.store.PutAccount(ctx, a, s.now())
	if err != nil {
		return Account{}, fmt.Errorf("access: create account %s: %w", a.ID, err)
	}
	s.log.Info("access: account created", "account", a.ID, "ou", a.OU)
	return out, nil
}

// UpdateAccount validates a and replaces the existing account with its
// ID (ErrNotFound when there is none). Moving an account to another OU
// changes at once who is entitled to it through OU assignments.
func (s *Service) UpdateAccount(ctx context.Context, a Account) (Account, error) {
	if err := ValidateAccount(a); err != nil {
		return Account{}, err
	}
	if _, err := s.store.Account(ctx, a.ID); err != nil {
		return Account{}, fmt.Errorf("access: id: account %s: %w", a.ID, err)
	}
	out, err := s.store.PutAccount(ctx, a, s.now())
	if err != nil {
		return Account{}, fmt.Errorf("access: update account %s: %w", a.ID, err)
	}
	s.log.Info("access: account updated", "account", a.ID, "ou", a.OU)
	return out, nil
}

// CreatePermissionSet validates ps and stores it at version 1; a taken
// name is ErrConflict.
func (s *Service) CreatePermissionSet(ctx context.Context, ps PermissionSet) (PermissionSet, error) {
	if err := ValidatePermissionSet(ps); err != nil {
		return PermissionSet{}, err
	}
	out, err := s.store.CreatePermissionSet(ctx, ps, s.now())
	if err != nil {
		return PermissionSet{}, fmt.Errorf("access: create permission set %q: %w", ps.Name, err)
	}
	s.log.Info("access: permission set created", "permission_set", ps.Name)
	return out, nil
}

// UpdatePermissionSet validates ps and replaces the permission set of
// that name if its version is still ifVersion (ErrConflict otherwise),
// returning it with its new version.
func (s *Service) UpdatePermissionSet(ctx context.Context, ps PermissionSet, ifVersion int64) (PermissionSet, error) {
	var p problems
	var v *ValidationError
	if errors.As(ValidatePermissionSet(ps), &v) {
		p = v.Problems
	}
	if ifVersion < 1 {
		p.add("version", "must be the current version (1 or more)")
	}
	if err := p.err(); err != nil {
		return PermissionSet{}, err
	}
	out, err := s.store.UpdatePermissionSet(ctx, ps, ifVersion, s.now())
	if err != nil {
		return PermissionSet{}, fmt.Errorf("access: update permission set %q: %w", ps.Name, err)
	}
	s.log.Info("access: permission set updated", "permission_set", ps.Name, "version", out.Version)
	return out, nil
}

// DeletePermissionSet deletes a permission set with no assignment
// (ErrInUse otherwise).
func (s *Service) DeletePermissionSet(ctx context.Context, name string) error {
	if r := permissionSetNameProblem(name); r != "" {
		return invalid("name", r)
	}
	if err := s.store.DeletePermissionSet(ctx, name); err != nil {
		return fmt.Errorf("access: delete permission set %q: %w", name, err)
	}
	s.log.Info("access: permission set deleted", "permission_set", name)
	return nil
}

// CreateAssignment validates a, checks that its permission set and (for
// an account target) its account exist (ErrNotFound naming the field
// otherwise), and stores it with a new ID; ID, Status and Reason are
// ignored. Creating an existing assignment again returns it with created
// false. An OU target need not contain accounts yet: the assignment
// covers accounts placed in it later.
func (s *Service) CreateAssignment(ctx context.Context, a Assignment) (_ Assignment, created bool, _ error) {
	if err := ValidateAssignment(a); err != nil {
		return Assignment{}, false, err
	}
	if _, err := s.store.PermissionSet(ctx, a.PermissionSet); err != nil {
		return Assignment{}, false, fmt.Errorf("access: permission_set: permission set %q: %w", a.PermissionSet, err)
	}
	if a.TargetType == TargetAccount {
		if _, err := s.store.Account(ctx, a.TargetID); err != nil {
			return Assignment{}, false, fmt.Errorf("access: target_id: account %s: %w", a.TargetID, err)
		}
	}
	a.ID, a.Status, a.Reason = "", "", ""
	out, created, err := s.store.CreateAssignment(ctx, a, s.now())
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Assignment{}, false, fmt.Errorf("access: permission_set or target_id: %w", err)
		}
		return Assignment{}, false, fmt.Errorf("access: create assignment: %w", err)
	}
	if created {
		s.log.Info("access: assignment created", "assignment", out.ID, "principal_type", out.PrincipalType,
			"principal", out.PrincipalID, "permission_set", out.PermissionSet, "target_type", out.TargetType, "target", out.TargetID)
	}
	return out, created, nil
}

// DeleteAssignment deletes an assignment; the entitlements it granted end
// at once.
func (s *Service) DeleteAssignment(ctx context.Context, id string) error {
	if id == "" {
		return invalid("id", "is required")
	}
	if err := s.store.DeleteAssignment(ctx, id); err != nil {
		return fmt.Errorf("access: delete assignment %q: %w", id, err)
	}
	s.log.Info("access: assignment deleted", "assignment", id)
	return nil
}
