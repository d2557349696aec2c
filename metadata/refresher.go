package metadata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Refresher defaults and bounds.
const (
	DefaultRefreshInterval = time.Hour
	DefaultMaxStaleness    = 7 * 24 * time.Hour
	DefaultFetchTimeout    = 30 * time.Second
	MinRefreshInterval     = time.Minute
)

// RefresherConfig configures a Refresher. Exactly one of URL and File is
// required.
type RefresherConfig struct {
	// URL is the metadata URL (https, or http on loopback) ...
	URL string
	// ... or File the metadata file, re-read at every refresh.
	File string
	// EntityID, when set, selects the IdP in an aggregate (ParseIdPEntity);
	// otherwise the document must describe exactly one IdP (ParseIdP).
	EntityID string
	// Client fetches URL; nil means a plain &http.Client{}.
	Client *http.Client
	// Interval between refreshes; 0 means DefaultRefreshInterval (1h). At
	// least MinRefreshInterval.
	Interval time.Duration
	// MaxStaleness bounds how old the copy in use may be, measured from the
	// last time it was read successfully from the source: a cached copy
	// older than this is not loaded, and Current returns nil once the
	// current copy has not been refreshed for this long. 0 means
	// DefaultMaxStaleness (7 days), which rides out a long weekend of IdP
	// trouble while still retiring a revoked key within a week. It must be
	// at least twice Interval, so that one failed refresh never makes the
	// metadata unusable.
	MaxStaleness time.Duration
	// Timeout bounds each fetch; 0 means DefaultFetchTimeout (30s).
	Timeout time.Duration
	// MaxBytes caps the document size; 0 means DefaultMaxBytes (1 MiB).
	MaxBytes int64
	// CachePath, when set, is where the last good copy is kept (0600,
	// written atomically, its modification time set to when it was
	// fetched). Load falls back to it when the source fails.
	CachePath string
	// Logger receives refresh warnings; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnUpdate, when set, is called with each new copy (the first one, then
	// each one whose bytes differ from the previous), synchronously, with
	// the Refresher's refresh lock held: it must not call Load.
	OnUpdate func(*IdPMetadata)
}

// Refresher keeps the current IdP metadata, re-reading it from its source
// periodically once Start is called. Its methods are safe for concurrent use.
//
// The entity ID is pinned by the first copy installed: a later copy naming
// another entity is rejected like any invalid copy (change IdPs with a
// restart). A copy that fails to load, parse or validate never replaces the
// current one.
type Refresher struct {
	url, file string
	source    string // for messages: redacted URL or file path
	entityID  string
	client    *http.Client
	interval  time.Duration
	maxStale  time.Duration
	timeout   time.Duration
	maxBytes  int64
	cachePath string
	log       *slog.Logger
	now       func() time.Time
	onUpdate  func(*IdPMetadata)
	mu        sync.Mutex // serialises loads and refreshes
	cur       atomic.Pointer[snapshot]
	failures  atomic.Uint64
	started   atomic.Bool
	done      chan struct{}
}

type snapshot struct {
	md      *IdPMetadata
	raw     []byte
	fetched time.Time // when the source last yielded this copy
}

// NewRefresher validates cfg and returns a Refresher holding no metadata yet.
// Nothing is read and no goroutine starts until Load and Start.
func NewRefresher(cfg RefresherConfig) (*Refresher, error) {
	r := &Refresher{
		url:       cfg.URL,
		file:      cfg.File,
		entityID:  cfg.EntityID,
		client:    cfg.Client,
		interval:  cfg.Interval,
		maxStale:  cfg.MaxStaleness,
		timeout:   cfg.Timeout,
		maxBytes:  cfg.MaxBytes,
		cachePath: cfg.CachePath,
		log:       cfg.Logger,
		now:       cfg.Now,
		onUpdate:  cfg.OnUpdate,
		done:      make(chan struct{}),
	}
	var errs []error
	switch {
	case (r.url == "") == (r.file == ""):
		errs = append(errs, errors.New("exactly one of URL and File is required"))
	case r.url != "":
		u, err := checkURL(r.url)
		if err != nil {
			errs = append(errs, fmt.Errorf("URL: %w", err))
		} else {
			r.source = u.Redacted()
		}
	default:
		r.source = r.file
	}
	if r.interval == 0 {
		r.interval = DefaultRefreshInterval
	}
	if r.maxStale == 0 {
		r.maxStale = DefaultMaxStaleness
	}
	if r.timeout == 0 {
		r.timeout = DefaultFetchTimeout
	}
	if r.maxBytes == 0 {
		r.maxBytes = DefaultMaxBytes
	}
	if r.interval < MinRefreshInterval {
		errs = append(errs, fmt.Errorf("Interval %s is below %s", r.interval, MinRefreshInterval))
	}
	if r.maxStale < 2*r.interval {
		errs = append(errs, fmt.Errorf("MaxStaleness %s is less than twice Interval %s", r.maxStale, r.interval))
	}
	if r.timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %s is negative", r.timeout))
	}
	if r.maxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBytes %d is negative", r.maxBytes))
	}
	if r.cachePath != "" && r.cachePath == r.file {
		errs = append(errs, errors.New("CachePath must differ from File"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: refresher: %w", ErrInvalidConfig, err)
	}
	if r.client == nil {
		r.client = &http.Client{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Load reads the metadata from its source and installs it. When the source
// fails and no copy is installed yet, Load falls back to CachePath, provided
// the cached copy parses, validates and is not older than MaxStaleness. The
// error names the source and, when the fallback failed too, the cache file.
func (r *Refresher) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	srcErr := r.refreshLocked(ctx, now)
	if srcErr == nil || r.cachePath == "" || r.cur.Load() != nil {
		return srcErr
	}
	if err := r.loadCacheLocked(now); err != nil {
		return fmt.Errorf("%w; cached copy %s unusable: %w", srcErr, r.cachePath, err)
	}
	r.log.Warn("metadata: source failed, using the cached copy",
		slog.String("source", r.source), slog.String("cache", r.cachePath),
		slog.Time("fetched", r.LastSuccess()), slog.Any("error", srcErr))
	return nil
}

// Start launches the periodic refresh loop in a new goroutine and returns.
// The loop refreshes every Interval until ctx is done, then closes Done.
// A failed refresh keeps the current copy, logs a warning and counts in
// RefreshFailures. Calls after the first do nothing.
func (r *Refresher) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	go r.run(ctx)
}

// Done is closed when the loop launched by Start has returned. It is never
// closed if Start was not called.
func (r *Refresher) Done() <-chan struct{} { return r.done }

// Current returns the metadata in use, or nil when none is loaded, when the
// copy has not been refreshed from its source for longer than MaxStaleness,
// or when its validUntil has passed. Callers must treat nil as "no trusted
// IdP" and fail closed. The result is shared and read-only.
func (r *Refresher) Current() *IdPMetadata {
	s := r.cur.Load()
	if s == nil {
		return nil
	}
	now := r.now()
	if now.Sub(s.fetched) > r.maxStale {
		return nil
	}
	if !s.md.ValidUntil.IsZero() && !now.Before(s.md.ValidUntil) {
		return nil
	}
	return s.md
}

// LastSuccess returns when the source last yielded a valid copy (for a
// cached copy: its file's modification time); zero before the first.
func (r *Refresher) LastSuccess() time.Time {
	if s := r.cur.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// RefreshFailures counts the periodic refreshes that failed.
func (r *Refresher) RefreshFailures() uint64 { return r.failures.Load() }

func (r *Refresher) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refresh(ctx)
		}
	}
}

