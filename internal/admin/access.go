package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// Collections of the multi-account access endpoints.
const (
	AccountsPath       = "/api/v1/admin/accounts"
	PermissionSetsPath = "/api/v1/admin/permission-sets"
	AssignmentsPath    = "/api/v1/admin/assignments"
)

// MaxAccessBody caps the body of account, permission set and assignment
// writes (64 KiB: an inline policy is at most 10 KiB).
const MaxAccessBody = 64 << 10

// Audit event types of the multi-account access endpoints.
const (
	EventAdminAccountCreated          = "admin.account.created"
	EventAdminAccountUpdated          = "admin.account.updated"
	EventAdminAccountDeleted          = "admin.account.deleted"
	EventAdminPermissionSetCreated    = "admin.permission_set.created"
	EventAdminPermissionSetUpdated    = "admin.permission_set.updated"
	EventAdminPermissionSetDeleted    = "admin.permission_set.deleted"
	EventAdminPermissionSetProvision  = "admin.permission_set.provision_requested"
	EventAdminAssignmentCreated       = "admin.assignment.created"
	EventAdminAssignmentDeleteRequest = "admin.assignment.deleted"
)

// AccessService validates and applies administrative changes and computes
// entitlements (*access.Service implements it).
type AccessService interface {
	CreateAccount(ctx context.Context, a access.Account) (access.Account, error)
	UpdateAccount(ctx context.Context, a access.Account) (access.Account, error)
	CreatePermissionSet(ctx context.Context, ps access.PermissionSet) (access.PermissionSet, error)
	UpdatePermissionSet(ctx context.Context, ps access.PermissionSet, ifVersion int64) (access.PermissionSet, error)
	DeletePermissionSet(ctx context.Context, name string) error
	CreateAssignment(ctx context.Context, a access.Assignment) (_ access.Assignment, created bool, _ error)
	DeleteAssignment(ctx context.Context, id string) error
	EntitlementsFor(ctx context.Context, userID string) ([]access.Entitlement, error)
}

// AccessReader reads accounts, permission sets, assignments and
// provisioning state (access.Store implements it).
type AccessReader interface {
	Account(ctx context.Context, id string) (access.Account, error)
	ListAccounts(ctx context.Context, ou string) ([]access.Account, error)
	DeleteAccount(ctx context.Context, id string) error
	PermissionSet(ctx context.Context, name string) (access.PermissionSet, error)
	ListPermissionSets(ctx context.Context) ([]access.PermissionSet, error)
	Assignment(ctx context.Context, id string) (access.Assignment, error)
	AssignmentsForTarget(ctx context.Context, t access.TargetType, id string) ([]access.Assignment, error)
	AssignmentsForPrincipals(ctx context.Context, userID string, groupIDs []string) ([]access.Assignment, error)
	AssignmentsForPermissionSet(ctx context.Context, name string) ([]access.Assignment, error)
	ProvisioningsForPermissionSet(ctx context.Context, name string) ([]access.Provisioning, error)
}

// Principals finds the users and groups assignments name (the identity
// store).
type Principals interface {
	DirectoryUser(ctx context.Context, id string) (directory.User, error)
	Group(ctx context.Context, id string) (directory.Group, error)
}

// ProvisioningRequester queues provisioning work; it returns at once and
// the work runs in the background (the gateway's provisioning worker).
type ProvisioningRequester interface {
	// Enqueue asks for the permission set to be provisioned in the
	// account.
	Enqueue(accountID, permissionSet string)
	// Assigned enqueues the permission set of a new assignment in every
	// account it covers (the account, or each account of the OU).
	Assigned(ctx context.Context, a access.Assignment) error
	// Unassigned runs after an assignment is deleted: in each account it
	// covered, the role is deprovisioned unless another assignment
	// still needs it.
	Unassigned(ctx context.Context, a access.Assignment) error
	// Reprovision enqueues the permission set in accountID, or, when
	// accountID is "", in every account it is assigned or provisioned
	// to, even where that version is provisioned already; it returns the
	// accounts enqueued.
	Reprovision(ctx context.Context, permissionSet, accountID string) ([]string, error)
	// AccountChanged enqueues what an account created or moved to
	// another OU needs (the OU assignments that now cover it).
	AccountChanged(ctx context.Context, accountID string) error
}

