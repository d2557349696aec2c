package server

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON body of an API error: {"error":"code","message":"..."}.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// WriteJSONError writes {"error":code,"message":message} with status. The
// response is not cached and not content-sniffed. code should be a short
// machine-readable constant such as "not_found"; message must not contain
// secrets or internal detail.
func WriteJSONError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, ErrorBody{Error: code, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
