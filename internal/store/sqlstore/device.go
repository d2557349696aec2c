package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

var _ oauth.DeviceStore = (*Store)(nil)

// deviceColumns are the columns scanDevice reads, in its order.
const deviceColumns = `device_code_hash, COALESCE(user_code, ''), client_id, audience, scopes, status, user_id,
	created_at, expires_at, poll_interval_ns, last_polled_at`

// CreateDevice stores d as a new pending authorization. d.Status must be
// empty or pending and d.UserID empty. An authorization that expired at or
// before d.CreatedAt does not keep its codes: its user code is released
// (the row stays, with an empty user code, to answer polls with
// expired_token) and a row with the same device code hash is replaced, in
// one transaction with the insert. A DeviceCodeHash or UserCode held by an
// unexpired authorization returns oauth.ErrConflict; the primary key and
// the unique index on user_code decide between concurrent callers.
func (s *Store) CreateDevice(ctx context.Context, d oauth.DeviceAuthorization) error {
	if err := checkNewDevice(d); err != nil {
		return fmt.Errorf("sqlstore: create device: %w", err)
	}
	created := toMicros(d.CreatedAt)
	return s.inTx(ctx, func(r runner) error {
		if _, err := r.exec(ctx,
			`UPDATE device_authorizations SET user_code = NULL WHERE user_code = ? AND expires_at <= ?`,
			d.UserCode, created); err != nil {
			return s.wrapOAuth("create device: release user code", err)
		}
		if _, err := r.exec(ctx,
			`DELETE FROM device_authorizations WHERE device_code_hash = ? AND expires_at <= ?`,
			d.DeviceCodeHash, created); err != nil {
			return s.wrapOAuth("create device: replace expired", err)
		}
		_, err := r.exec(ctx,
			`INSERT INTO device_authorizations (device_code_hash, user_code, client_id, audience, scopes, status, user_id,
				created_at, expires_at, poll_interval_ns, last_polled_at)
			 VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)`,
			d.DeviceCodeHash, d.UserCode, d.ClientID, d.Audience, encodeList(d.Scopes), string(oauth.DevicePending),
			created, toMicros(d.ExpiresAt), int64(d.Interval), toMicros(d.LastPolledAt))
		if err != nil {
			return s.wrapOAuth("create device", err)
		}
		return nil
	})
}

// checkNewDevice rejects what CreateDevice must not store.
func checkNewDevice(d oauth.DeviceAuthorization) error {
	switch {
	case d.DeviceCodeHash == "" || d.UserCode == "":
		return errors.New("empty device code hash or user code")
	case d.Status != "" && d.Status != oauth.DevicePending:
		return fmt.Errorf("status %q: a new authorization is pending", d.Status)
	case d.UserID != "":
		return errors.New("a new authorization has no user")
	case d.Interval < 0:
		return errors.New("negative polling interval")
	}
	return nil
}

