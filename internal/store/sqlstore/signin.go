package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// The built-in sign-in's credentials (signin.CredentialStore) live in the
// tables of migration 0009: user_passwords, signin_lockouts, mfa_devices
// and signin_flows, each referencing users (id) ON DELETE CASCADE, so
// deleting a user deletes them in the same statement. Flows are kept under
// the hex SHA-256 of their ID, as sessions are. Each method is one
// statement or one transaction: counters and compare-and-set updates are
// single conditional statements, which PostgreSQL re-checks after waiting
// for a concurrent writer's row lock and SQLite runs under its write lock.

var _ signin.CredentialStore = (*Store)(nil)

// SQLite's extended result code for a foreign key violation
// (https://sqlite.org/rescode.html) and PostgreSQL's SQLSTATE
// foreign_key_violation.
const (
	sqliteConstraintForeignKey  = 787
	postgresForeignKeyViolation = "23503"
)

// isForeignKeyViolation reports whether err is the driver's foreign key
// violation (see isUniqueViolation for how driver errors are matched).
func (d Dialect) isForeignKeyViolation(err error) bool {
	switch d {
	case SQLite:
		var coder interface{ Code() int }
		if errors.As(err, &coder) {
			return coder.Code() == sqliteConstraintForeignKey
		}
	case PostgreSQL:
		var stater interface{ SQLState() string }
		if errors.As(err, &stater) {
			return stater.SQLState() == postgresForeignKeyViolation
		}
	}
	return false
}

// wrapSignIn maps a uniqueness violation to signin.ErrConflict and a
// foreign key violation (the user does not exist, or was deleted
// meanwhile) to signin.ErrNotFound, and wraps any other error, keeping the
// driver error in the chain.
func (s *Store) wrapSignIn(op string, err error) error {
	if s.d.isForeignKeyViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, signin.ErrNotFound, err)
	}
	return s.wrapAs(op, err, signin.ErrConflict)
}

func signInNotFound(op string) error {
	return fmt.Errorf("sqlstore: %s: %w", op, signin.ErrNotFound)
}

// nullBytes returns b as a query argument, NULL when it is empty, so that
// an empty value is stored the same way by every driver (and an empty
// credential ID never collides with another in the UNIQUE index).
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nonEmpty returns b, or nil when it is empty: what every read returns
// for an empty or NULL binary column.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Password implements signin.CredentialStore.
func (s *Store) Password(ctx context.Context, userID string) (signin.Password, error) {
	p := signin.Password{UserID: userID}
	var updated int64
	err := s.pool().queryRow(ctx,
		`SELECT hash, updated_at FROM user_passwords WHERE user_id = ?`, userID).Scan(&p.Hash, &updated)
	switch {
	case errNoRows(err):
		return signin.Password{}, signInNotFound("password")
	case err != nil:
		return signin.Password{}, s.wrapSignIn("password", err)
	}
	p.UpdatedAt = fromMicros(updated)
	return p, nil
}

// upsertPassword inserts or replaces the password of an existing user;
// it inserts nothing when the user does not exist.
const upsertPassword = `INSERT INTO user_passwords (user_id, hash, updated_at)
SELECT id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM users WHERE id = ?
ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`

// SetPassword implements signin.CredentialStore: the password upsert and
// the deletion of the user's failure state are one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	return s.inTxRetry(ctx, func(r runner) error {
		res, err := r.exec(ctx, upsertPassword, hash, toMicros(now), userID)
		if err != nil {
			return s.wrapSignIn("set password", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.wrapSignIn("set password", err)
		}
		if n == 0 {
			return signInNotFound("set password")
		}
		if _, err := r.exec(ctx, `DELETE FROM signin_lockouts WHERE user_id = ?`, userID); err != nil {
			return s.wrapSignIn("set password: clear lockout", err)
		}
		return nil
	})
}

// Lockout implements signin.CredentialStore.
func (s *Store) Lockout(ctx context.Context, userID string) (signin.Lockout, error) {
	l, err := scanLockout(s.pool().queryRow(ctx,
		`SELECT failures, locked_until FROM signin_lockouts WHERE user_id = ?`, userID))
	switch {
	case errNoRows(err):
		return signin.Lockout{}, nil
	case err != nil:
		return signin.Lockout{}, s.wrapSignIn("lockout", err)
	}
	return l, nil
}

func scanLockout(sc row) (signin.Lockout, error) {
	var (
		l      signin.Lockout
		locked *int64
	)
	if err := sc.Scan(&l.Failures, &locked); err != nil {
		return signin.Lockout{}, err
	}
	if locked != nil {
		l.LockedUntil = fromMicros(*locked)
	}
	return l, nil
}

