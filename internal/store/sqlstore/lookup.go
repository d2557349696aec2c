package sqlstore

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// lookupQueries maps each attribute UserByAttribute accepts to its query;
// the column name never comes from the caller.
var lookupQueries = map[string]string{
	"email":     `SELECT id FROM users WHERE email = ? LIMIT 2`,
	"user_name": `SELECT id FROM users WHERE user_name = ? LIMIT 2`,
	"id":        `SELECT id FROM users WHERE id = ? LIMIT 2`,
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
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return sp.User{}, s.wrap("user by "+attribute, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return sp.User{}, s.wrap("user by "+attribute, err)
	}
	switch len(ids) {
	case 0:
		return sp.User{}, fmt.Errorf("sqlstore: user by %s: %w", attribute, sp.ErrNotFound)
	case 1:
		return s.getUser(ctx, s.pool(), ids[0])
	default:
		return sp.User{}, fmt.Errorf("sqlstore: user by %s: several users share it: %w", attribute, sp.ErrConflict)
	}
}
