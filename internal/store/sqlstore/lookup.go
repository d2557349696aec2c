package sqlstore

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// lookupQueries maps each attribute UserByAttribute accepts to its query:
// one statement that reads at most two matching users with their groups
// (two are enough to tell a conflict). The column name never comes from
// the caller.
var lookupQueries = map[string]string{
	"email":     userLookup("email"),
	"user_name": userLookup("user_name"),
	"id":        userLookup("id"),
}

func userLookup(column string) string {
	return `SELECT ` + userCols("u") + `, g.id, g.display_name
		FROM users u LEFT JOIN group_members m ON m.user_id = u.id LEFT JOIN groups g ON g.id = m.group_id
		WHERE u.id IN (SELECT id FROM users WHERE ` + column + ` = ? LIMIT 2)
		ORDER BY u.id`
}

// UserByAttribute returns the one user whose attribute ("email",
// "user_name" or "id") equals value exactly (no case folding):
// sp.ErrNotFound when there is none or value is empty, sp.ErrConflict when
// several users share an e-mail address.
func (s *Store) UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error) {
	q, ok := lookupQueries[attribute]
	if !ok {
		return sp.User{}, fmt.Errorf("sqlstore: user by attribute: unsupported attribute %q", attribute)
	}
	if value == "" {
		return sp.User{}, fmt.Errorf("sqlstore: user by attribute: empty value: %w", sp.ErrNotFound)
	}
	rows, err := s.pool().query(ctx, q, value)
	if err != nil {
		return sp.User{}, s.wrap("user by "+attribute, err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return sp.User{}, s.wrap("user by "+attribute, err)
	}
	switch len(users) {
	case 0:
		return sp.User{}, fmt.Errorf("sqlstore: user by %s: %w", attribute, sp.ErrNotFound)
	case 1:
		return directory.SPUser(users[0]), nil
	default:
		return sp.User{}, fmt.Errorf("sqlstore: user by %s: several users share it: %w", attribute, sp.ErrConflict)
	}
}
