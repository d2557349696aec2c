package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// MaxApplicationBody caps the body of application requests (1 MiB), inline
// metadata included.
const MaxApplicationBody = 1 << 20

// applicationsPath is the collection of the application endpoints.
const applicationsPath = "/api/v1/admin/applications"

// Option configures Routes.
type Option func(*routes)

// WithLogger sets the logger for failures the client is not told about
// (store errors); nil discards them.
func WithLogger(l *slog.Logger) Option {
	return func(rt *routes) {
		if l != nil {
			rt.log = l
		}
	}
}

type routes struct {
	reg *apps.Registry
	log *slog.Logger
}

// Routes registers the application endpoints on mux, all behind
// tok.Require:
//
//	GET    /api/v1/admin/applications       200 {"applications":[...]}
//	GET    /api/v1/admin/applications/{id}  200 application, 404
//	POST   /api/v1/admin/applications       201 application, 400, 409, 413, 415
//	PUT    /api/v1/admin/applications/{id}  200 application, 400, 404, 409, 413, 415
//	DELETE /api/v1/admin/applications/{id}  204, 404, 409
//
// Request bodies are JSON objects (Content-Type application/json) of at
// most MaxApplicationBody bytes with the fields of applicationRequest;
// unknown fields are errors. Errors are {"error":code,"message":...}, the
// message of a 400 being "<field>: <problem>". Applications of the config
// file are listed but cannot be changed (409).
func Routes(mux *http.ServeMux, tok Token, reg *apps.Registry, opts ...Option) {
	rt := &routes{reg: reg, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(rt)
	}
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, tok.Require(h)) }
	handle("GET "+applicationsPath, rt.list)
	handle("POST "+applicationsPath, rt.create)
	handle("GET "+applicationsPath+"/{id}", rt.get)
	handle("PUT "+applicationsPath+"/{id}", rt.update)
	handle("DELETE "+applicationsPath+"/{id}", rt.delete)
}

// applicationRequest is the body of POST and PUT: the application's ID
// (POST; optional in PUT, where it must match the URL), its display name
// (default: the ID) and the fields of apps.Spec.
type applicationRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	apps.Spec
}

// applicationView is an application in responses.
type applicationView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	apps.Spec
	MetadataFile string      `json:"metadata_file,omitempty"`
	Source       apps.Source `json:"source"`
	// Status is "active" or "unavailable" (then Problem says why).
	Status           string     `json:"status"`
	Problem          string     `json:"problem,omitempty"`
	EntityID         string     `json:"entity_id,omitempty"`
	MetadataLoadedAt *time.Time `json:"metadata_loaded_at,omitempty"`
	CreatedAt        *time.Time `json:"created_at,omitempty"`
	UpdatedAt        *time.Time `json:"updated_at,omitempty"`
}

