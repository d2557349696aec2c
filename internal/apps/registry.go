package apps

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

// Defaults and bounds of Config.
const (
	DefaultRefreshInterval = time.Hour
	DefaultSyncInterval    = time.Minute
	DefaultFetchTimeout    = 30 * time.Second
	MinInterval            = time.Second
)

// ErrReadOnly is wrapped (together with ErrConflict) by the error a change
// to an application defined in the config file returns.
var ErrReadOnly = errors.New("apps: application is defined in the config file")

// Config configures a Registry.
type Config struct {
	// Static are the config file's applications (validated by the config
	// package); they cannot be changed through the Registry.
	Static []config.ApplicationConfig
	// ConfigFile is the config file's path, named in messages about
	// Static applications; empty means "the config file".
	ConfigFile string
	// Store keeps the applications created through the admin API
	// (required).
	Store Store
	// HTTPClient fetches metadata URLs; nil means a plain &http.Client{}.
	HTTPClient *http.Client
	// RefreshInterval is how often metadata URLs are fetched again
	// (default 1h).
	RefreshInterval time.Duration
	// SyncInterval is how often the Store is read again for changes made
	// by other gateway instances (default 1m). No URL is fetched then.
	SyncInterval time.Duration
	// FetchTimeout bounds each metadata fetch (default 30s).
	FetchTimeout time.Duration
	// MaxMetadataBytes caps a fetched or file metadata document (default
	// metadata.DefaultMaxBytes, 1 MiB).
	MaxMetadataBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives load and refresh problems; nil discards them.
	Logger *slog.Logger
	// Registerer receives the registry's metrics; nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
}

// Registry holds the registered applications. It implements
// idp.ServiceProviderRegistry and idp.AccessPolicy; its methods are safe for
// concurrent use. Reads see an immutable snapshot; writers (Load, Create,
// Update, Delete, refreshes) are serialised and swap the snapshot
// atomically.
type Registry struct {
	static     []Application
	staticIDs  map[string]bool
	configFile string
	store      Store
	client     *http.Client
	refresh    time.Duration
	sync       time.Duration
	timeout    time.Duration
	maxBytes   int64
	now        func() time.Time
	log        *slog.Logger
	m          *metrics

	mu      sync.Mutex // serialises writers
	cur     atomic.Pointer[snapshot]
	started atomic.Bool
	done    chan struct{}
}

var (
	_ idp.ServiceProviderRegistry = (*Registry)(nil)
	_ idp.AccessPolicy            = (*Registry)(nil)
)

// New validates cfg and returns a Registry holding no applications yet:
// call Load, then Start.
func New(cfg Config) (*Registry, error) {
	r := &Registry{
		configFile: cfg.ConfigFile,
		store:      cfg.Store,
		client:     cfg.HTTPClient,
		refresh:    cmp.Or(cfg.RefreshInterval, DefaultRefreshInterval),
		sync:       cmp.Or(cfg.SyncInterval, DefaultSyncInterval),
		timeout:    cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout),
		maxBytes:   cmp.Or(cfg.MaxMetadataBytes, metadata.DefaultMaxBytes),
		now:        cfg.Now,
		log:        cfg.Logger,
		staticIDs:  map[string]bool{},
		done:       make(chan struct{}),
	}
	var errs []error
	if r.store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	for name, d := range map[string]time.Duration{"RefreshInterval": r.refresh, "SyncInterval": r.sync, "FetchTimeout": r.timeout} {
		if d < MinInterval {
			errs = append(errs, fmt.Errorf("%s %s is below %s", name, d, MinInterval))
		}
	}
	if r.maxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxMetadataBytes %d is negative", r.maxBytes))
	}
	for i, a := range cfg.Static {
		app, err := staticApp(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("applications[%d]: %w", i, err))
			continue
		}
		if r.staticIDs[app.ID] {
			errs = append(errs, fmt.Errorf("applications[%d]: id %q is used twice", i, app.ID))
			continue
		}
		r.staticIDs[app.ID] = true
		r.static = append(r.static, app)
	}
	if r.configFile == "" {
		r.configFile = "the config file"
	}
	if r.client == nil {
		r.client = &http.Client{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("apps: invalid config: %w", err)
	}
	r.m = m
	r.cur.Store(newSnapshot())
	return r, nil
}

