package memory

import (
	"github.com/gatehouse-dev/gatehouse/internal/store"

	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// CreateUser adds a user and returns it. An empty u.ID gets a random
// 128-bit hex ID; u.Groups, when non-nil, become its memberships. A
// duplicate user_name or ID returns sp.ErrConflict.
func (s *Store) CreateUser(_ context.Context, u sp.User) (sp.User, error) {
	if u.UserName == "" {
		return sp.User{}, errors.New("memory: create user: empty user_name")
	}
	if u.ID == "" {
		u.ID = newID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.insertLocked(u); err != nil {
		return sp.User{}, err
	}
	return s.getLocked(u.ID)
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

// LinkByUserName links ext to the user whose user_name equals ext.NameID:
// sp.ErrNotFound when there is none, sp.ErrConflict when ext is linked to
// another user or the user already has an identity of ext.Issuer. Linking
// an identity already linked to that user succeeds.
func (s *Store) LinkByUserName(_ context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[ext.NameID]
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
// user_name taken by another user returns sp.ErrConflict. An existing
// user's Active flag is left as it is.
func (s *Store) ProvisionExternal(_ context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	if ext.Issuer == "" || ext.NameID == "" {
		return sp.User{}, errors.New("memory: provision: empty issuer or NameID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.links[ext]; ok {
		if err := s.updateLocked(id, attrs); err != nil {
			return sp.User{}, err
		}
		return s.getLocked(id)
	}
	u := sp.User{ID: newID(), UserName: ext.NameID, Email: attrs.Email, DisplayName: attrs.DisplayName, Groups: attrs.Groups, Active: true}
	if err := s.insertLocked(u); err != nil {
		return sp.User{}, err
	}
	if err := s.linkLocked(ext, u.ID); err != nil {
		// Cannot happen for a brand-new user; undo to stay consistent.
		s.deleteLocked(u.ID)
		return sp.User{}, err
	}
	return s.getLocked(u.ID)
}

// UpdateAttributes sets the user's e-mail address and display name and,
// when attrs.Groups is non-nil, replaces its groups. An unknown userID
// returns sp.ErrNotFound.
func (s *Store) UpdateAttributes(_ context.Context, userID string, attrs sp.UserAttributes, now time.Time) (sp.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.updateLocked(userID, attrs); err != nil {
		return sp.User{}, err
	}
	return s.getLocked(userID)
}

func (s *Store) insertLocked(u sp.User) error {
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: insert user: duplicate ID: %w", sp.ErrConflict)
	}
	if _, ok := s.byName[u.UserName]; ok {
		return fmt.Errorf("memory: insert user: duplicate user_name: %w", sp.ErrConflict)
	}
	groups := []string{}
	if u.Groups != nil {
		groups = store.NormalizeGroups(u.Groups)
	}
	u.Groups = groups
	s.users[u.ID] = &u
	s.byName[u.UserName] = u.ID
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

func (s *Store) deleteLocked(id string) {
	if u, ok := s.users[id]; ok {
		delete(s.byName, u.UserName)
		delete(s.users, id)
	}
}

func (s *Store) updateLocked(id string, attrs sp.UserAttributes) error {
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: update user: %w", sp.ErrNotFound)
	}
	u.Email = attrs.Email
	u.DisplayName = attrs.DisplayName
	if attrs.Groups != nil {
		u.Groups = store.NormalizeGroups(attrs.Groups)
	}
	return nil
}

// getLocked returns a copy of the user, so callers cannot alter the
// stored groups slice.
func (s *Store) getLocked(id string) (sp.User, error) {
	u, ok := s.users[id]
	if !ok {
		return sp.User{}, fmt.Errorf("memory: get user: %w", sp.ErrNotFound)
	}
	out := *u
	out.Groups = slices.Clone(u.Groups)
	if out.Groups == nil {
		out.Groups = []string{}
	}
	return out, nil
}
