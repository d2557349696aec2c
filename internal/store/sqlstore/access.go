package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Multi-account access (access.Store) lives in the tables of migration
// 0010: accounts, permission_sets, assignments and provisionings. Single
// row writes are one statement (an upsert, a compare-and-set UPDATE, a
// conditional UPDATE or DELETE). The writes that check a reference run in
// one transaction (inTxRetry) that locks the referenced rows first: on
// PostgreSQL CreateAssignment takes FOR KEY SHARE on the permission set
// and the account, and DeletePermissionSet and DeleteAccount take FOR
// UPDATE on the row they delete, so a deletion waits for concurrent
// assignments to commit and then sees them (its check is a new statement,
// a new READ COMMITTED snapshot), and an assignment waiting for a deletion
// finds the row gone. Updates of other columns (PutAccount,
// UpdatePermissionSet) take a lock FOR KEY SHARE does not conflict with.
// On SQLite every transaction holds the write lock from BEGIN.

var _ access.Store = (*Store)(nil)

// keyShare returns the clause that keeps the rows a single-table SELECT
// reads from being deleted until the transaction ends, without blocking
// other readers or updates of non-key columns: FOR KEY SHARE on
// PostgreSQL; nothing on SQLite, where the transaction holds the write
// lock already.
func (d Dialect) keyShare() string {
	if d == PostgreSQL {
		return " FOR KEY SHARE"
	}
	return ""
}

func accessNotFound(op string) error {
	return fmt.Errorf("sqlstore: %s: %w", op, access.ErrNotFound)
}

// wrapAccess maps a uniqueness violation to access.ErrConflict and a
// foreign key violation to fk (access.ErrNotFound for an insert whose
// reference is gone, access.ErrInUse for a delete of a referenced row),
// and wraps any other error, keeping the driver error in the chain.
func (s *Store) wrapAccess(op string, err error, fk error) error {
	if s.d.isForeignKeyViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, fk, err)
	}
	return s.wrapAs(op, err, access.ErrConflict)
}

// --- accounts ---

const accountColumns = `id, name, email, ou, assume_role_arn, created_at, updated_at`

func scanAccount(sc row) (access.Account, error) {
	var (
		a                access.Account
		created, updated int64
	)
	if err := sc.Scan(&a.ID, &a.Name, &a.Email, &a.OU, &a.AssumeRoleARN, &created, &updated); err != nil {
		return access.Account{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

// upsertAccount inserts an account or replaces its fields, keeping
// created_at, in one statement.
const upsertAccount = `INSERT INTO accounts (` + accountColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, ou = excluded.ou,
	assume_role_arn = excluded.assume_role_arn, updated_at = excluded.updated_at
RETURNING created_at`

// PutAccount implements access.Store: a new account is created at now, an
// existing one keeps its CreatedAt; UpdatedAt is now.
func (s *Store) PutAccount(ctx context.Context, a access.Account, now time.Time) (access.Account, error) {
	t := toMicros(now)
	var created int64
	if err := s.pool().queryRow(ctx, upsertAccount,
		a.ID, a.Name, a.Email, a.OU, a.AssumeRoleARN, t, t).Scan(&created); err != nil {
		return access.Account{}, s.wrapAccess("put account", err, access.ErrNotFound)
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(t)
	return a, nil
}

// Account implements access.Store.
func (s *Store) Account(ctx context.Context, id string) (access.Account, error) {
	a, err := scanAccount(s.pool().queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	switch {
	case errNoRows(err):
		return access.Account{}, accessNotFound("account")
	case err != nil:
		return access.Account{}, s.fail("account", err)
	}
	return a, nil
}

// ouRoot reports whether ou selects every account, and otherwise returns
// it without a trailing slash.
func ouRoot(ou string) (string, bool) {
	ou = strings.TrimSuffix(ou, "/")
	return ou, ou == ""
}

// accountsInOU is the query of the accounts in an OU P and below, with
// the arguments P, P + "/" and P + "0".
func accountsInOU(d Dialect) string {
	b := d.binary()
	return `SELECT ` + accountColumns + ` FROM accounts
		WHERE ou` + b + ` = ? OR (ou` + b + ` >= ? AND ou` + b + ` < ?) ORDER BY id` + b
}

// ListAccounts implements access.Store. An OU P selects ou = P and the
// byte range [P + "/", P + "0") ('0' follows '/'), which holds exactly the
// paths under P + "/", so both are searches of the accounts_ou index.
func (s *Store) ListAccounts(ctx context.Context, ou string) ([]access.Account, error) {
	var (
		rows *sql.Rows
		err  error
	)
	b := s.d.binary()
	if p, all := ouRoot(ou); all {
		rows, err = s.pool().query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY id`+b)
	} else {
		rows, err = s.pool().query(ctx, accountsInOU(s.d), p, p+"/", p+"0")
	}
	if err != nil {
		return nil, s.fail("list accounts", err)
	}
	defer rows.Close()
	out := []access.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, s.fail("list accounts", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list accounts", err)
	}
	return out, nil
}

