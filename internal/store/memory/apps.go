package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
)

var _ apps.Store = (*Store)(nil)

// appTable holds applications by ID; records are stored and handed out as
// deep copies, so callers never share memory with the store.
type appTable map[string]apps.Record

// ListApplications returns every application, ordered by ID.
func (s *Store) ListApplications(context.Context) ([]apps.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]apps.Record, 0, len(s.applications))
	for _, r := range s.applications {
		out = append(out, r.Clone())
	}
	slices.SortFunc(out, func(a, b apps.Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// GetApplication returns the application with the ID, or apps.ErrNotFound.
func (s *Store) GetApplication(_ context.Context, id string) (apps.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.applications[id]
	if !ok {
		return apps.Record{}, fmt.Errorf("memory: get application: %w", apps.ErrNotFound)
	}
	return r.Clone(), nil
}

// CreateApplication stores a new application; an existing ID returns
// apps.ErrConflict.
func (s *Store) CreateApplication(_ context.Context, r apps.Record) error {
	if r.ID == "" {
		return errors.New("memory: create application: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applications == nil {
		s.applications = appTable{}
	}
	if _, ok := s.applications[r.ID]; ok {
		return fmt.Errorf("memory: create application: %w", apps.ErrConflict)
	}
	s.applications[r.ID] = normalized(r)
	return nil
}

// UpdateApplication replaces the name, spec, metadata copy and UpdatedAt
// of the application with r.ID, keeping its CreatedAt, or returns
// apps.ErrNotFound.
func (s *Store) UpdateApplication(_ context.Context, r apps.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.applications[r.ID]
	if !ok {
		return fmt.Errorf("memory: update application: %w", apps.ErrNotFound)
	}
	r = normalized(r)
	r.CreatedAt = old.CreatedAt
	s.applications[r.ID] = r
	return nil
}

// DeleteApplication removes the application, or returns apps.ErrNotFound.
func (s *Store) DeleteApplication(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.applications[id]; !ok {
		return fmt.Errorf("memory: delete application: %w", apps.ErrNotFound)
	}
	delete(s.applications, id)
	return nil
}

// SaveMetadataCopy replaces only the application's last good metadata copy
// and its fetch time, or returns apps.ErrNotFound.
func (s *Store) SaveMetadataCopy(_ context.Context, id string, metadata []byte, fetchedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.applications[id]
	if !ok {
		return fmt.Errorf("memory: save metadata copy: %w", apps.ErrNotFound)
	}
	r.MetadataCopy, r.MetadataFetchedAt = metadata, fetchedAt
	s.applications[id] = normalized(r)
	return nil
}

// normalized returns a deep copy of r whose empty metadata copy is nil, as
// the SQL store returns it.
func normalized(r apps.Record) apps.Record {
	r = r.Clone()
	if len(r.MetadataCopy) == 0 {
		r.MetadataCopy = nil
	}
	return r
}