// AccessConfig configures AccessRoutes. With a nil Service (multi-account
// access not configured) every endpoint answers 404 not_configured.
type AccessConfig struct {
	Service      AccessService
	Store        AccessReader
	Principals   Principals
	Provisioning ProvisioningRequester
	Auditor      Auditor
	Now          func() time.Time
	Logger       *slog.Logger
}

// AccessRoutes registers the multi-account access endpoints on mux, all
// behind tok.Require:
//
//	GET    /api/v1/admin/accounts[?ou=/a/b]                     200 {"accounts":[...]}
//	POST   /api/v1/admin/accounts                               201 account, 400, 409
//	GET    /api/v1/admin/accounts/{id}                          200 account, 404
//	PUT    /api/v1/admin/accounts/{id}                          200 account, 400, 404
//	DELETE /api/v1/admin/accounts/{id}                          204, 404, 409 (still assigned)
//	GET    /api/v1/admin/permission-sets                        200 {"permission_sets":[...]}
//	POST   /api/v1/admin/permission-sets                        201 permission set, 400, 409
//	GET    /api/v1/admin/permission-sets/{name}                 200, 404
//	PUT    /api/v1/admin/permission-sets/{name}                 200, 400, 404, 412 (If-Match or body version)
//	DELETE /api/v1/admin/permission-sets/{name}                 204, 404, 409 (still assigned)
//	POST   /api/v1/admin/permission-sets/{name}/provision       202 {"accounts":[...]} (body {"account_id"} optional)
//	GET    /api/v1/admin/permission-sets/{name}/provisioning    200 {"provisioning":[...]}
//	POST   /api/v1/admin/assignments                            202 new (IN_PROGRESS), 200 existing, 400
//	GET    /api/v1/admin/assignments?account_id=|ou=|principal_type=&principal_id=|permission_set=
//	GET    /api/v1/admin/assignments/{id}                       200, 404
//	DELETE /api/v1/admin/assignments/{id}                       202, 404
//	GET    /api/v1/admin/users/{id}/entitlements                200 {"entitlements":[...]}, 404
//
// Bodies are decoded strictly (unknown fields are 400). Errors are
// {"error","message"}; a 400's message names the fields,
// "<field>: <problem>" joined by "; ". A reference in a body to
// something that does not exist (an account, a permission set, a user or
// group) is 400 naming the field, and nothing is stored. Store failures
// are 503. Every change is audited (actor "admin"); a change made but not
// recorded is 500 audit_failed.
func AccessRoutes(mux *http.ServeMux, tok Token, cfg AccessConfig) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Service != nil && (cfg.Store == nil || cfg.Principals == nil || cfg.Provisioning == nil || cfg.Auditor == nil) {
		panic("admin: AccessRoutes needs a store, principals, a provisioning requester and an auditor with its service")
	}
	rt := &accessRoutes{cfg: cfg, dir: &directoryRoutes{aud: cfg.Auditor, now: cfg.Now, log: cfg.Logger}}
	handle := func(pattern string, h http.HandlerFunc) {
		if cfg.Service == nil {
			h = accessNotConfigured
		}
		mux.Handle(pattern, tok.Require(h))
	}
	handle("GET "+AccountsPath, rt.listAccounts)
	handle("POST "+AccountsPath, rt.createAccount)
	handle("GET "+AccountsPath+"/{id}", rt.getAccount)
	handle("PUT "+AccountsPath+"/{id}", rt.updateAccount)
	handle("DELETE "+AccountsPath+"/{id}", rt.deleteAccount)
	handle("GET "+PermissionSetsPath, rt.listPermissionSets)
	handle("POST "+PermissionSetsPath, rt.createPermissionSet)
	handle("GET "+PermissionSetsPath+"/{name}", rt.getPermissionSet)
	handle("PUT "+PermissionSetsPath+"/{name}", rt.updatePermissionSet)
	handle("DELETE "+PermissionSetsPath+"/{name}", rt.deletePermissionSet)
	handle("POST "+PermissionSetsPath+"/{name}/provision", rt.provision)
	handle("GET "+PermissionSetsPath+"/{name}/provisioning", rt.provisioning)
	handle("GET "+AssignmentsPath, rt.listAssignments)
	handle("POST "+AssignmentsPath, rt.createAssignment)
	handle("GET "+AssignmentsPath+"/{id}", rt.getAssignment)
	handle("DELETE "+AssignmentsPath+"/{id}", rt.deleteAssignment)
	handle("GET "+UsersPath+"/{id}/entitlements", rt.entitlements)
}