// staticApp converts and checks a config-file application.
func staticApp(a config.ApplicationConfig) (Application, error) {
	set := 0
	for _, v := range []string{a.MetadataFile, a.MetadataURL, a.MetadataXML} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return Application{}, fmt.Errorf("application %q: set exactly one of metadata_file, metadata_url, metadata_xml", a.ID)
	}
	spec := specFromConfig(a)
	probe := spec
	if a.MetadataFile != "" {
		probe.MetadataXML = "file" // the file is read by Load
	}
	name, _, err := normalize(a.ID, a.Name, probe)
	if err != nil {
		return Application{}, fmt.Errorf("application %q: %w", a.ID, err)
	}
	return Application{
		Record:       Record{ID: a.ID, Name: name, Spec: spec},
		Source:       SourceConfig,
		MetadataFile: a.MetadataFile,
	}, nil
}

// entry is one application in a snapshot. It is never modified once
// published.
type entry struct {
	app    Application
	sp     *idp.ServiceProvider // nil: unavailable (app.Problem says why)
	raw    []byte               // the metadata in use
	groups map[string]bool
	users  map[string]bool
}

func newEntry(app Application, sp *idp.ServiceProvider, raw []byte, loadedAt time.Time) *entry {
	app.Record = app.Record.Clone()
	app.Available, app.Problem, app.MetadataLoadedAt = true, "", loadedAt
	app.EntityID = sp.EntityID
	return withAssignments(&entry{app: app, sp: sp, raw: raw})
}

func unavailableEntry(app Application, problem string) *entry {
	app.Record = app.Record.Clone()
	app.Available, app.Problem, app.EntityID, app.MetadataLoadedAt = false, problem, "", time.Time{}
	return withAssignments(&entry{app: app})
}

func withAssignments(e *entry) *entry {
	e.groups = make(map[string]bool, len(e.app.Spec.Assignments.Groups))
	for _, g := range e.app.Spec.Assignments.Groups {
		e.groups[g] = true
	}
	e.users = make(map[string]bool, len(e.app.Spec.Assignments.Users))
	for _, u := range e.app.Spec.Assignments.Users {
		e.users[u] = true
	}
	return e
}

// allows reports whether p is assigned: by user name, or by any group.
func (e *entry) allows(p idp.Principal) bool {
	if p.UserName != "" && e.users[p.UserName] {
		return true
	}
	for _, g := range p.Groups {
		if e.groups[g] {
			return true
		}
	}
	return false
}

// snapshot is an immutable set of applications, by application ID and by
// the entity ID of each available one.
type snapshot struct {
	byID     map[string]*entry
	byEntity map[string]*entry
}

func newSnapshot() *snapshot {
	return &snapshot{byID: map[string]*entry{}, byEntity: map[string]*entry{}}
}

func (s *snapshot) clone() *snapshot {
	return &snapshot{byID: maps.Clone(s.byID), byEntity: maps.Clone(s.byEntity)}
}

// put adds or replaces e (only on a snapshot not yet published). The
// caller has checked that e's entity ID is not another application's.
func (s *snapshot) put(e *entry) {
	s.remove(e.app.ID)
	s.byID[e.app.ID] = e
	if e.sp != nil {
		s.byEntity[e.sp.EntityID] = e
	}
}

func (s *snapshot) remove(id string) {
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	if old.sp != nil && s.byEntity[old.sp.EntityID] == old {
		delete(s.byEntity, old.sp.EntityID)
	}
}

// entityOwner returns the application other than id that uses entityID.
func (s *snapshot) entityOwner(entityID, id string) *entry {
	if e := s.byEntity[entityID]; e != nil && e.app.ID != id {
		return e
	}
	return nil
}

// swap publishes next; r.mu must be held.
func (r *Registry) swap(next *snapshot) {
	old := r.cur.Swap(next)
	r.m.observe(old, next)
}

