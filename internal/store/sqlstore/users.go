package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// CreateUser adds a user to the identity store and returns it. An empty
// u.ID gets a random 128-bit hex ID; u.Groups, when non-nil, are set as the
// user's memberships by display name (groups are created as needed). A
// duplicate user_name or ID returns sp.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u sp.User) (sp.User, error) {
	if u.UserName == "" {
		return sp.User{}, errors.New("sqlstore: create user: empty user_name")
	}
	if u.ID == "" {
		u.ID = newID()
	}
	now := s.now()
	var out sp.User
	err := s.inTx(ctx, func(r runner) error {
		if err := s.insertUser(ctx, r, u, now); err != nil {
			return err
		}
		if u.Groups != nil {
			if err := s.setGroups(ctx, r, u.ID, u.Groups, now); err != nil {
				return err
			}
		}
		var err error
		out, err = s.getUser(ctx, r, u.ID)
		return err
	})
	if err != nil {
		return sp.User{}, err
	}
	return out, nil
}

// GetUser returns the user by ID, or sp.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (sp.User, error) {
	return s.getUser(ctx, s.pool(), id)
}

// LookupExternal returns the user linked to ext, or sp.ErrNotFound.
func (s *Store) LookupExternal(ctx context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	id, err := s.linkedUserID(ctx, s.pool(), ext)
	if err != nil {
		return sp.User{}, err
	}
	return s.getUser(ctx, s.pool(), id)
}

// LinkByUserName links ext to the user whose user_name equals ext.NameID.
// It returns sp.ErrNotFound when there is no such user, and sp.ErrConflict
// when ext is already linked to a different user or that user is already
// linked to another identity of ext.Issuer. Linking an identity that is
// already linked to that very user succeeds.
func (s *Store) LinkByUserName(ctx context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	var out sp.User
	err := s.inTx(ctx, func(r runner) error {
		var userID string
		err := r.queryRow(ctx, `SELECT id FROM users WHERE user_name = ?`, ext.NameID).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: link by user name: %w", sp.ErrNotFound)
		}
		if err != nil {
			return s.wrap("link by user name", err)
		}
		linked, err := s.linkedUserID(ctx, r, ext)
		switch {
		case err == nil && linked != userID:
			return fmt.Errorf("sqlstore: link by user name: identity linked to another user: %w", sp.ErrConflict)
		case errors.Is(err, sp.ErrNotFound):
			if err := s.insertLink(ctx, r, ext, userID, s.now()); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		out, err = s.getUser(ctx, r, userID)
		return err
	})
	if errors.Is(err, sp.ErrConflict) {
		// A concurrent caller may have just made the same link, which
		// PostgreSQL reports as a unique violation: that is success.
		if u, lerr := s.LookupExternal(ctx, ext); lerr == nil && u.UserName == ext.NameID {
			return u, nil
		}
	}
	if err != nil {
		return sp.User{}, err
	}
	return out, nil
}

// ProvisionExternal creates the user for ext (user_name = ext.NameID,
// active) and links it, or updates the user already linked to ext, in one
// transaction. A user_name already taken by another user returns
// sp.ErrConflict: provisioning never takes over an existing account. An
// existing user's Active flag is left as it is.
func (s *Store) ProvisionExternal(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	if ext.Issuer == "" || ext.NameID == "" {
		return sp.User{}, errors.New("sqlstore: provision: empty issuer or NameID")
	}
	u, err := s.provisionOnce(ctx, ext, attrs, now)
	if errors.Is(err, sp.ErrConflict) {
		// A concurrent provisioning of the same identity may have won the
		// race; a second attempt then finds the link and updates.
		u, err = s.provisionOnce(ctx, ext, attrs, now)
	}
	return u, err
}

func (s *Store) provisionOnce(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	var out sp.User
	err := s.inTx(ctx, func(r runner) error {
		userID, err := s.linkedUserID(ctx, r, ext)
		switch {
		case err == nil:
			if err := s.updateAttributes(ctx, r, userID, attrs, now); err != nil {
				return err
			}
		case errors.Is(err, sp.ErrNotFound):
			userID = newID()
			u := sp.User{ID: userID, UserName: ext.NameID, Email: attrs.Email, DisplayName: attrs.DisplayName, Active: true}
			if err := s.insertUser(ctx, r, u, now); err != nil {
				return err
			}
			if err := s.insertLink(ctx, r, ext, userID, now); err != nil {
				return err
			}
			if attrs.Groups != nil {
				if err := s.setGroups(ctx, r, userID, attrs.Groups, now); err != nil {
					return err
				}
			}
		default:
			return err
		}
		out, err = s.getUser(ctx, r, userID)
		return err
	})
	if err != nil {
		return sp.User{}, err
	}
	return out, nil
}

