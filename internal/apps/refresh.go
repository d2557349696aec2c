package apps

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
)

// Start launches, in a new goroutine, the loop that fetches every metadata
// URL again each RefreshInterval and reads the Store again each
// SyncInterval (to pick up changes made by other gateway instances), until
// ctx is done; then Done is closed. Calls after the first do nothing.
func (r *Registry) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	go r.run(ctx)
}

// Done is closed when the loop launched by Start has returned; never if
// Start was not called.
func (r *Registry) Done() <-chan struct{} { return r.done }

func (r *Registry) run(ctx context.Context) {
	defer close(r.done)
	refresh := time.NewTicker(r.refresh)
	defer refresh.Stop()
	sync := time.NewTicker(r.sync)
	defer sync.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			r.refreshAll(ctx)
		case <-sync.C:
			r.syncStore(ctx)
		}
	}
}

// refreshAll fetches the metadata of every application with a metadata
// URL, one at a time and without holding the writer lock, then installs
// each good copy.
func (r *Registry) refreshAll(ctx context.Context) {
	snap := r.cur.Load()
	var due []*entry
	for _, e := range snap.byID {
		if e.app.Spec.MetadataURL != "" {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *entry) int { return cmp.Compare(a.app.ID, b.app.ID) })
	for _, e := range due {
		raw, err := r.fetch(ctx, e.app.Spec.MetadataURL)
		if ctx.Err() != nil {
			return // shutting down: not a failure
		}
		r.applyRefresh(ctx, e, raw, err)
	}
}

// applyRefresh installs a fetched copy of e's metadata, unless e was
// changed or removed meanwhile. A failed fetch, or a copy that does not
// validate, names another entity than the copy in use, or takes another
// application's entity ID, keeps the copy in use and counts a failure.
func (r *Registry) applyRefresh(ctx context.Context, e *entry, raw []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := r.cur.Load()
	if snap.byID[e.app.ID] != e {
		return
	}
	now := r.now()
	var sp *idp.ServiceProvider
	if err == nil {
		sp, err = buildSP(e.app.ID, e.app.Spec, raw, "metadata_url", now)
	}
	if err == nil && e.sp != nil && sp.EntityID != e.sp.EntityID {
		err = fmt.Errorf("entity ID changed from %q to %q (update the application to accept a new entity ID)", e.sp.EntityID, sp.EntityID)
	}
	if err == nil {
		if other := snap.entityOwner(sp.EntityID, e.app.ID); other != nil {
			err = fmt.Errorf("entity ID %q is already used by application %q", sp.EntityID, other.app.ID)
		}
	}
	if err != nil {
		n := r.m.failures.WithLabelValues(e.app.ID)
		n.Inc()
		attrs := []any{slog.String("app", e.app.ID), slog.String("url", e.app.Spec.MetadataURL), slog.Any("error", err)}
		if e.sp != nil {
			attrs = append(attrs, slog.Time("last_success", e.app.MetadataLoadedAt))
		}
		r.log.Warn("apps: metadata refresh failed, keeping the last good copy", attrs...)
		return
	}
	app := e.app
	if app.Source == SourceAPI && !bytes.Equal(raw, app.MetadataCopy) {
		if serr := r.store.SaveMetadataCopy(ctx, app.ID, raw, now); serr != nil {
			r.log.Warn("apps: storing the refreshed metadata copy failed", slog.String("app", app.ID), slog.Any("error", serr))
		}
		app.MetadataCopy, app.MetadataFetchedAt = raw, now
	}
	if e.sp == nil {
		r.log.Info("apps: application available again", slog.String("app", app.ID))
	}
	next := snap.clone()
	next.put(newEntry(app, sp, raw, now))
	r.swap(next)
}

// syncStore reads the Store again and installs what other gateway
// instances changed: new, updated and deleted applications, and newer
// metadata copies. No URL is fetched. A Store failure keeps everything as
// it is.
func (r *Registry) syncStore(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs, err := r.store.ListApplications(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("apps: reading stored applications failed", slog.Any("error", err))
		}
		return
	}
	now := r.now()
	snap := r.cur.Load()
	next := snap.clone()
	changed := false
	seen := make(map[string]bool, len(recs))
	for _, rec := range recs {
		if r.staticIDs[rec.ID] {
			continue
		}
		seen[rec.ID] = true
		if old := snap.byID[rec.ID]; old != nil && sameSettings(old.app.Record, rec) && !newerCopy(old, rec) {
			continue
		}
		next.remove(rec.ID)
		next.put(r.admit(next, r.fromStore(rec, now)))
		changed = true
	}
	for id, e := range snap.byID {
		if e.app.Source == SourceAPI && !seen[id] {
			next.remove(id)
			changed = true
		}
	}
	if changed {
		r.swap(next)
	}
}

// newerCopy reports whether rec holds a metadata copy fetched after the
// one e uses.
func newerCopy(e *entry, rec Record) bool {
	return len(rec.MetadataCopy) > 0 && rec.MetadataFetchedAt.After(e.app.MetadataLoadedAt) && !bytes.Equal(rec.MetadataCopy, e.raw)
}
