package apps

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns; callers branch on them with errors.Is. Any other
// error means the store is unavailable.
var (
	// ErrNotFound: no application has the ID.
	ErrNotFound = errors.New("apps: application not found")
	// ErrConflict: an application with the ID (or, from the Registry, the
	// entity ID) already exists.
	ErrConflict = errors.New("apps: application already exists")
)

// Store persists the applications created through the admin API. Every
// method is atomic; returned records are the caller's own copies.
type Store interface {
	// ListApplications returns every stored application, ordered by ID.
	ListApplications(ctx context.Context) ([]Record, error)
	// GetApplication returns the application with the ID, or ErrNotFound.
	GetApplication(ctx context.Context, id string) (Record, error)
	// CreateApplication stores a new application; an existing ID returns
	// ErrConflict (of concurrent creations of one ID exactly one wins).
	CreateApplication(ctx context.Context, r Record) error
	// UpdateApplication replaces the name, spec, metadata copy and
	// UpdatedAt of the application with r.ID (CreatedAt is kept), or
	// returns ErrNotFound.
	UpdateApplication(ctx context.Context, r Record) error
	// DeleteApplication removes the application, or returns ErrNotFound.
	DeleteApplication(ctx context.Context, id string) error
	// SaveMetadataCopy replaces only the last good metadata copy of the
	// application and when it was fetched (a refresh), leaving every
	// other field as it is, or returns ErrNotFound.
	SaveMetadataCopy(ctx context.Context, id string, metadata []byte, fetchedAt time.Time) error
}
