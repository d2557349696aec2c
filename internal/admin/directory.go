package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// UsersPath and GroupsPath are the collections of the identity store
// endpoints.
const (
	UsersPath  = "/api/v1/admin/users"
	GroupsPath = "/api/v1/admin/groups"
)

// Body caps of the identity store endpoints.
const (
	// MaxDirectoryBody caps the body of user and group writes (64 KiB).
	MaxDirectoryBody = 64 << 10
	// MaxMembersBody caps the body of POST .../groups/{id}/members (1 MiB).
	MaxMembersBody = 1 << 20
	// DefaultListCount is the page size of a list without count.
	DefaultListCount = 100
)

// Audit event types of the identity store endpoints.
const (
	EventAdminUserCreated        = "admin.user.created"
	EventAdminUserReplaced       = "admin.user.replaced"
	EventAdminUserDeleted        = "admin.user.deleted"
	EventAdminUserDeactivated    = "admin.user.deactivated"
	EventAdminUserActivated      = "admin.user.activated"
	EventAdminGroupCreated       = "admin.group.created"
	EventAdminGroupReplaced      = "admin.group.replaced"
	EventAdminGroupDeleted       = "admin.group.deleted"
	EventAdminGroupMembersChange = "admin.group.members_changed"
)

// Auditor records audit events; *audit.Log implements it. Record returns
// only once the event is durable, or an error.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// DirectoryRoutes registers the identity store endpoints on mux, all
// behind tok.Require:
//
//	GET    /api/v1/admin/users                        200 {"users":[...],"total":n}, 400, 503
//	POST   /api/v1/admin/users                        201 user, 400, 409, 413, 415, 503
//	GET    /api/v1/admin/users/{id}                   200 user, 404, 503
//	PUT    /api/v1/admin/users/{id}                   200 user, 400, 404, 409, 412, 413, 415, 503
//	DELETE /api/v1/admin/users/{id}                   204, 404, 503
//	POST   /api/v1/admin/users/{id}/deactivate        200 user, 400, 404, 412, 503
//	POST   /api/v1/admin/users/{id}/activate          200 user, 400, 404, 412, 503
//	GET    /api/v1/admin/groups                       200 {"groups":[...],"total":n}, 400, 503
//	POST   /api/v1/admin/groups                       201 group, 400, 409, 413, 415, 503
//	GET    /api/v1/admin/groups/{id}                  200 group, 404, 503
//	PUT    /api/v1/admin/groups/{id}                  200 group, 400, 404, 409, 412, 413, 415, 503
//	DELETE /api/v1/admin/groups/{id}                  204, 404, 503
//	POST   /api/v1/admin/groups/{id}/members          200 group, 400, 404, 412, 413, 415, 503
//
// Lists take the query parameters filter (a SCIM filter, RFC 7644 section
// 3.4.2.2, on the SCIM attribute names: userName eq "alice"), start_index
// (1-based, default 1) and count (0 to directory.MaxListCount, default
// DefaultListCount; 0 returns only the total); unknown or repeated
// parameters are 400. Items are ordered by creation time, then ID.
//
// Bodies are JSON objects (Content-Type application/json) decoded
// strictly: unknown fields, read-only ones (groups, version, created_at,
// updated_at) included, are 400 naming the field. User and group bodies
// are capped at MaxDirectoryBody bytes, member changes
// ({"add":[ids],"remove":[ids]}) at MaxMembersBody. PUT replaces every
// writable field; a user's active, when omitted from PUT, keeps its
// value (POST: true). PUT, deactivate, activate and members take an
// optional If-Match: W/"<version>" ("<version>" and * also accepted);
// another version is 412, a malformed header 400. Deactivation ends the
// user's sessions and revokes its refresh tokens (the store does so).
//
// Every change is audited (actor "admin"; for users the subject is the
// user ID); when the change was made but its record failed, the answer
// is 500 audit_failed. Errors are {"error":code,"message":...}, the
// message of a 400 being "<field>: <problem>"; store failures are logged
// and answered 503 without detail.
func DirectoryRoutes(mux *http.ServeMux, tok Token, st directory.Store, aud Auditor, now func() time.Time, logger *slog.Logger) {
	if st == nil || aud == nil {
		panic("admin: DirectoryRoutes needs a store and an auditor")
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rt := &directoryRoutes{st: st, aud: aud, now: now, log: logger}
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, tok.Require(h)) }
	users, groups := newUserRoutes(rt), newGroupRoutes(rt)
	handle("GET "+UsersPath, users.serveList)
	handle("POST "+UsersPath, users.serveCreate)
	handle("GET "+UsersPath+"/{id}", users.serveGet)
	handle("PUT "+UsersPath+"/{id}", users.serveReplace)
	handle("DELETE "+UsersPath+"/{id}", users.serveDelete)
	handle("POST "+UsersPath+"/{id}/deactivate", setActive(users, false))
	handle("POST "+UsersPath+"/{id}/activate", setActive(users, true))
	handle("GET "+GroupsPath, groups.serveList)
	handle("POST "+GroupsPath, groups.serveCreate)
	handle("GET "+GroupsPath+"/{id}", groups.serveGet)
	handle("PUT "+GroupsPath+"/{id}", groups.serveReplace)
	handle("DELETE "+GroupsPath+"/{id}", groups.serveDelete)
	handle("POST "+GroupsPath+"/{id}/members", patchMembers(groups))
}

