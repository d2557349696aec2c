package scim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// PathPrefix is the path under which Handler serves the SCIM endpoints.
const PathPrefix = "/scim/v2"

// ContentType is the media type of every response body.
const ContentType = "application/scim+json; charset=utf-8"

// Defaults and bounds of Config.
const (
	// DefaultMaxBody caps request bodies when Config.MaxBody is zero.
	DefaultMaxBody = 1 << 20
	// MaxMaxBody is the largest Config.MaxBody.
	MaxMaxBody = 64 << 20
	// DefaultMaxResults is the page size when a list request gives no
	// count and Config.MaxResults is zero.
	DefaultMaxResults = 100
	// MaxMaxResults is the largest Config.MaxResults
	// (directory.MaxListCount).
	MaxMaxResults = directory.MaxListCount
)

// Audit event types. Details never carry a value of an attribute but
// userName and displayName.
const (
	EventUserCreated   = "scim.user.created"
	EventUserReplaced  = "scim.user.replaced"
	EventUserPatched   = "scim.user.patched"
	EventUserDeleted   = "scim.user.deleted"
	EventGroupCreated  = "scim.group.created"
	EventGroupReplaced = "scim.group.replaced"
	EventGroupPatched  = "scim.group.patched"
	EventGroupDeleted  = "scim.group.deleted"
)

// Auditor records audit events; *audit.Log implements it. Record returns
// only once the event is durable, or an error.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// Config configures New.
type Config struct {
	// Store is the identity store (required).
	Store directory.Store
	// Auditor records every change (required).
	Auditor Auditor
	// BaseURL is the absolute URL of the SCIM root as clients reach it,
	// e.g. https://gw.example.com/scim/v2 (required): meta.location,
	// Location headers and $ref values are built from it.
	BaseURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives store failures (error), failed audit records
	// (error) and refused requests (debug); nil discards.
	Logger *slog.Logger
	// MaxBody caps request bodies in bytes (zero: DefaultMaxBody; at most
	// MaxMaxBody). A larger body gets 413.
	MaxBody int64
	// MaxResults is the largest page of a list, and the page size when
	// the request gives no count (zero: DefaultMaxResults; at most
	// MaxMaxResults). It is published as filter.maxResults.
	MaxResults int
}

// Server is the SCIM 2.0 service provider (RFC 7643, RFC 7644) for the
// identity store. It is immutable and safe for concurrent use.
type Server struct {
	store      directory.Store
	auditor    Auditor
	baseURL    string
	now        func() time.Time
	log        *slog.Logger
	maxBody    int64
	maxResults int
	users      *endpoint[directory.User]
	groups     *endpoint[directory.Group]
}

// New validates cfg and returns a Server, naming every problem at once.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if cfg.Auditor == nil {
		errs = append(errs, errors.New("an auditor is required"))
	}
	base, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxBody < 0 || cfg.MaxBody > MaxMaxBody {
		errs = append(errs, fmt.Errorf("MaxBody must be between 0 (default) and %d bytes", MaxMaxBody))
	}
	if cfg.MaxResults < 0 || cfg.MaxResults > MaxMaxResults {
		errs = append(errs, fmt.Errorf("MaxResults must be between 0 (default) and %d", MaxMaxResults))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("scim: %w", errors.Join(errs...))
	}
	s := &Server{
		store: cfg.Store, auditor: cfg.Auditor, baseURL: base, now: cfg.Now, log: cfg.Logger,
		maxBody: cfg.MaxBody, maxResults: cfg.MaxResults,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.maxResults == 0 {
		s.maxResults = DefaultMaxResults
	}
	s.users, s.groups = newUsers(s), newGroups(s)
	return s, nil
}

func checkBaseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("BaseURL %q must be an absolute http or https URL without query, fragment or user info", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// Handler returns the handler of every endpoint under PathPrefix:
//
//	GET    /Users, /Groups                 list (filter, startIndex, count, attributes, excludedAttributes)
//	POST   /Users, /Groups                 create: 201, Location, ETag
//	POST   /Users/.search, /Groups/.search list with a SearchRequest body
//	GET    /Users/{id}, /Groups/{id}       200 with ETag (304 for a matching If-None-Match)
//	PUT    /Users/{id}, /Groups/{id}       replace (If-Match honoured)
//	PATCH  /Users/{id}, /Groups/{id}       RFC 7644 section 3.5.2 (If-Match honoured)
//	DELETE /Users/{id}, /Groups/{id}       204 (If-Match honoured)
//	GET    /ServiceProviderConfig, /Schemas[/{urn}], /ResourceTypes[/{name}]
//
// /Bulk and /Me answer 501. Every error is an RFC 7644 section 3.12 JSON
// body. The handler must run behind scimtoken's Require: a request
// without an authenticated SCIM token in its context gets 401.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// route names an endpoint and the methods it allows.
type route struct {
	allow  []string
	handle func(w http.ResponseWriter, r *http.Request, now time.Time)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := scimtoken.TokenFrom(r.Context()); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
		s.fail(w, r, &Error{Status: http.StatusUnauthorized, Detail: "a valid SCIM bearer token is required"})
		return
	}
	rt, ok := s.route(r)
	if !ok {
		s.fail(w, r, &Error{Status: http.StatusNotFound, Detail: "no SCIM endpoint at this path"})
		return
	}
	allowed := false
	for _, m := range rt.allow {
		allowed = allowed || m == r.Method
	}
	if !allowed {
		w.Header().Set("Allow", strings.Join(rt.allow, ", "))
		s.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Detail: "method " + quote(r.Method) + " is not allowed here"})
		return
	}
	rt.handle(w, r, s.now())
}

// route resolves the request path.
func (s *Server) route(r *http.Request) (route, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return route{}, false
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	get := []string{http.MethodGet}
	item := []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}
	collection := []string{http.MethodGet, http.MethodPost}
	switch len(segs) {
	case 1:
		switch segs[0] {
		case "Users":
			return route{collection, s.users.collection}, true
		case "Groups":
			return route{collection, s.groups.collection}, true
		case "ServiceProviderConfig":
			return route{get, s.serviceProviderConfig}, true
		case "Schemas":
			return route{get, s.schemas}, true
		case "ResourceTypes":
			return route{get, s.resourceTypes}, true
		case "Me", "Bulk":
			return route{[]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, s.notImplemented}, true
		}
	case 2:
		id := segs[1]
		switch segs[0] {
		case "Users":
			return itemRoute(s.users, id, item), true
		case "Groups":
			return itemRoute(s.groups, id, item), true
		case "Schemas":
			return route{get, func(w http.ResponseWriter, r *http.Request, _ time.Time) { s.schema(w, r, id) }}, true
		case "ResourceTypes":
			return route{get, func(w http.ResponseWriter, r *http.Request, _ time.Time) { s.resourceType(w, r, id) }}, true
		}
	}
	return route{}, false
}

// itemRoute is the route of /Users/{id} or /Groups/{id}, or of .search.
func itemRoute[T any](e *endpoint[T], id string, item []string) route {
	if id == ".search" {
		return route{[]string{http.MethodPost}, e.search}
	}
	return route{item, func(w http.ResponseWriter, r *http.Request, now time.Time) { e.item(w, r, id, now) }}
}

func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request, _ time.Time) {
	s.fail(w, r, &Error{Status: http.StatusNotImplemented, Detail: "this SCIM endpoint is not implemented (see /ServiceProviderConfig)"})
}

// logger is the request-scoped logger when server.RequestID ran, else
// the server's.
func (s *Server) logger(ctx context.Context) *slog.Logger {
	if server.RequestIDFrom(ctx) != "" {
		return server.Logger(ctx)
	}
	return s.log
}

