package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// The directory methods keep every write in one transaction (inTxRetry).
// On PostgreSQL a write first locks the row it changes (SELECT ... FOR
// UPDATE), so concurrent writes of one resource run one after the other;
// writes that touch users and groups in different orders can deadlock,
// which PostgreSQL resolves by failing one, and inTxRetry runs that one
// again. On SQLite every transaction holds the write lock from BEGIN.

func dirNotFound(op string) error {
	return fmt.Errorf("sqlstore: %s: %w", op, directory.ErrNotFound)
}

// dirUser reads the user with its groups in one statement (one snapshot),
// or returns directory.ErrNotFound.
func (s *Store) dirUser(ctx context.Context, r runner, id string) (directory.User, error) {
	rows, err := r.query(ctx, `SELECT `+userCols("u")+`, g.id, g.display_name
		FROM users u LEFT JOIN group_members m ON m.user_id = u.id LEFT JOIN groups g ON g.id = m.group_id
		WHERE u.id = ?`, id)
	if err != nil {
		return directory.User{}, s.wrapDir("read user", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return directory.User{}, s.wrapDir("read user", err)
	}
	if len(users) == 0 {
		return directory.User{}, dirNotFound("read user")
	}
	return users[0], nil
}

// lockUser locks the user's row until r's transaction ends (PostgreSQL;
// SQLite holds the write lock already) and returns directory.ErrNotFound
// when there is none.
func (s *Store) lockUser(ctx context.Context, r runner, id string) error {
	_, err := s.lockUserVersion(ctx, r, id)
	return err
}

// lockUserVersion is lockUser returning the user's version.
func (s *Store) lockUserVersion(ctx context.Context, r runner, id string) (int64, error) {
	var v int64
	err := r.queryRow(ctx, `SELECT version FROM users WHERE id = ?`+s.d.forUpdate(), id).Scan(&v)
	if errNoRows(err) {
		return 0, dirNotFound("lock user")
	}
	if err != nil {
		return 0, s.wrapDir("lock user", err)
	}
	return v, nil
}

// lockedDirUser locks the user and reads it.
func (s *Store) lockedDirUser(ctx context.Context, r runner, id string) (directory.User, error) {
	if err := s.lockUser(ctx, r, id); err != nil {
		return directory.User{}, err
	}
	return s.dirUser(ctx, r, id)
}

// insertDirUser inserts u, prepared by directory.PrepareUser and with its
// ID set, as version 1 created at now; a uniqueness violation (ID,
// user_name) wraps conflict.
func (s *Store) insertDirUser(ctx context.Context, r runner, u directory.User, now time.Time, conflict error) error {
	t := toMicros(now)
	_, err := r.exec(ctx,
		`INSERT INTO users (id, user_name, user_name_fold, email, display_name, display_name_fold, external_id,
			given_name, given_name_fold, family_name, family_name_fold, emails, attributes, active, version,
			created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
		u.ID, u.UserName, directory.Fold(u.UserName), u.Email, u.DisplayName, directory.Fold(u.DisplayName), u.ExternalID,
		u.GivenName, directory.Fold(u.GivenName), u.FamilyName, directory.Fold(u.FamilyName),
		encodeEmails(u.Emails), encodeAttributes(u.Attributes), u.Active, t, t)
	if err != nil {
		return s.wrapAs("insert user", err, conflict)
	}
	return s.insertEmails(ctx, r, u.ID, u.Emails)
}

// insertEmails writes the user_emails rows of the addresses.
func (s *Store) insertEmails(ctx context.Context, r runner, userID string, emails []directory.Email) error {
	for i, e := range emails {
		if _, err := r.exec(ctx,
			`INSERT INTO user_emails (user_id, ord, value_fold, type_fold, is_primary) VALUES (?, ?, ?, ?, ?)`,
			userID, i, directory.Fold(e.Value), directory.Fold(e.Type), e.Primary); err != nil {
			return s.wrapDir("insert user e-mail", err)
		}
	}
	return nil
}

// writeDirUser stores next, a changed copy of the locked user cur from
// directory.ApplyUserUpdate, with the next version; a userName taken
// ignoring case wraps conflict. Deactivation deletes the user's sessions
// and revokes its refresh tokens in the same transaction.
func (s *Store) writeDirUser(ctx context.Context, r runner, cur, next directory.User, now time.Time, conflict error) error {
	res, err := r.exec(ctx,
		`UPDATE users SET user_name = ?, user_name_fold = ?, email = ?, display_name = ?, display_name_fold = ?,
			external_id = ?, given_name = ?, given_name_fold = ?, family_name = ?, family_name_fold = ?,
			emails = ?, attributes = ?, active = ?, version = ?, updated_at = ?
		 WHERE id = ? AND version = ?`,
		next.UserName, directory.Fold(next.UserName), next.Email, next.DisplayName, directory.Fold(next.DisplayName),
		next.ExternalID, next.GivenName, directory.Fold(next.GivenName), next.FamilyName, directory.Fold(next.FamilyName),
		encodeEmails(next.Emails), encodeAttributes(next.Attributes), next.Active, cur.Version+1, toMicros(now),
		cur.ID, cur.Version)
	if err != nil {
		return s.wrapAs("update user", err, conflict)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrapDir("update user", err)
	}
	if n != 1 {
		// The row is locked, so this means a bug rather than a race;
		// refuse rather than overwrite.
		return fmt.Errorf("sqlstore: update user: %w", directory.ErrPreconditionFailed)
	}
	if !slices.Equal(cur.Emails, next.Emails) {
		if _, err := r.exec(ctx, `DELETE FROM user_emails WHERE user_id = ?`, cur.ID); err != nil {
			return s.wrapDir("replace user e-mails", err)
		}
		if err := s.insertEmails(ctx, r, cur.ID, next.Emails); err != nil {
			return err
		}
	}
	if cur.Active && !next.Active {
		return s.endAccess(ctx, r, cur.ID, now)
	}
	return nil
}

// endAccess deletes the user's sessions and revokes its refresh tokens
// (as RevokeUserRefreshTokens does, at now).
func (s *Store) endAccess(ctx context.Context, r runner, userID string, now time.Time) error {
	if _, err := r.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return s.wrapDir("delete user sessions", err)
	}
	if _, err := r.exec(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		toMicros(now), userID); err != nil {
		return s.wrapDir("revoke user refresh tokens", err)
	}
	return nil
}

// bumpUsers gives each user a new version, updated at now.
func (s *Store) bumpUsers(ctx context.Context, r runner, ids []string, now time.Time) error {
	return inChunks(ids, func(part []string, ph string) error {
		if _, err := r.exec(ctx, `UPDATE users SET version = version + 1, updated_at = ? WHERE id IN (`+ph+`)`,
			stringArgs([]any{toMicros(now)}, part)...); err != nil {
			return s.wrapDir("bump user versions", err)
		}
		return nil
	})
}

// bumpGroup gives the group a new version, updated at now.
func (s *Store) bumpGroup(ctx context.Context, r runner, id string, now time.Time) error {
	if _, err := r.exec(ctx, `UPDATE groups SET version = version + 1, updated_at = ? WHERE id = ?`, toMicros(now), id); err != nil {
		return s.wrapDir("bump group version", err)
	}
	return nil
}

// CreateDirectoryUser adds u as a new user with version 1, created at now.
func (s *Store) CreateDirectoryUser(ctx context.Context, u directory.User, now time.Time) (directory.User, error) {
	p, err := directory.PrepareUser(u)
	if err != nil {
		return directory.User{}, fmt.Errorf("sqlstore: create directory user: %w", err)
	}
	if p.ID == "" {
		p.ID = newID()
	}
	var out directory.User
	err = s.inTxRetry(ctx, func(r runner) error {
		if err := s.insertDirUser(ctx, r, p, now, directory.ErrConflict); err != nil {
			return err
		}
		var err error
		out, err = s.dirUser(ctx, r, p.ID)
		return err
	})
	if err != nil {
		return directory.User{}, err
	}
	return out, nil
}

// DirectoryUser returns the user, or directory.ErrNotFound.
func (s *Store) DirectoryUser(ctx context.Context, id string) (directory.User, error) {
	return s.dirUser(ctx, s.pool(), id)
}

// ReplaceDirectoryUser replaces the writable fields of the user u.ID.
func (s *Store) ReplaceDirectoryUser(ctx context.Context, u directory.User, ifVersion int64, now time.Time) (directory.User, error) {
	return s.UpdateDirectoryUser(ctx, u.ID, ifVersion, directory.ReplaceUserFields(u), now)
}

// UpdateDirectoryUser locks and reads the user, runs fn on a copy and
// writes the result, in one transaction. fn must not use the store: it
// runs while the transaction holds a connection and the user's lock.
func (s *Store) UpdateDirectoryUser(ctx context.Context, id string, ifVersion int64, fn func(*directory.User) error, now time.Time) (directory.User, error) {
	var out directory.User
	err := s.inTxRetry(ctx, func(r runner) error {
		cur, err := s.lockedDirUser(ctx, r, id)
		if err != nil {
			return err
		}
		if err := directory.CheckVersion(ifVersion, cur.Version); err != nil {
			return fmt.Errorf("sqlstore: update directory user: %w", err)
		}
		next, changed, err := directory.ApplyUserUpdate(cur, fn)
		if err != nil {
			return fmt.Errorf("sqlstore: update directory user: %w", err)
		}
		if !changed {
			out = cur
			return nil
		}
		if err := s.writeDirUser(ctx, r, cur, next, now, directory.ErrConflict); err != nil {
			return err
		}
		out, err = s.dirUser(ctx, r, id)
		return err
	})
	if err != nil {
		return directory.User{}, err
	}
	return out, nil
}

// DeleteDirectoryUser deletes the user (its e-mail rows, memberships and
// identity links go with it: ON DELETE CASCADE) and its sessions, revokes
// its refresh tokens and gives each of its groups a new version.
func (s *Store) DeleteDirectoryUser(ctx context.Context, id string, ifVersion int64, now time.Time) error {
	return s.inTxRetry(ctx, func(r runner) error {
		// Groups before the user, in ID order, as membership changes
		// lock them, so the two queue rather than deadlock.
		rows, err := r.query(ctx, `SELECT id FROM groups
			WHERE id IN (SELECT group_id FROM group_members WHERE user_id = ?) ORDER BY id`+s.d.forUpdate(), id)
		if err != nil {
			return s.wrapDir("lock groups of deleted user", err)
		}
		for rows.Next() { // every row read: every row locked
		}
		if err := rows.Err(); err != nil {
			return s.wrapDir("lock groups of deleted user", err)
		}
		rows.Close()
		v, err := s.lockUserVersion(ctx, r, id)
		if err != nil {
			return err
		}
		if err := directory.CheckVersion(ifVersion, v); err != nil {
			return err
		}
		if _, err := r.exec(ctx,
			`UPDATE groups SET version = version + 1, updated_at = ?
			 WHERE id IN (SELECT group_id FROM group_members WHERE user_id = ?)`, toMicros(now), id); err != nil {
			return s.wrapDir("bump groups of deleted user", err)
		}
		if err := s.endAccess(ctx, r, id, now); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return s.wrapDir("delete user", err)
		}
		return nil
	})
}

// ListDirectoryUsers returns the users q selects, ordered by creation
// time, then ID (byte order). The page is read in one statement; the
// total in another.
func (s *Store) ListDirectoryUsers(ctx context.Context, q directory.Query) (directory.Page[directory.User], error) {
	c, err := directory.CompileUserFilter(q.Filter)
	if err != nil {
		return directory.Page[directory.User]{}, fmt.Errorf("sqlstore: list directory users: %w", err)
	}
	countSQL, listSQL, args, simple, err := s.userListSQL(c)
	if err != nil {
		return directory.Page[directory.User]{}, fmt.Errorf("sqlstore: list directory users: %w", err)
	}
	offset, limit := q.Window()
	var out directory.Page[directory.User]
	r := s.pool()
	if out.Total, err = s.count(ctx, r, countSQL, args, simple); err != nil {
		return directory.Page[directory.User]{}, s.wrapDir("count directory users", err)
	}
	if limit == 0 || offset >= out.Total {
		return out, nil
	}
	rows, err := s.listQuery(ctx, r, listSQL, append(args, limit, offset), simple)
	if err != nil {
		return directory.Page[directory.User]{}, s.wrapDir("list directory users", err)
	}
	if out.Items, err = scanUsers(rows); err != nil {
		return directory.Page[directory.User]{}, s.wrapDir("list directory users", err)
	}
	return out, nil
}

// userListSQL returns the count and page queries for a compiled user
// filter (the page query takes LIMIT and OFFSET after args) and whether
// they may be cached.
func (s *Store) userListSQL(c directory.Cond) (countSQL, listSQL string, args []any, simple bool, err error) {
	w, err := compileWhere(s.d, aliasUser, c)
	if err != nil {
		return "", "", nil, false, err
	}
	countSQL = `SELECT COUNT(*) FROM users u WHERE ` + w.sql
	listSQL = `SELECT ` + userCols("p") + `, g.id, g.display_name
		FROM (SELECT ` + userCols("u") + ` FROM users u WHERE ` + w.sql + `
			ORDER BY u.created_at, u.id` + s.d.binary() + ` LIMIT ? OFFSET ?) p
		LEFT JOIN group_members m ON m.user_id = p.id LEFT JOIN groups g ON g.id = m.group_id
		ORDER BY p.created_at, p.id` + s.d.binary()
	return countSQL, listSQL, w.args, w.simple, nil
}

func (s *Store) count(ctx context.Context, r runner, query string, args []any, cached bool) (int, error) {
	rows, err := s.listQuery(ctx, r, query, args, cached)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("count returned no row")
	}
	if err := rows.Scan(&n); err != nil {
		return 0, err
	}
	return n, rows.Close()
}

// listQuery runs a list query through the statement cache when cached is
// set, else uncached (see runner.queryDirect).
func (s *Store) listQuery(ctx context.Context, r runner, query string, args []any, cached bool) (*sql.Rows, error) {
	if cached {
		return r.query(ctx, query, args...)
	}
	return r.queryDirect(ctx, query, args...)
}
