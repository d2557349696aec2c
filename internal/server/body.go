package server

import (
	"net/http"
	"strconv"
)

// MaxBody limits request bodies to limit bytes: a request whose declared
// Content-Length is larger gets 413 with a JSON error before the handler
// runs; otherwise the body is wrapped in http.MaxBytesReader, so reading
// past the limit fails with *http.MaxBytesError and the connection is
// closed after the response.
func MaxBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				w.Header().Set("Connection", "close")
				WriteJSONError(w, http.StatusRequestEntityTooLarge, "request_too_large",
					"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}
