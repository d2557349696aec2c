package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// dirTables holds the identity store. Users and groups are kept
// normalized, without their Groups or Members, which memberOf and
// groupRec.members hold; reads assemble copies.
type dirTables struct {
	users     map[string]*directory.User // by ID
	userFold  map[string]string          // directory.Fold(UserName) -> ID
	groups    map[string]*groupRec       // by ID
	groupFold map[string]string          // directory.Fold(DisplayName) -> ID
	memberOf  map[string]map[string]bool // user ID -> group IDs
}

type groupRec struct {
	g       directory.Group
	members map[string]bool
}

func newDirTables() dirTables {
	return dirTables{
		users:     map[string]*directory.User{},
		userFold:  map[string]string{},
		groups:    map[string]*groupRec{},
		groupFold: map[string]string{},
		memberOf:  map[string]map[string]bool{},
	}
}

// userLocked returns a copy of the user with its groups; s.mu must be
// held.
func (s *Store) userLocked(id string) (directory.User, bool) {
	p, ok := s.dir.users[id]
	if !ok {
		return directory.User{}, false
	}
	u := *p
	u.Groups = nil
	for gid := range s.dir.memberOf[id] {
		u.Groups = append(u.Groups, directory.GroupRef{ID: gid, DisplayName: s.dir.groups[gid].g.DisplayName})
	}
	return directory.NormalizeUser(u), true
}

// groupLocked returns a copy of the group, with its members when members
// is set; s.mu must be held.
func (s *Store) groupLocked(id string, members bool) (directory.Group, bool) {
	rec, ok := s.dir.groups[id]
	if !ok {
		return directory.Group{}, false
	}
	g := rec.g
	g.Members = nil
	if members {
		g.Members = slices.Collect(maps.Keys(rec.members))
	}
	return directory.NormalizeGroup(g), true
}

// userNameFreeLocked reports whether name is no other user's userName,
// ignoring case.
func (s *Store) userNameFreeLocked(name, id string) bool {
	holder, ok := s.dir.userFold[directory.Fold(name)]
	return !ok || holder == id
}

// insertUserLocked stores u, prepared by directory.PrepareUser, as a new
// user (a random ID when it has none) with version 1, created at now. A
// taken ID or userName returns conflict, wrapped, and changes nothing.
func (s *Store) insertUserLocked(u directory.User, now time.Time, conflict error) (string, error) {
	if u.ID == "" {
		u.ID = newID()
	}
	if _, ok := s.dir.users[u.ID]; ok {
		return "", fmt.Errorf("memory: insert user: duplicate ID: %w", conflict)
	}
	if !s.userNameFreeLocked(u.UserName, u.ID) {
		return "", fmt.Errorf("memory: insert user: duplicate user_name: %w", conflict)
	}
	u.Groups = nil
	u.Version = 1
	u.CreatedAt = directory.NormalizeTime(now)
	u.UpdatedAt = u.CreatedAt
	s.dir.users[u.ID] = &u
	s.dir.userFold[directory.Fold(u.UserName)] = u.ID
	return u.ID, nil
}

// writeUserLocked stores next, a changed copy of the stored user cur that
// passed directory.ApplyUserUpdate and whose userName is free, with the
// next version; a deactivation ends the user's sessions and refresh
// tokens.
func (s *Store) writeUserLocked(cur, next directory.User, now time.Time) {
	delete(s.dir.userFold, directory.Fold(cur.UserName))
	s.dir.userFold[directory.Fold(next.UserName)] = cur.ID
	next.Groups = nil
	next.Version = cur.Version + 1
	next.UpdatedAt = directory.NormalizeTime(now)
	*s.dir.users[cur.ID] = next
	if cur.Active && !next.Active {
		s.endAccessLocked(cur.ID)
	}
}

// endAccessLocked deletes the user's sessions and revokes its refresh
// tokens.
func (s *Store) endAccessLocked(userID string) {
	for k, v := range s.sessions {
		if v.userID == userID {
			delete(s.sessions, k)
		}
	}
	for _, r := range s.oauthLocked().refresh {
		if r.t.UserID == userID {
			r.revoked = true
		}
	}
}

func (s *Store) bumpUserLocked(id string, now time.Time) {
	u := s.dir.users[id]
	u.Version++
	u.UpdatedAt = directory.NormalizeTime(now)
}

func (s *Store) bumpGroupLocked(id string, now time.Time) {
	g := &s.dir.groups[id].g
	g.Version++
	g.UpdatedAt = directory.NormalizeTime(now)
}

