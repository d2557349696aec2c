package gateway_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// postgresEnv names the environment variable holding a pgx URL of a
// PostgreSQL database the tests may create schemas in.
const postgresEnv = "GATEHOUSE_TEST_POSTGRES"

// postgresSchemaDSN creates a fresh schema in the database named by
// GATEHOUSE_TEST_POSTGRES, dropped when t ends, and returns a pgx URL whose
// search_path selects it. It skips when the variable is unset and fails
// when it is set but PostgreSQL is unreachable.
func postgresSchemaDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests need %s set to a pgx URL, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresEnv)
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	require.NoError(t, admin.PingContext(ctx), "%s is set but PostgreSQL is unreachable", postgresEnv)
	var b [8]byte
	_, err = rand.Read(b[:])
	require.NoError(t, err)
	schema := "gatehouse_gw_test_" + hex.EncodeToString(b[:])
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
		_ = admin.Close()
	})
	require.Contains(t, base, "://", "%s must be a pgx URL", postgresEnv)
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestPostgresTwoInstances runs two gateway instances, each with its own
// connection pool and store on one fresh PostgreSQL schema, and checks over
// HTTP that sign-in state and the assertion replay record are shared.
func TestPostgresTwoInstances(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	ctx := context.Background()

	lA, lB := listen(t), listen(t)
	baseA, baseB := "http://"+lA.Addr().String(), "http://"+lB.Addr().String()
	hostB := lB.Addr().String()
	acsA := baseA + "/saml/acs"
	acsB := baseB + "/eu-west-1/saml/acs"
	entityID := baseA + "/saml/sp/metadata"

	idp, err := samltest.NewIdP("https://idp.example.test/saml")
	require.NoError(t, err)
	dir := t.TempDir()
	// Nothing serves the SSO URL: the test builds the IdP's responses itself.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "idp.xml"), idp.Metadata(baseA+"/idp/sso"), 0o600))
	yaml := fmt.Sprintf(`external_url: %q
listen: "127.0.0.1:0"
store:
  dsn: unused.db
keys:
  dir: keys
identity_source:
  saml:
    metadata_file: idp.xml
    jit_provisioning: true
    allow_idp_initiated: true
    attributes:
      email: email
      display_name: displayName
      groups: groups
    acs_endpoints:
      - region: eu-west-1
        url: %q
      - region: us-east-1
        url: %q
`, baseA, acsB, acsA)
	cfg, err := config.Parse([]byte(yaml), dir, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.NoError(t, os.MkdirAll(cfg.Keys.Dir, 0o700))

	// Each instance has its own pool and store; both stores are opened
	// (and migrate) at once, serialised by the migration advisory lock.
	stores := make([]*sqlstore.Store, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() }) // runs before the schema DROP
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlstore.Open(ctx, db, sqlstore.PostgreSQL, sqlstore.Options{})
		}()
	}
	wg.Wait()
	for i := range stores {
		require.NoError(t, errs[i], "store %d", i)
		st := stores[i]
		t.Cleanup(func() { assert.NoError(t, st.Close()) }) // runs before db.Close
	}

	for i, l := range []net.Listener{lA, lB} {
		gw, err := gateway.New(ctx, cfg, gateway.Options{Store: stores[i]})
		require.NoError(t, err)
		srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}

	noFollow := func(t *testing.T) *http.Client {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	respond := func(t *testing.T, destination, inResponseTo string) string {
		t.Helper()
		enc, err := idp.EncodedResponse(samltest.ResponseOptions{
			Destination:  destination,
			Audience:     entityID,
			InResponseTo: inResponseTo,
			NameID:       "carol@example.com",
			NameIDFormat: samltest.NameIDFormatEmail,
			Attributes: map[string][]string{
				"email": {"carol@example.com"}, "displayName": {"Carol"}, "groups": {"ops"},
			},
		})
		require.NoError(t, err)
		return enc
	}
	// post sends a SAML response to the listener at base, with the Host
	// header set to host, and returns the status and whether a session
	// cookie was set.
	post := func(t *testing.T, c *http.Client, base, host, path, samlResponse, relayState string) (int, bool) {
		t.Helper()
		form := url.Values{"SAMLResponse": {samlResponse}}
		if relayState != "" {
			form.Set("RelayState", relayState)
		}
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, hasSessionCookie(resp)
	}

	t.Run("readyz", func(t *testing.T) {
		for _, base := range []string{baseA, baseB} {
			resp, err := http.Get(base + "/readyz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, base)
		}
	})

	t.Run("sign-in started at A completes at B", func(t *testing.T) {
		c := noFollow(t)
		resp, err := c.Get(baseA + "/saml/sp/login?return_to=/portal/pg")
		require.NoError(t, err)
		resp.Body.Close()
		require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, resp.StatusCode)
		loc, err := resp.Location()
		require.NoError(t, err)
		areq, relayState, err := samltest.ParseAuthnRequestFromRedirect(loc)
		require.NoError(t, err)
		require.NotEmpty(t, areq.ID)

		// Without a session, A refuses the session API (positive control
		// for the check after sign-in).
		status, _ := getSession(t, c, baseA)
		require.Equal(t, http.StatusUnauthorized, status)

		enc := respond(t, acsB, areq.ID)
		status, cookie := post(t, c, baseB, hostB, "/eu-west-1/saml/acs", enc, relayState)
		require.Equal(t, http.StatusSeeOther, status)
		require.True(t, cookie)

		// The session created by B works at A.
		status, body := getSession(t, c, baseA)
		require.Equal(t, http.StatusOK, status)
		u := body["user"].(map[string]any)
		assert.Equal(t, "carol@example.com", u["email"])

		// The same response again at B: rejected.
		status, cookie = post(t, noFollow(t), baseB, hostB, "/eu-west-1/saml/acs", enc, relayState)
		assert.Equal(t, http.StatusForbidden, status)
		assert.False(t, cookie)
	})

	t.Run("replay record is shared", func(t *testing.T) {
		// Positive control: A accepts a fresh B-addressed response posted
		// to its own listener with B's Host, i.e. acts as the B endpoint.
		status, cookie := post(t, noFollow(t), baseA, hostB, "/eu-west-1/saml/acs", respond(t, acsB, ""), "")
		require.Equal(t, http.StatusSeeOther, status)
		require.True(t, cookie)

		enc := respond(t, acsB, "")
		status, cookie = post(t, noFollow(t), baseB, hostB, "/eu-west-1/saml/acs", enc, "")
		require.Equal(t, http.StatusSeeOther, status)
		require.True(t, cookie)
		for _, base := range []string{baseB, baseA} {
			status, cookie := post(t, noFollow(t), base, hostB, "/eu-west-1/saml/acs", enc, "")
			assert.Equal(t, http.StatusForbidden, status, "replay via %s", base)
			assert.False(t, cookie)
		}
	})
}
