package awsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

const (
	goodToken = "good-token"
	alice     = "user-alice"
	acctA     = "111111111111"
	acctB     = "222222222222"
)

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeTokens maps tokens to users; err, when set, is returned for every
// token.
type fakeTokens struct {
	users map[string]string
	err   error
	seen  []string
}

func (f *fakeTokens) UserID(_ context.Context, bearer string) (string, error) {
	f.seen = append(f.seen, bearer)
	if f.err != nil {
		return "", f.err
	}
	u, ok := f.users[bearer]
	if !ok {
		return "", fmt.Errorf("%w: unknown token", awsapi.ErrUnauthorized)
	}
	return u, nil
}

type fakeEntitlements struct {
	byUser map[string][]access.Entitlement
	err    error
}

func (f *fakeEntitlements) EntitlementsFor(_ context.Context, userID string) ([]access.Entitlement, error) {
	return f.byUser[userID], f.err
}

type fakeAccounts struct {
	accounts map[string]access.Account
	err      error
}

func (f *fakeAccounts) Account(_ context.Context, id string) (access.Account, error) {
	if f.err != nil {
		return access.Account{}, f.err
	}
	a, ok := f.accounts[id]
	if !ok {
		return access.Account{}, access.ErrNotFound
	}
	return a, nil
}

type vendCall struct{ user, account, role string }

type fakeVendor struct {
	grants map[vendCall]bool
	creds  vend.Credentials
	err    error
	calls  []vendCall
}

func (f *fakeVendor) Vend(_ context.Context, userID, accountID, ps string) (vend.Credentials, error) {
	c := vendCall{userID, accountID, ps}
	f.calls = append(f.calls, c)
	if f.err != nil {
		return vend.Credentials{}, f.err
	}
	if !f.grants[c] {
		return vend.Credentials{}, vend.ErrNotEntitled
	}
	return f.creds, nil
}

type env struct {
	tokens   *fakeTokens
	ents     *fakeEntitlements
	accounts *fakeAccounts
	vendor   *fakeVendor
	mux      *http.ServeMux
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		tokens: &fakeTokens{users: map[string]string{goodToken: alice}},
		ents: &fakeEntitlements{byUser: map[string][]access.Entitlement{alice: {
			{AccountID: acctB, PermissionSet: "ReadOnly", Via: []string{"as1"}},
			{AccountID: acctA, PermissionSet: "ReadOnly", Via: []string{"as2"}},
			{AccountID: acctA, PermissionSet: "Admin", Via: []string{"as3"}},
			{AccountID: acctA, PermissionSet: "ReadOnly", Via: []string{"as4"}},
		}}},
		accounts: &fakeAccounts{accounts: map[string]access.Account{
			acctA: {ID: acctA, Name: "prod"},
			acctB: {ID: acctB, Name: "dev"},
		}},
		vendor: &fakeVendor{
			grants: map[vendCall]bool{{alice, acctA, "ReadOnly"}: true},
			creds: vend.Credentials{
				AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "session",
				Expiration: now.Add(time.Hour).In(time.FixedZone("X", 3600)), AccountID: acctA,
				RoleARN: "arn:aws:iam::111111111111:role/aws-reserved/AWSReservedSSO_ReadOnly_0123456789abcdef",
			},
		},
	}
	api, err := awsapi.New(awsapi.Config{Tokens: e.tokens, Entitlements: e.ents, Accounts: e.accounts, Vendor: e.vendor, Now: func() time.Time { return now }})
	require.NoError(t, err)
	e.mux = http.NewServeMux()
	api.Routes(e.mux)
	return e
}

type request struct {
	method, path, auth, contentType, body string
}

func validCredentialsRequest() request {
	return request{http.MethodPost, awsapi.PathCredentials, "Bearer " + goodToken, "application/json", `{"account_id":"111111111111","role":"ReadOnly"}`}
}

func validAccountsRequest() request {
	return request{http.MethodGet, awsapi.PathAccounts, "Bearer " + goodToken, "", ""}
}