// changeMembersLocked adds and removes memberships of the group and bumps
// the version of every user concerned (not the group's: the caller does
// that once).
func (s *Store) changeMembersLocked(gid string, added, removed []string, now time.Time) {
	rec := s.dir.groups[gid]
	for _, id := range removed {
		delete(rec.members, id)
		delete(s.dir.memberOf[id], gid)
		if len(s.dir.memberOf[id]) == 0 {
			delete(s.dir.memberOf, id)
		}
		s.bumpUserLocked(id, now)
	}
	for _, id := range added {
		rec.members[id] = true
		if s.dir.memberOf[id] == nil {
			s.dir.memberOf[id] = map[string]bool{}
		}
		s.dir.memberOf[id][gid] = true
		s.bumpUserLocked(id, now)
	}
}

// checkUsersLocked returns directory.UnknownMember for the first ID that
// is not a user.
func (s *Store) checkUsersLocked(ids []string) error {
	for _, id := range ids {
		if _, ok := s.dir.users[id]; !ok {
			return directory.UnknownMember(id)
		}
	}
	return nil
}

func notFound(op string) error {
	return fmt.Errorf("memory: %s: %w", op, directory.ErrNotFound)
}

// CreateDirectoryUser adds u as a new user with version 1, created at now.
func (s *Store) CreateDirectoryUser(_ context.Context, u directory.User, now time.Time) (directory.User, error) {
	p, err := directory.PrepareUser(u)
	if err != nil {
		return directory.User{}, fmt.Errorf("memory: create directory user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.insertUserLocked(p, now, directory.ErrConflict)
	if err != nil {
		return directory.User{}, err
	}
	out, _ := s.userLocked(id)
	return out, nil
}

// DirectoryUser returns the user, or directory.ErrNotFound.
func (s *Store) DirectoryUser(_ context.Context, id string) (directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userLocked(id)
	if !ok {
		return directory.User{}, notFound("directory user")
	}
	return u, nil
}

// ReplaceDirectoryUser replaces the writable fields of the user u.ID.
func (s *Store) ReplaceDirectoryUser(ctx context.Context, u directory.User, ifVersion int64, now time.Time) (directory.User, error) {
	return s.UpdateDirectoryUser(ctx, u.ID, ifVersion, directory.ReplaceUserFields(u), now)
}

// UpdateDirectoryUser runs fn on a copy of the user under the store's
// lock and stores the result. fn must not call the store.
func (s *Store) UpdateDirectoryUser(_ context.Context, id string, ifVersion int64, fn func(*directory.User) error, now time.Time) (directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.userLocked(id)
	if !ok {
		return directory.User{}, notFound("update directory user")
	}
	if err := directory.CheckVersion(ifVersion, cur.Version); err != nil {
		return directory.User{}, fmt.Errorf("memory: update directory user: %w", err)
	}
	next, changed, err := directory.ApplyUserUpdate(cur, fn)
	if err != nil {
		return directory.User{}, fmt.Errorf("memory: update directory user: %w", err)
	}
	if !changed {
		return cur, nil
	}
	if !s.userNameFreeLocked(next.UserName, id) {
		return directory.User{}, fmt.Errorf("memory: update directory user: duplicate user_name: %w", directory.ErrConflict)
	}
	s.writeUserLocked(cur, next, now)
	out, _ := s.userLocked(id)
	return out, nil
}

// DeleteDirectoryUser deletes the user, its memberships, identity links
// and sessions, and revokes its refresh tokens.
func (s *Store) DeleteDirectoryUser(_ context.Context, id string, ifVersion int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dir.users[id]
	if !ok {
		return notFound("delete directory user")
	}
	if err := directory.CheckVersion(ifVersion, u.Version); err != nil {
		return err
	}
	for gid := range s.dir.memberOf[id] {
		delete(s.dir.groups[gid].members, id)
		s.bumpGroupLocked(gid, now)
	}
	delete(s.dir.memberOf, id)
	for ext, uid := range s.links {
		if uid == id {
			delete(s.links, ext)
		}
	}
	delete(s.linkedIssuers, id)
	s.endAccessLocked(id)
	s.deleteSignInLocked(id)
	delete(s.dir.userFold, directory.Fold(u.UserName))
	delete(s.dir.users, id)
	return nil
}

// ListDirectoryUsers returns the users q selects, ordered by creation
// time, then ID.
func (s *Store) ListDirectoryUsers(_ context.Context, q directory.Query) (directory.Page[directory.User], error) {
	c, err := directory.CompileUserFilter(q.Filter)
	if err != nil {
		return directory.Page[directory.User]{}, fmt.Errorf("memory: list directory users: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []directory.User
	for id := range s.dir.users {
		if u, _ := s.userLocked(id); directory.MatchUser(c, u) {
			all = append(all, u)
		}
	}
	slices.SortFunc(all, func(a, b directory.User) int {
		return directory.CompareListOrder(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
	})
	return page(all, q), nil
}

// page cuts the window q asks for out of all.
func page[T any](all []T, q directory.Query) directory.Page[T] {
	offset, limit := q.Window()
	out := directory.Page[T]{Total: len(all)}
	if offset < len(all) {
		items := all[offset:min(len(all), offset+limit)]
		if len(items) > 0 {
			out.Items = items
		}
	}
	return out
}

// CreateGroup adds g as a new group with version 1, created at now.
func (s *Store) CreateGroup(_ context.Context, g directory.Group, now time.Time) (directory.Group, error) {
	p, err := directory.PrepareGroup(g)
	if err != nil {
		return directory.Group{}, fmt.Errorf("memory: create group: %w", err)
	}
	if p.ID == "" {
		p.ID = newID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dir.groups[p.ID]; ok {
		return directory.Group{}, fmt.Errorf("memory: create group: duplicate ID: %w", directory.ErrConflict)
	}
	if _, ok := s.dir.groupFold[directory.Fold(p.DisplayName)]; ok {
		return directory.Group{}, fmt.Errorf("memory: create group: duplicate displayName: %w", directory.ErrConflict)
	}
	if err := s.checkUsersLocked(p.Members); err != nil {
		return directory.Group{}, fmt.Errorf("memory: create group: %w", err)
	}
	s.insertGroupLocked(p.ID, p.DisplayName, p.ExternalID, now)
	s.changeMembersLocked(p.ID, p.Members, nil, now)
	out, _ := s.groupLocked(p.ID, true)
	return out, nil
}

// insertGroupLocked stores a new group without members, version 1,
// created at now.
func (s *Store) insertGroupLocked(id, displayName, externalID string, now time.Time) {
	t := directory.NormalizeTime(now)
	s.dir.groups[id] = &groupRec{
		g:       directory.Group{ID: id, DisplayName: displayName, ExternalID: externalID, Version: 1, CreatedAt: t, UpdatedAt: t},
		members: map[string]bool{},
	}
	s.dir.groupFold[directory.Fold(displayName)] = id
}

// Group returns the group, or directory.ErrNotFound.
func (s *Store) Group(_ context.Context, id string) (directory.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groupLocked(id, true)
	if !ok {
		return directory.Group{}, notFound("group")
	}
	return g, nil
}

// ReplaceGroup replaces the writable fields of the group g.ID.
func (s *Store) ReplaceGroup(ctx context.Context, g directory.Group, ifVersion int64, now time.Time) (directory.Group, error) {
	return s.UpdateGroup(ctx, g.ID, ifVersion, directory.ReplaceGroupFields(g), now)
}

// UpdateGroup runs fn on a copy of the group under the store's lock and
// stores the result. fn must not call the store.
func (s *Store) UpdateGroup(_ context.Context, id string, ifVersion int64, fn func(*directory.Group) error, now time.Time) (directory.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.groupLocked(id, true)
	if !ok {
		return directory.Group{}, notFound("update group")
	}
	if err := directory.CheckVersion(ifVersion, cur.Version); err != nil {
		return directory.Group{}, fmt.Errorf("memory: update group: %w", err)
	}
	next, changed, err := directory.ApplyGroupUpdate(cur, fn)
	if err != nil {
		return directory.Group{}, fmt.Errorf("memory: update group: %w", err)
	}
	if !changed {
		return cur, nil
	}
	if holder, ok := s.dir.groupFold[directory.Fold(next.DisplayName)]; ok && holder != id {
		return directory.Group{}, fmt.Errorf("memory: update group: duplicate displayName: %w", directory.ErrConflict)
	}
	added, removed := directory.MemberDiff(cur.Members, next.Members)
	if err := s.checkUsersLocked(added); err != nil {
		return directory.Group{}, fmt.Errorf("memory: update group: %w", err)
	}
	rec := s.dir.groups[id]
	delete(s.dir.groupFold, directory.Fold(cur.DisplayName))
	s.dir.groupFold[directory.Fold(next.DisplayName)] = id
	rec.g.DisplayName, rec.g.ExternalID = next.DisplayName, next.ExternalID
	s.changeMembersLocked(id, added, removed, now)
	s.bumpGroupLocked(id, now)
	out, _ := s.groupLocked(id, true)
	return out, nil
}

// DeleteGroup deletes the group and its memberships.
func (s *Store) DeleteGroup(_ context.Context, id string, ifVersion int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.dir.groups[id]
	if !ok {
		return notFound("delete group")
	}
	if err := directory.CheckVersion(ifVersion, rec.g.Version); err != nil {
		return err
	}
	s.changeMembersLocked(id, nil, slices.Collect(maps.Keys(rec.members)), now)
	delete(s.dir.groupFold, directory.Fold(rec.g.DisplayName))
	delete(s.dir.groups, id)
	return nil
}

// ListGroups returns the groups q selects, ordered by creation time, then
// ID.
func (s *Store) ListGroups(_ context.Context, q directory.Query) (directory.Page[directory.Group], error) {
	c, err := directory.CompileGroupFilter(q.Filter)
	if err != nil {
		return directory.Page[directory.Group]{}, fmt.Errorf("memory: list groups: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []directory.Group
	for id := range s.dir.groups {
		g, _ := s.groupLocked(id, true)
		if !directory.MatchGroup(c, g) {
			continue
		}
		if q.WithoutMembers {
			g.Members = nil
		}
		all = append(all, g)
	}
	slices.SortFunc(all, func(a, b directory.Group) int {
		return directory.CompareListOrder(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
	})
	return page(all, q), nil
}

// PatchGroupMembers removes, then adds members, all or nothing.
func (s *Store) PatchGroupMembers(_ context.Context, groupID string, add, remove []string, ifVersion int64, now time.Time) (directory.Group, error) {
	if err := directory.CheckMemberPatch(add, remove); err != nil {
		return directory.Group{}, fmt.Errorf("memory: patch group members: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.dir.groups[groupID]
	if !ok {
		return directory.Group{}, notFound("patch group members")
	}
	if err := directory.CheckVersion(ifVersion, rec.g.Version); err != nil {
		return directory.Group{}, fmt.Errorf("memory: patch group members: %w", err)
	}
	if err := s.checkUsersLocked(add); err != nil {
		return directory.Group{}, fmt.Errorf("memory: patch group members: %w", err)
	}
	next := maps.Clone(rec.members)
	for _, id := range remove {
		delete(next, id)
	}
	for _, id := range add {
		next[id] = true
	}
	if err := directory.CheckGroupSize(len(rec.members), len(next)); err != nil {
		return directory.Group{}, fmt.Errorf("memory: patch group members: %w", err)
	}
	cur := slices.Sorted(maps.Keys(rec.members))
	added, removed := directory.MemberDiff(cur, slices.Sorted(maps.Keys(next)))
	if len(added)+len(removed) > 0 {
		s.changeMembersLocked(groupID, added, removed, now)
		s.bumpGroupLocked(groupID, now)
	}
	out, _ := s.groupLocked(groupID, true)
	return out, nil
}

// groupByNameLocked returns the ID of the group whose display name equals
// name ignoring case.
func (s *Store) groupByNameLocked(name string) (string, bool) {
	id, ok := s.dir.groupFold[directory.Fold(name)]
	return id, ok
}

// setGroupsLocked makes the user a member of exactly the groups named
// (normalized and checked with directory.ValidateGroupName by the
// caller), creating missing groups, and reports whether its memberships
// changed. Each group that gains or loses the user, except one created
// here, gets a new version; the user's version is the caller's.
func (s *Store) setGroupsLocked(userID string, names []string, now time.Time) bool {
	target := map[string]bool{}
	created := map[string]bool{}
	for _, name := range names {
		gid, ok := s.groupByNameLocked(name)
		if !ok {
			gid = newID()
			s.insertGroupLocked(gid, name, "", now)
			created[gid] = true
		}
		target[gid] = true
	}
	changed := false
	for gid := range s.dir.memberOf[userID] {
		if !target[gid] {
			delete(s.dir.groups[gid].members, userID)
			delete(s.dir.memberOf[userID], gid)
			s.bumpGroupLocked(gid, now)
			changed = true
		}
	}
	for gid := range target {
		if s.dir.memberOf[userID][gid] {
			continue
		}
		s.dir.groups[gid].members[userID] = true
		if s.dir.memberOf[userID] == nil {
			s.dir.memberOf[userID] = map[string]bool{}
		}
		s.dir.memberOf[userID][gid] = true
		if !created[gid] {
			s.bumpGroupLocked(gid, now)
		}
		changed = true
	}
	if len(s.dir.memberOf[userID]) == 0 {
		delete(s.dir.memberOf, userID)
	}
	return changed
}