// fail answers err: a client error as it is, anything else as 503 after
// logging it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	e, known := asError(err)
	switch {
	case !known:
		s.logger(ctx).ErrorContext(ctx, "scim: identity store failure",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		w.Header().Set("Retry-After", "5")
	case e.Status >= 500:
		s.logger(ctx).ErrorContext(ctx, "scim: request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", e.Status), slog.String("detail", e.Detail))
	default:
		s.logger(ctx).DebugContext(ctx, "scim: request refused",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", e.Status),
			slog.String("scim_type", string(e.Type)), slog.String("detail", e.Detail))
	}
	writeError(w, e)
}

// write sends a resource or message with status.
func (s *Server) write(w http.ResponseWriter, r *http.Request, status int, o object) {
	body, err := marshal(o)
	if err != nil {
		s.fail(w, r, fmt.Errorf("scim: encode response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// readBody reads and decodes the JSON body of r: application/scim+json
// or application/json, at most maxBody bytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (any, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/scim+json" && mt != "application/json") {
		return nil, &Error{Status: http.StatusUnsupportedMediaType,
			Detail: "the body must be application/scim+json or application/json"}
	}
	tooLarge := &Error{Status: http.StatusRequestEntityTooLarge,
		Detail: "the body is larger than " + strconv.FormatInt(s.maxBody, 10) + " bytes"}
	if r.ContentLength > s.maxBody {
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.Header().Set("Connection", "close")
			return nil, tooLarge
		}
		return nil, errorf(TypeInvalidSyntax, "the body could not be read")
	}
	return decodeJSON(data)
}

// ifMatch returns the version an If-Match header asks for: 0 without
// one or for "*"; for a list of entity tags, the one equal to current
// (read through current, called only then), else a version that cannot
// match. Weak and strong tags are compared alike.
func ifMatch(r *http.Request, current func() (int64, error)) (int64, error) {
	h := strings.TrimSpace(strings.Join(r.Header.Values("If-Match"), ","))
	if h == "" || h == "*" {
		return 0, nil
	}
	var versions []int64
	for _, tag := range strings.Split(h, ",") {
		if v, ok := parseETag(tag); ok {
			versions = append(versions, v)
		}
	}
	if len(versions) == 1 {
		return versions[0], nil
	}
	if len(versions) == 0 {
		return -1, nil
	}
	cur, err := current()
	if err != nil {
		return 0, err
	}
	for _, v := range versions {
		if v == cur {
			return v, nil
		}
	}
	return -1, nil
}

// parseETag parses W/"<n>" or "<n>" with n a positive version.
func parseETag(tag string) (int64, bool) {
	tag = strings.TrimSpace(tag)
	tag = strings.TrimPrefix(tag, "W/")
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// notModified reports whether an If-None-Match header matches version.
func notModified(r *http.Request, version int64) bool {
	for _, h := range r.Header.Values("If-None-Match") {
		for _, tag := range strings.Split(h, ",") {
			if strings.TrimSpace(tag) == "*" {
				return true
			}
			if v, ok := parseETag(tag); ok && v == version {
				return true
			}
		}
	}
	return false
}

// record writes an audit event for a change made by the request.
func (s *Server) record(ctx context.Context, typ, subject string, now time.Time, details map[string]string) error {
	err := s.auditor.Record(ctx, audit.Event{
		Time: now, Type: typ, Outcome: audit.Success, Actor: scimtoken.Actor(ctx), Subject: subject,
		Source: server.ClientAddrFrom(ctx), RequestID: server.RequestIDFrom(ctx), Details: details,
	})
	if err != nil {
		s.logger(ctx).ErrorContext(ctx, "scim: the change was made but its audit record failed",
			slog.String("event", typ), slog.String("subject", subject), slog.Any("details", details), slog.Any("error", err))
		return errAuditFailed
	}
	return nil
}