// countFailure adds one failure for an existing user, creating the row
// at one, and returns the new state; it returns no row when the user does
// not exist. The increment is one statement: concurrent increments wait
// for each other's row lock (PostgreSQL) or the write lock (SQLite), and
// none is lost.
const countFailure = `INSERT INTO signin_lockouts (user_id, failures)
SELECT id, 1 FROM users WHERE id = ?
ON CONFLICT (user_id) DO UPDATE SET failures = signin_lockouts.failures + 1
RETURNING failures, locked_until`

// RecordFailure implements signin.CredentialStore: the increment and the
// lock it may set are one transaction, which holds the lockout row from
// the increment on.
func (s *Store) RecordFailure(ctx context.Context, userID string, now time.Time, lockFor func(failures int) time.Duration) (signin.Lockout, error) {
	var out signin.Lockout
	err := s.inTxRetry(ctx, func(r runner) error {
		l, err := scanLockout(r.queryRow(ctx, countFailure, userID))
		switch {
		case errNoRows(err):
			return signInNotFound("record failure")
		case err != nil:
			return s.wrapSignIn("record failure", err)
		}
		if lockFor != nil {
			if d := lockFor(l.Failures); d > 0 {
				l.LockedUntil = fromMicros(toMicros(now.Add(d)))
				if _, err := r.exec(ctx, `UPDATE signin_lockouts SET locked_until = ? WHERE user_id = ?`,
					toMicros(l.LockedUntil), userID); err != nil {
					return s.wrapSignIn("record failure: lock", err)
				}
			}
		}
		out = l
		return nil
	})
	if err != nil {
		return signin.Lockout{}, err
	}
	return out, nil
}

// ResetFailures implements signin.CredentialStore: no row is the zero
// state.
func (s *Store) ResetFailures(ctx context.Context, userID string) error {
	if _, err := s.pool().exec(ctx, `DELETE FROM signin_lockouts WHERE user_id = ?`, userID); err != nil {
		return s.wrapSignIn("reset failures", err)
	}
	return nil
}

// mfaDeviceColumns are the columns scanMFADevice reads, in its order.
const mfaDeviceColumns = `id, user_id, kind, name, created_at, last_used_at, secret, last_step, credential_id, credential, sign_count`

func scanMFADevice(sc row) (signin.MFADevice, error) {
	var (
		d                    signin.MFADevice
		kind                 string
		created, signCount   int64
		lastUsed             *int64
		secret, credID, cred []byte
	)
	if err := sc.Scan(&d.ID, &d.UserID, &kind, &d.Name, &created, &lastUsed, &secret, &d.LastStep,
		&credID, &cred, &signCount); err != nil {
		return signin.MFADevice{}, err
	}
	d.Kind = signin.DeviceKind(kind)
	d.CreatedAt = fromMicros(created)
	if lastUsed != nil {
		d.LastUsedAt = fromMicros(*lastUsed)
	}
	d.Secret, d.CredentialID, d.Credential = nonEmpty(secret), nonEmpty(credID), nonEmpty(cred)
	d.SignCount = uint32(signCount)
	return d, nil
}