// UpdateAttributes sets the user's e-mail address and display name and,
// when attrs.Groups is non-nil, replaces its group memberships, in one
// transaction. An unknown userID returns sp.ErrNotFound.
func (s *Store) UpdateAttributes(ctx context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	var out sp.User
	err := s.inTx(ctx, func(r runner) error {
		if err := s.updateAttributes(ctx, r, userID, attrs, now); err != nil {
			return err
		}
		var err error
		out, err = s.getUser(ctx, r, userID)
		return err
	})
	if err != nil {
		return sp.User{}, err
	}
	return out, nil
}

func (s *Store) insertUser(ctx context.Context, q runner, u sp.User, now time.Time) error {
	_, err := q.exec(ctx,
		`INSERT INTO users (id, user_name, email, display_name, active, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.UserName, u.Email, u.DisplayName, u.Active, toMicros(now), toMicros(now))
	if err != nil {
		return s.wrap("insert user", err)
	}
	return nil
}

func (s *Store) insertLink(ctx context.Context, q runner, ext sp.ExternalIdentity, userID string, now time.Time) error {
	_, err := q.exec(ctx,
		`INSERT INTO external_identities (issuer, name_id, user_id, created_at) VALUES (?, ?, ?, ?)`,
		ext.Issuer, ext.NameID, userID, toMicros(now))
	if err != nil {
		return s.wrap("link identity", err)
	}
	return nil
}

func (s *Store) linkedUserID(ctx context.Context, q runner, ext sp.ExternalIdentity) (string, error) {
	var id string
	err := q.queryRow(ctx,
		`SELECT user_id FROM external_identities WHERE issuer = ? AND name_id = ?`,
		ext.Issuer, ext.NameID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlstore: lookup identity: %w", sp.ErrNotFound)
	}
	if err != nil {
		return "", s.wrap("lookup identity", err)
	}
	return id, nil
}

func (s *Store) updateAttributes(ctx context.Context, q runner, userID string, attrs sp.UserAttributes, now time.Time) error {
	res, err := q.exec(ctx,
		`UPDATE users SET email = ?, display_name = ?, updated_at = ? WHERE id = ?`,
		attrs.Email, attrs.DisplayName, toMicros(now), userID)
	if err != nil {
		return s.wrap("update user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap("update user", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: update user: %w", sp.ErrNotFound)
	}
	if attrs.Groups != nil {
		return s.setGroups(ctx, q, userID, attrs.Groups, now)
	}
	return nil
}

// setGroups replaces the user's memberships with the groups named (by
// display name; duplicates and empty names are ignored), creating missing
// groups. Callers run it inside their transaction.
func (s *Store) setGroups(ctx context.Context, q runner, userID string, names []string, now time.Time) error {
	if _, err := q.exec(ctx, `DELETE FROM group_members WHERE user_id = ?`, userID); err != nil {
		return s.wrap("clear memberships", err)
	}
	for _, name := range store.NormalizeGroups(names) {
		if _, err := q.exec(ctx,
			`INSERT INTO groups (id, display_name, created_at) VALUES (?, ?, ?)
			 ON CONFLICT (display_name) DO NOTHING`,
			newID(), name, toMicros(now)); err != nil {
			return s.wrap("create group", err)
		}
		var groupID string
		if err := q.queryRow(ctx, `SELECT id FROM groups WHERE display_name = ?`, name).Scan(&groupID); err != nil {
			return s.wrap("find group", err)
		}
		if _, err := q.exec(ctx,
			`INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, groupID, userID); err != nil {
			return s.wrap("add membership", err)
		}
	}
	return nil
}

// getUser returns the user with its group display names sorted (in Go, so
// the order does not depend on the database's collation), or
// sp.ErrNotFound.
func (s *Store) getUser(ctx context.Context, q runner, id string) (sp.User, error) {
	var u sp.User
	err := q.queryRow(ctx,
		`SELECT id, user_name, email, display_name, active FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.UserName, &u.Email, &u.DisplayName, &u.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return sp.User{}, fmt.Errorf("sqlstore: get user: %w", sp.ErrNotFound)
	}
	if err != nil {
		return sp.User{}, s.wrap("get user", err)
	}
	rows, err := q.query(ctx,
		`SELECT g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ?`, id)
	if err != nil {
		return sp.User{}, s.wrap("get user groups", err)
	}
	defer rows.Close()
	u.Groups = []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return sp.User{}, s.wrap("get user groups", err)
		}
		u.Groups = append(u.Groups, name)
	}
	if err := rows.Err(); err != nil {
		return sp.User{}, s.wrap("get user groups", err)
	}
	slices.Sort(u.Groups)
	return u, nil
}