func (e *env) do(t *testing.T, r request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

func TestNewRequiresEveryDependency(t *testing.T) {
	e := newEnv(t)
	valid := awsapi.Config{Tokens: e.tokens, Entitlements: e.ents, Accounts: e.accounts, Vendor: e.vendor}
	_, err := awsapi.New(valid)
	require.NoError(t, err)
	for name, mutate := range map[string]func(*awsapi.Config){
		"Tokens":       func(c *awsapi.Config) { c.Tokens = nil },
		"Entitlements": func(c *awsapi.Config) { c.Entitlements = nil },
		"Accounts":     func(c *awsapi.Config) { c.Accounts = nil },
		"Vendor":       func(c *awsapi.Config) { c.Vendor = nil },
	} {
		t.Run(name, func(t *testing.T) {
			c := valid
			mutate(&c)
			_, err := awsapi.New(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), name)
		})
	}
}

func TestCredentialsVended(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, validCredentialsRequest())
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, map[string]any{
		"Version": float64(1), "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "session",
		"Expiration": "2030-01-02T04:04:05Z",
	}, got)
	assert.Equal(t, []vendCall{{alice, acctA, "ReadOnly"}}, e.vendor.calls, "the token's user, never a request field")
	assert.Equal(t, []string{goodToken}, e.tokens.seen)
}

func TestCredentialsErrors(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*request)
		setup     func(*env)
		status    int
		errCode   string
		challenge string
		noVend    bool
	}{
		{name: "no authorization", mutate: func(r *request) { r.auth = "" }, status: 401, errCode: "invalid_token", challenge: `error="invalid_token"`, noVend: true},
		{name: "basic scheme", mutate: func(r *request) { r.auth = "Basic " + goodToken }, status: 401, errCode: "invalid_token", challenge: `error="invalid_token"`, noVend: true},
		{name: "empty bearer", mutate: func(r *request) { r.auth = "Bearer " }, status: 401, errCode: "invalid_token", challenge: `error="invalid_token"`, noVend: true},
		{name: "unknown token", mutate: func(r *request) { r.auth = "Bearer other" }, status: 401, errCode: "invalid_token", challenge: `error="invalid_token"`, noVend: true},
		{name: "insufficient scope", setup: func(e *env) { e.tokens.err = fmt.Errorf("scope: %w", awsapi.ErrInsufficientScope) }, status: 403, errCode: "insufficient_scope", challenge: `error="insufficient_scope"`, noVend: true},
		{name: "verifier down", setup: func(e *env) { e.tokens.err = errors.New("revocation store down") }, status: 503, errCode: "unavailable", noVend: true},
		{name: "not entitled role", mutate: func(r *request) { r.body = `{"account_id":"111111111111","role":"Admin"}` }, status: 403, errCode: "not_entitled"},
		{name: "not entitled account", mutate: func(r *request) { r.body = `{"account_id":"222222222222","role":"ReadOnly"}` }, status: 403, errCode: "not_entitled"},
		{name: "vendor unavailable", setup: func(e *env) { e.vendor.err = fmt.Errorf("%w: sts", vend.ErrUnavailable) }, status: 503, errCode: "unavailable"},
		{name: "vendor other error", setup: func(e *env) { e.vendor.err = errors.New("bad user name") }, status: 500, errCode: "server_error"},
		{name: "expired credentials", setup: func(e *env) { e.vendor.creds.Expiration = now }, status: 503, errCode: "unavailable"},
		{name: "empty credentials", setup: func(e *env) { e.vendor.creds.SessionToken = "" }, status: 503, errCode: "unavailable"},
		{name: "not JSON", mutate: func(r *request) { r.body = `account_id=111111111111` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "unknown field", mutate: func(r *request) { r.body = `{"account_id":"111111111111","role":"ReadOnly","user":"bob"}` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "trailing data", mutate: func(r *request) { r.body += `{}` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "bad account", mutate: func(r *request) { r.body = `{"account_id":"11111111111","role":"ReadOnly"}` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "bad role", mutate: func(r *request) { r.body = `{"account_id":"111111111111","role":"Read Only"}` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "missing role", mutate: func(r *request) { r.body = `{"account_id":"111111111111"}` }, status: 400, errCode: "invalid_request", noVend: true},
		{name: "oversized body", mutate: func(r *request) {
			r.body = `{"account_id":"111111111111","role":"ReadOnly"` + strings.Repeat(" ", awsapi.MaxBody) + `}`
		}, status: 400, errCode: "invalid_request", noVend: true},
		{name: "form content type", mutate: func(r *request) { r.contentType = "application/x-www-form-urlencoded" }, status: 415, errCode: "unsupported_media_type", noVend: true},
		{name: "GET", mutate: func(r *request) { r.method = http.MethodGet }, status: 405, noVend: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			r := validCredentialsRequest()
			if tt.mutate != nil {
				tt.mutate(&r)
			}
			rec := e.do(t, r)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), "ASIAEXAMPLE")
			if tt.errCode != "" {
				var body map[string]string
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				assert.Equal(t, tt.errCode, body["error"])
				assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			}
			if tt.challenge != "" {
				assert.True(t, strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer "), rec.Header().Get("WWW-Authenticate"))
				assert.Contains(t, rec.Header().Get("WWW-Authenticate"), tt.challenge)
			} else {
				assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
			}
			if tt.noVend {
				assert.Empty(t, e.vendor.calls)
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, validAccountsRequest())
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.JSONEq(t, `{"accounts":[
		{"id":"111111111111","name":"prod","roles":["Admin","ReadOnly"]},
		{"id":"222222222222","name":"dev","roles":["ReadOnly"]}]}`, rec.Body.String())
}

func TestAccountsEmptyAndDeleted(t *testing.T) {
	e := newEnv(t)
	delete(e.accounts.accounts, acctB)
	rec := e.do(t, validAccountsRequest())
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"accounts":[{"id":"111111111111","name":"prod","roles":["Admin","ReadOnly"]}]}`, rec.Body.String(), "a deleted account is left out")

	e.ents.byUser[alice] = nil
	rec = e.do(t, validAccountsRequest())
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"accounts":[]}`, rec.Body.String())
}

func TestAccountsErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*request)
		setup  func(*env)
		status int
	}{
		{name: "no token", mutate: func(r *request) { r.auth = "" }, status: 401},
		{name: "bad token", mutate: func(r *request) { r.auth = "Bearer nope" }, status: 401},
		{name: "entitlements down", setup: func(e *env) { e.ents.err = errors.New("db down") }, status: 503},
		{name: "account read fails", setup: func(e *env) { e.accounts.err = errors.New("db down") }, status: 503},
		{name: "POST", mutate: func(r *request) { r.method = http.MethodPost }, status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			r := validAccountsRequest()
			if tt.mutate != nil {
				tt.mutate(&r)
			}
			rec := e.do(t, r)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), "prod", "no partial list")
			if tt.status == 401 {
				assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			}
		})
	}
}