// DeleteAccount implements access.Store: the account row is locked, then
// checked for direct assignments, then deleted with its provisioning rows
// (ON DELETE CASCADE), in one transaction.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return s.inTxRetry(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM accounts WHERE id = ?`+s.d.forUpdate(), id).Scan(&one)
		switch {
		case errNoRows(err):
			return accessNotFound("delete account")
		case err != nil:
			return s.fail("delete account: lock", err)
		}
		if err := s.checkUnassigned(ctx, r, "delete account",
			`SELECT COUNT(*) FROM assignments WHERE target_type = ? AND target_id = ?`,
			string(access.TargetAccount), id); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM accounts WHERE id = ?`, id); err != nil {
			return s.wrapAccess("delete account", err, access.ErrInUse)
		}
		return nil
	})
}

// checkUnassigned returns access.ErrInUse when the count query finds an
// assignment.
func (s *Store) checkUnassigned(ctx context.Context, r runner, op, query string, args ...any) error {
	var n int64
	if err := r.queryRow(ctx, query, args...).Scan(&n); err != nil {
		return s.fail(op+": count assignments", err)
	}
	if n > 0 {
		return fmt.Errorf("sqlstore: %s: %d assignments: %w", op, n, access.ErrInUse)
	}
	return nil
}

// --- permission sets ---

// permSetData is the JSON of a permission set's data column.
type permSetData struct {
	ManagedPolicies  []string            `json:"managed_policies,omitempty"`
	CustomerPolicies []customerPolicyRef `json:"customer_policies,omitempty"`
	Boundary         *boundaryData       `json:"boundary,omitempty"`
	Tags             map[string]string   `json:"tags,omitempty"`
}

type customerPolicyRef struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

type boundaryData struct {
	ManagedPolicyARN string             `json:"managed_policy_arn,omitempty"`
	CustomerPolicy   *customerPolicyRef `json:"customer_policy,omitempty"`
}

func encodePermSetData(ps access.PermissionSet) (string, error) {
	d := permSetData{ManagedPolicies: ps.ManagedPolicies, Tags: ps.Tags}
	for _, c := range ps.CustomerPolicies {
		d.CustomerPolicies = append(d.CustomerPolicies, customerPolicyRef(c))
	}
	if b := ps.Boundary; b != nil {
		d.Boundary = &boundaryData{ManagedPolicyARN: b.ManagedPolicyARN}
		if b.CustomerPolicy != nil {
			c := customerPolicyRef(*b.CustomerPolicy)
			d.Boundary.CustomerPolicy = &c
		}
	}
	out, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func decodePermSetData(ps *access.PermissionSet, data string) error {
	var d permSetData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return fmt.Errorf("data column: %w", err)
	}
	ps.ManagedPolicies, ps.Tags = d.ManagedPolicies, d.Tags
	ps.CustomerPolicies = nil
	for _, c := range d.CustomerPolicies {
		ps.CustomerPolicies = append(ps.CustomerPolicies, access.CustomerPolicyRef(c))
	}
	ps.Boundary = nil
	if b := d.Boundary; b != nil {
		ps.Boundary = &access.Boundary{ManagedPolicyARN: b.ManagedPolicyARN}
		if b.CustomerPolicy != nil {
			c := access.CustomerPolicyRef(*b.CustomerPolicy)
			ps.Boundary.CustomerPolicy = &c
		}
	}
	return nil
}

const permSetColumns = `name, description, session_duration, relay_state, inline_policy, data, version, created_at, updated_at`

func scanPermSet(sc row) (access.PermissionSet, error) {
	var (
		ps                         access.PermissionSet
		duration, created, updated int64
		data                       string
	)
	if err := sc.Scan(&ps.Name, &ps.Description, &duration, &ps.RelayState, &ps.InlinePolicy, &data,
		&ps.Version, &created, &updated); err != nil {
		return access.PermissionSet{}, err
	}
	if err := decodePermSetData(&ps, data); err != nil {
		return access.PermissionSet{}, err
	}
	ps.SessionDuration = time.Duration(duration)
	ps.CreatedAt, ps.UpdatedAt = fromMicros(created), fromMicros(updated)
	return store.CopyPermissionSet(ps), nil
}

// CreatePermissionSet implements access.Store.
func (s *Store) CreatePermissionSet(ctx context.Context, ps access.PermissionSet, now time.Time) (access.PermissionSet, error) {
	ps = store.CopyPermissionSet(ps)
	data, err := encodePermSetData(ps)
	if err != nil {
		return access.PermissionSet{}, fmt.Errorf("sqlstore: create permission set: %w", err)
	}
	t := toMicros(now)
	if _, err := s.pool().exec(ctx, `INSERT INTO permission_sets (`+permSetColumns+`) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)`,
		ps.Name, ps.Description, int64(ps.SessionDuration), ps.RelayState, ps.InlinePolicy, data, t, t); err != nil {
		return access.PermissionSet{}, s.wrapAccess("create permission set", err, access.ErrNotFound)
	}
	ps.Version, ps.CreatedAt, ps.UpdatedAt = 1, fromMicros(t), fromMicros(t)
	return ps, nil
}

// PermissionSet implements access.Store.
func (s *Store) PermissionSet(ctx context.Context, name string) (access.PermissionSet, error) {
	ps, err := scanPermSet(s.pool().queryRow(ctx, `SELECT `+permSetColumns+` FROM permission_sets WHERE name = ?`, name))
	switch {
	case errNoRows(err):
		return access.PermissionSet{}, accessNotFound("permission set")
	case err != nil:
		return access.PermissionSet{}, s.fail("permission set", err)
	}
	return ps, nil
}

// ListPermissionSets implements access.Store, ordered by name.
func (s *Store) ListPermissionSets(ctx context.Context) ([]access.PermissionSet, error) {
	rows, err := s.pool().query(ctx, `SELECT `+permSetColumns+` FROM permission_sets ORDER BY name`+s.d.binary())
	if err != nil {
		return nil, s.fail("list permission sets", err)
	}
	defer rows.Close()
	out := []access.PermissionSet{}
	for rows.Next() {
		ps, err := scanPermSet(rows)
		if err != nil {
			return nil, s.fail("list permission sets", err)
		}
		out = append(out, ps)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list permission sets", err)
	}
	return out, nil
}

// updatePermSet is the compare-and-set of UpdatePermissionSet: of
// concurrent updates with one expected version, the first to write wins
// and the others, re-checking the condition on the row it wrote
// (PostgreSQL) or running after it under the write lock (SQLite), change
// nothing.
const updatePermSet = `UPDATE permission_sets SET description = ?, session_duration = ?, relay_state = ?,
	inline_policy = ?, data = ?, version = version + 1, updated_at = ?