func accessNotConfigured(w http.ResponseWriter, _ *http.Request) {
	server.WriteJSONError(w, http.StatusNotFound, "not_configured",
		"multi-account access is not configured: set aws.region (or accounts) in the config file")
}

type accessRoutes struct {
	cfg AccessConfig
	dir *directoryRoutes // for record
}

// --- bodies and views ---

type accountJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	OU            string    `json:"ou"`
	AssumeRoleARN string    `json:"assume_role_arn"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
}

type accountRequest struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	OU            string `json:"ou"`
	AssumeRoleARN string `json:"assume_role_arn"`
}

func (q accountRequest) account() access.Account {
	ou := q.OU
	if ou == "" {
		ou = "/"
	}
	return access.Account{ID: q.ID, Name: q.Name, Email: q.Email, OU: ou, AssumeRoleARN: q.AssumeRoleARN}
}

func accountView(a access.Account) accountJSON {
	return accountJSON{ID: a.ID, Name: a.Name, Email: a.Email, OU: a.OU, AssumeRoleARN: a.AssumeRoleARN,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
}

type policyRefJSON struct {
	Name string `json:"name"`
	Path string `json:"path,omitempty"`
}

type boundaryJSON struct {
	ManagedPolicyARN string         `json:"managed_policy_arn,omitempty"`
	CustomerPolicy   *policyRefJSON `json:"customer_policy,omitempty"`
}

// permissionSetRequest is the body of POST and PUT on permission sets.
// SessionDuration is a Go duration ("1h", "90m"; default 1h);
// InlinePolicy is the policy document, as a JSON object or as a string
// holding one; Version (PUT) is the version being replaced, like If-Match.
type permissionSetRequest struct {
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	SessionDuration  string            `json:"session_duration"`
	RelayState       string            `json:"relay_state"`
	ManagedPolicies  []string          `json:"managed_policies"`
	CustomerPolicies []policyRefJSON   `json:"customer_policies"`
	InlinePolicy     json.RawMessage   `json:"inline_policy"`
	Boundary         *boundaryJSON     `json:"permissions_boundary"`
	Tags             map[string]string `json:"tags"`
	Version          int64             `json:"version"`
}

func (q permissionSetRequest) permissionSet() (access.PermissionSet, error) {
	ps := access.PermissionSet{
		Name: q.Name, Description: q.Description, RelayState: q.RelayState,
		ManagedPolicies: slices.Clone(q.ManagedPolicies), Tags: maps.Clone(q.Tags),
		SessionDuration: time.Hour,
	}
	if q.SessionDuration != "" {
		d, err := time.ParseDuration(q.SessionDuration)
		if err != nil {
			return ps, &access.ValidationError{Problems: []access.FieldError{{Field: "session_duration", Reason: "must be a duration such as 1h or 90m"}}}
		}
		ps.SessionDuration = d
	}
	for _, r := range q.CustomerPolicies {
		ps.CustomerPolicies = append(ps.CustomerPolicies, access.CustomerPolicyRef{Name: r.Name, Path: r.Path})
	}
	if raw := strings.TrimSpace(string(q.InlinePolicy)); raw != "" && raw != "null" {
		if raw[0] == '"' {
			var s string
			if err := json.Unmarshal(q.InlinePolicy, &s); err != nil {
				return ps, &access.ValidationError{Problems: []access.FieldError{{Field: "inline_policy", Reason: "must be a policy document (an object or a string)"}}}
			}
			ps.InlinePolicy = s
		} else {
			ps.InlinePolicy = raw
		}
	}
	if b := q.Boundary; b != nil {
		ps.Boundary = &access.Boundary{ManagedPolicyARN: b.ManagedPolicyARN}
		if b.CustomerPolicy != nil {
			ps.Boundary.CustomerPolicy = &access.CustomerPolicyRef{Name: b.CustomerPolicy.Name, Path: b.CustomerPolicy.Path}
		}
	}
	return ps, nil
}

type permissionSetJSON struct {
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	SessionDuration  string            `json:"session_duration"`
	RelayState       string            `json:"relay_state"`
	ManagedPolicies  []string          `json:"managed_policies"`
	CustomerPolicies []policyRefJSON   `json:"customer_policies"`
	InlinePolicy     string            `json:"inline_policy"`
	Boundary         *boundaryJSON     `json:"permissions_boundary,omitempty"`
	Tags             map[string]string `json:"tags"`
	Version          int64             `json:"version"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
}