type directoryRoutes struct {
	st  directory.Store
	aud Auditor
	now func() time.Time
	log *slog.Logger
}

// emailJSON is one e-mail address in requests and responses.
type emailJSON struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

// userRequest is the body of POST and PUT on users. ID is optional (POST:
// the store picks one when empty; PUT: must match the URL). Email without
// Emails becomes the primary address.
type userRequest struct {
	ID          string            `json:"id"`
	UserName    string            `json:"user_name"`
	ExternalID  string            `json:"external_id"`
	GivenName   string            `json:"given_name"`
	FamilyName  string            `json:"family_name"`
	DisplayName string            `json:"display_name"`
	Email       string            `json:"email"`
	Emails      []emailJSON       `json:"emails"`
	Active      *bool             `json:"active"`
	Attributes  map[string]string `json:"attributes"`
}

func (q userRequest) user(active bool) directory.User {
	u := directory.User{
		ID: q.ID, UserName: q.UserName, ExternalID: q.ExternalID, GivenName: q.GivenName,
		FamilyName: q.FamilyName, DisplayName: q.DisplayName, Email: q.Email, Active: active,
		Attributes: q.Attributes,
	}
	if q.Active != nil {
		u.Active = *q.Active
	}
	for _, e := range q.Emails {
		u.Emails = append(u.Emails, directory.Email{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	return u
}

// groupRefJSON names a group of a user.
type groupRefJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// userView is a user in responses.
type userView struct {
	ID          string            `json:"id"`
	UserName    string            `json:"user_name"`
	ExternalID  string            `json:"external_id"`
	GivenName   string            `json:"given_name"`
	FamilyName  string            `json:"family_name"`
	DisplayName string            `json:"display_name"`
	Email       string            `json:"email"`
	Emails      []emailJSON       `json:"emails"`
	Active      bool              `json:"active"`
	Attributes  map[string]string `json:"attributes"`
	Groups      []groupRefJSON    `json:"groups"`
	Version     int64             `json:"version"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func userViewOf(u directory.User) userView {
	v := userView{
		ID: u.ID, UserName: u.UserName, ExternalID: u.ExternalID, GivenName: u.GivenName,
		FamilyName: u.FamilyName, DisplayName: u.DisplayName, Email: u.Email, Active: u.Active,
		Emails: make([]emailJSON, 0, len(u.Emails)), Attributes: maps.Clone(u.Attributes),
		Groups: make([]groupRefJSON, 0, len(u.Groups)), Version: u.Version,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
	if v.Attributes == nil {
		v.Attributes = map[string]string{}
	}
	for _, e := range u.Emails {
		v.Emails = append(v.Emails, emailJSON{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	for _, g := range u.Groups {
		v.Groups = append(v.Groups, groupRefJSON{ID: g.ID, DisplayName: g.DisplayName})
	}
	return v
}

// groupRequest is the body of POST and PUT on groups. ID is optional
// (POST: the store picks one when empty; PUT: must match the URL).
type groupRequest struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"display_name"`
	ExternalID  string   `json:"external_id"`
	Members     []string `json:"members"`
}

// groupView is a group in responses.
type groupView struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	ExternalID  string    `json:"external_id"`
	Members     []string  `json:"members"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func groupViewOf(g directory.Group) groupView {
	v := groupView{
		ID: g.ID, DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: slices.Clone(g.Members),
		Version: g.Version, CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
	if v.Members == nil {
		v.Members = []string{}
	}
	return v
}

// membersRequest is the body of POST .../groups/{id}/members.
type membersRequest struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// --- the shared flow ---

// entityRoutes serves the HTTP flow that users and groups share: list,
// read, create, replace, delete and the changes that take If-Match, with
// their store errors and audit records. What differs is given as
// functions of the entity T, its request body Q and its view V;
// userRoutes and groupRoutes build them. An entityRoutes is immutable
// once built.
type entityRoutes[T, Q, V any] struct {
	rt   *directoryRoutes
	kind resourceKind
	path string // the collection, for Location
	// ident returns the entity's ID.
	ident func(T) string
	// view returns the entity as served; listBody wraps a page of views.
	view     func(T) V
	listBody func(items []V, total int) any

	// Store calls.
	list   func(ctx context.Context, q directory.Query) (directory.Page[T], error)
	get    func(ctx context.Context, id string) (T, error)
	create func(ctx context.Context, t T, now time.Time) (T, error)
	update func(ctx context.Context, id string, ifVersion int64, fn func(*T) error, now time.Time) (T, error)
	delete func(ctx context.Context, id string, ifVersion int64, now time.Time) error

	// requestID returns the optional ID of a body; fromRequest is the
	// entity a POST creates; replace edits the stored entity into the one
	// a PUT asks for (run inside update, so possibly more than once).
	requestID   func(Q) string
	fromRequest func(Q) T
	replace     func(req Q, p *T) error

	// Audit records: event types, details (never values), and whether
	// the entity's ID is the event's subject. replacedDetails gets the
	// stored entity before the change as read, not normalized.
	created, replaced, deleted string
	createdDetails             func(T) map[string]string
	replacedDetails            func(before, after T) map[string]string
	deletedKey                 string // names the ID in a deletion's details; "" for none
	idIsSubject                bool
}

// changeFunc writes a change at ifVersion and now, and returns the
// entity and the audit details of the change.
type changeFunc[T any] func(ctx context.Context, ifVersion int64, now time.Time) (T, map[string]string, error)

// subject is the audit subject of a change of the entity id.
func (e *entityRoutes[T, Q, V]) subject(id string) string {
	if e.idIsSubject {
		return id
	}
	return ""
}

func (e *entityRoutes[T, Q, V]) fail(w http.ResponseWriter, r *http.Request, err error) {
	e.rt.fail(w, r, err, e.kind)
}

func (e *entityRoutes[T, Q, V]) serveList(w http.ResponseWriter, r *http.Request) {
	q, err := parseDirectoryQuery(r.URL.RawQuery)
	if err != nil {
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	page, err := e.list(r.Context(), q)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	views := make([]V, 0, len(page.Items))
	for _, t := range page.Items {
		views = append(views, e.view(t))
	}
	writeJSON(w, http.StatusOK, e.listBody(views, page.Total))
}

func (e *entityRoutes[T, Q, V]) serveGet(w http.ResponseWriter, r *http.Request) {
	t, err := e.get(r.Context(), r.PathValue("id"))
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e.view(t))
}

func (e *entityRoutes[T, Q, V]) serveCreate(w http.ResponseWriter, r *http.Request) {
	var req Q
	if !decodeLimitedBody(w, r, &req, MaxDirectoryBody) {
		return
	}
	now := e.rt.now()
	t, err := e.create(r.Context(), e.fromRequest(req), now)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	id := e.ident(t)
	if !e.rt.record(w, r, e.created, e.subject(id), now, e.createdDetails(t)) {
		return
	}
	w.Header().Set("Location", e.path+"/"+id)
	writeJSON(w, http.StatusCreated, e.view(t))
}

func (e *entityRoutes[T, Q, V]) serveReplace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.change(w, r, e.replaced, func(w http.ResponseWriter, r *http.Request) (changeFunc[T], bool) {
		var req Q
		if !decodeLimitedBody(w, r, &req, MaxDirectoryBody) {
			return nil, false
		}
		if rid := e.requestID(req); rid != "" && rid != id {
			server.WriteJSONError(w, http.StatusBadRequest, "invalid_request",
				"id: does not match the "+string(e.kind)+" ID in the URL")
			return nil, false
		}
		return func(ctx context.Context, ifVersion int64, now time.Time) (T, map[string]string, error) {
			var before T
			t, err := e.update(ctx, id, ifVersion, func(p *T) error {
				before = *p
				return e.replace(req, p)
			}, now)
			if err != nil {
				return t, nil, err
			}
			return t, e.replacedDetails(before, t), nil
		}, true
	})
}

func (e *entityRoutes[T, Q, V]) serveDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	now := e.rt.now()
	if err := e.delete(r.Context(), id, 0, now); err != nil {
		e.fail(w, r, err)
		return
	}
	var details map[string]string
	if e.deletedKey != "" {
		details = map[string]string{e.deletedKey: id}
	}
	if !e.rt.record(w, r, e.deleted, e.subject(id), now, details) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// change serves a change of the entity in the URL that takes If-Match:
// it resolves If-Match, then prepare reads and checks the request
// (answering itself and returning false when it is bad) and returns the
// write, which is run, audited as event and answered 200 with the
// entity.
func (e *entityRoutes[T, Q, V]) change(w http.ResponseWriter, r *http.Request, event string,
	prepare func(w http.ResponseWriter, r *http.Request) (changeFunc[T], bool)) {
	ifVersion, ok := ifMatchVersion(w, r)
	if !ok {
		return
	}
	write, ok := prepare(w, r)
	if !ok {
		return
	}
	now := e.rt.now()
	t, details, err := write(r.Context(), ifVersion, now)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if !e.rt.record(w, r, event, e.subject(e.ident(t)), now, details) {
		return
	}
	writeJSON(w, http.StatusOK, e.view(t))
}

// --- users ---

// userRoutes serves the users endpoints.
type userRoutes = entityRoutes[directory.User, userRequest, userView]

func newUserRoutes(rt *directoryRoutes) *userRoutes {
	return &userRoutes{
		rt: rt, kind: kindUser, path: UsersPath,
		ident: func(u directory.User) string { return u.ID },
		view:  userViewOf,
		listBody: func(items []userView, total int) any {
			return struct {
				Users []userView `json:"users"`
				Total int        `json:"total"`
			}{Users: items, Total: total}
		},
		list:   rt.st.ListDirectoryUsers,
		get:    rt.st.DirectoryUser,
		create: rt.st.CreateDirectoryUser,
		update: rt.st.UpdateDirectoryUser,
		delete: rt.st.DeleteDirectoryUser,

		requestID:   func(q userRequest) string { return q.ID },
		fromRequest: func(q userRequest) directory.User { return q.user(true) },
		replace: func(q userRequest, p *directory.User) error {
			next := q.user(p.Active)
			next.ID = p.ID
			return directory.ReplaceUserFields(next)(p)
		},

		created: EventAdminUserCreated, replaced: EventAdminUserReplaced, deleted: EventAdminUserDeleted,
		createdDetails: func(u directory.User) map[string]string {
			return map[string]string{
				"attributes": strings.Join(changedUserAttributes(directory.User{}, u), ","),
				"version":    strconv.FormatInt(u.Version, 10),
			}
		},
		replacedDetails: userReplacedDetails,
		idIsSubject:     true,
	}
}

// userReplacedDetails are the audit details of a PUT on a user.
func userReplacedDetails(before, u directory.User) map[string]string {
	before = directory.NormalizeUser(before)
	details := map[string]string{
		"attributes": strings.Join(changedUserAttributes(before, u), ","),
		"version":    strconv.FormatInt(u.Version, 10),
	}
	switch {
	case before.Active && !u.Active:
		details["deactivated"] = "true"
	case !before.Active && u.Active:
		details["activated"] = "true"
	}
	return details
}

// setActive deactivates or activates the user; the store ends a
// deactivated user's sessions and refresh tokens in the same transaction.
func setActive(users *userRoutes, active bool) http.HandlerFunc {
	event := EventAdminUserDeactivated
	if active {
		event = EventAdminUserActivated
	}
	return func(w http.ResponseWriter, r *http.Request) {
		users.change(w, r, event, func(http.ResponseWriter, *http.Request) (changeFunc[directory.User], bool) {
			return func(ctx context.Context, ifVersion int64, now time.Time) (directory.User, map[string]string, error) {
				var was bool
				u, err := users.update(ctx, r.PathValue("id"), ifVersion, func(p *directory.User) error {
					was = p.Active
					p.Active = active
					return nil
				}, now)
				if err != nil {
					return u, nil, err
				}
				return u, map[string]string{
					"changed": strconv.FormatBool(was != active),
					"version": strconv.FormatInt(u.Version, 10),
				}, nil
			}, true
		})
	}
}

// changedUserAttributes names the fields (as the API names them) that
// differ between two normalized users, sorted; custom attributes as
// "attributes.<name>". Never values.
func changedUserAttributes(a, b directory.User) []string {
	fields, attrs := directory.ChangedFields(a, b)
	out := make([]string, 0, len(fields)+len(attrs))
	for _, f := range fields {
		out = append(out, string(f))
	}
	for _, k := range attrs {
		out = append(out, "attributes."+k)
	}
	slices.Sort(out)
	return out
}

// --- groups ---

// groupRoutes serves the groups endpoints.
type groupRoutes = entityRoutes[directory.Group, groupRequest, groupView]

func newGroupRoutes(rt *directoryRoutes) *groupRoutes {
	return &groupRoutes{
		rt: rt, kind: kindGroup, path: GroupsPath,
		ident: func(g directory.Group) string { return g.ID },
		view:  groupViewOf,
		listBody: func(items []groupView, total int) any {
			return struct {
				Groups []groupView `json:"groups"`
				Total  int         `json:"total"`
			}{Groups: items, Total: total}
		},
		list:   rt.st.ListGroups,
		get:    rt.st.Group,
		create: rt.st.CreateGroup,
		update: rt.st.UpdateGroup,
		delete: rt.st.DeleteGroup,

		requestID: func(q groupRequest) string { return q.ID },
		fromRequest: func(q groupRequest) directory.Group {
			return directory.Group{ID: q.ID, DisplayName: q.DisplayName, ExternalID: q.ExternalID, Members: q.Members}
		},
		replace: func(q groupRequest, p *directory.Group) error {
			return directory.ReplaceGroupFields(directory.Group{
				ID: p.ID, DisplayName: q.DisplayName, ExternalID: q.ExternalID, Members: q.Members,
			})(p)
		},

		created: EventAdminGroupCreated, replaced: EventAdminGroupReplaced, deleted: EventAdminGroupDeleted,
		createdDetails: func(g directory.Group) map[string]string {
			return map[string]string{
				"group_id": g.ID,
				"members":  strconv.Itoa(len(g.Members)),
				"version":  strconv.FormatInt(g.Version, 10),
			}
		},
		replacedDetails: groupReplacedDetails,
		deletedKey:      "group_id",
	}
}

// groupReplacedDetails are the audit details of a PUT on a group.
func groupReplacedDetails(before, g directory.Group) map[string]string {
	before = directory.NormalizeGroup(before)
	added, removed := directory.MemberDiff(before.Members, g.Members)
	var changed []string
	if before.DisplayName != g.DisplayName {
		changed = append(changed, "display_name")
	}
	if before.ExternalID != g.ExternalID {
		changed = append(changed, "external_id")
	}
	if len(added)+len(removed) > 0 {
		changed = append(changed, "members")
	}
	return map[string]string{
		"group_id":        g.ID,
		"attributes":      strings.Join(changed, ","),
		"members_added":   strconv.Itoa(len(added)),
		"members_removed": strconv.Itoa(len(removed)),
		"members":         strconv.Itoa(len(g.Members)),
		"version":         strconv.FormatInt(g.Version, 10),
	}
}

// patchMembers serves POST .../groups/{id}/members.
func patchMembers(groups *groupRoutes) http.HandlerFunc {
	st := groups.rt.st
	return func(w http.ResponseWriter, r *http.Request) {
		groups.change(w, r, EventAdminGroupMembersChange, func(w http.ResponseWriter, r *http.Request) (changeFunc[directory.Group], bool) {
			var req membersRequest
			if !decodeLimitedBody(w, r, &req, MaxMembersBody) {
				return nil, false
			}
			return func(ctx context.Context, ifVersion int64, now time.Time) (directory.Group, map[string]string, error) {
				g, err := st.PatchGroupMembers(ctx, r.PathValue("id"), req.Add, req.Remove, ifVersion, now)
				if err != nil {
					return g, nil, err
				}
				return g, map[string]string{
					"group_id": g.ID,
					"add":      strconv.Itoa(len(req.Add)),
					"remove":   strconv.Itoa(len(req.Remove)),
					"members":  strconv.Itoa(len(g.Members)),
					"version":  strconv.FormatInt(g.Version, 10),
				}, nil
			}, true
		})
	}
}

// --- shared ---

// resourceKind names what a request is about in error messages.
type resourceKind string

const (
	kindUser  resourceKind = "user"
	kindGroup resourceKind = "group"
)

// record writes the audit event of a change that was made. When that
// fails, it logs at error, answers 500 and returns false.
func (rt *directoryRoutes) record(w http.ResponseWriter, r *http.Request, typ, subject string, now time.Time, details map[string]string) bool {
	ctx := r.Context()
	err := rt.aud.Record(ctx, audit.Event{
		Time: now, Type: typ, Outcome: audit.Success, Actor: "admin", Subject: subject,
		Source: server.ClientAddrFrom(ctx), RequestID: server.RequestIDFrom(ctx), Details: details,
	})
	if err == nil {
		return true
	}
	rt.log.ErrorContext(ctx, "admin: the change was made but its audit record failed",
		slog.String("event", typ), slog.String("subject", subject), slog.Any("details", details), slog.Any("error", err))
	server.WriteJSONError(w, http.StatusInternalServerError, "audit_failed",
		"the change was made, but the audit log could not record it")
	return false
}

// fail maps a store error to its response; anything but the directory's
// own errors is a store failure, logged here and answered generically.
func (rt *directoryRoutes) fail(w http.ResponseWriter, r *http.Request, err error, kind resourceKind) {
	var verr *directory.ValidationError
	switch {
	case errors.As(err, &verr):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", apiAttribute(verr.Attribute)+": "+verr.Reason)
	case errors.Is(err, directory.ErrInvalid):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", "body: not a valid "+string(kind))
	case errors.Is(err, directory.ErrNotFound):
		server.WriteJSONError(w, http.StatusNotFound, "not_found", "no "+string(kind)+" has this ID")
	case errors.Is(err, directory.ErrConflict):
		field := "user_name"
		if kind == kindGroup {
			field = "display_name"
		}
		server.WriteJSONError(w, http.StatusConflict, "conflict",
			fmt.Sprintf("%s: another %s has this name (ignoring case), or the ID is taken", field, kind))
	case errors.Is(err, directory.ErrPreconditionFailed):
		server.WriteJSONError(w, http.StatusPreconditionFailed, "precondition_failed",
			"If-Match: the "+string(kind)+" has another version; read it again")
	default:
		rt.log.ErrorContext(r.Context(), "admin: identity store request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		msg := "the identity store is unavailable"
		if r.Method != http.MethodGet {
			msg += "; nothing was changed"
		}
		server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", msg)
	}
}

// apiAttribute returns the API's name for a directory (SCIM) attribute
// name.
func apiAttribute(scim string) string {
	switch scim {
	case "userName":
		return "user_name"
	case "externalId":
		return "external_id"
	case "displayName":
		return "display_name"
	case "name.givenName":
		return "given_name"
	case "name.familyName":
		return "family_name"
	}
	return scim
}

// ifMatchVersion returns the version an If-Match header asks for: 0
// without one or for *, n for W/"n" or "n". Anything else (a list
// included) is answered 400 and returns false.
func ifMatchVersion(w http.ResponseWriter, r *http.Request) (int64, bool) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return 0, true
	}
	h := strings.TrimSpace(vals[0])
	if len(vals) == 1 && h == "*" {
		return 0, true
	}
	tag := strings.TrimPrefix(h, "W/")
	if len(vals) == 1 && len(tag) >= 3 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		if v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64); err == nil && v >= 1 {
			return v, true
		}
	}
	server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", `If-Match: must be one W/"<version>" or *`)
	return 0, false
}

// parseDirectoryQuery parses the query string of the user and group
// lists: filter, start_index and count, each at most once.
func parseDirectoryQuery(raw string) (directory.Query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return directory.Query{}, errors.New("query: malformed")
	}
	q := directory.Query{StartIndex: 1, Count: DefaultListCount}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		v := vals[k]
		if len(v) != 1 {
			return directory.Query{}, fmt.Errorf("%s: given more than once", paramName(k))
		}
		val := v[0]
		switch k {
		case "filter":
			if val == "" {
				continue
			}
			e, err := filter.Parse(val)
			if err != nil {
				var ferr *filter.Error
				if errors.As(err, &ferr) {
					return directory.Query{}, fmt.Errorf("filter: at offset %d: %s", ferr.Pos, ferr.Msg)
				}
				return directory.Query{}, errors.New("filter: not a valid SCIM filter")
			}
			q.Filter = e
		case "start_index":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return directory.Query{}, errors.New("start_index: must be a whole number of at least 1")
			}
			q.StartIndex = n
		case "count":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > directory.MaxListCount {
				return directory.Query{}, fmt.Errorf("count: must be between 0 and %d", directory.MaxListCount)
			}
			q.Count = n
		default:
			return directory.Query{}, fmt.Errorf("%s: unknown parameter", paramName(k))
		}
	}
	return q, nil
}

// decodeLimitedBody reads a JSON object of at most limit bytes into v
// (see readJSONBody).
func decodeLimitedBody(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	return readJSONBody(w, r, v, bodyRules{limit: limit, describe: notAnObject})
}