WHERE name = ? AND version = ?
RETURNING version, created_at`

// UpdatePermissionSet implements access.Store with one compare-and-set
// UPDATE; when it changes nothing, a second query tells a stale version
// (access.ErrConflict) from an unknown name (access.ErrNotFound).
func (s *Store) UpdatePermissionSet(ctx context.Context, ps access.PermissionSet, ifVersion int64, now time.Time) (access.PermissionSet, error) {
	ps = store.CopyPermissionSet(ps)
	data, err := encodePermSetData(ps)
	if err != nil {
		return access.PermissionSet{}, fmt.Errorf("sqlstore: update permission set: %w", err)
	}
	t := toMicros(now)
	var version, created int64
	err = s.pool().queryRow(ctx, updatePermSet, ps.Description, int64(ps.SessionDuration), ps.RelayState,
		ps.InlinePolicy, data, t, ps.Name, ifVersion).Scan(&version, &created)
	switch {
	case errNoRows(err):
		var one int
		err := s.pool().queryRow(ctx, `SELECT 1 FROM permission_sets WHERE name = ?`, ps.Name).Scan(&one)
		switch {
		case errNoRows(err):
			return access.PermissionSet{}, accessNotFound("update permission set")
		case err != nil:
			return access.PermissionSet{}, s.fail("update permission set", err)
		}
		return access.PermissionSet{}, fmt.Errorf("sqlstore: update permission set %s: version is not %d: %w",
			ps.Name, ifVersion, access.ErrConflict)
	case err != nil:
		return access.PermissionSet{}, s.wrapAccess("update permission set", err, access.ErrNotFound)
	}
	ps.Version, ps.CreatedAt, ps.UpdatedAt = version, fromMicros(created), fromMicros(t)
	return ps, nil
}

// DeletePermissionSet implements access.Store: the row is locked, then
// checked for assignments, then deleted, in one transaction (the foreign
// key of assignments is the backstop: its violation is access.ErrInUse
// too). Provisioning rows stay: the roles they describe still exist.
func (s *Store) DeletePermissionSet(ctx context.Context, name string) error {
	return s.inTxRetry(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM permission_sets WHERE name = ?`+s.d.forUpdate(), name).Scan(&one)
		switch {
		case errNoRows(err):
			return accessNotFound("delete permission set")
		case err != nil:
			return s.fail("delete permission set: lock", err)
		}
		if err := s.checkUnassigned(ctx, r, "delete permission set",
			`SELECT COUNT(*) FROM assignments WHERE permission_set = ?`, name); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM permission_sets WHERE name = ?`, name); err != nil {
			return s.wrapAccess("delete permission set", err, access.ErrInUse)
		}
		return nil
	})
}

// --- assignments ---

const assignmentColumns = `id, principal_type, principal_id, permission_set, target_type, target_id, status, reason, created_at, updated_at`

func scanAssignment(sc row) (access.Assignment, error) {
	var (
		a                                 access.Assignment
		principalType, targetType, status string
		created, updated                  int64
	)
	if err := sc.Scan(&a.ID, &principalType, &a.PrincipalID, &a.PermissionSet, &targetType, &a.TargetID,
		&status, &a.Reason, &created, &updated); err != nil {
		return access.Assignment{}, err
	}
	a.PrincipalType, a.TargetType, a.Status = access.PrincipalType(principalType), access.TargetType(targetType), access.Status(status)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

func scanAssignments(rows *sql.Rows) ([]access.Assignment, error) {
	defer rows.Close()
	out := []access.Assignment{}
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// insertAssignment inserts an assignment unless one with the same natural
// key exists. On PostgreSQL an insert that conflicts with a concurrent,
// uncommitted one waits for it to end, then does nothing.
const insertAssignment = `INSERT INTO assignments (` + assignmentColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)
ON CONFLICT (principal_type, principal_id, permission_set, target_type, target_id) DO NOTHING`

// CreateAssignment implements access.Store in one transaction: lock the
// permission set and, for an account target, the account against deletion
// (access.ErrNotFound when missing), insert unless the natural key exists,
// and otherwise read the existing assignment. Of concurrent creations of
// one natural key, one inserts and the others wait for it and return its
// row.
func (s *Store) CreateAssignment(ctx context.Context, a access.Assignment, now time.Time) (access.Assignment, bool, error) {
	var (
		out     access.Assignment
		created bool
	)
	err := s.inTxRetry(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM permission_sets WHERE name = ?`+s.d.keyShare(), a.PermissionSet).Scan(&one)
		switch {
		case errNoRows(err):
			return fmt.Errorf("sqlstore: create assignment: permission set %q: %w", a.PermissionSet, access.ErrNotFound)
		case err != nil:
			return s.fail("create assignment: lock permission set", err)
		}
		if a.TargetType == access.TargetAccount {
			err := r.queryRow(ctx, `SELECT 1 FROM accounts WHERE id = ?`+s.d.keyShare(), a.TargetID).Scan(&one)
			switch {
			case errNoRows(err):
				return fmt.Errorf("sqlstore: create assignment: account %q: %w", a.TargetID, access.ErrNotFound)
			case err != nil:
				return s.fail("create assignment: lock account", err)
			}
		}
		id, t := newID(), toMicros(now)
		res, err := r.exec(ctx, insertAssignment, id, string(a.PrincipalType), a.PrincipalID, a.PermissionSet,
			string(a.TargetType), a.TargetID, string(access.StatusInProgress), t, t)
		if err != nil {
			return s.wrapAccess("create assignment", err, access.ErrNotFound)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.fail("create assignment", err)
		}
		if n == 1 {
			out, created = a, true
			out.ID, out.Status, out.Reason = id, access.StatusInProgress, ""
			out.CreatedAt, out.UpdatedAt = fromMicros(t), fromMicros(t)
			return nil
		}
		created = false
		out, err = scanAssignment(r.queryRow(ctx, `SELECT `+assignmentColumns+` FROM assignments
			WHERE principal_type = ? AND principal_id = ? AND permission_set = ? AND target_type = ? AND target_id = ?`,
			string(a.PrincipalType), a.PrincipalID, a.PermissionSet, string(a.TargetType), a.TargetID))
		if err != nil {
			return s.fail("create assignment: read existing", err)
		}
		return nil
	})
	if err != nil {
		return access.Assignment{}, false, err
	}
	return out, created, nil
}

// Assignment implements access.Store.
func (s *Store) Assignment(ctx context.Context, id string) (access.Assignment, error) {
	a, err := scanAssignment(s.pool().queryRow(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE id = ?`, id))
	switch {
	case errNoRows(err):
		return access.Assignment{}, accessNotFound("assignment")
	case err != nil:
		return access.Assignment{}, s.fail("assignment", err)
	}
	return a, nil
}