// MFADevices implements signin.CredentialStore.
func (s *Store) MFADevices(ctx context.Context, userID string) ([]signin.MFADevice, error) {
	rows, err := s.pool().query(ctx, `SELECT `+mfaDeviceColumns+` FROM mfa_devices WHERE user_id = ?
		ORDER BY created_at, id`+s.d.binary(), userID)
	if err != nil {
		return nil, s.wrapSignIn("list mfa devices", err)
	}
	defer rows.Close()
	out := []signin.MFADevice{}
	for rows.Next() {
		d, err := scanMFADevice(rows)
		if err != nil {
			return nil, s.wrapSignIn("list mfa devices", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapSignIn("list mfa devices", err)
	}
	return out, nil
}

// MFADeviceByCredentialID implements signin.CredentialStore.
func (s *Store) MFADeviceByCredentialID(ctx context.Context, credentialID []byte) (signin.MFADevice, error) {
	if len(credentialID) == 0 {
		return signin.MFADevice{}, signInNotFound("mfa device by credential ID")
	}
	d, err := scanMFADevice(s.pool().queryRow(ctx,
		`SELECT `+mfaDeviceColumns+` FROM mfa_devices WHERE credential_id = ? AND kind = ?`,
		credentialID, string(signin.KindWebAuthn)))
	switch {
	case errNoRows(err):
		return signin.MFADevice{}, signInNotFound("mfa device by credential ID")
	case err != nil:
		return signin.MFADevice{}, s.wrapSignIn("mfa device by credential ID", err)
	}
	return d, nil
}

// checkMFADevice rejects a device no store keeps: without an ID or user,
// of an unknown kind, a WebAuthn device without a credential ID or a TOTP
// device with one.
func checkMFADevice(d signin.MFADevice) error {
	switch {
	case d.ID == "" || d.UserID == "":
		return errors.New("mfa device needs an ID and a user ID")
	case d.Kind == signin.KindWebAuthn && len(d.CredentialID) == 0:
		return errors.New("webauthn device needs a credential ID")
	case d.Kind == signin.KindTOTP && len(d.CredentialID) != 0:
		return errors.New("totp device has a credential ID")
	case d.Kind != signin.KindTOTP && d.Kind != signin.KindWebAuthn:
		return fmt.Errorf("unknown mfa device kind %q", d.Kind)
	}
	return nil
}

// AddMFADevice implements signin.CredentialStore. The transaction first
// locks the user's row (PostgreSQL FOR UPDATE; SQLite holds the write
// lock since BEGIN IMMEDIATE), so concurrent additions for one user, in
// any process, count and insert one after the other, and each count (a
// new statement, so under READ COMMITTED a new snapshot) sees the devices
// the previous ones added.
func (s *Store) AddMFADevice(ctx context.Context, d signin.MFADevice, max int) error {
	if err := checkMFADevice(d); err != nil {
		return fmt.Errorf("sqlstore: add mfa device: %w", err)
	}
	var lastUsed any
	if !d.LastUsedAt.IsZero() {
		lastUsed = toMicros(d.LastUsedAt)
	}
	return s.inTxRetry(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`+s.d.forUpdate(), d.UserID).Scan(&one)
		switch {
		case errNoRows(err):
			return signInNotFound("add mfa device")
		case err != nil:
			return s.wrapSignIn("add mfa device: lock user", err)
		}
		var n int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM mfa_devices WHERE user_id = ? AND kind = ?`,
			d.UserID, string(d.Kind)).Scan(&n); err != nil {
			return s.wrapSignIn("add mfa device: count", err)
		}
		if n >= max {
			return fmt.Errorf("sqlstore: add mfa device: %w", signin.ErrTooManyDevices)
		}
		if _, err := r.exec(ctx, `INSERT INTO mfa_devices (`+mfaDeviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.UserID, string(d.Kind), d.Name, toMicros(d.CreatedAt), lastUsed, nullBytes(d.Secret), d.LastStep,
			nullBytes(d.CredentialID), nullBytes(d.Credential), int64(d.SignCount)); err != nil {
			return s.wrapSignIn("add mfa device", err)
		}
		return nil
	})
}

