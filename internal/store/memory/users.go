package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// CreateUser adds a user and returns it. An empty u.ID gets a random
// 128-bit hex ID; u.Groups, when non-nil, become its memberships (groups
// found by display name ignoring case, created as needed). A user_name
// equal to another one's ignoring case, or a duplicate ID, returns
// sp.ErrConflict. The user is created at the store's clock.
func (s *Store) CreateUser(_ context.Context, u sp.User) (sp.User, error) {
	du, err := directory.PrepareUser(directory.UserFromSP(u))
	if err != nil {
		return sp.User{}, fmt.Errorf("memory: create user: %w", err)
	}
	names, err := store.GroupNames(u.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("memory: create user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	id, err := s.insertUserLocked(du, now, sp.ErrConflict)
	if err != nil {
		return sp.User{}, err
	}
	if u.Groups != nil {
		s.setGroupsLocked(id, names, now)
	}
	return s.getLocked(id)
}

// GetUser returns the user by ID, or sp.ErrNotFound.
func (s *Store) GetUser(_ context.Context, id string) (sp.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(id)
}

// LookupExternal returns the user linked to ext, or sp.ErrNotFound.
func (s *Store) LookupExternal(_ context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.links[ext]
	if !ok {
		return sp.User{}, fmt.Errorf("memory: lookup identity: %w", sp.ErrNotFound)
	}
	return s.getLocked(id)
}

// userByNameLocked returns the ID of the user whose user_name equals name
// exactly.
func (s *Store) userByNameLocked(name string) (string, bool) {
	id, ok := s.dir.userFold[directory.Fold(name)]
	if !ok || s.dir.users[id].UserName != name {
		return "", false
	}
	return id, true
}

// LinkByUserName links ext to the user whose user_name equals ext.NameID
// exactly: sp.ErrNotFound when there is none, sp.ErrConflict when ext is
// linked to another user or the user already has an identity of
// ext.Issuer. Linking an identity already linked to that user succeeds.
func (s *Store) LinkByUserName(_ context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.userByNameLocked(ext.NameID)
	if !ok {
		return sp.User{}, fmt.Errorf("memory: link by user name: %w", sp.ErrNotFound)
	}
	if linked, ok := s.links[ext]; ok {
		if linked != id {
			return sp.User{}, fmt.Errorf("memory: link by user name: identity linked to another user: %w", sp.ErrConflict)
		}
		return s.getLocked(id)
	}
	if err := s.linkLocked(ext, id); err != nil {
		return sp.User{}, err
	}
	return s.getLocked(id)
}

// ProvisionExternal creates and links the user for ext (user_name =
// ext.NameID, active), or updates the user already linked to ext. A
// user_name taken by another user (ignoring case) returns sp.ErrConflict.
// An existing user's Active flag is left as it is.
func (s *Store) ProvisionExternal(ctx context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	u, err := s.provisionExternal(ctx, ext, attrs, now)
	return u, store.InvalidAttributes(err)
}

func (s *Store) provisionExternal(_ context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	if ext.Issuer == "" || ext.NameID == "" {
		return sp.User{}, errors.New("memory: provision: empty issuer or NameID")
	}
	names, err := store.GroupNames(attrs.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("memory: provision: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.links[ext]; ok {
		if err := s.updateLocked(id, attrs, names, now); err != nil {
			return sp.User{}, err
		}
		return s.getLocked(id)
	}
	du, err := directory.PrepareUser(directory.User{UserName: ext.NameID, Email: attrs.Email, DisplayName: attrs.DisplayName, Active: true})
	if err != nil {
		return sp.User{}, fmt.Errorf("memory: provision: %w", err)
	}
	id, err := s.insertUserLocked(du, now, sp.ErrConflict)
	if err != nil {
		return sp.User{}, err
	}
	// Cannot fail: ext is not linked and the user is new.
	if err := s.linkLocked(ext, id); err != nil {
		return sp.User{}, err
	}
	if attrs.Groups != nil {
		s.setGroupsLocked(id, names, now)
	}
	return s.getLocked(id)
}

// UpdateAttributes sets the user's primary e-mail address (see
// directory.User.SetPrimaryEmail) and display name and, when attrs.Groups
// is non-nil, replaces its groups. The version changes only when
// something does. An unknown userID returns sp.ErrNotFound.
func (s *Store) UpdateAttributes(ctx context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	u, err := s.updateAttributesOnce(ctx, userID, attrs, now)
	return u, store.InvalidAttributes(err)
}

func (s *Store) updateAttributesOnce(_ context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	names, err := store.GroupNames(attrs.Groups)
	if err != nil {
		return sp.User{}, fmt.Errorf("memory: update user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.updateLocked(userID, attrs, names, now); err != nil {
		return sp.User{}, err
	}
	return s.getLocked(userID)
}

// updateLocked applies sign-in attributes (names: attrs.Groups checked by
// store.GroupNames) to the user, bumping its version once when anything
// changes.
func (s *Store) updateLocked(id string, attrs sp.UserAttributes, names []string, now time.Time) error {
	cur, ok := s.userLocked(id)
	if !ok {
		return fmt.Errorf("memory: update user: %w", sp.ErrNotFound)
	}
	next, changed, err := directory.ApplyUserUpdate(cur, func(u *directory.User) error {
		u.DisplayName = attrs.DisplayName
		u.SetPrimaryEmail(attrs.Email)
		return nil
	})
	if err != nil {
		return fmt.Errorf("memory: update user: %w", err)
	}
	if changed {
		s.writeUserLocked(cur, next, now)
	}
	if attrs.Groups != nil && s.setGroupsLocked(id, names, now) && !changed {
		s.bumpUserLocked(id, now)
	}
	return nil
}

func (s *Store) linkLocked(ext sp.ExternalIdentity, id string) error {
	if _, ok := s.links[ext]; ok {
		return fmt.Errorf("memory: link identity: %w", sp.ErrConflict)
	}
	if s.linkedIssuers[id][ext.Issuer] {
		return fmt.Errorf("memory: link identity: user already linked for issuer: %w", sp.ErrConflict)
	}
	s.links[ext] = id
	if s.linkedIssuers[id] == nil {
		s.linkedIssuers[id] = map[string]bool{}
	}
	s.linkedIssuers[id][ext.Issuer] = true
	return nil
}

// getLocked returns the sp.User projection of the user (a copy).
func (s *Store) getLocked(id string) (sp.User, error) {
	u, ok := s.userLocked(id)
	if !ok {
		return sp.User{}, fmt.Errorf("memory: get user: %w", sp.ErrNotFound)
	}
	return directory.SPUser(u), nil
}