func permissionSetView(ps access.PermissionSet) permissionSetJSON {
	v := permissionSetJSON{
		Name: ps.Name, Description: ps.Description, SessionDuration: ps.SessionDuration.String(),
		RelayState: ps.RelayState, ManagedPolicies: slices.Clone(ps.ManagedPolicies),
		CustomerPolicies: []policyRefJSON{}, InlinePolicy: ps.InlinePolicy, Tags: maps.Clone(ps.Tags),
		Version: ps.Version, CreatedAt: ps.CreatedAt.UTC(), UpdatedAt: ps.UpdatedAt.UTC(),
	}
	if v.ManagedPolicies == nil {
		v.ManagedPolicies = []string{}
	}
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	for _, r := range ps.CustomerPolicies {
		v.CustomerPolicies = append(v.CustomerPolicies, policyRefJSON{Name: r.Name, Path: r.Path})
	}
	if b := ps.Boundary; b != nil {
		v.Boundary = &boundaryJSON{ManagedPolicyARN: b.ManagedPolicyARN}
		if b.CustomerPolicy != nil {
			v.Boundary.CustomerPolicy = &policyRefJSON{Name: b.CustomerPolicy.Name, Path: b.CustomerPolicy.Path}
		}
	}
	return v
}

type assignmentRequest struct {
	PrincipalType string `json:"principal_type"`
	PrincipalID   string `json:"principal_id"`
	PermissionSet string `json:"permission_set"`
	TargetType    string `json:"target_type"`
	TargetID      string `json:"target_id"`
}

type assignmentJSON struct {
	ID            string    `json:"id"`
	PrincipalType string    `json:"principal_type"`
	PrincipalID   string    `json:"principal_id"`
	PermissionSet string    `json:"permission_set"`
	TargetType    string    `json:"target_type"`
	TargetID      string    `json:"target_id"`
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func assignmentView(a access.Assignment) assignmentJSON {
	return assignmentJSON{
		ID: a.ID, PrincipalType: string(a.PrincipalType), PrincipalID: a.PrincipalID, PermissionSet: a.PermissionSet,
		TargetType: string(a.TargetType), TargetID: a.TargetID, Status: string(a.Status), Reason: a.Reason,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
}

type provisioningJSON struct {
	AccountID      string    `json:"account_id"`
	RoleName       string    `json:"role_name,omitempty"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Version        int64     `json:"version"`
	CurrentVersion int64     `json:"current_version"`
	OutOfDate      bool      `json:"out_of_date"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// --- errors ---

// fail answers an error of the access service or store.
func (rt *accessRoutes) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	var verr *access.ValidationError
	switch {
	case errors.As(err, &verr):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", problemsMessage(verr))
	case errors.Is(err, access.ErrInvalid):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", strings.TrimPrefix(err.Error(), "access: "))
	case errors.Is(err, access.ErrNotFound):
		server.WriteJSONError(w, http.StatusNotFound, "not_found", "no "+what+" has this ID")
	case errors.Is(err, access.ErrInUse):
		server.WriteJSONError(w, http.StatusConflict, "in_use", "the "+what+" still has assignments; delete them first")
	case errors.Is(err, access.ErrConflict):
		server.WriteJSONError(w, http.StatusConflict, "conflict", "id: another "+what+" has this ID or name")
	default:
		rt.cfg.Logger.ErrorContext(r.Context(), "admin: access store request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		msg := "the access store is unavailable"
		if r.Method != http.MethodGet {
			msg += "; nothing was changed"
		}
		server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", msg)
	}
}

func problemsMessage(v *access.ValidationError) string {
	parts := make([]string, len(v.Problems))
	for i, p := range v.Problems {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "; ")
}

func badRequest(w http.ResponseWriter, msg string) {
	server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", msg)
}

// singleQuery parses a query string in which every parameter is among
// allowed and given at most once.
func singleQuery(raw string, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("query: malformed")
	}
	out := make(map[string]string, len(vals))
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%s: unknown query parameter", paramName(k))
		}
		if len(vals[k]) != 1 {
			return nil, fmt.Errorf("%s: given more than once", paramName(k))
		}
		out[k] = vals[k][0]
	}
	return out, nil
}

// --- accounts ---

