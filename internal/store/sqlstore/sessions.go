package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// hashSessionID returns the key sessions are stored under: the hex SHA-256
// of the session ID. The session ID itself never reaches the database, so
// a leaked database (or backup) yields no usable session cookie.
func hashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores s under the hash of s.ID. A session with the same ID
// returns sp.ErrConflict.
func (s *Store) CreateSession(ctx context.Context, sess sp.Session) error {
	if sess.ID == "" {
		return errors.New("sqlstore: create session: empty ID")
	}
	_, err := s.pool().exec(ctx,
		`INSERT INTO sessions (id_hash, user_id, created_at, expires_at, authn_instant, session_index, method, authn_context)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		hashSessionID(sess.ID), sess.UserID, toMicros(sess.CreatedAt), toMicros(sess.ExpiresAt),
		toMicros(sess.AuthnInstant), sess.SessionIndex, sess.Method, sess.AuthnContextClassRef)
	if err != nil {
		return s.wrap("create session", err)
	}
	return nil
}

// GetSession returns the session with the given ID, or sp.ErrNotFound when
// it is unknown or its ExpiresAt is not after now.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (sp.Session, error) {
	sess := sp.Session{ID: id}
	var created, expires, authn int64
	err := s.pool().queryRow(ctx,
		`SELECT user_id, created_at, expires_at, authn_instant, session_index, method, authn_context
		 FROM sessions WHERE id_hash = ? AND expires_at > ?`,
		hashSessionID(id), toMicros(now)).Scan(&sess.UserID, &created, &expires, &authn, &sess.SessionIndex, &sess.Method, &sess.AuthnContextClassRef)
	if errors.Is(err, sql.ErrNoRows) {
		return sp.Session{}, fmt.Errorf("sqlstore: get session: %w", sp.ErrNotFound)
	}
	if err != nil {
		return sp.Session{}, s.wrap("get session", err)
	}
	sess.CreatedAt, sess.ExpiresAt, sess.AuthnInstant = fromMicros(created), fromMicros(expires), fromMicros(authn)
	return sess, nil
}

// DeleteSession removes the session with the given ID. Deleting an unknown
// session is not an error, so logout is idempotent.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.pool().exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSessionID(id)); err != nil {
		return s.wrap("delete session", err)
	}
	return nil
}