func TestRepeatedAuthorizationRefused(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodGet, awsapi.PathAccounts, nil)
	req.Header.Add("Authorization", "Bearer "+goodToken)
	req.Header.Add("Authorization", "Bearer "+goodToken)
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Empty(t, e.tokens.seen)
}

func TestBearerSchemeCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	r := validAccountsRequest()
	r.auth = "bearer " + goodToken
	assert.Equal(t, http.StatusOK, e.do(t, r).Code)
}

func TestDecodeCredentialsRequest(t *testing.T) {
	req, err := awsapi.DecodeCredentialsRequest(strings.NewReader(`{"account_id":"123456789012","role":"a+=,.@_-Z9"}`))
	require.NoError(t, err)
	assert.Equal(t, awsapi.CredentialsRequest{AccountID: "123456789012", Role: "a+=,.@_-Z9"}, req)
	for _, bad := range []string{
		``, `null`, `[]`, `{"account_id":123456789012,"role":"R"}`,
		`{"account_id":"123456789012","role":"` + strings.Repeat("R", 33) + `"}`,
		`{"account_id":"12345678901a","role":"R"}`,
		`{"account_id":"123456789012","role":"R/x"}`,
	} {
		_, err := awsapi.DecodeCredentialsRequest(strings.NewReader(bad))
		assert.Error(t, err, bad)
	}
}

func FuzzDecodeCredentialsRequest(f *testing.F) {
	f.Add([]byte(`{"account_id":"123456789012","role":"ReadOnly"}`))
	f.Add([]byte(`{"account_id":"123456789012","role":"ReadOnly"} x`))
	f.Add([]byte(`{"account_id":"1","role":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := awsapi.DecodeCredentialsRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if !access.ValidAccountID(req.AccountID) || !access.ValidPermissionSetName(req.Role) {
			t.Fatalf("accepted %q", b)
		}
	})
}
