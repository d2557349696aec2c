package scim

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// endpoint serves the HTTP side of one resource type (/Users or
// /Groups): routing by method, projections, bodies, If-Match and
// If-None-Match, lists, the create, replace, patch and delete flows and
// their audit records. What differs between users and groups is given
// as functions of the entity T; users.go and groups.go build them.
// An endpoint is immutable once built.
type endpoint[T any] struct {
	s  *Server
	rt *resourceType
	// ident returns the entity's id and version.
	ident func(T) (id string, version int64)
	// render returns the resource of an entity as served.
	render func(T) object

	// Store calls.
	get    func(ctx context.Context, id string) (T, error)
	list   func(ctx context.Context, q directory.Query, proj projection) (directory.Page[T], error)
	create func(ctx context.Context, t T, now time.Time) (T, error)
	update func(ctx context.Context, id string, ifVersion int64, fn func(*T) error, now time.Time) (T, error)
	delete func(ctx context.Context, id string, ifVersion int64, now time.Time) error

	// fromDoc decodes the entity a POST creates.
	fromDoc func(doc object) (T, error)
	// replace decodes a PUT of the entity id into the edit that makes it
	// (run inside update, so possibly more than once).
	replace func(doc object, id string) (func(*T) error, error)
	// patch applies PATCH operations, all or none.
	patch func(t *T, ops []patchOp) error
	// fastPatch, when set, may serve a PATCH without update: it returns
	// the store write and its audit details, or ok false for the general
	// path.
	fastPatch func(id string, ops []patchOp) (write changeFunc[T], ok bool, err error)
	// clone copies an entity deeply enough that edits of the original do
	// not show in the copy.
	clone func(T) T

	// Audit records: event types, details (never attribute values but
	// userName and displayName), and whether the entity's id is the
	// event's subject.
	events         events
	createdDetails func(T) map[string]string
	updatedDetails func(before, after T) map[string]string
	deletedKey     string // names the id in a deletion's details
	idIsSubject    bool
}

// events are the audit event types of one resource type.
type events struct{ created, replaced, patched, deleted string }

// changeFunc writes a change at ifVersion and now, and returns the entity and
// the audit details of the change.
type changeFunc[T any] func(ctx context.Context, ifVersion int64, now time.Time) (T, map[string]string, error)

// name is the endpoint's path segment: "Users" or "Groups".
func (e *endpoint[T]) name() string { return strings.TrimPrefix(e.rt.endpoint, "/") }

// subject is the audit subject of a change of the entity id.
func (e *endpoint[T]) subject(id string) string {
	if e.idIsSubject {
		return id
	}
	return ""
}

