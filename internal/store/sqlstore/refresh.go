package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

var _ oauth.RefreshStore = (*Store)(nil)

// CreateRefreshToken stores t, the first token of a family; a Hash
// already present returns oauth.ErrConflict. An empty Hash or FamilyID is
// an error.
func (s *Store) CreateRefreshToken(ctx context.Context, t oauth.RefreshToken) error {
	if t.Hash == "" || t.FamilyID == "" {
		return errors.New("sqlstore: create refresh token: empty hash or family ID")
	}
	if err := s.insertRefreshToken(ctx, s.pool(), t); err != nil {
		return fmt.Errorf("sqlstore: create refresh token: %w", err)
	}
	return nil
}

func (s *Store) insertRefreshToken(ctx context.Context, r runner, t oauth.RefreshToken) error {
	_, err := r.exec(ctx,
		`INSERT INTO refresh_tokens (hash, family_id, client_id, user_id, audience, scopes,
			issued_at, expires_at, family_expires_at, used_at, revoked_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
		t.Hash, t.FamilyID, t.ClientID, t.UserID, t.Audience, encodeList(t.Scopes),
		toMicros(t.IssuedAt), toMicros(t.ExpiresAt), toMicros(t.FamilyExpiresAt))
	if err != nil {
		return s.wrapOAuth("insert refresh token", err)
	}
	return nil
}

// RefreshTokenByHash returns the token with that hash while it is current:
// not rotated, not revoked, and neither it nor its family expired at now.
// A rotated token (whether or not its family is revoked already) revokes
// its family, in its own committed statement, and returns
// oauth.ErrRefreshReused; an unknown, revoked or expired one returns
// oauth.ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (oauth.RefreshToken, error) {
	t, used, revoked, err := s.refreshToken(ctx, s.pool(), hash)
	if err != nil {
		return oauth.RefreshToken{}, fmt.Errorf("sqlstore: refresh token by hash: %w", err)
	}
	if used {
		return oauth.RefreshToken{}, s.reused(ctx, "refresh token by hash", t.FamilyID, now)
	}
	if revoked || !t.ExpiresAt.After(now) || !t.FamilyExpiresAt.After(now) {
		return oauth.RefreshToken{}, fmt.Errorf("sqlstore: refresh token by hash: revoked or expired: %w", oauth.ErrNotFound)
	}
	return t, nil
}

// errReused is what the rotation transaction returns, after which
// RotateRefreshToken revokes the family outside it.
type errReused struct{ familyID string }

func (e errReused) Error() string { return "refresh token reused" }

// RotateRefreshToken marks the token with hash used and stores next, in
// one transaction. The mark is a conditional UPDATE (used_at IS NULL AND
// revoked_at IS NULL and neither the token nor its family expired at
// now), so of any number of concurrent rotations of one token (in any
// number of processes) exactly one succeeds: PostgreSQL makes the others
// wait for the winner's row lock and re-check the condition once it
// commits, and SQLite runs the transactions one at a time. When no row
// qualifies because the token was already rotated, the transaction is
// rolled back, the family — including a token a concurrent winner has
// just stored — is revoked in its own committed statement, and
// oauth.ErrRefreshReused is returned. An unknown, revoked or expired
// token returns oauth.ErrNotFound.
//
// next must belong to the same family, client and user as the rotated
// token and must not outlive the family (FamilyExpiresAt not later);
// otherwise RotateRefreshToken returns an error and changes nothing.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, next oauth.RefreshToken, now time.Time) error {
	if next.Hash == "" || next.Hash == hash {
		return errors.New("sqlstore: rotate refresh token: next hash is empty or equals the old one")
	}
	nowUS := toMicros(now)
	err := s.inTx(ctx, func(r runner) error {
		var familyID, clientID, userID string
		var familyExpires int64
		err := r.queryRow(ctx,
			`UPDATE refresh_tokens SET used_at = ?
			 WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? AND family_expires_at > ?
			 RETURNING family_id, client_id, user_id, family_expires_at`,
			nowUS, hash, nowUS, nowUS).Scan(&familyID, &clientID, &userID, &familyExpires)
		if errors.Is(err, sql.ErrNoRows) {
			old, used, _, err := s.refreshToken(ctx, r, hash)
			switch {
			case err != nil:
				return err
			case used:
				return errReused{familyID: old.FamilyID}
			default:
				return fmt.Errorf("revoked or expired: %w", oauth.ErrNotFound)
			}
		}
		if err != nil {
			return s.wrapOAuth("mark refresh token used", err)
		}
		if err := checkNext(next, familyID, clientID, userID, fromMicros(familyExpires)); err != nil {
			return err
		}
		return s.insertRefreshToken(ctx, r, next)
	})
	if reused, ok := errors.AsType[errReused](err); ok {
		return s.reused(ctx, "rotate refresh token", reused.familyID, now)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: rotate refresh token: %w", err)
	}
	return nil
}

// checkNext rejects a rotated token that would leave its family, change
// hands or outlive the family.
func checkNext(next oauth.RefreshToken, familyID, clientID, userID string, familyExpires time.Time) error {
	switch {
	case next.FamilyID != familyID:
		return errors.New("next token belongs to another family")
	case next.ClientID != clientID || next.UserID != userID:
		return errors.New("next token has another client or user")
	case next.FamilyExpiresAt.After(familyExpires):
		return errors.New("next token outlives its family")
	}
	return nil
}

// reused revokes the family of a token presented again after rotation and
// returns the error wrapping oauth.ErrRefreshReused (or the revocation's
// failure, which the caller refuses just the same).
func (s *Store) reused(ctx context.Context, op, familyID string, now time.Time) error {
	if err := s.revokeFamily(ctx, familyID, now); err != nil {
		return fmt.Errorf("sqlstore: %s: revoke reused family: %w: %w", op, oauth.ErrRefreshReused, err)
	}
	return fmt.Errorf("sqlstore: %s: family revoked: %w", op, oauth.ErrRefreshReused)
}

func (s *Store) revokeFamily(ctx context.Context, familyID string, now time.Time) error {
	if _, err := s.pool().exec(ctx,
		`UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`,
		toMicros(now), familyID); err != nil {
		return s.wrapOAuth("revoke refresh family", err)
	}
	return nil
}

// RevokeRefreshFamily revokes every token of the family, at the store's
// clock. Revoking an unknown or already revoked family is not an error;
// an empty family ID is.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if familyID == "" {
		return errors.New("sqlstore: revoke refresh family: empty family ID")
	}
	if err := s.revokeFamily(ctx, familyID, s.now()); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every unrevoked refresh token of the
// user in one statement and returns the number of families that had one.
// An empty user ID is an error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) (int64, error) {
	if userID == "" {
		return 0, errors.New("sqlstore: revoke user refresh tokens: empty user ID")
	}
	rows, err := s.pool().query(ctx,
		`UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING family_id`,
		toMicros(s.now()), userID)
	if err != nil {
		return 0, s.wrapOAuth("revoke user refresh tokens", err)
	}
	defer rows.Close()
	families := map[string]bool{}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return 0, s.wrapOAuth("revoke user refresh tokens", err)
		}
		families[f] = true
	}
	if err := rows.Err(); err != nil {
		return 0, s.wrapOAuth("revoke user refresh tokens", err)
	}
	return int64(len(families)), nil
}

// refreshToken reads the token with hash and whether it was used or
// revoked, or returns oauth.ErrNotFound.
func (s *Store) refreshToken(ctx context.Context, r runner, hash string) (t oauth.RefreshToken, used, revoked bool, err error) {
	var scopes string
	var issued, expires, familyExpires int64
	var usedAt, revokedAt sql.NullInt64
	err = r.queryRow(ctx,
		`SELECT hash, family_id, client_id, user_id, audience, scopes, issued_at, expires_at, family_expires_at,
			used_at, revoked_at
		 FROM refresh_tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.Audience, &scopes, &issued, &expires, &familyExpires,
			&usedAt, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return oauth.RefreshToken{}, false, false, fmt.Errorf("unknown refresh token: %w", oauth.ErrNotFound)
	}
	if err != nil {
		return oauth.RefreshToken{}, false, false, s.wrapOAuth("read refresh token", err)
	}
	if t.Scopes, err = decodeList("scopes", scopes); err != nil {
		return oauth.RefreshToken{}, false, false, fmt.Errorf("read refresh token: %w", err)
	}
	t.IssuedAt, t.ExpiresAt, t.FamilyExpiresAt = fromMicros(issued), fromMicros(expires), fromMicros(familyExpires)
	return t, usedAt.Valid, revokedAt.Valid, nil
}
