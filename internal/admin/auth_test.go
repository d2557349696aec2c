package admin

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin.token")
	tok, created, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.True(t, created)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)

	again, created, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, tok, again)
	assert.Equal(t, NewToken(strings.TrimSpace(string(raw))), tok)

	short := filepath.Join(t.TempDir(), "short.token")
	require.NoError(t, os.WriteFile(short, []byte("tooshort\n"), 0o600))
	_, _, err = LoadOrCreateToken(short)
	assert.ErrorContains(t, err, "at least 32 characters")
	b, _ := os.ReadFile(short)
	assert.Equal(t, "tooshort\n", string(b), "a bad token file is never replaced")
}

func TestRequire(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-secret"
	h := NewToken(secret).Require(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"valid", "Bearer " + secret, http.StatusTeapot},
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer " + secret + "x", http.StatusUnauthorized},
		{"basic scheme", "Basic " + secret, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/admin/applications", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tc.want, w.Code, tc.name)
		if tc.want == http.StatusUnauthorized {
			assert.JSONEq(t, `{"error":"unauthorized","message":"a valid admin bearer token is required"}`, w.Body.String())
			assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
		}
	}
}