// Load builds every application from the config file and the Store and
// installs them, replacing what was loaded before. A config-file
// application whose metadata cannot be read or is invalid, and two
// applications with one entity ID in the config file, are errors (all of
// them are reported); nothing is installed then. A stored application
// whose metadata URL fails uses its last good copy; one that cannot be
// built at all, or whose entity ID is taken, is kept unavailable, logged
// and counted, and Load still succeeds. An unavailable Store is an error.
func (r *Registry) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	next := newSnapshot()
	var errs []error
	for _, a := range r.static {
		e, err := r.loadStatic(ctx, a, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other := next.entityOwner(e.sp.EntityID, a.ID); other != nil {
			errs = append(errs, fmt.Errorf("apps: applications %q and %q in %s have the same entity ID %q", other.app.ID, a.ID, r.configFile, e.sp.EntityID))
			continue
		}
		next.put(e)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	recs, err := r.store.ListApplications(ctx)
	if err != nil {
		return fmt.Errorf("apps: listing stored applications: %w", err)
	}
	for _, rec := range recs {
		if r.staticIDs[rec.ID] {
			r.log.Error("apps: a stored application has the ID of a config file application and is ignored",
				slog.String("app", rec.ID), slog.String("config_file", r.configFile))
			continue
		}
		next.put(r.admit(next, r.loadStored(ctx, rec, now)))
	}
	r.swap(next)
	return nil
}

// loadStatic reads and builds a config-file application.
func (r *Registry) loadStatic(ctx context.Context, a Application, now time.Time) (*entry, error) {
	var raw []byte
	var err error
	field, source := "metadata_xml", ""
	switch {
	case a.MetadataFile != "":
		field, source = "metadata_file", a.MetadataFile
		raw, err = metadata.LoadFile(a.MetadataFile, r.maxBytes)
	case a.Spec.MetadataURL != "":
		field, source = "metadata_url", a.Spec.MetadataURL
		raw, err = r.fetch(ctx, a.Spec.MetadataURL)
		if err != nil {
			r.m.failures.WithLabelValues(a.ID).Inc()
		}
	default:
		raw = []byte(a.Spec.MetadataXML)
	}
	if err != nil {
		return nil, fmt.Errorf("apps: application %q in %s: %s %s: %w", a.ID, r.configFile, field, source, err)
	}
	sp, err := buildSP(a.ID, a.Spec, raw, field, now)
	if err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			verr.Field = configField(verr.Field, a.Spec.Attributes)
		}
		if a.MetadataFile == "" && a.Spec.MetadataURL == "" {
			return nil, fmt.Errorf("apps: application %q in %s: %w", a.ID, r.configFile, err)
		}
		return nil, fmt.Errorf("apps: application %q in %s (%s %s): %w", a.ID, r.configFile, field, source, err)
	}
	return newEntry(a, sp, raw, now), nil
}

// configField names an attribute mapping the way the config file does,
// by its SAML name ("attributes[2].field" becomes "attributes.email").
func configField(field string, attrs []Attribute) string {
	var i int
	var rest string
	if n, _ := fmt.Sscanf(field, "attributes[%d]%s", &i, &rest); n >= 1 && i >= 0 && i < len(attrs) {
		return "attributes." + attrs[i].Name
	}
	return field
}

// loadStored builds a stored application at startup: inline metadata, or
// a fresh fetch of its URL falling back to the stored last good copy. It
// never fails; an application that cannot be built is unavailable.
func (r *Registry) loadStored(ctx context.Context, rec Record, now time.Time) *entry {
	if rec.Spec.MetadataURL == "" {
		return r.fromStore(rec, now)
	}
	app := Application{Record: rec, Source: SourceAPI}
	raw, err := r.fetch(ctx, rec.Spec.MetadataURL)
	if err == nil {
		var sp *idp.ServiceProvider
		if sp, err = buildSP(rec.ID, rec.Spec, raw, "metadata_url", now); err == nil {
			if !bytes.Equal(raw, rec.MetadataCopy) {
				if serr := r.store.SaveMetadataCopy(ctx, rec.ID, raw, now); serr != nil {
					r.log.Warn("apps: storing the fetched metadata copy failed", slog.String("app", rec.ID), slog.Any("error", serr))
				}
				app.MetadataCopy, app.MetadataFetchedAt = raw, now
			}
			return newEntry(app, sp, raw, now)
		}
	}
	r.m.failures.WithLabelValues(rec.ID).Inc()
	r.log.Warn("apps: fetching metadata failed at startup", slog.String("app", rec.ID),
		slog.String("url", rec.Spec.MetadataURL), slog.Any("error", err))
	return r.fromStore(rec, now)
}

