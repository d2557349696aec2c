package apps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
)

// refusal is an error whose message is meant for the administrator; it
// wraps the sentinels callers branch on.
type refusal struct {
	msg  string
	errs []error
}

func (e *refusal) Error() string   { return e.msg }
func (e *refusal) Unwrap() []error { return e.errs }

func notFound(id string) error {
	return &refusal{msg: fmt.Sprintf("application %q does not exist", id), errs: []error{ErrNotFound}}
}

func conflict(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), errs: []error{ErrConflict}}
}

// readOnly refuses to change a config-file application.
func (r *Registry) readOnly(id string) error {
	return &refusal{
		msg:  fmt.Sprintf("application %q is defined in %s and cannot be changed through the API", id, r.configFile),
		errs: []error{ErrReadOnly, ErrConflict},
	}
}

// Create validates a new application completely (its metadata URL is
// fetched once), stores it and installs it. It returns a *ValidationError
// for bad input, an error wrapping ErrConflict when the ID or the entity ID
// is taken (ErrReadOnly too for an ID of the config file), or a store
// error. On any error neither the Store nor the registry changed.
func (r *Registry) Create(ctx context.Context, id, name string, spec Spec) (Application, error) {
	if r.staticIDs[id] {
		return Application{}, r.readOnly(id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if _, ok := r.cur.Load().byID[id]; ok {
		return Application{}, conflict("application %q already exists", id)
	}
	rec, sp, raw, err := r.prepare(ctx, id, name, spec, now)
	if err != nil {
		return Application{}, err
	}
	snap := r.cur.Load()
	if other := snap.entityOwner(sp.EntityID, id); other != nil {
		return Application{}, conflict("%s: entity ID %q is already used by application %q", rec.Spec.metadataField(), sp.EntityID, other.app.ID)
	}
	rec.CreatedAt, rec.UpdatedAt = now, now
	if err := r.store.CreateApplication(ctx, rec); err != nil {
		if errors.Is(err, ErrConflict) {
			return Application{}, conflict("application %q already exists", id)
		}
		return Application{}, fmt.Errorf("apps: create %q: %w", id, err)
	}
	e := newEntry(Application{Record: rec, Source: SourceAPI}, sp, raw, now)
	next := snap.clone()
	next.put(e)
	r.swap(next)
	return e.view(), nil
}

// Update replaces a stored application's name and spec after validating
// them completely, like Create. It returns an error wrapping ErrNotFound
// for an unknown ID and ErrReadOnly (with ErrConflict) for a config-file
// application; on any error neither the Store nor the registry changed.
func (r *Registry) Update(ctx context.Context, id, name string, spec Spec) (Application, error) {
	if r.staticIDs[id] {
		return Application{}, r.readOnly(id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	old, err := r.store.GetApplication(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Application{}, notFound(id)
	}
	if err != nil {
		return Application{}, fmt.Errorf("apps: update %q: %w", id, err)
	}
	rec, sp, raw, err := r.prepare(ctx, id, name, spec, now)
	if err != nil {
		return Application{}, err
	}
	snap := r.cur.Load()
	if other := snap.entityOwner(sp.EntityID, id); other != nil {
		return Application{}, conflict("%s: entity ID %q is already used by application %q", rec.Spec.metadataField(), sp.EntityID, other.app.ID)
	}
	rec.CreatedAt, rec.UpdatedAt = old.CreatedAt, now
	if err := r.store.UpdateApplication(ctx, rec); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Application{}, notFound(id)
		}
		return Application{}, fmt.Errorf("apps: update %q: %w", id, err)
	}
	e := newEntry(Application{Record: rec, Source: SourceAPI}, sp, raw, now)
	next := snap.clone()
	next.put(e)
	r.swap(next)
	return e.view(), nil
}

// Delete removes a stored application. It returns an error wrapping
// ErrNotFound for an unknown ID and ErrReadOnly (with ErrConflict) for a
// config-file application.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if r.staticIDs[id] {
		return r.readOnly(id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.DeleteApplication(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return notFound(id)
		}
		return fmt.Errorf("apps: delete %q: %w", id, err)
	}
	next := r.cur.Load().clone()
	next.remove(id)
	r.swap(next)
	return nil
}

// prepare validates an application from the admin API: the fields that
// need no metadata first, then its metadata (fetching a URL once) and the
// service provider built from both. The record has no timestamps yet.
func (r *Registry) prepare(ctx context.Context, id, name string, spec Spec, now time.Time) (Record, *idp.ServiceProvider, []byte, error) {
	name, spec, err := normalize(id, name, spec)
	if err != nil {
		return Record{}, nil, nil, err
	}
	rec := Record{ID: id, Name: name, Spec: spec}
	raw := []byte(spec.MetadataXML)
	if spec.MetadataURL != "" {
		if raw, err = r.fetch(ctx, spec.MetadataURL); err != nil {
			return Record{}, nil, nil, &ValidationError{Field: "metadata_url", Problem: err.Error(), Err: err}
		}
		rec.MetadataCopy, rec.MetadataFetchedAt = raw, now
	}
	sp, err := buildSP(id, spec, raw, spec.metadataField(), now)
	if err != nil {
		return Record{}, nil, nil, err
	}
	return rec, sp, raw, nil
}