func viewOf(a apps.Application) applicationView {
	v := applicationView{
		ID: a.ID, Name: a.Name, Spec: a.Spec, MetadataFile: a.MetadataFile, Source: a.Source,
		Status: "active", Problem: a.Problem, EntityID: a.EntityID,
		MetadataLoadedAt: timePtr(a.MetadataLoadedAt), CreatedAt: timePtr(a.CreatedAt), UpdatedAt: timePtr(a.UpdatedAt),
	}
	if !a.Available {
		v.Status = "unavailable"
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (rt *routes) list(w http.ResponseWriter, _ *http.Request) {
	list := rt.reg.List()
	out := struct {
		Applications []applicationView `json:"applications"`
	}{Applications: make([]applicationView, 0, len(list))}
	for _, a := range list {
		out.Applications = append(out.Applications, viewOf(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (rt *routes) get(w http.ResponseWriter, r *http.Request) {
	a, err := rt.reg.Get(r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(a))
}

func (rt *routes) create(w http.ResponseWriter, r *http.Request) {
	var req applicationRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ID == "" {
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", "id: is required")
		return
	}
	a, err := rt.reg.Create(r.Context(), req.ID, req.Name, req.Spec)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	w.Header().Set("Location", applicationsPath+"/"+a.ID)
	writeJSON(w, http.StatusCreated, viewOf(a))
}

func (rt *routes) update(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req applicationRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ID != "" && req.ID != id {
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", "id: does not match the application ID in the URL")
		return
	}
	a, err := rt.reg.Update(r.Context(), id, req.Name, req.Spec)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(a))
}

func (rt *routes) delete(w http.ResponseWriter, r *http.Request) {
	if err := rt.reg.Delete(r.Context(), r.PathValue("id")); err != nil {
		rt.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail maps a registry error to its response. Validation, not-found and
// conflict messages are written for administrators; anything else is a
// store failure, logged here and answered generically.
func (rt *routes) fail(w http.ResponseWriter, r *http.Request, err error) {
	var verr *apps.ValidationError
	switch {
	case errors.As(err, &verr):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", verr.Error())
	case errors.Is(err, apps.ErrNotFound):
		server.WriteJSONError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, apps.ErrConflict):
		server.WriteJSONError(w, http.StatusConflict, "conflict", err.Error())
	default:
		rt.log.ErrorContext(r.Context(), "admin: application request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", "the application store is unavailable; nothing was changed")
	}
}

// decodeBody reads a JSON object of at most MaxApplicationBody bytes into
// v (see readJSONBody).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return readJSONBody(w, r, v, bodyRules{limit: MaxApplicationBody})
}

// bodyRules say how readJSONBody treats a request body.
type bodyRules struct {
	limit int64
	// optional accepts no body at all (no Content-Type and no bytes) and
	// an empty JSON body, leaving v as it is.
	optional bool
	// describe may give a decoding error a more precise message than
	// jsonProblem's; "" keeps jsonProblem's.
	describe func(err error) string
}

// readJSONBody reads a JSON object of at most rules.limit bytes into v,
// rejecting other media types, unknown fields and trailing data. On
// failure it has written the error response: 415, 413 (and the
// connection closed) or 400 with "<field>: <problem>".
func readJSONBody(w http.ResponseWriter, r *http.Request, v any, rules bodyRules) bool {
	tooLarge := func() bool {
		w.Header().Set("Connection", "close")
		server.WriteJSONError(w, http.StatusRequestEntityTooLarge, "request_too_large",
			"body: larger than "+strconv.FormatInt(rules.limit, 10)+" bytes")
		return false
	}
	if r.ContentLength > rules.limit {
		return tooLarge()
	}
	body := http.MaxBytesReader(w, r.Body, rules.limit)
	if rules.optional && r.Header.Get("Content-Type") == "" {
		var one [1]byte
		if n, _ := io.ReadFull(body, one[:]); n == 0 {
			return true
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		server.WriteJSONError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "body: Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if rules.optional && errors.Is(err, io.EOF) {
		return true // an empty JSON body: the defaults
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errTrailing
		}
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge()
	}
	msg := jsonProblem(err)
	if rules.describe != nil {
		if m := rules.describe(err); m != "" {
			msg = m
		}
	}
	server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", msg)
	return false
}

// notAnObject describes a body that is valid JSON but not an object.
func notAnObject(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field == "" {
		return "body: must be a JSON object, not " + typeErr.Value
	}
	if jsonProblem(err) == "body: not a valid application object" {
		return "body: not a valid JSON object"
	}
	return ""
}

var errTrailing = errors.New("trailing data")

// plainField matches the JSON field names echoed as the field of a message.
var plainField = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// jsonProblem describes a decoding error as "<field>: <problem>".
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "body: is empty"
	case errors.Is(err, errTrailing):
		return "body: holds data after the JSON object"
	case errors.As(err, &typeErr):
		// The embedded apps.Spec shows up by its Go name.
		field := strings.TrimPrefix(typeErr.Field, "Spec.")
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("%s: must be %s, not %s", field, jsonType(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("body: malformed JSON at offset %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body: truncated JSON"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, qerr := strconv.Unquote(name); qerr == nil {
			name = uq
		}
		if !plainField.MatchString(name) {
			if len(name) > 64 {
				name = name[:64]
			}
			return fmt.Sprintf("body: unknown field %q", name)
		}
		return fmt.Sprintf("%s: unknown field", name)
	}
	return "body: not a valid application object"
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + kind
}

// writeViews answers 200 with {key: [view(item), ...]} (an empty list,
// never null).
func writeViews[T, V any](w http.ResponseWriter, key string, items []T, view func(T) V) {
	views := make([]V, 0, len(items))
	for _, it := range items {
		views = append(views, view(it))
	}
	writeJSON(w, http.StatusOK, map[string]any{key: views})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
