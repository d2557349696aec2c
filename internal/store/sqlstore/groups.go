package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// dirGroup reads the group with its members in one statement, or returns
// directory.ErrNotFound.
func (s *Store) dirGroup(ctx context.Context, r runner, id string) (directory.Group, error) {
	rows, err := r.query(ctx, `SELECT `+groupCols("g")+`, m.user_id
		FROM groups g LEFT JOIN group_members m ON m.group_id = g.id WHERE g.id = ?`, id)
	if err != nil {
		return directory.Group{}, s.wrapDir("read group", err)
	}
	groups, err := scanGroups(rows, true)
	if err != nil {
		return directory.Group{}, s.wrapDir("read group", err)
	}
	if len(groups) == 0 {
		return directory.Group{}, dirNotFound("read group")
	}
	return groups[0], nil
}

// lockGroup locks the group's row until r's transaction ends and returns
// its version, or directory.ErrNotFound.
func (s *Store) lockGroup(ctx context.Context, r runner, id string) (int64, error) {
	var v int64
	err := r.queryRow(ctx, `SELECT version FROM groups WHERE id = ?`+s.d.forUpdate(), id).Scan(&v)
	if errNoRows(err) {
		return 0, dirNotFound("lock group")
	}
	if err != nil {
		return 0, s.wrapDir("lock group", err)
	}
	return v, nil
}