// DeviceByUserCode returns the authorization holding userCode, or
// oauth.ErrNotFound when there is none or its ExpiresAt is not after now.
func (s *Store) DeviceByUserCode(ctx context.Context, userCode string, now time.Time) (oauth.DeviceAuthorization, error) {
	d, err := scanDevice(s.pool().queryRow(ctx,
		`SELECT `+deviceColumns+` FROM device_authorizations WHERE user_code = ? AND expires_at > ?`,
		userCode, toMicros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return oauth.DeviceAuthorization{}, fmt.Errorf("sqlstore: device by user code: %w", oauth.ErrNotFound)
	}
	if err != nil {
		return oauth.DeviceAuthorization{}, s.wrapOAuth("device by user code", err)
	}
	return d, nil
}

// DeviceByCode returns the authorization with that device code hash,
// expired or not, or oauth.ErrNotFound.
func (s *Store) DeviceByCode(ctx context.Context, deviceCodeHash string) (oauth.DeviceAuthorization, error) {
	d, err := scanDevice(s.pool().queryRow(ctx,
		`SELECT `+deviceColumns+` FROM device_authorizations WHERE device_code_hash = ?`, deviceCodeHash))
	if errors.Is(err, sql.ErrNoRows) {
		return oauth.DeviceAuthorization{}, fmt.Errorf("sqlstore: device by code: %w", oauth.ErrNotFound)
	}
	if err != nil {
		return oauth.DeviceAuthorization{}, s.wrapOAuth("device by code", err)
	}
	return d, nil
}

// DecideDevice approves or denies the pending, unexpired authorization
// holding userCode for userID, with one conditional UPDATE, so of
// concurrent decisions exactly one takes effect. When no row qualifies it
// changes nothing and returns oauth.ErrNotFound (unknown or expired user
// code) or oauth.ErrConflict (already decided or consumed). An empty
// userID is an error.
func (s *Store) DecideDevice(ctx context.Context, userCode, userID string, approve bool, now time.Time) error {
	if userID == "" {
		return errors.New("sqlstore: decide device: empty user ID")
	}
	status := oauth.DeviceDenied
	if approve {
		status = oauth.DeviceApproved
	}
	res, err := s.pool().exec(ctx,
		`UPDATE device_authorizations SET status = ?, user_id = ?
		 WHERE user_code = ? AND status = 'pending' AND expires_at > ?`,
		string(status), userID, userCode, toMicros(now))
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.wrapOAuth("decide device", err)
	}
	if n == 1 {
		return nil
	}
	// Nothing changed; find out why, for the caller's answer.
	if _, err := s.DeviceByUserCode(ctx, userCode, now); err != nil {
		return fmt.Errorf("sqlstore: decide device: %w", err)
	}
	return fmt.Errorf("sqlstore: decide device: not pending: %w", oauth.ErrConflict)
}

// TouchDevice records a poll at now and sets the polling interval, or
// returns oauth.ErrNotFound. A negative interval is an error.
func (s *Store) TouchDevice(ctx context.Context, deviceCodeHash string, now time.Time, interval time.Duration) error {
	if interval < 0 {
		return errors.New("sqlstore: touch device: negative polling interval")
	}
	res, err := s.pool().exec(ctx,
		`UPDATE device_authorizations SET last_polled_at = ?, poll_interval_ns = ? WHERE device_code_hash = ?`,
		toMicros(now), int64(interval), deviceCodeHash)
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.wrapOAuth("touch device", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: touch device: %w", oauth.ErrNotFound)
	}
	return nil
}

// ConsumeDevice moves an approved authorization to consumed with one
// conditional UPDATE, so of any number of concurrent callers (in any
// number of processes) exactly one succeeds. The others, and a call on an
// authorization that is not approved, get oauth.ErrConflict; an unknown
// hash gets oauth.ErrNotFound.
func (s *Store) ConsumeDevice(ctx context.Context, deviceCodeHash string) error {
	res, err := s.pool().exec(ctx,
		`UPDATE device_authorizations SET status = 'consumed' WHERE device_code_hash = ? AND status = 'approved'`,
		deviceCodeHash)
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.wrapOAuth("consume device", err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.DeviceByCode(ctx, deviceCodeHash); err != nil {
		return fmt.Errorf("sqlstore: consume device: %w", err)
	}
	return fmt.Errorf("sqlstore: consume device: not approved: %w", oauth.ErrConflict)
}

// rowsAffected returns the row count of a statement's result, or its error.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func scanDevice(row row) (oauth.DeviceAuthorization, error) {
	var d oauth.DeviceAuthorization
	var scopes, status string
	var created, expires, interval, polled int64
	if err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &d.Audience, &scopes, &status, &d.UserID,
		&created, &expires, &interval, &polled); err != nil {
		return oauth.DeviceAuthorization{}, err
	}
	var err error
	if d.Scopes, err = decodeList("scopes", scopes); err != nil {
		return oauth.DeviceAuthorization{}, fmt.Errorf("device authorization: %w", err)
	}
	d.Status = oauth.DeviceStatus(status)
	d.CreatedAt, d.ExpiresAt, d.LastPolledAt = fromMicros(created), fromMicros(expires), fromMicros(polled)
	d.Interval = time.Duration(interval)
	return d, nil
}
