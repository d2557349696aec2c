package memory

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// UserByAttribute returns the one user whose attribute ("email",
// "user_name" or "id") equals value exactly (no case folding):
// sp.ErrNotFound when there is none or value is empty, sp.ErrConflict when
// several users share an e-mail address.
func (s *Store) UserByAttribute(_ context.Context, attribute, value string) (sp.User, error) {
	if attribute != "email" && attribute != "user_name" && attribute != "id" {
		return sp.User{}, fmt.Errorf("memory: user by attribute: unsupported attribute %q", attribute)
	}
	if value == "" {
		return sp.User{}, fmt.Errorf("memory: user by attribute: empty value: %w", sp.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch attribute {
	case "id":
		return s.getLocked(value)
	case "user_name":
		id, ok := s.userByNameLocked(value)
		if !ok {
			return sp.User{}, fmt.Errorf("memory: user by user_name: %w", sp.ErrNotFound)
		}
		return s.getLocked(id)
	}
	var found string
	for id, u := range s.dir.users {
		if u.Email != value {
			continue
		}
		if found != "" {
			return sp.User{}, fmt.Errorf("memory: user by email: several users share it: %w", sp.ErrConflict)
		}
		found = id
	}
	if found == "" {
		return sp.User{}, fmt.Errorf("memory: user by email: %w", sp.ErrNotFound)
	}
	return s.getLocked(found)
}