func (rt *accessRoutes) listAccounts(w http.ResponseWriter, r *http.Request) {
	q, err := singleQuery(r.URL.RawQuery, "ou")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	ou := q["ou"]
	if ou != "" {
		if err := access.ValidateOU(ou); err != nil {
			rt.fail(w, r, err, "account")
			return
		}
	}
	as, err := rt.cfg.Store.ListAccounts(r.Context(), ou)
	if err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	writeViews(w, "accounts", as, accountView)
}

func (rt *accessRoutes) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := rt.cfg.Store.Account(r.Context(), r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	writeJSON(w, http.StatusOK, accountView(a))
}

func (rt *accessRoutes) createAccount(w http.ResponseWriter, r *http.Request) {
	var req accountRequest
	if !decodeLimitedBody(w, r, &req, MaxAccessBody) {
		return
	}
	now := rt.cfg.Now()
	a, err := rt.cfg.Service.CreateAccount(r.Context(), req.account())
	if err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	if !rt.dir.record(w, r, EventAdminAccountCreated, "", now, map[string]string{"account_id": a.ID, "ou": a.OU}) {
		return
	}
	rt.accountChanged(r, a.ID)
	w.Header().Set("Location", AccountsPath+"/"+a.ID)
	writeJSON(w, http.StatusCreated, accountView(a))
}

func (rt *accessRoutes) updateAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req accountRequest
	if !decodeLimitedBody(w, r, &req, MaxAccessBody) {
		return
	}
	if req.ID != "" && req.ID != id {
		badRequest(w, "id: does not match the account ID in the URL")
		return
	}
	req.ID = id
	ctx := r.Context()
	before, err := rt.cfg.Store.Account(ctx, id)
	if err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	now := rt.cfg.Now()
	a, err := rt.cfg.Service.UpdateAccount(ctx, req.account())
	if err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	details := map[string]string{"account_id": a.ID, "ou": a.OU}
	if before.OU != a.OU {
		details["previous_ou"] = before.OU
	}
	if !rt.dir.record(w, r, EventAdminAccountUpdated, "", now, details) {
		return
	}
	if before.OU != a.OU || before.AssumeRoleARN != a.AssumeRoleARN {
		rt.accountChanged(r, a.ID)
	}
	writeJSON(w, http.StatusOK, accountView(a))
}

// accountChanged asks the worker for what the account now needs; a
// failure is logged (the worker also catches up at its next start).
func (rt *accessRoutes) accountChanged(r *http.Request, id string) {
	if err := rt.cfg.Provisioning.AccountChanged(r.Context(), id); err != nil {
		rt.cfg.Logger.WarnContext(r.Context(), "admin: could not enqueue provisioning for an account", "account", id, "err", err)
	}
}