// checkUsers returns directory.UnknownMember for the first of ids (in
// order) that is not a user. On PostgreSQL the users found stay locked
// until the transaction ends (their versions change with their
// memberships), so a membership never fails on a user deleted meanwhile;
// they are locked in ID order, so concurrent membership changes queue
// rather than deadlock (inTxRetry covers what remains).
func (s *Store) checkUsers(ctx context.Context, r runner, ids []string) error {
	found := map[string]bool{}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	err := inChunks(slices.Compact(sorted), func(part []string, ph string) error {
		rows, err := r.query(ctx, `SELECT id FROM users WHERE id IN (`+ph+`) ORDER BY id`+s.d.forUpdate(), stringArgs(nil, part)...)
		if err != nil {
			return s.wrapDir("check members", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return s.wrapDir("check members", err)
			}
			found[id] = true
		}
		if err := rows.Err(); err != nil {
			return s.wrapDir("check members", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !found[id] {
			return fmt.Errorf("sqlstore: %w", directory.UnknownMember(id))
		}
	}
	return nil
}

// changeMembers removes and adds memberships of the group and gives each
// user concerned a new version (the group's is the caller's).
func (s *Store) changeMembers(ctx context.Context, r runner, groupID string, added, removed []string, now time.Time) error {
	err := inChunks(removed, func(part []string, ph string) error {
		if _, err := r.exec(ctx, `DELETE FROM group_members WHERE group_id = ? AND user_id IN (`+ph+`)`,
			stringArgs([]any{groupID}, part)...); err != nil {
			return s.wrapDir("remove members", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = inChunks(added, func(part []string, _ string) error {
		args := make([]any, 0, 2*len(part))
		for _, id := range part {
			args = append(args, groupID, id)
		}
		if _, err := r.exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES `+valueRows(len(part)), args...); err != nil {
			return s.wrapDir("add members", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.bumpUsers(ctx, r, slices.Concat(added, removed), now)
}

// valueRows returns n "(?, ?)" rows for a multi-row INSERT.
func valueRows(n int) string {
	out := make([]byte, 0, n*8)
	for i := range n {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, "(?, ?)"...)
	}
	return string(out)
}

// insertGroup inserts a group without members, version 1, created at
// now; a taken ID or display name (ignoring case) returns
// directory.ErrConflict.
func (s *Store) insertGroup(ctx context.Context, r runner, id, displayName, externalID string, now time.Time) error {
	t := toMicros(now)
	if _, err := r.exec(ctx,
		`INSERT INTO groups (id, display_name, display_name_fold, external_id, version, created_at, updated_at)
		 VALUES (?, ?, ?, ?, 1, ?, ?)`,
		id, displayName, directory.Fold(displayName), externalID, t, t); err != nil {
		return s.wrapDir("insert group", err)
	}
	return nil
}

// CreateGroup adds g as a new group with version 1, created at now, and
// gives each member a new version.
func (s *Store) CreateGroup(ctx context.Context, g directory.Group, now time.Time) (directory.Group, error) {
	p, err := directory.PrepareGroup(g)
	if err != nil {
		return directory.Group{}, fmt.Errorf("sqlstore: create group: %w", err)
	}
	if p.ID == "" {
		p.ID = newID()
	}
	var out directory.Group
	err = s.inTxRetry(ctx, func(r runner) error {
		if err := s.checkUsers(ctx, r, p.Members); err != nil {
			return err
		}
		if err := s.insertGroup(ctx, r, p.ID, p.DisplayName, p.ExternalID, now); err != nil {
			return err
		}
		if err := s.changeMembers(ctx, r, p.ID, p.Members, nil, now); err != nil {
			return err
		}
		var err error
		out, err = s.dirGroup(ctx, r, p.ID)
		return err
	})
	if err != nil {
		return directory.Group{}, err
	}
	return out, nil
}

// Group returns the group, or directory.ErrNotFound.
func (s *Store) Group(ctx context.Context, id string) (directory.Group, error) {
	return s.dirGroup(ctx, s.pool(), id)
}

// ReplaceGroup replaces the writable fields of the group g.ID.
func (s *Store) ReplaceGroup(ctx context.Context, g directory.Group, ifVersion int64, now time.Time) (directory.Group, error) {
	return s.UpdateGroup(ctx, g.ID, ifVersion, directory.ReplaceGroupFields(g), now)
}

// UpdateGroup locks and reads the group, runs fn on a copy and writes the
// result, in one transaction. fn must not use the store.
func (s *Store) UpdateGroup(ctx context.Context, id string, ifVersion int64, fn func(*directory.Group) error, now time.Time) (directory.Group, error) {
	var out directory.Group
	err := s.inTxRetry(ctx, func(r runner) error {
		if _, err := s.lockGroup(ctx, r, id); err != nil {
			return err
		}
		cur, err := s.dirGroup(ctx, r, id)
		if err != nil {
			return err
		}
		if err := directory.CheckVersion(ifVersion, cur.Version); err != nil {
			return fmt.Errorf("sqlstore: update group: %w", err)
		}
		next, changed, err := directory.ApplyGroupUpdate(cur, fn)
		if err != nil {
			return fmt.Errorf("sqlstore: update group: %w", err)
		}
		if !changed {
			out = cur
			return nil
		}
		added, removed := directory.MemberDiff(cur.Members, next.Members)
		if err := s.checkUsers(ctx, r, added); err != nil {
			return err
		}
		if _, err := r.exec(ctx,
			`UPDATE groups SET display_name = ?, display_name_fold = ?, external_id = ?, version = version + 1, updated_at = ?
			 WHERE id = ?`,
			next.DisplayName, directory.Fold(next.DisplayName), next.ExternalID, toMicros(now), id); err != nil {
			return s.wrapDir("update group", err)
		}
		if err := s.changeMembers(ctx, r, id, added, removed, now); err != nil {
			return err
		}
		out, err = s.dirGroup(ctx, r, id)
		return err
	})
	if err != nil {
		return directory.Group{}, err
	}
	return out, nil
}

// DeleteGroup deletes the group (its memberships go with it: ON DELETE
// CASCADE) and gives each member a new version.
func (s *Store) DeleteGroup(ctx context.Context, id string, ifVersion int64, now time.Time) error {
	return s.inTxRetry(ctx, func(r runner) error {
		v, err := s.lockGroup(ctx, r, id)
		if err != nil {
			return err
		}
		if err := directory.CheckVersion(ifVersion, v); err != nil {
			return err
		}
		if _, err := r.exec(ctx,
			`UPDATE users SET version = version + 1, updated_at = ?
			 WHERE id IN (SELECT user_id FROM group_members WHERE group_id = ?)`, toMicros(now), id); err != nil {
			return s.wrapDir("bump members of deleted group", err)
		}
		if _, err := r.exec(ctx, `DELETE FROM groups WHERE id = ?`, id); err != nil {
			return s.wrapDir("delete group", err)
		}
		return nil
	})
}

// ListGroups returns the groups q selects, ordered by creation time, then
// ID (byte order). The page is read in one statement; the total in
// another.
func (s *Store) ListGroups(ctx context.Context, q directory.Query) (directory.Page[directory.Group], error) {
	c, err := directory.CompileGroupFilter(q.Filter)
	if err != nil {
		return directory.Page[directory.Group]{}, fmt.Errorf("sqlstore: list groups: %w", err)
	}
	w, err := compileWhere(s.d, aliasGroup, c)
	if err != nil {
		return directory.Page[directory.Group]{}, fmt.Errorf("sqlstore: list groups: %w", err)
	}
	offset, limit := q.Window()
	var out directory.Page[directory.Group]
	r := s.pool()
	if out.Total, err = s.count(ctx, r, `SELECT COUNT(*) FROM groups g WHERE `+w.sql, w.args, w.simple); err != nil {
		return directory.Page[directory.Group]{}, s.wrapDir("count groups", err)
	}
	if limit == 0 || offset >= out.Total {
		return out, nil
	}
	page := `SELECT ` + groupCols("g") + ` FROM groups g WHERE ` + w.sql + `
		ORDER BY g.created_at, g.id` + s.d.binary() + ` LIMIT ? OFFSET ?`
	query := page
	if !q.WithoutMembers {
		query = `SELECT ` + groupCols("p") + `, m.user_id FROM (` + page + `) p
			LEFT JOIN group_members m ON m.group_id = p.id ORDER BY p.created_at, p.id` + s.d.binary()
	}
	rows, err := s.listQuery(ctx, r, query, append(w.args, limit, offset), w.simple)
	if err != nil {
		return directory.Page[directory.Group]{}, s.wrapDir("list groups", err)
	}
	if out.Items, err = scanGroups(rows, !q.WithoutMembers); err != nil {
		return directory.Page[directory.Group]{}, s.wrapDir("list groups", err)
	}
	return out, nil
}

// PatchGroupMembers removes, then adds members, in one transaction.
func (s *Store) PatchGroupMembers(ctx context.Context, groupID string, add, remove []string, ifVersion int64, now time.Time) (directory.Group, error) {
	if err := directory.CheckMemberPatch(add, remove); err != nil {
		return directory.Group{}, fmt.Errorf("sqlstore: patch group members: %w", err)
	}
	var out directory.Group
	err := s.inTxRetry(ctx, func(r runner) error {
		version, err := s.lockGroup(ctx, r, groupID)
		if err != nil {
			return err
		}
		if err := directory.CheckVersion(ifVersion, version); err != nil {
			return fmt.Errorf("sqlstore: patch group members: %w", err)
		}
		if err := s.checkUsers(ctx, r, add); err != nil {
			return err
		}
		// The memberships that can change: those of the IDs named.
		named := slices.Concat(add, remove)
		slices.Sort(named)
		named = slices.Compact(named)
		present := map[string]bool{}
		err = inChunks(named, func(part []string, ph string) error {
			rows, err := r.query(ctx, `SELECT user_id FROM group_members WHERE group_id = ? AND user_id IN (`+ph+`)`,
				stringArgs([]any{groupID}, part)...)
			if err != nil {
				return s.wrapDir("read members", err)
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return s.wrapDir("read members", err)
				}
				present[id] = true
			}
			if err := rows.Err(); err != nil {
				return s.wrapDir("read members", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		next := map[string]bool{}
		for id := range present {
			next[id] = true
		}
		for _, id := range remove {
			delete(next, id)
		}
		for _, id := range add {
			next[id] = true
		}
		var added, removed []string
		for _, id := range named {
			switch {
			case next[id] && !present[id]:
				added = append(added, id)
			case present[id] && !next[id]:
				removed = append(removed, id)
			}
		}
		if len(added)+len(removed) > 0 {
			var size int
			if err := r.queryRow(ctx, `SELECT COUNT(*) FROM group_members WHERE group_id = ?`, groupID).Scan(&size); err != nil {
				return s.wrapDir("count members", err)
			}
			if err := directory.CheckGroupSize(size, size-len(removed)+len(added)); err != nil {
				return fmt.Errorf("sqlstore: patch group members: %w", err)
			}
			if err := s.changeMembers(ctx, r, groupID, added, removed, now); err != nil {
				return err
			}
			if err := s.bumpGroup(ctx, r, groupID, now); err != nil {
				return err
			}
		}
		out, err = s.dirGroup(ctx, r, groupID)
		return err
	})
	if err != nil {
		return directory.Group{}, err
	}
	return out, nil
}

// setGroups makes the user a member of exactly the groups named (checked
// by store.GroupNames), found by display name ignoring case and created as
// needed, and reports whether its memberships changed. Each existing
// group that gains or loses the user gets a new version; the user's
// version is the caller's. Callers run it inside their transaction.
func (s *Store) setGroups(ctx context.Context, r runner, userID string, names []string, now time.Time) (bool, error) {
	target := map[string]bool{}
	created := map[string]bool{}
	t := toMicros(now)
	for _, name := range names {
		fresh := newID()
		if _, err := r.exec(ctx,
			`INSERT INTO groups (id, display_name, display_name_fold, external_id, version, created_at, updated_at)
			 VALUES (?, ?, ?, '', 1, ?, ?) ON CONFLICT (display_name_fold) DO NOTHING`,
			fresh, name, directory.Fold(name), t, t); err != nil {
			return false, s.wrap("create group", err)
		}
		var groupID string
		if err := r.queryRow(ctx, `SELECT id FROM groups WHERE display_name_fold = ?`, directory.Fold(name)).Scan(&groupID); err != nil {
			return false, s.wrap("find group", err)
		}
		target[groupID] = true
		created[groupID] = groupID == fresh
	}
	rows, err := r.query(ctx, `SELECT group_id FROM group_members WHERE user_id = ?`, userID)
	if err != nil {
		return false, s.wrap("read memberships", err)
	}
	current := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return false, s.wrap("read memberships", err)
		}
		current[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, s.wrap("read memberships", err)
	}
	changed := false
	for _, id := range sortedKeys(current) {
		if target[id] {
			continue
		}
		if _, err := r.exec(ctx, `DELETE FROM group_members WHERE group_id = ? AND user_id = ?`, id, userID); err != nil {
			return false, s.wrap("remove membership", err)
		}
		if err := s.bumpGroup(ctx, r, id, now); err != nil {
			return false, err
		}
		changed = true
	}
	for _, id := range sortedKeys(target) {
		if current[id] {
			continue
		}
		if _, err := r.exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, id, userID); err != nil {
			return false, s.wrap("add membership", err)
		}
		if !created[id] {
			if err := s.bumpGroup(ctx, r, id, now); err != nil {
				return false, err
			}
		}
		changed = true
	}
	return changed, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
