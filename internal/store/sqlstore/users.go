package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// CreateUser adds a user to the identity store and returns it. An empty
// u.ID gets a random 128-bit hex ID; u.Groups, when non-nil, are set as the
// user's memberships by display name (groups are found ignoring case and
// created as needed). A user_name equal to another one's ignoring case, or
// a duplicate ID, returns sp.ErrConflict. The user is created at the
// store's clock.
func (s *Store) CreateUser(ctx context.Context, u sp.User) (sp.User, error) {
	du, err := directory.PrepareUser(directory.UserFromSP(u))
	if err != nil {
		return sp.User{}, fmt.Errorf("sqlstore: create user: %w", err)
	}
	names, err := store.GroupNames(u.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("sqlstore: create user: %w", err)
	}
	if du.ID == "" {
		du.ID = newID()
	}
	now := s.now()
	var out sp.User
	err = s.inTxRetry(ctx, func(r runner) error {
		if err := s.insertDirUser(ctx, r, du, now, sp.ErrConflict); err != nil {
			return err
		}
		if u.Groups != nil {
			if _, err := s.setGroups(ctx, r, du.ID, names, now); err != nil {
				return err
			}
		}
		var err error
		out, err = s.getUser(ctx, r, du.ID)
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

// lookupExternalSQL reads the user linked to an external identity, with its
// groups (arguments: issuer, NameID).
var lookupExternalSQL = `SELECT ` + userCols("u") + `, g.id, g.display_name
	FROM users u LEFT JOIN group_members m ON m.user_id = u.id LEFT JOIN groups g ON g.id = m.group_id
	WHERE u.id = (SELECT user_id FROM external_identities WHERE issuer = ? AND name_id = ?)`

// LookupExternal returns the user linked to ext, or sp.ErrNotFound.
func (s *Store) LookupExternal(ctx context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	// One statement (one round trip at every sign-in): the link and the
	// user with its groups.
	rows, err := s.pool().query(ctx, lookupExternalSQL, ext.Issuer, ext.NameID)
	if err != nil {
		return sp.User{}, s.wrap("lookup identity", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return sp.User{}, s.wrap("lookup identity", err)
	}
	if len(users) == 0 {
		return sp.User{}, fmt.Errorf("sqlstore: lookup identity: %w", sp.ErrNotFound)
	}
	return directory.SPUser(users[0]), nil
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
// transaction. A user_name already taken by another user (ignoring case)
// returns sp.ErrConflict: provisioning never takes over an existing
// account. An existing user's Active flag is left as it is.
func (s *Store) ProvisionExternal(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	u, err := s.provisionExternal(ctx, ext, attrs, now)
	return u, store.InvalidAttributes(err)
}

func (s *Store) provisionExternal(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	if ext.Issuer == "" || ext.NameID == "" {
		return sp.User{}, errors.New("sqlstore: provision: empty issuer or NameID")
	}
	names, err := store.GroupNames(attrs.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("sqlstore: provision: %w", err)
	}
	u, err := s.provisionOnce(ctx, ext, attrs, names, now)
	if errors.Is(err, sp.ErrConflict) {
		// A concurrent provisioning of the same identity may have won the
		// race; a second attempt then finds the link and updates.
		u, err = s.provisionOnce(ctx, ext, attrs, names, now)
	}
	return u, err
}

func (s *Store) provisionOnce(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, names []string, now time.Time) (sp.User, error) {
	var out sp.User
	err := s.inTxRetry(ctx, func(r runner) error {
		userID, err := s.linkedUserID(ctx, r, ext)
		switch {
		case err == nil:
			if err := s.updateAttributes(ctx, r, userID, attrs, names, now); err != nil {
				return err
			}
		case errors.Is(err, sp.ErrNotFound):
			u, err := directory.PrepareUser(directory.User{UserName: ext.NameID, Email: attrs.Email, DisplayName: attrs.DisplayName, Active: true})
			if err != nil {
				return fmt.Errorf("sqlstore: provision: %w", err)
			}
			userID = newID()
			u.ID = userID
			if err := s.insertDirUser(ctx, r, u, now, sp.ErrConflict); err != nil {
				return err
			}
			if err := s.insertLink(ctx, r, ext, userID, now); err != nil {
				return err
			}
			if attrs.Groups != nil {
				if _, err := s.setGroups(ctx, r, userID, names, now); err != nil {
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

// UpdateAttributes sets the user's primary e-mail address (see
// directory.User.SetPrimaryEmail) and display name and, when attrs.Groups
// is non-nil, replaces its group memberships, in one transaction. The
// user's version changes only when something does. An unknown userID
// returns sp.ErrNotFound.
func (s *Store) UpdateAttributes(ctx context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	u, err := s.updateAttributesOnce(ctx, userID, attrs, now)
	return u, store.InvalidAttributes(err)
}

func (s *Store) updateAttributesOnce(ctx context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	names, err := store.GroupNames(attrs.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("sqlstore: update user: %w", err)
	}
	var out sp.User
	err = s.inTxRetry(ctx, func(r runner) error {
		if err := s.updateAttributes(ctx, r, userID, attrs, names, now); err != nil {
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

// updateAttributes applies sign-in attributes (names: attrs.Groups
// checked by store.GroupNames) to the locked user, giving it one new version
// when anything changes. Callers run it inside their transaction.
func (s *Store) updateAttributes(ctx context.Context, r runner, userID string, attrs sp.UserAttributes, names []string, now time.Time) error {
	cur, err := s.lockedDirUser(ctx, r, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("sqlstore: update user: %w", sp.ErrNotFound)
	}
	if err != nil {
		return err
	}
	next, changed, err := directory.ApplyUserUpdate(cur, func(u *directory.User) error {
		u.DisplayName = attrs.DisplayName
		u.SetPrimaryEmail(attrs.Email)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: update user: %w", err)
	}
	groupsChanged := false
	if attrs.Groups != nil {
		if groupsChanged, err = s.setGroups(ctx, r, userID, names, now); err != nil {
			return err
		}
	}
	switch {
	case changed:
		return s.writeDirUser(ctx, r, cur, next, now, sp.ErrConflict)
	case groupsChanged:
		return s.bumpUsers(ctx, r, []string{userID}, now)
	}
	return nil
}

// getUser returns the sp.User projection of the user (groups sorted in
// Go, so the order does not depend on the database's collation), or
// sp.ErrNotFound.
func (s *Store) getUser(ctx context.Context, q runner, id string) (sp.User, error) {
	u, err := s.dirUser(ctx, q, id)
	if errors.Is(err, directory.ErrNotFound) {
		return sp.User{}, fmt.Errorf("sqlstore: get user: %w", sp.ErrNotFound)
	}
	if err != nil {
		return sp.User{}, err
	}
	return directory.SPUser(u), nil
}