func (rt *accessRoutes) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	now := rt.cfg.Now()
	if err := rt.cfg.Store.DeleteAccount(r.Context(), id); err != nil {
		rt.fail(w, r, err, "account")
		return
	}
	if !rt.dir.record(w, r, EventAdminAccountDeleted, "", now, map[string]string{"account_id": id}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- permission sets ---

func (rt *accessRoutes) listPermissionSets(w http.ResponseWriter, r *http.Request) {
	if _, err := singleQuery(r.URL.RawQuery); err != nil {
		badRequest(w, err.Error())
		return
	}
	all, err := rt.cfg.Store.ListPermissionSets(r.Context())
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	writeViews(w, "permission_sets", all, permissionSetView)
}

func (rt *accessRoutes) getPermissionSet(w http.ResponseWriter, r *http.Request) {
	ps, err := rt.cfg.Store.PermissionSet(r.Context(), r.PathValue("name"))
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	writeJSON(w, http.StatusOK, permissionSetView(ps))
}

func (rt *accessRoutes) createPermissionSet(w http.ResponseWriter, r *http.Request) {
	var req permissionSetRequest
	if !decodeLimitedBody(w, r, &req, MaxAccessBody) {
		return
	}
	if req.Version != 0 {
		badRequest(w, "version: is set by the server")
		return
	}
	ps, err := req.permissionSet()
	if err == nil {
		ps, err = rt.cfg.Service.CreatePermissionSet(r.Context(), ps)
	}
	if err != nil {
		if errors.Is(err, access.ErrConflict) {
			server.WriteJSONError(w, http.StatusConflict, "conflict", "name: a permission set with this name exists")
			return
		}
		rt.fail(w, r, err, "permission set")
		return
	}
	now := rt.cfg.Now()
	if !rt.dir.record(w, r, EventAdminPermissionSetCreated, "", now, map[string]string{"permission_set": ps.Name}) {
		return
	}
	w.Header().Set("Location", PermissionSetsPath+"/"+url.PathEscape(ps.Name))
	writeJSON(w, http.StatusCreated, permissionSetView(ps))
}

func (rt *accessRoutes) updatePermissionSet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ifVersion, ok := ifMatchVersion(w, r)
	if !ok {
		return
	}
	var req permissionSetRequest
	if !decodeLimitedBody(w, r, &req, MaxAccessBody) {
		return
	}
	if req.Name != "" && req.Name != name {
		badRequest(w, "name: does not match the permission set name in the URL (a permission set cannot be renamed)")
		return
	}
	req.Name = name
	switch {
	case ifVersion != 0 && req.Version != 0 && ifVersion != req.Version:
		badRequest(w, "version: differs from If-Match")
		return
	case ifVersion == 0:
		ifVersion = req.Version
	}
	ps, err := req.permissionSet()
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	ctx := r.Context()
	current, err := rt.cfg.Store.PermissionSet(ctx, name)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	if ifVersion == 0 { // neither If-Match nor version: replace what was read
		ifVersion = current.Version
	}
	out, err := rt.cfg.Service.UpdatePermissionSet(ctx, ps, ifVersion)
	if err != nil {
		if errors.Is(err, access.ErrConflict) {
			server.WriteJSONError(w, http.StatusPreconditionFailed, "precondition_failed",
				"version: the permission set has another version; read it again")
			return
		}
		rt.fail(w, r, err, "permission set")
		return
	}
	now := rt.cfg.Now()
	if !rt.dir.record(w, r, EventAdminPermissionSetUpdated, "", now,
		map[string]string{"permission_set": out.Name, "version": fmt.Sprint(out.Version)}) {
		return
	}
	if _, err := rt.cfg.Provisioning.Reprovision(ctx, out.Name, ""); err != nil {
		rt.cfg.Logger.WarnContext(ctx, "admin: could not enqueue the changed permission set", "permission_set", out.Name, "err", err)
	}
	writeJSON(w, http.StatusOK, permissionSetView(out))
}