func (r *Refresher) refresh(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	err := r.refreshLocked(ctx, now)
	if err == nil || ctx.Err() != nil {
		return
	}
	n := r.failures.Add(1)
	attrs := []any{slog.String("source", r.source), slog.Uint64("failures", n), slog.Any("error", err)}
	if last := r.LastSuccess(); !last.IsZero() {
		attrs = append(attrs, slog.Time("last_success", last), slog.Duration("age", now.Sub(last)))
	}
	r.log.Warn("metadata: refresh failed, keeping the last good copy", attrs...)
}

// refreshLocked reads, parses and installs a copy from the source.
func (r *Refresher) refreshLocked(ctx context.Context, now time.Time) error {
	raw, err := r.read(ctx)
	if err != nil {
		return err
	}
	md, err := r.parse(raw, now)
	if err != nil {
		return fmt.Errorf("metadata: %s: %w", r.source, err)
	}
	if err := r.install(raw, md, now); err != nil {
		return fmt.Errorf("metadata: %s: %w", r.source, err)
	}
	if r.cachePath != "" {
		if err := writeFileAtomic(r.cachePath, raw, now); err != nil {
			r.log.Warn("metadata: writing the cached copy failed",
				slog.String("cache", r.cachePath), slog.Any("error", err))
		}
	}
	return nil
}

func (r *Refresher) read(ctx context.Context) ([]byte, error) {
	if r.file != "" {
		return LoadFile(r.file, r.maxBytes)
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	return Fetch(ctx, r.client, r.url, r.maxBytes)
}

func (r *Refresher) parse(raw []byte, now time.Time) (*IdPMetadata, error) {
	if r.entityID != "" {
		return ParseIdPEntity(raw, r.entityID, now)
	}
	return ParseIdP(raw, now)
}

func (r *Refresher) loadCacheLocked(now time.Time) error {
	fi, err := os.Stat(r.cachePath)
	if err != nil {
		return err
	}
	fetched := fi.ModTime()
	if fetched.After(now) {
		fetched = now
	}
	if age := now.Sub(fetched); age > r.maxStale {
		return fmt.Errorf("%w: fetched %s ago, bound %s", ErrStale, age.Round(time.Second), r.maxStale)
	}
	raw, err := LoadFile(r.cachePath, r.maxBytes)
	if err != nil {
		return err
	}
	md, err := r.parse(raw, now)
	if err != nil {
		return err
	}
	return r.install(raw, md, fetched)
}

// install makes md current unless it names another entity than the current
// copy. OnUpdate runs when the bytes changed.
func (r *Refresher) install(raw []byte, md *IdPMetadata, fetched time.Time) error {
	prev := r.cur.Load()
	if prev != nil && prev.md.EntityID != md.EntityID {
		return fmt.Errorf("%w: entity ID changed from %q to %q", ErrInvalid, prev.md.EntityID, md.EntityID)
	}
	changed := prev == nil || !bytes.Equal(prev.raw, raw)
	if !changed {
		md = prev.md
	}
	r.cur.Store(&snapshot{md: md, raw: raw, fetched: fetched})
	if changed && r.onUpdate != nil {
		r.onUpdate(md)
	}
	return nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// folder, mode 0600, fsynced, its times set to mtime, renamed over path, and
// the folder fsynced.
func writeFileAtomic(path string, data []byte, mtime time.Time) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chtimes(tmp, mtime, mtime); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
