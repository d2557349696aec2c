package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteError(t *testing.T) {
	secret := errors.New("db password=hunter2 failed")
	tests := []struct {
		name       string
		err        error
		status     int
		body       map[string]string
		authHeader string
	}{
		{name: "invalid_grant", err: NewError(ErrInvalidGrant, "subject token rejected").Wrap(secret),
			status: 400, body: map[string]string{"error": "invalid_grant", "error_description": "subject token rejected"}},
		{name: "invalid_client", err: NewError(ErrInvalidClient, "client authentication failed"),
			status: 401, body: map[string]string{"error": "invalid_client", "error_description": "client authentication failed"},
			authHeader: `Basic realm="gatehouse"`},
		{name: "invalid_client with odd status still 401", err: NewError(ErrInvalidClient, "").WithStatus(400),
			status: 401, body: map[string]string{"error": "invalid_client"}, authHeader: `Basic realm="gatehouse"`},
		{name: "wrapped oauth error", err: fmt.Errorf("exchange: %w", NewError(ErrInvalidScope, "scope not allowed")),
			status: 400, body: map[string]string{"error": "invalid_scope", "error_description": "scope not allowed"}},
		{name: "plain error becomes server_error", err: secret,
			status: 500, body: map[string]string{"error": "server_error", "error_description": defaultServerErrorDescribe}},
		{name: "validation error becomes invalid_grant", err: reject(ReasonExpired, secret),
			status: 400, body: map[string]string{"error": "invalid_grant", "error_description": "the token is invalid"}},
		{name: "temporarily_unavailable", err: NewError(ErrTemporarilyUnavailable, "try later"),
			status: 503, body: map[string]string{"error": "temporarily_unavailable", "error_description": "try later"}},
		{name: "description sanitised", err: NewError(ErrInvalidRequest, "bad \"param\"\n\\é"),
			status: 400, body: map[string]string{"error": "invalid_request", "error_description": "bad  param     "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tc.err)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
			assert.Equal(t, "application/json;charset=UTF-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, tc.authHeader, rec.Header().Get("WWW-Authenticate"))
			var got map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.Equal(t, tc.body, got)
			assert.NotContains(t, rec.Body.String(), "hunter2")
		})
	}
}

func TestErrorCopyOnWriteAndLogging(t *testing.T) {
	base := NewError(ErrInvalidGrant, "one")
	cause := reject(ReasonAudience, errors.New("aud mismatch"))
	d := base.WithDescription("two").Wrap(cause)
	assert.Equal(t, "one", base.Description)
	assert.Nil(t, base.Unwrap())
	assert.Equal(t, "two", d.Description)
	assert.ErrorIs(t, d, ErrInvalidToken)
	assert.Equal(t, http.StatusBadRequest, d.Status)
	assert.Contains(t, d.Error(), "invalid_grant")

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("refused", "err", d)
	assert.Contains(t, buf.String(), `"reason":"aud"`)
	assert.Contains(t, buf.String(), `"code":"invalid_grant"`)

	assert.Nil(t, AsError(nil))
	rec := httptest.NewRecorder()
	WriteError(rec, nil)
	assert.Equal(t, 500, rec.Code)
}

func TestErrorCodeStatus(t *testing.T) {
	for code, want := range map[ErrorCode]int{
		ErrInvalidRequest: 400, ErrInvalidClient: 401, ErrInvalidGrant: 400, ErrUnauthorizedClient: 400,
		ErrUnsupportedGrantType: 400, ErrInvalidScope: 400, ErrInvalidTarget: 400, ErrAuthorizationPending: 400,
		ErrSlowDown: 400, ErrExpiredToken: 400, ErrAccessDenied: 400, ErrServerError: 500, ErrTemporarilyUnavailable: 503,
	} {
		assert.Equal(t, want, NewError(code, "").Status, code)
	}
}