// SetAssignmentStatus implements access.Store with one UPDATE.
func (s *Store) SetAssignmentStatus(ctx context.Context, id string, status access.Status, reason string, now time.Time) error {
	res, err := s.pool().exec(ctx, `UPDATE assignments SET status = ?, reason = ?, updated_at = ? WHERE id = ?`,
		string(status), reason, toMicros(now), id)
	if err != nil {
		return s.fail("set assignment status", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("set assignment status", err)
	}
	if n == 0 {
		return accessNotFound("set assignment status")
	}
	return nil
}

// DeleteAssignment implements access.Store with one DELETE.
func (s *Store) DeleteAssignment(ctx context.Context, id string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM assignments WHERE id = ?`, id)
	if err != nil {
		return s.fail("delete assignment", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("delete assignment", err)
	}
	if n == 0 {
		return accessNotFound("delete assignment")
	}
	return nil
}

// AssignmentsForTarget implements access.Store (a search of the
// assignments_target index).
func (s *Store) AssignmentsForTarget(ctx context.Context, t access.TargetType, id string) ([]access.Assignment, error) {
	rows, err := s.pool().query(ctx, `SELECT `+assignmentColumns+` FROM assignments
		WHERE target_type = ? AND target_id = ? ORDER BY id`+s.d.binary(), string(t), id)
	if err != nil {
		return nil, s.fail("assignments for target", err)
	}
	out, err := scanAssignments(rows)
	if err != nil {
		return nil, s.fail("assignments for target", err)
	}
	return out, nil
}

// AssignmentsForPermissionSet implements access.Store, ordered by ID (a
// search of the assignments_permission_set index).
func (s *Store) AssignmentsForPermissionSet(ctx context.Context, name string) ([]access.Assignment, error) {
	rows, err := s.pool().query(ctx, `SELECT `+assignmentColumns+` FROM assignments
		WHERE permission_set = ? ORDER BY id`+s.d.binary(), name)
	if err != nil {
		return nil, s.fail("assignments for permission set", err)
	}
	out, err := scanAssignments(rows)
	if err != nil {
		return nil, s.fail("assignments for permission set", err)
	}
	return out, nil
}

// principalsQuery returns the query of the assignments of a user and n
// groups: one search of the natural-key index (which starts with
// principal_type, principal_id) per principal. n is a power of two, so
// at most a dozen distinct queries reach the statement cache.
func principalsQuery(n int) string {
	return `SELECT ` + assignmentColumns + ` FROM assignments WHERE principal_type = ? AND principal_id = ?
		UNION ALL
		SELECT ` + assignmentColumns + ` FROM assignments WHERE principal_type = ? AND principal_id IN (` + placeholders(n) + `)`
}

// AssignmentsForPrincipals implements access.Store. Up to maxInList
// groups (the usual case) are read in one statement, the user's and the
// groups' assignments as one UNION ALL of index searches; the group list
// is padded to a power of two by repeating its last ID (which selects
// nothing more). Beyond maxInList groups, the further groups are read in
// further statements of the same form, so the result is then not one
// snapshot. The rows are sorted by ID in Go.
func (s *Store) AssignmentsForPrincipals(ctx context.Context, userID string, groupIDs []string) ([]access.Assignment, error) {
	groups := slices.Clone(groupIDs)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if len(groups) == 0 {
		// An empty IN list is not portable; a group ID no assignment has
		// keeps the one query form.
		groups = []string{""}
	}
	out := []access.Assignment{}
	user := userID
	for len(groups) > 0 {
		part := groups[:min(len(groups), maxInList)]
		groups = groups[len(part):]
		n := 1 << bits.Len(uint(len(part)-1)) // the power of two >= len(part)
		args := make([]any, 0, 3+n)
		args = append(args, string(access.PrincipalUser), user, string(access.PrincipalGroup))
		for i := range n {
			args = append(args, part[min(i, len(part)-1)])
		}
		rows, err := s.pool().query(ctx, principalsQuery(n), args...)
		if err != nil {
			return nil, s.fail("assignments for principals", err)
		}
		got, err := scanAssignments(rows)
		if err != nil {
			return nil, s.fail("assignments for principals", err)
		}
		out = append(out, got...)
		user = "" // read once; "" is no user's ID
	}
	slices.SortFunc(out, func(a, b access.Assignment) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// --- provisioning ---

const provisioningColumns = `account_id, permission_set, version, role_name, status, reason, updated_at`

func scanProvisioning(sc row) (access.Provisioning, error) {
	var (
		p       access.Provisioning
		status  string
		updated int64
	)
	if err := sc.Scan(&p.AccountID, &p.PermissionSet, &p.Version, &p.RoleName, &status, &p.Reason, &updated); err != nil {
		return access.Provisioning{}, err
	}
	p.Status, p.UpdatedAt = access.Status(status), fromMicros(updated)
	return p, nil
}

// PutProvisioning implements access.Store with one upsert. The account
// must exist (access.ErrNotFound otherwise: the foreign key); the
// permission set need not, because a record outlives its permission set
// until the role it describes is removed.
func (s *Store) PutProvisioning(ctx context.Context, p access.Provisioning) error {
	if _, err := s.pool().exec(ctx, `INSERT INTO provisionings (`+provisioningColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, permission_set) DO UPDATE SET version = excluded.version, role_name = excluded.role_name,
			status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`,
		p.AccountID, p.PermissionSet, p.Version, p.RoleName, string(p.Status), p.Reason, toMicros(p.UpdatedAt)); err != nil {
		return s.wrapAccess("put provisioning", err, access.ErrNotFound)
	}
	return nil
}

// Provisioning implements access.Store.
func (s *Store) Provisioning(ctx context.Context, accountID, permissionSet string) (access.Provisioning, error) {
	p, err := scanProvisioning(s.pool().queryRow(ctx, `SELECT `+provisioningColumns+` FROM provisionings
		WHERE account_id = ? AND permission_set = ?`, accountID, permissionSet))
	switch {
	case errNoRows(err):
		return access.Provisioning{}, accessNotFound("provisioning")
	case err != nil:
		return access.Provisioning{}, s.fail("provisioning", err)
	}
	return p, nil
}

// ProvisioningsForPermissionSet implements access.Store, ordered by
// account ID.
func (s *Store) ProvisioningsForPermissionSet(ctx context.Context, name string) ([]access.Provisioning, error) {
	rows, err := s.pool().query(ctx, `SELECT `+provisioningColumns+` FROM provisionings
		WHERE permission_set = ? ORDER BY account_id`+s.d.binary(), name)
	if err != nil {
		return nil, s.fail("provisionings for permission set", err)
	}
	defer rows.Close()
	out := []access.Provisioning{}
	for rows.Next() {
		p, err := scanProvisioning(rows)
		if err != nil {
			return nil, s.fail("provisionings for permission set", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("provisionings for permission set", err)
	}
	return out, nil
}

// DeleteProvisioning implements access.Store; an unknown record is
// access.ErrNotFound.
func (s *Store) DeleteProvisioning(ctx context.Context, accountID, permissionSet string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM provisionings WHERE account_id = ? AND permission_set = ?`,
		accountID, permissionSet)
	if err != nil {
		return s.fail("delete provisioning", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail("delete provisioning", err)
	}
	if n == 0 {
		return accessNotFound("delete provisioning")
	}
	return nil
}
