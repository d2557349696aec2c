// Package admin serves the gateway's administration API under
// /api/v1/admin: bearer-token authentication from admin.token_file, the
// application registry's endpoints, the identity store's users, groups and
// memberships, SCIM tokens and the audit log query.
//
// # Security model
//
// Every admin endpoint requires the bearer token from admin.token_file,
// compared in constant time over SHA-256 digests. The token file is
// created (0600, 256 random bits) on first start when absent; an existing
// file that is empty or too short is an error, never replaced. Request
// bodies are capped and decoded strictly (unknown fields are errors); every
// input is validated before anything is stored, so a rejected request
// leaves the registry as it was. Every change to the identity store is
// audited (actor "admin"); a change made but not recorded is answered 500
// and logged at error level. Errors are JSON {"error","message"} with
// no internal detail; the detail goes to the log.
package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// minTokenLength is the shortest admin token accepted from a file.
const minTokenLength = 32

// Token is the admin bearer token (only its digest is kept).
type Token struct {
	digest [sha256.Size]byte
}

// LoadOrCreateToken reads the admin token from path, creating the file with
// a fresh random token when it does not exist. created reports whether it
// did.
func LoadOrCreateToken(path string) (tok Token, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		t := strings.TrimSpace(string(b))
		if len(t) < minTokenLength {
			return Token{}, false, fmt.Errorf("admin: %s: the token must be at least %d characters", path, minTokenLength)
		}
		return Token{digest: sha256.Sum256([]byte(t))}, false, nil
	case errors.Is(err, fs.ErrNotExist):
	default:
		return Token{}, false, fmt.Errorf("admin: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	t := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Token{}, false, fmt.Errorf("admin: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Token{}, false, fmt.Errorf("admin: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		_ = f.Close()
		return Token{}, false, fmt.Errorf("admin: %w", err)
	}
	if err := f.Close(); err != nil {
		return Token{}, false, fmt.Errorf("admin: %w", err)
	}
	return Token{digest: sha256.Sum256([]byte(t))}, true, nil
}

// NewToken returns a Token for the given value (for embedding and tests).
func NewToken(value string) Token { return Token{digest: sha256.Sum256([]byte(value))} }

// Require wraps next so that it runs only for requests carrying the admin
// bearer token; others get 401.
func (t Token) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(d[:], t.digest[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			server.WriteJSONError(w, http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