// collection serves /Users and /Groups.
func (e *endpoint[T]) collection(w http.ResponseWriter, r *http.Request, now time.Time) {
	if r.Method == http.MethodPost {
		e.createOne(w, r, now)
		return
	}
	lr, err := e.s.parseListQuery(e.rt, r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	e.serveList(w, r, lr)
}

// search serves /Users/.search and /Groups/.search.
func (e *endpoint[T]) search(w http.ResponseWriter, r *http.Request, _ time.Time) {
	lr, err := e.s.parseSearch(e.rt, w, r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	e.serveList(w, r, lr)
}

func (e *endpoint[T]) serveList(w http.ResponseWriter, r *http.Request, lr listRequest) {
	q, err := lr.query()
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	page, err := e.list(r.Context(), q, lr.proj)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	var out []any
	for _, t := range page.Items {
		out = append(out, lr.proj.apply(e.render(t)))
	}
	e.s.write(w, r, http.StatusOK, listResponse(page.Total, lr.startIndex, out))
}

// projection reads the attributes and excludedAttributes parameters.
func (e *endpoint[T]) projection(r *http.Request) (projection, error) {
	return parseProjection(e.rt, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
}

// item serves /Users/{id} and /Groups/{id}.
func (e *endpoint[T]) item(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	proj, err := e.projection(r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	if !directory.ValidID(id) {
		e.s.fail(w, r, errNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		t, err := e.get(r.Context(), id)
		if err != nil {
			e.s.fail(w, r, err)
			return
		}
		if _, version := e.ident(t); notModified(r, version) {
			w.Header().Set("ETag", etag(version))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		e.writeOne(w, r, http.StatusOK, t, proj)
	case http.MethodPut:
		e.replaceOne(w, r, id, proj, now)
	case http.MethodPatch:
		e.patchOne(w, r, id, proj, now)
	case http.MethodDelete:
		e.deleteOne(w, r, id, now)
	}
}

func (e *endpoint[T]) writeOne(w http.ResponseWriter, r *http.Request, status int, t T, proj projection) {
	id, version := e.ident(t)
	w.Header().Set("ETag", etag(version))
	if status == http.StatusCreated {
		w.Header().Set("Location", e.s.location(e.name(), id))
	}
	e.s.write(w, r, status, proj.apply(e.render(t)))
}

// readDoc reads the body of a POST or PUT as a resource of the type.
func (e *endpoint[T]) readDoc(w http.ResponseWriter, r *http.Request) (object, error) {
	body, err := e.s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return canonResource(e.rt, body)
}

func (e *endpoint[T]) createOne(w http.ResponseWriter, r *http.Request, now time.Time) {
	proj, err := e.projection(r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	doc, err := e.readDoc(w, r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	t, err := e.fromDoc(doc)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	t, err = e.create(r.Context(), t, now)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	id, _ := e.ident(t)
	if err := e.s.record(r.Context(), e.events.created, e.subject(id), now, e.createdDetails(t)); err != nil {
		e.s.fail(w, r, err)
		return
	}
	e.writeOne(w, r, http.StatusCreated, t, proj)
}

// currentVersion reads the entity's version, for If-Match lists.
func (e *endpoint[T]) currentVersion(r *http.Request, id string) func() (int64, error) {
	return func() (int64, error) {
		t, err := e.get(r.Context(), id)
		_, version := e.ident(t)
		return version, err
	}
}

func (e *endpoint[T]) replaceOne(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	doc, err := e.readDoc(w, r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	edit, err := e.replace(doc, id)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	e.change(w, r, id, proj, now, e.events.replaced, e.edit(id, edit))
}

func (e *endpoint[T]) patchOne(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	body, err := e.s.readBody(w, r)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	ops, err := parsePatch(e.rt, body)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	if e.fastPatch != nil {
		write, ok, err := e.fastPatch(id, ops)
		if err != nil {
			e.s.fail(w, r, err)
			return
		}
		if ok {
			e.change(w, r, id, proj, now, e.events.patched, write)
			return
		}
	}
	e.change(w, r, id, proj, now, e.events.patched, e.edit(id, func(t *T) error { return e.patch(t, ops) }))
}

// edit is the change that runs fn inside update (fn may run more than
// once and must not call the store), audited with updatedDetails.
func (e *endpoint[T]) edit(id string, fn func(*T) error) changeFunc[T] {
	return func(ctx context.Context, ifVersion int64, now time.Time) (T, map[string]string, error) {
		var before T
		t, err := e.update(ctx, id, ifVersion, func(t *T) error {
			before = e.clone(*t)
			return fn(t)
		}, now)
		if err != nil {
			return t, nil, err
		}
		return t, e.updatedDetails(before, t), nil
	}
}

// change resolves If-Match, writes the change, then audits and answers.
func (e *endpoint[T]) change(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time,
	event string, write changeFunc[T]) {
	ifVersion, err := ifMatch(r, e.currentVersion(r, id))
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	t, details, err := write(r.Context(), ifVersion, now)
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	tid, _ := e.ident(t)
	if err := e.s.record(r.Context(), event, e.subject(tid), now, details); err != nil {
		e.s.fail(w, r, err)
		return
	}
	e.writeOne(w, r, http.StatusOK, t, proj)
}

func (e *endpoint[T]) deleteOne(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	ctx := r.Context()
	// The store checks the version in the delete's own transaction.
	ifVersion, err := ifMatch(r, e.currentVersion(r, id))
	if err != nil {
		e.s.fail(w, r, err)
		return
	}
	if err := e.delete(ctx, id, ifVersion, now); err != nil {
		e.s.fail(w, r, err)
		return
	}
	if err := e.s.record(ctx, e.events.deleted, e.subject(id), now, map[string]string{e.deletedKey: id}); err != nil {
		e.s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
