package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adminDo sends an admin API request with the admin token.
func (e *flowEnv) adminDo(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// TestSCIMTokenLifecycle: tokens are created through the admin API (the
// value shown once), listed without values, limited to two active,
// revoked, audited and exported as a metric.
func TestSCIMTokenLifecycle(t *testing.T) {
	env := startFlowGateway(t)
	var created []map[string]any
	for range 2 {
		status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", "")
		require.Equal(t, http.StatusCreated, status, string(body))
		var c map[string]any
		require.NoError(t, json.Unmarshal(body, &c))
		require.NotEmpty(t, c["token"])
		require.NotEmpty(t, c["expires_at"])
		created = append(created, c)
	}
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", "")
	assert.Equal(t, http.StatusConflict, status, "at most two active: %s", body)

	status, body = env.adminDo(t, http.MethodGet, "/api/v1/admin/scim-tokens", "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range created {
		assert.Contains(t, string(body), c["id"].(string))
		assert.NotContains(t, string(body), c["token"].(string), "values are never listed")
	}

	metrics := string(get(t, env.base+"/metrics"))
	assert.Contains(t, metrics, `gatehouse_scim_token_expiry_days{id="`+created[0]["id"].(string)+`"}`)

	status, _ = env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+created[0]["id"].(string), "")
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+created[0]["id"].(string), "")
	assert.Equal(t, http.StatusNotFound, status)

	var types []string
	for _, ev := range env.auditEvents(t, "type=scim_token.") {
		types = append(types, ev["type"].(string))
	}
	assert.Equal(t, []string{"scim_token.revoked", "scim_token.created", "scim_token.created"}, types)
}