// deviceOfKind reports whether a device with the ID and kind exists.
func (s *Store) deviceOfKind(ctx context.Context, id string, kind signin.DeviceKind) (bool, error) {
	var n int
	if err := s.pool().queryRow(ctx, `SELECT COUNT(*) FROM mfa_devices WHERE id = ? AND kind = ?`,
		id, string(kind)).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// UseTOTPStep implements signin.CredentialStore with one conditional
// UPDATE: of concurrent calls with one step, the first to write wins and
// the others, re-checking the condition on the row it wrote, change
// nothing. When nothing changed, a second query tells a replay from an
// unknown device.
func (s *Store) UseTOTPStep(ctx context.Context, deviceID string, step int64, now time.Time) error {
	res, err := s.pool().exec(ctx,
		`UPDATE mfa_devices SET last_step = ?, last_used_at = ? WHERE id = ? AND kind = ? AND last_step < ?`,
		step, toMicros(now), deviceID, string(signin.KindTOTP), step)
	if err != nil {
		return s.wrapSignIn("use totp step", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrapSignIn("use totp step", err)
	} else if n == 1 {
		return nil
	}
	exists, err := s.deviceOfKind(ctx, deviceID, signin.KindTOTP)
	switch {
	case err != nil:
		return s.wrapSignIn("use totp step", err)
	case !exists:
		return signInNotFound("use totp step")
	}
	return fmt.Errorf("sqlstore: use totp step: %w", signin.ErrReplay)
}

// UseWebAuthn implements signin.CredentialStore with one compare-and-set
// UPDATE on the signature counter.
func (s *Store) UseWebAuthn(ctx context.Context, deviceID string, oldSignCount, newSignCount uint32, credential []byte, now time.Time) error {
	res, err := s.pool().exec(ctx,
		`UPDATE mfa_devices SET credential = ?, sign_count = ?, last_used_at = ? WHERE id = ? AND kind = ? AND sign_count = ?`,
		nullBytes(credential), int64(newSignCount), toMicros(now), deviceID, string(signin.KindWebAuthn), int64(oldSignCount))
	if err != nil {
		return s.wrapSignIn("use webauthn", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrapSignIn("use webauthn", err)
	} else if n == 1 {
		return nil
	}
	exists, err := s.deviceOfKind(ctx, deviceID, signin.KindWebAuthn)
	switch {
	case err != nil:
		return s.wrapSignIn("use webauthn", err)
	case !exists:
		return signInNotFound("use webauthn")
	}
	return fmt.Errorf("sqlstore: use webauthn: %w", signin.ErrConflict)
}

// DeleteMFADevice implements signin.CredentialStore.
func (s *Store) DeleteMFADevice(ctx context.Context, userID, deviceID string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM mfa_devices WHERE id = ? AND user_id = ?`, deviceID, userID)
	if err != nil {
		return s.wrapSignIn("delete mfa device", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrapSignIn("delete mfa device", err)
	}
	if n == 0 {
		return signInNotFound("delete mfa device")
	}
	return nil
}

// SaveSignInFlow implements signin.CredentialStore under the hash of
// f.ID. An empty UserID is stored as NULL (a flow whose user is not known
// yet); any other must name an existing user, else signin.ErrNotFound.
func (s *Store) SaveSignInFlow(ctx context.Context, f signin.Flow) error {
	if f.ID == "" {
		return errors.New("sqlstore: save sign-in flow: empty ID")
	}
	var user any
	if f.UserID != "" {
		user = f.UserID
	}
	if _, err := s.pool().exec(ctx,
		`INSERT INTO signin_flows (id_hash, user_id, stage, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, stage = excluded.stage, data = excluded.data,
			created_at = excluded.created_at, expires_at = excluded.expires_at`,
		hashSessionID(f.ID), user, f.Stage, nullBytes(f.Data), toMicros(f.CreatedAt), toMicros(f.ExpiresAt)); err != nil {
		return s.wrapSignIn("save sign-in flow", err)
	}
	return nil
}

// UpdateSignInFlow implements signin.CredentialStore: one UPDATE, whose
// row count says whether the flow still exists.
func (s *Store) UpdateSignInFlow(ctx context.Context, f signin.Flow) error {
	res, err := s.pool().exec(ctx,
		`UPDATE signin_flows SET stage = ?, data = ?, expires_at = ? WHERE id_hash = ?`,
		f.Stage, nullBytes(f.Data), toMicros(f.ExpiresAt), hashSessionID(f.ID))
	if err != nil {
		return s.wrapSignIn("update sign-in flow", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrapSignIn("update sign-in flow", err)
	}
	if n == 0 {
		return signInNotFound("update sign-in flow")
	}
	return nil
}

// SignInFlow implements signin.CredentialStore.
func (s *Store) SignInFlow(ctx context.Context, id string, now time.Time) (signin.Flow, error) {
	f := signin.Flow{ID: id}
	var (
		user             *string
		data             []byte
		created, expires int64
	)
	err := s.pool().queryRow(ctx,
		`SELECT user_id, stage, data, created_at, expires_at FROM signin_flows WHERE id_hash = ? AND expires_at > ?`,
		hashSessionID(id), toMicros(now)).Scan(&user, &f.Stage, &data, &created, &expires)
	switch {
	case errNoRows(err):
		return signin.Flow{}, signInNotFound("sign-in flow")
	case err != nil:
		return signin.Flow{}, s.wrapSignIn("sign-in flow", err)
	}
	if user != nil {
		f.UserID = *user
	}
	f.Data, f.CreatedAt, f.ExpiresAt = nonEmpty(data), fromMicros(created), fromMicros(expires)
	return f, nil
}

// DeleteSignInFlow implements signin.CredentialStore with one DELETE, of
// which exactly one of concurrent calls removes the row.
func (s *Store) DeleteSignInFlow(ctx context.Context, id string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM signin_flows WHERE id_hash = ?`, hashSessionID(id))
	if err != nil {
		return s.wrapSignIn("delete sign-in flow", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrapSignIn("delete sign-in flow", err)
	}
	if n == 0 {
		return signInNotFound("delete sign-in flow")
	}
	return nil
}