// fromStore builds a stored application from what the Store holds: its
// inline metadata or its last good copy. No URL is fetched.
func (r *Registry) fromStore(rec Record, now time.Time) *entry {
	app := Application{Record: rec, Source: SourceAPI}
	raw, loadedAt := []byte(rec.Spec.MetadataXML), rec.UpdatedAt
	if rec.Spec.MetadataURL != "" {
		if len(rec.MetadataCopy) == 0 {
			r.log.Error("apps: application unavailable: its metadata URL failed and no copy is stored",
				slog.String("app", rec.ID), slog.String("url", rec.Spec.MetadataURL))
			return unavailableEntry(app, "metadata_url: no copy of the metadata could be fetched yet")
		}
		raw, loadedAt = rec.MetadataCopy, rec.MetadataFetchedAt
	}
	sp, err := buildSP(rec.ID, rec.Spec, raw, rec.Spec.metadataField(), now)
	if err != nil {
		r.log.Error("apps: application unavailable: its stored metadata is invalid",
			slog.String("app", rec.ID), slog.Any("error", err))
		return unavailableEntry(app, err.Error())
	}
	return newEntry(app, sp, raw, loadedAt)
}

// admit returns e, or e made unavailable when its entity ID is taken in s.
func (r *Registry) admit(s *snapshot, e *entry) *entry {
	if e.sp == nil {
		return e
	}
	other := s.entityOwner(e.sp.EntityID, e.app.ID)
	if other == nil {
		return e
	}
	problem := fmt.Sprintf("entity ID %q is already used by application %q", e.sp.EntityID, other.app.ID)
	r.log.Error("apps: application unavailable: duplicate entity ID", slog.String("app", e.app.ID),
		slog.String("other_app", other.app.ID), slog.String("entity_id", e.sp.EntityID))
	return unavailableEntry(e.app, problem)
}

// fetch GETs a metadata URL with the timeout and size cap.
func (r *Registry) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return metadata.Fetch(ctx, r.client, url, r.maxBytes)
}

// usable returns e's service provider when it is available and its
// metadata's validUntil has not passed.
func (r *Registry) usable(e *entry) (*idp.ServiceProvider, error) {
	if e == nil || e.sp == nil {
		return nil, idp.ErrUnknownServiceProvider
	}
	if vu := e.sp.ValidUntil; !vu.IsZero() && !r.now().Before(vu) {
		return nil, fmt.Errorf("%w: the metadata of application %q expired at %s", idp.ErrUnknownServiceProvider, e.app.ID, vu.UTC().Format(time.RFC3339))
	}
	return e.sp, nil
}

// ServiceProviderByEntityID returns the available application whose SP
// entity ID is entityID, or idp.ErrUnknownServiceProvider.
func (r *Registry) ServiceProviderByEntityID(_ context.Context, entityID string) (*idp.ServiceProvider, error) {
	return r.usable(r.cur.Load().byEntity[entityID])
}

// ServiceProviderByID returns the available application with the ID, or
// idp.ErrUnknownServiceProvider.
func (r *Registry) ServiceProviderByID(_ context.Context, id string) (*idp.ServiceProvider, error) {
	return r.usable(r.cur.Load().byID[id])
}

// CanAccess reports whether p is assigned to sp: p's user name is in its
// assignments' users, or one of p's groups in its groups. Empty
// assignments admit nobody; so does an application that has been removed
// or replaced by one with another entity ID since sp was looked up.
func (r *Registry) CanAccess(_ context.Context, sp *idp.ServiceProvider, p idp.Principal) (bool, error) {
	if sp == nil {
		return false, errors.New("apps: CanAccess: nil service provider")
	}
	e := r.cur.Load().byID[sp.ID]
	if e == nil || e.sp == nil || e.sp.EntityID != sp.EntityID {
		return false, nil
	}
	return e.allows(p), nil
}

// ApplicationsFor returns the available applications p is assigned to,
// sorted by name (then ID), for the access portal.
func (r *Registry) ApplicationsFor(_ context.Context, p idp.Principal) []Summary {
	var out []Summary
	for _, e := range r.cur.Load().byID {
		if _, err := r.usable(e); err == nil && e.allows(p) {
			out = append(out, Summary{ID: e.app.ID, Name: e.app.Name})
		}
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// List returns every application, config-file and stored, available or
// not, sorted by ID. The values are copies.
func (r *Registry) List() []Application {
	snap := r.cur.Load()
	out := make([]Application, 0, len(snap.byID))
	for _, e := range snap.byID {
		out = append(out, e.view())
	}
	slices.SortFunc(out, func(a, b Application) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Get returns the application with the ID, or an error wrapping
// ErrNotFound.
func (r *Registry) Get(id string) (Application, error) {
	e := r.cur.Load().byID[id]
	if e == nil {
		return Application{}, notFound(id)
	}
	return e.view(), nil
}

func (e *entry) view() Application {
	a := e.app
	a.Record = a.Record.Clone()
	return a
}