func (rt *accessRoutes) deletePermissionSet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	now := rt.cfg.Now()
	if err := rt.cfg.Service.DeletePermissionSet(r.Context(), name); err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	if !rt.dir.record(w, r, EventAdminPermissionSetDeleted, "", now, map[string]string{"permission_set": name}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type provisionRequest struct {
	AccountID string `json:"account_id"`
}

func (rt *accessRoutes) provision(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req provisionRequest
	if !readJSONBody(w, r, &req, bodyRules{limit: MaxAccessBody, optional: true, describe: notAnObject}) {
		return
	}
	ctx := r.Context()
	if _, err := rt.cfg.Store.PermissionSet(ctx, name); err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	if req.AccountID != "" {
		if _, err := rt.cfg.Store.Account(ctx, req.AccountID); err != nil {
			if errors.Is(err, access.ErrNotFound) {
				badRequest(w, "account_id: no account has this ID")
				return
			}
			rt.fail(w, r, err, "account")
			return
		}
	}
	accounts, err := rt.cfg.Provisioning.Reprovision(ctx, name, req.AccountID)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	details := map[string]string{"permission_set": name, "accounts": fmt.Sprint(len(accounts))}
	if req.AccountID != "" {
		details["account_id"] = req.AccountID
	}
	if !rt.dir.record(w, r, EventAdminPermissionSetProvision, "", rt.cfg.Now(), details) {
		return
	}
	if accounts == nil {
		accounts = []string{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"permission_set": name, "status": access.StatusInProgress, "accounts": accounts})
}

// coveredAccounts returns the IDs of the accounts the assignments cover.
func (rt *accessRoutes) coveredAccounts(ctx context.Context, as []access.Assignment) (map[string]bool, error) {
	out := map[string]bool{}
	seenOU := map[string]bool{}
	for _, a := range as {
		switch a.TargetType {
		case access.TargetAccount:
			out[a.TargetID] = true
		case access.TargetOU:
			if seenOU[a.TargetID] {
				continue
			}
			seenOU[a.TargetID] = true
			accts, err := rt.cfg.Store.ListAccounts(ctx, a.TargetID)
			if err != nil {
				return nil, err
			}
			for _, acct := range accts {
				out[acct.ID] = true
			}
		}
	}
	return out, nil
}

func (rt *accessRoutes) provisioning(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx := r.Context()
	ps, err := rt.cfg.Store.PermissionSet(ctx, name)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	provs, err := rt.cfg.Store.ProvisioningsForPermissionSet(ctx, name)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	as, err := rt.cfg.Store.AssignmentsForPermissionSet(ctx, name)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	covered, err := rt.coveredAccounts(ctx, as)
	if err != nil {
		rt.fail(w, r, err, "permission set")
		return
	}
	out := make([]provisioningJSON, 0, len(provs)+len(covered))
	for _, p := range provs {
		delete(covered, p.AccountID)
		out = append(out, provisioningJSON{
			AccountID: p.AccountID, RoleName: p.RoleName, Status: string(p.Status), Reason: p.Reason,
			Version: p.Version, CurrentVersion: ps.Version, OutOfDate: p.Version < ps.Version, UpdatedAt: p.UpdatedAt.UTC(),
		})
	}
	for _, id := range slices.Sorted(maps.Keys(covered)) { // assigned, not provisioned yet
		out = append(out, provisioningJSON{AccountID: id, Status: string(access.StatusInProgress), CurrentVersion: ps.Version, OutOfDate: true})
	}
	slices.SortFunc(out, func(a, b provisioningJSON) int { return strings.Compare(a.AccountID, b.AccountID) })
	writeJSON(w, http.StatusOK, map[string]any{"permission_set": name, "version": ps.Version, "provisioning": out})
}

// --- assignments ---

func (rt *accessRoutes) listAssignments(w http.ResponseWriter, r *http.Request) {
	q, err := singleQuery(r.URL.RawQuery, "account_id", "ou", "principal_type", "principal_id", "permission_set")
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	ctx := r.Context()
	var as []access.Assignment
	const usage = "query: give one of account_id, ou, principal_type with principal_id, or permission_set"
	switch {
	case len(q) == 1 && q["account_id"] != "":
		as, err = rt.cfg.Store.AssignmentsForTarget(ctx, access.TargetAccount, q["account_id"])
	case len(q) == 1 && q["ou"] != "":
		if err := access.ValidateOU(q["ou"]); err != nil {
			rt.fail(w, r, err, "assignment")
			return
		}
		as, err = rt.cfg.Store.AssignmentsForTarget(ctx, access.TargetOU, q["ou"])
	case len(q) == 1 && q["permission_set"] != "":
		as, err = rt.cfg.Store.AssignmentsForPermissionSet(ctx, q["permission_set"])
	case len(q) == 2 && q["principal_type"] != "" && q["principal_id"] != "":
		typ := access.PrincipalType(q["principal_type"])
		switch typ {
		case access.PrincipalUser:
			as, err = rt.cfg.Store.AssignmentsForPrincipals(ctx, q["principal_id"], nil)
		case access.PrincipalGroup:
			as, err = rt.cfg.Store.AssignmentsForPrincipals(ctx, "", []string{q["principal_id"]})
		default:
			badRequest(w, "principal_type: must be USER or GROUP")
			return
		}
		as = slices.DeleteFunc(as, func(a access.Assignment) bool {
			return a.PrincipalType != typ || a.PrincipalID != q["principal_id"]
		})
	default:
		badRequest(w, usage)
		return
	}
	if err != nil {
		rt.fail(w, r, err, "assignment")
		return
	}
	writeViews(w, "assignments", as, assignmentView)
}

func (rt *accessRoutes) getAssignment(w http.ResponseWriter, r *http.Request) {
	a, err := rt.cfg.Store.Assignment(r.Context(), r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err, "assignment")
		return
	}
	writeJSON(w, http.StatusOK, assignmentView(a))
}

// checkReferences answers 400 naming the field when the assignment names
// a principal, permission set or account that does not exist.
func (rt *accessRoutes) checkReferences(w http.ResponseWriter, r *http.Request, a access.Assignment) bool {
	ctx := r.Context()
	var err error
	field, missing := "", ""
	switch a.PrincipalType {
	case access.PrincipalUser:
		_, err = rt.cfg.Principals.DirectoryUser(ctx, a.PrincipalID)
		field, missing = "principal_id", "no user has this ID"
	default:
		_, err = rt.cfg.Principals.Group(ctx, a.PrincipalID)
		field, missing = "principal_id", "no group has this ID"
	}
	if err == nil {
		_, err = rt.cfg.Store.PermissionSet(ctx, a.PermissionSet)
		field, missing = "permission_set", "no permission set has this name"
	}
	if err == nil && a.TargetType == access.TargetAccount {
		_, err = rt.cfg.Store.Account(ctx, a.TargetID)
		field, missing = "target_id", "no account has this ID"
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, directory.ErrNotFound), errors.Is(err, access.ErrNotFound):
		badRequest(w, field+": "+missing)
	default:
		rt.fail(w, r, err, "assignment")
	}
	return false
}

