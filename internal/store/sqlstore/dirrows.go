package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// emailJSON is one element of the users.emails column.
type emailJSON struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

func encodeEmails(emails []directory.Email) string {
	out := make([]emailJSON, len(emails))
	for i, e := range emails {
		out[i] = emailJSON(e)
	}
	b, _ := json.Marshal(out) // strings and bools always marshal
	return string(b)
}

func decodeEmails(v string) ([]directory.Email, error) {
	var in []emailJSON
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		return nil, fmt.Errorf("emails column: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]directory.Email, len(in))
	for i, e := range in {
		out[i] = directory.Email(e)
	}
	return out, nil
}

func encodeAttributes(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // sorted keys; strings always marshal
	return string(b)
}

func decodeAttributes(v string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("attributes column: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return maps.Clone(m), nil
}

// userColumns are the users columns a directory.User is read from, in
// the order scanUser expects, for the table alias u (or p for a
// subquery).
const userColumns = `%[1]s.id, %[1]s.user_name, %[1]s.external_id, %[1]s.given_name, %[1]s.family_name,
	%[1]s.display_name, %[1]s.emails, %[1]s.active, %[1]s.attributes, %[1]s.version, %[1]s.created_at, %[1]s.updated_at`

func userCols(alias string) string { return fmt.Sprintf(userColumns, alias) }

// userScan holds one row of userColumns followed by a group's ID and
// display name (NULL when the user has no group).
type userScan struct {
	u                directory.User
	emails, attrs    string
	created, updated int64
	groupID, group   sql.NullString
}

func (x *userScan) dest() []any {
	u := &x.u
	return []any{&u.ID, &u.UserName, &u.ExternalID, &u.GivenName, &u.FamilyName, &u.DisplayName, &x.emails,
		&u.Active, &x.attrs, &u.Version, &x.created, &x.updated, &x.groupID, &x.group}
}

// user decodes the scanned row's user, without groups.
func (x *userScan) user() (directory.User, error) {
	u := x.u
	var err error
	if u.Emails, err = decodeEmails(x.emails); err != nil {
		return directory.User{}, err
	}
	if u.Attributes, err = decodeAttributes(x.attrs); err != nil {
		return directory.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(x.created), fromMicros(x.updated)
	u.Groups = nil
	return u, nil
}

// scanUsers reads rows of userColumns plus group ID and display name,
// where the rows of one user are consecutive, into users with their
// groups, normalized, in row order.
func scanUsers(rows *sql.Rows) ([]directory.User, error) {
	defer rows.Close()
	return scanUserRows(rows)
}

// rowScanner is what scanUserRows needs of *sql.Rows and pgx.Rows.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanUserRows is scanUsers on rows the caller closes.
func scanUserRows(rows rowScanner) ([]directory.User, error) {
	var out []directory.User
	for rows.Next() {
		var x userScan
		if err := rows.Scan(x.dest()...); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != x.u.ID {
			u, err := x.user()
			if err != nil {
				return nil, fmt.Errorf("user %s: %w", x.u.ID, err)
			}
			out = append(out, u)
		}
		if x.groupID.Valid {
			last := &out[len(out)-1]
			last.Groups = append(last.Groups, directory.GroupRef{ID: x.groupID.String, DisplayName: x.group.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i] = directory.NormalizeUser(out[i])
	}
	return out, nil
}

// groupColumns are the groups columns a directory.Group is read from, in
// the order scanGroups expects.
const groupColumns = `%[1]s.id, %[1]s.display_name, %[1]s.external_id, %[1]s.version, %[1]s.created_at, %[1]s.updated_at`

func groupCols(alias string) string { return fmt.Sprintf(groupColumns, alias) }

// scanGroups reads rows of groupColumns plus a member ID (NULL when the
// group has none), where the rows of one group are consecutive, into
// groups with their members, normalized, in row order. withMembers false
// reads rows of groupColumns only.
func scanGroups(rows *sql.Rows, withMembers bool) ([]directory.Group, error) {
	defer rows.Close()
	var out []directory.Group
	for rows.Next() {
		var g directory.Group
		var created, updated int64
		var member sql.NullString
		dest := []any{&g.ID, &g.DisplayName, &g.ExternalID, &g.Version, &created, &updated}
		if withMembers {
			dest = append(dest, &member)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != g.ID {
			g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
			out = append(out, g)
		}
		if member.Valid {
			last := &out[len(out)-1]
			last.Members = append(last.Members, member.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i] = directory.NormalizeGroup(out[i])
	}
	return out, nil
}

// maxInList is the most values one IN list carries: far below both
// databases' limits on placeholders.
const maxInList = 512

// inChunks calls fn with successive parts of ids of 512, 256, ..., 1
// values and the matching placeholder list, so that each query with an
// IN list has at most ten shapes in the statement cache.
func inChunks(ids []string, fn func(part []string, placeholders string) error) error {
	for len(ids) > 0 {
		n := min(maxInList, 1<<(bits.Len(uint(len(ids)))-1))
		if err := fn(ids[:n], placeholders(n)); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func stringArgs(prefix []any, ids []string) []any {
	args := make([]any, 0, len(prefix)+len(ids))
	args = append(args, prefix...)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// foldDirectory is the Go step of migration 0005: it computes the folded
// keys (directory.Fold) of existing users and groups, the emails JSON and
// user_emails rows of existing users' e-mail addresses, and fails,
// naming them, when two user names or two group display names differ only
// in case.
func foldDirectory(ctx context.Context, d Dialect, tx *sql.Tx) error {
	type userRow struct{ id, name, display, email string }
	rows, err := tx.QueryContext(ctx, `SELECT id, user_name, display_name, email FROM users ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	var users []userRow
	for rows.Next() {
		var u userRow
		if err := rows.Scan(&u.id, &u.name, &u.display, &u.email); err != nil {
			rows.Close()
			return fmt.Errorf("read users: %w", err)
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	seen := map[string]string{}
	for _, u := range users {
		key := directory.Fold(u.name)
		if other, ok := seen[key]; ok {
			return fmt.Errorf("users %q and %q have user names that differ only in case: rename one and open the store again", other, u.name)
		}
		seen[key] = u.name
		var emails []directory.Email
		if u.email != "" {
			emails = []directory.Email{{Value: u.email, Primary: true}}
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE users SET user_name_fold = ?, display_name_fold = ?, emails = ? WHERE id = ?`),
			key, directory.Fold(u.display), encodeEmails(emails), u.id); err != nil {
			return fmt.Errorf("fold user %s: %w", u.id, err)
		}
		if u.email != "" {
			if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO user_emails (user_id, ord, value_fold, type_fold, is_primary) VALUES (?, 0, ?, '', ?)`),
				u.id, directory.Fold(u.email), true); err != nil {
				return fmt.Errorf("e-mail of user %s: %w", u.id, err)
			}
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT id, display_name FROM groups ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	type groupRow struct{ id, name string }
	var groups []groupRow
	for rows.Next() {
		var g groupRow
		if err := rows.Scan(&g.id, &g.name); err != nil {
			rows.Close()
			return fmt.Errorf("read groups: %w", err)
		}
		groups = append(groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	seen = map[string]string{}
	for _, g := range groups {
		key := directory.Fold(g.name)
		if other, ok := seen[key]; ok {
			return fmt.Errorf("groups %q and %q have display names that differ only in case: rename one and open the store again", other, g.name)
		}
		seen[key] = g.name
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE groups SET display_name_fold = ? WHERE id = ?`), key, g.id); err != nil {
			return fmt.Errorf("fold group %s: %w", g.id, err)
		}
	}
	return nil
}

// errNoRows reports whether err is sql.ErrNoRows.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
