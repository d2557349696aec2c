package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
)

var _ apps.Store = (*Store)(nil)

// ListApplications returns every stored application, ordered by ID.
func (s *Store) ListApplications(ctx context.Context) ([]apps.Record, error) {
	rows, err := s.pool().query(ctx,
		`SELECT id, name, spec, metadata_copy, metadata_fetched_at, created_at, updated_at
		 FROM applications ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list applications", err)
	}
	defer rows.Close()
	var out []apps.Record
	for rows.Next() {
		r, err := scanApplication(rows)
		if err != nil {
			return nil, s.wrap("list applications", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list applications", err)
	}
	return out, nil
}

// GetApplication returns the application with the ID, or apps.ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, id string) (apps.Record, error) {
	r, err := scanApplication(s.pool().queryRow(ctx,
		`SELECT id, name, spec, metadata_copy, metadata_fetched_at, created_at, updated_at
		 FROM applications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return apps.Record{}, fmt.Errorf("sqlstore: get application: %w", apps.ErrNotFound)
	}
	if err != nil {
		return apps.Record{}, s.wrap("get application", err)
	}
	return r, nil
}

// CreateApplication stores a new application; an existing ID returns
// apps.ErrConflict (the primary key decides between concurrent callers).
func (s *Store) CreateApplication(ctx context.Context, r apps.Record) error {
	if r.ID == "" {
		return errors.New("sqlstore: create application: empty ID")
	}
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return fmt.Errorf("sqlstore: create application: %w", err)
	}
	_, err = s.pool().exec(ctx,
		`INSERT INTO applications (id, name, spec, metadata_copy, metadata_fetched_at, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Name, string(spec), string(r.MetadataCopy), toMicros(r.MetadataFetchedAt), toMicros(r.CreatedAt), toMicros(r.UpdatedAt))
	if s.d.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: create application: %w: %w", apps.ErrConflict, err)
	}
	if err != nil {
		return s.wrap("create application", err)
	}
	return nil
}

// UpdateApplication replaces the name, spec, metadata copy and UpdatedAt
// of the application with r.ID, keeping its CreatedAt, or returns
// apps.ErrNotFound.
func (s *Store) UpdateApplication(ctx context.Context, r apps.Record) error {
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return fmt.Errorf("sqlstore: update application: %w", err)
	}
	res, err := s.pool().exec(ctx,
		`UPDATE applications SET name = ?, spec = ?, metadata_copy = ?, metadata_fetched_at = ?, updated_at = ?
		 WHERE id = ?`,
		r.Name, string(spec), string(r.MetadataCopy), toMicros(r.MetadataFetchedAt), toMicros(r.UpdatedAt), r.ID)
	return s.oneRow("update application", res, err)
}

// DeleteApplication removes the application, or returns apps.ErrNotFound.
func (s *Store) DeleteApplication(ctx context.Context, id string) error {
	res, err := s.pool().exec(ctx, `DELETE FROM applications WHERE id = ?`, id)
	return s.oneRow("delete application", res, err)
}

// SaveMetadataCopy replaces only the application's last good metadata copy
// and its fetch time, or returns apps.ErrNotFound.
func (s *Store) SaveMetadataCopy(ctx context.Context, id string, metadata []byte, fetchedAt time.Time) error {
	res, err := s.pool().exec(ctx,
		`UPDATE applications SET metadata_copy = ?, metadata_fetched_at = ? WHERE id = ?`,
		string(metadata), toMicros(fetchedAt), id)
	return s.oneRow("save metadata copy", res, err)
}

// oneRow turns the result of a statement addressing one application by ID
// into nil, apps.ErrNotFound (no row) or an error.
func (s *Store) oneRow(op string, res sql.Result, err error) error {
	if err != nil {
		return s.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w", op, apps.ErrNotFound)
	}
	return nil
}

func scanApplication(row interface{ Scan(...any) error }) (apps.Record, error) {
	var r apps.Record
	var spec, mdCopy string
	var fetched, created, updated int64
	if err := row.Scan(&r.ID, &r.Name, &spec, &mdCopy, &fetched, &created, &updated); err != nil {
		return apps.Record{}, err
	}
	if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
		return apps.Record{}, fmt.Errorf("application %q: spec column: %w", r.ID, err)
	}
	if mdCopy != "" {
		r.MetadataCopy = []byte(mdCopy)
	}
	r.MetadataFetchedAt, r.CreatedAt, r.UpdatedAt = fromMicros(fetched), fromMicros(created), fromMicros(updated)
	return r, nil
}