func (rt *accessRoutes) createAssignment(w http.ResponseWriter, r *http.Request) {
	var req assignmentRequest
	if !decodeLimitedBody(w, r, &req, MaxAccessBody) {
		return
	}
	a := access.Assignment{
		PrincipalType: access.PrincipalType(req.PrincipalType), PrincipalID: req.PrincipalID,
		PermissionSet: req.PermissionSet, TargetType: access.TargetType(req.TargetType), TargetID: req.TargetID,
	}
	if err := access.ValidateAssignment(a); err != nil {
		rt.fail(w, r, err, "assignment")
		return
	}
	if !rt.checkReferences(w, r, a) {
		return
	}
	ctx := r.Context()
	now := rt.cfg.Now()
	out, created, err := rt.cfg.Service.CreateAssignment(ctx, a)
	if err != nil {
		if errors.Is(err, access.ErrNotFound) { // removed since checkReferences
			badRequest(w, "permission_set or target_id: no longer exists")
			return
		}
		rt.fail(w, r, err, "assignment")
		return
	}
	if !created {
		writeJSON(w, http.StatusOK, assignmentView(out))
		return
	}
	if !rt.dir.record(w, r, EventAdminAssignmentCreated, assignmentSubject(out), now, assignmentDetails(out)) {
		return
	}
	if err := rt.cfg.Provisioning.Assigned(ctx, out); err != nil {
		rt.cfg.Logger.WarnContext(ctx, "admin: could not enqueue a new assignment", "assignment", out.ID, "err", err)
	}
	w.Header().Set("Location", AssignmentsPath+"/"+out.ID)
	writeJSON(w, http.StatusAccepted, assignmentView(out))
}

// assignmentSubject is the audit subject of an assignment change: the
// user it names, if any.
func assignmentSubject(a access.Assignment) string {
	if a.PrincipalType == access.PrincipalUser {
		return a.PrincipalID
	}
	return ""
}

func assignmentDetails(a access.Assignment) map[string]string {
	return map[string]string{
		"assignment_id": a.ID, "principal_type": string(a.PrincipalType), "principal_id": a.PrincipalID,
		"permission_set": a.PermissionSet, "target_type": string(a.TargetType), "target_id": a.TargetID,
	}
}

func (rt *accessRoutes) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, err := rt.cfg.Store.Assignment(ctx, r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err, "assignment")
		return
	}
	now := rt.cfg.Now()
	if err := rt.cfg.Service.DeleteAssignment(ctx, a.ID); err != nil {
		rt.fail(w, r, err, "assignment")
		return
	}
	if !rt.dir.record(w, r, EventAdminAssignmentDeleteRequest, assignmentSubject(a), now, assignmentDetails(a)) {
		return
	}
	if err := rt.cfg.Provisioning.Unassigned(ctx, a); err != nil {
		rt.cfg.Logger.WarnContext(ctx, "admin: could not enqueue the deprovisioning of an assignment", "assignment", a.ID, "err", err)
	}
	v := assignmentView(a)
	v.Status, v.Reason = string(access.StatusInProgress), ""
	writeJSON(w, http.StatusAccepted, v)
}

// --- entitlements ---

type entitlementJSON struct {
	AccountID     string   `json:"account_id"`
	PermissionSet string   `json:"permission_set"`
	Via           []string `json:"via"`
}

func (rt *accessRoutes) entitlements(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if _, err := rt.cfg.Principals.DirectoryUser(ctx, id); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			server.WriteJSONError(w, http.StatusNotFound, "not_found", "no user has this ID")
			return
		}
		rt.fail(w, r, err, "user")
		return
	}
	es, err := rt.cfg.Service.EntitlementsFor(ctx, id)
	if err != nil {
		rt.fail(w, r, err, "user")
		return
	}
	out := make([]entitlementJSON, 0, len(es))
	for _, e := range es {
		out = append(out, entitlementJSON{AccountID: e.AccountID, PermissionSet: e.PermissionSet, Via: slices.Clone(e.Via)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": id, "entitlements": out})
}
