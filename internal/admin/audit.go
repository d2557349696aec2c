package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// AuditPath is the audit log's query endpoint.
const AuditPath = "/api/v1/admin/audit"

// AuditReader queries the audit log (audit.Log implements it).
type AuditReader interface {
	Query(ctx context.Context, q audit.Query) ([]audit.Event, error)
}

// auditEventView is one event as the API shows it.
type auditEventView struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	Outcome   string            `json:"outcome"`
	Actor     string            `json:"actor,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	ClientID  string            `json:"client_id,omitempty"`
	Audience  []string          `json:"audience,omitempty"`
	Scopes    []string          `json:"scopes,omitempty"`
	ActChain  []string          `json:"act_chain,omitempty"`
	Source    string            `json:"source,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// auditPage is the response of GET /api/v1/admin/audit: the events, newest
// first, and the cursor for the next (older) page when there may be one.
type auditPage struct {
	Events []auditEventView `json:"events"`
	// Next is the value of the before parameter for the next page; absent
	// on the last page.
	Next string `json:"next,omitempty"`
}

// AuditRoutes registers GET /api/v1/admin/audit behind tok.Require. Query
// parameters (all optional): type (exact, or a prefix ending in "."),
// outcome (success|failure), actor, subject, client_id, since and until
// (RFC 3339; since inclusive, until exclusive), before (the cursor from the
// previous page) and limit (1..1000, default 100). Unknown or repeated
// parameters and malformed values are 400 naming the parameter.
func AuditRoutes(mux *http.ServeMux, tok Token, log AuditReader, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux.Handle("GET "+AuditPath, tok.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseAuditQuery(r.URL.RawQuery)
		if err != nil {
			server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		evs, err := log.Query(r.Context(), q)
		if err != nil {
			logger.ErrorContext(r.Context(), "admin: audit query failed", slog.Any("error", err))
			server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", "the audit log is unavailable")
			return
		}
		page := auditPage{Events: make([]auditEventView, 0, len(evs))}
		for _, e := range evs {
			page.Events = append(page.Events, auditEventView{
				ID: e.ID, Time: e.Time.UTC(), Type: e.Type, Outcome: e.Outcome, Actor: e.Actor,
				Subject: e.Subject, ClientID: e.ClientID, Audience: e.Audience, Scopes: e.Scopes,
				ActChain: e.ActChain, Source: e.Source, RequestID: e.RequestID, Reason: e.Reason,
				Details: e.Details,
			})
		}
		limit := q.Limit
		if limit == 0 {
			limit = audit.DefaultLimit
		}
		if len(evs) == limit && len(evs) > 0 {
			page.Next = strconv.FormatInt(evs[len(evs)-1].ID, 10)
		}
		writeJSON(w, http.StatusOK, page)
	})))
}

// maxAuditParam bounds each query parameter's length.
const maxAuditParam = 512

// parseAuditQuery parses the query string of GET /api/v1/admin/audit.
func parseAuditQuery(raw string) (audit.Query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return audit.Query{}, fmt.Errorf("query: malformed: %w", err)
	}
	var q audit.Query
	for k, v := range vals {
		if len(v) != 1 {
			return audit.Query{}, fmt.Errorf("%s: given more than once", paramName(k))
		}
		val := v[0]
		if len(val) > maxAuditParam {
			return audit.Query{}, fmt.Errorf("%s: longer than %d characters", paramName(k), maxAuditParam)
		}
		switch k {
		case "type":
			q.Type = val
		case "outcome":
			if val != audit.Success && val != audit.Failure {
				return audit.Query{}, fmt.Errorf("outcome: must be %s or %s", audit.Success, audit.Failure)
			}
			q.Outcome = val
		case "actor":
			q.Actor = val
		case "subject":
			q.Subject = val
		case "client_id":
			q.ClientID = val
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				return audit.Query{}, fmt.Errorf("%s: must be an RFC 3339 time", k)
			}
			if k == "since" {
				q.Since = t
			} else {
				q.Until = t
			}
		case "before":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return audit.Query{}, fmt.Errorf("before: must be a positive event ID")
			}
			q.Before = n
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > audit.MaxLimit {
				return audit.Query{}, fmt.Errorf("limit: must be between 1 and %d", audit.MaxLimit)
			}
			q.Limit = n
		default:
			return audit.Query{}, fmt.Errorf("%s: unknown parameter", paramName(k))
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return audit.Query{}, fmt.Errorf("until: must be after since")
	}
	return q, nil
}

// paramName quotes a parameter name for a message when it is not plain.
func paramName(k string) string {
	if plainField.MatchString(k) {
		return k
	}
	if len(k) > 64 {
		k = k[:64]
	}
	return strconv.Quote(k)
}
