// Package rows is the HTTP handler of the data-service example: an
// in-memory table whose rows each belong to one group, served at GET /rows
// behind propagation.Middleware so a caller sees only the rows of the groups
// the signed-in user belongs to. It is a separate package so tests (the
// bi-tool example's included) can run the handler with their own
// propagation.Verifier.
//
// # Security model
//
// Every request passes propagation.Middleware first: a request without a
// Gatehouse access token for this service's audience, signed by a key
// Gatehouse publishes, inside its time window, is answered 401 before the
// table is touched. Rows are then filtered only by the groups of the
// verified Identity; nothing in the request (query, headers, body) widens
// what is returned, and a user in no matching group gets an empty list.
package rows

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gatehouse-dev/gatehouse/propagation"
)

// Row is one row of the table. Group is the group a user must be in to
// see it.
type Row struct {
	ID     int    `json:"id"`
	Group  string `json:"group"`
	Item   string `json:"item"`
	Amount int    `json:"amount"`
}

// DefaultRows returns a small demo table: sales rows for group "sales",
// finance rows for group "finance".
func DefaultRows() []Row {
	return []Row{
		{ID: 1, Group: "sales", Item: "Q1 pipeline EMEA", Amount: 120000},
		{ID: 2, Group: "sales", Item: "Q1 pipeline AMER", Amount: 340000},
		{ID: 3, Group: "finance", Item: "Q1 payroll", Amount: 910000},
		{ID: 4, Group: "finance", Item: "Q1 office rent", Amount: 75000},
		{ID: 5, Group: "sales", Item: "Q2 forecast", Amount: 410000},
	}
}

// Actor is one link of the delegation chain of the token, current actor
// first.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
}

// Response is the JSON body of GET /rows.
type Response struct {
	User     string   `json:"user"`
	UserID   string   `json:"user_id"`
	ClientID string   `json:"client_id"`
	Groups   []string `json:"groups"`
	Act      []Actor  `json:"act,omitempty"`
	Rows     []Row    `json:"rows"`
}

// Config configures NewHandler.
type Config struct {
	// Verifier checks Gatehouse access tokens for this service. Required.
	Verifier *propagation.Verifier
	// Rows is the table; it is copied. Nil means DefaultRows.
	Rows []Row
	// Logger receives refused tokens at debug level; nil discards.
	Logger *slog.Logger
}

// NewHandler returns a handler serving GET /rows behind
// propagation.Middleware; every other path is 404.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("rows: a verifier is required")
	}
	table := slices.Clone(cfg.Rows)
	if table == nil {
		table = DefaultRows()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mw := propagation.Middleware(cfg.Verifier, propagation.WithLogger(logger))
	mux.Handle("GET /rows", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveRows(w, r, table)
	})))
	return mux, nil
}

func serveRows(w http.ResponseWriter, r *http.Request, table []Row) {
	id, ok := propagation.FromContext(r.Context())
	if !ok {
		// Unreachable behind the middleware; fail closed all the same.
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	resp := Response{
		User:     id.UserName,
		UserID:   id.Subject,
		ClientID: id.ClientID,
		Groups:   slices.Clone(id.Groups),
		Rows:     []Row{},
	}
	if resp.Groups == nil {
		resp.Groups = []string{}
	}
	for a := id.Actor; a != nil; a = a.Actor {
		resp.Act = append(resp.Act, Actor{Subject: a.Subject, ClientID: a.ClientID})
	}
	for _, row := range table {
		if id.InGroup(row.Group) {
			resp.Rows = append(resp.Rows, row)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(resp)
}
