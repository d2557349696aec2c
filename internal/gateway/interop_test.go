package gateway_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/peers"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

// topology is two gateway instances, each serving one regional endpoint, on
// one shared SQLite store, trusting one third-party IdP.
type topology struct {
	east, west   string // base URLs of the two instances
	lb           string // another host of the east instance, as a load balancer's
	acsEast      string
	acsWest      string
	entityID     string
	spMetadata   []byte
	instanceEast *gateway.Gateway
	instanceWest *gateway.Gateway
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

// startTopology starts the peer IdP and two gateway instances. The regions
// are listed west first, so a login arriving on a host that is not a
// regional endpoint names the west ACS.
// topologyOptions vary the gateway config.
type topologyOptions struct {
	signRequests      bool
	allowIdPInitiated bool
}

func startTopology(t *testing.T, start func(testing.TB, peers.IdPOptions) peers.IdP, user peers.User, o topologyOptions) (*topology, peers.IdP) {
	t.Helper()
	lEast, lWest, lLB := listen(t), listen(t), listen(t)
	tp := &topology{
		east: "http://" + lEast.Addr().String(),
		west: "http://" + lWest.Addr().String(),
		lb:   "http://" + lLB.Addr().String(),
	}
	tp.acsEast = tp.east + "/saml/acs"
	tp.acsWest = tp.west + "/eu-west-1/saml/acs"
	tp.entityID = tp.east + "/saml/sp/metadata"

	dir := t.TempDir()
	// The SP metadata the peer is configured with; the gateway must serve
	// exactly this document. With signed requests, the SP key is created
	// in keys.dir first, where the gateway will find it.
	spCfg := metadata.SPConfig{
		EntityID:             tp.entityID,
		ACS:                  []metadata.ACSEndpoint{{URL: tp.acsWest}, {URL: tp.acsEast}},
		WantAssertionsSigned: true,
	}
	if o.signRequests {
		pair, err := keys.LoadOrCreateRSA(filepath.Join(dir, "keys"), "sp-signing", "Gatehouse SP "+tp.entityID, time.Hour, time.Now())
		require.NoError(t, err)
		spCfg.SigningCert, spCfg.AuthnRequestsSigned = pair.Certificate, true
	}
	md, err := metadata.BuildSP(spCfg)
	require.NoError(t, err)
	tp.spMetadata = md

	idp := start(t, peers.IdPOptions{SPMetadata: md, Users: []peers.User{user}, WantAuthnRequestsSigned: o.signRequests})

	require.NoError(t, os.WriteFile(filepath.Join(dir, "idp.xml"), idp.Metadata(), 0o600))
	yaml := fmt.Sprintf(`external_url: %q
listen: "127.0.0.1:0"
store:
  dsn: gatehouse.db
keys:
  dir: keys
identity_source:
  saml:
    metadata_file: idp.xml
    jit_provisioning: true
    sign_authn_requests: %t
    allow_idp_initiated: %t
    attributes:
      email: email
      display_name: displayName
      groups: groups
    acs_endpoints:
      - region: eu-west-1
        url: %q
      - region: us-east-1
        url: %q
`, tp.east, o.signRequests, o.allowIdPInitiated, tp.acsWest, tp.acsEast)
	cfg, err := config.Parse([]byte(yaml), dir, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.NoError(t, os.MkdirAll(cfg.Keys.Dir, 0o700))

	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.Store.DSN.Value()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(context.Background(), db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)

	for _, inst := range []struct {
		ls  []net.Listener
		dst **gateway.Gateway
	}{{[]net.Listener{lEast, lLB}, &tp.instanceEast}, {[]net.Listener{lWest}, &tp.instanceWest}} {
		gw, err := gateway.New(context.Background(), cfg, gateway.Options{Store: st})
		require.NoError(t, err)
		*inst.dst = gw
		for _, l := range inst.ls {
			srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { _ = srv.Close() })
		}
	}
	return tp, idp
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Follow redirects to the IdP, but stop at the gateway's answer
			// to the ACS POST so the test can look at it.
			if req.Response != nil && req.Response.Request.Method == http.MethodPost {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func getSession(t *testing.T, c *http.Client, base string) (int, map[string]any) {
	t.Helper()
	resp, err := c.Get(base + "/api/v1/session")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func hasSessionCookie(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" && c.Value != "" {
			return true
		}
	}
	return false
}

// TestInteropThirdPartyIdPs signs in end to end through real third-party
// IdPs at two regional endpoints served by two instances sharing one store.
func TestInteropThirdPartyIdPs(t *testing.T) {
	for _, peer := range []struct {
		name  string
		start func(testing.TB, peers.IdPOptions) peers.IdP
	}{
		{peers.NameSimpleSAMLphp, peers.StartSimpleSAMLphp},
		{peers.NamePySAML2, peers.StartPySAML2},
	} {
		t.Run(peer.name, func(t *testing.T) {
			user := peers.User{UserName: "alice", Password: "correct horse", Email: "alice@example.com",
				DisplayName: "Alice Example", Groups: []string{"engineering", "data"}}
			tp, idp := startTopology(t, peer.start, user, topologyOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			// The gateway serves the metadata the peer was given.
			resp, err := http.Get(tp.east + "/saml/sp/metadata")
			require.NoError(t, err)
			served, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, string(tp.spMetadata), string(served))

			t.Run("sign-in at a regional endpoint", func(t *testing.T) {
				c := browser(t)
				// The login arrives on the east instance's own host, which is
				// the us-east-1 endpoint: the AuthnRequest names its ACS.
				form, err := idp.Login(ctx, c, tp.east+"/saml/sp/login?return_to=/portal", user.UserName, user.Password)
				require.NoError(t, err)
				require.Equal(t, tp.acsEast, form.Action)
				resp, err := c.PostForm(form.Action, form.Values())
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusSeeOther, resp.StatusCode)
				require.Equal(t, "/portal", resp.Header.Get("Location"))
				require.True(t, hasSessionCookie(resp))

				status, body := getSession(t, c, tp.east)
				require.Equal(t, http.StatusOK, status)
				u := body["user"].(map[string]any)
				assert.Equal(t, "alice@example.com", u["user_name"])
				assert.Equal(t, "alice@example.com", u["email"])
				assert.Equal(t, "Alice Example", u["display_name"])
				assert.ElementsMatch(t, []any{"engineering", "data"}, u["groups"])

				// The same response replayed at the other region's instance is
				// rejected (it is also addressed to the east endpoint), and
				// so is a replay at the east endpoint itself.
				for _, target := range []string{tp.acsWest, tp.acsEast} {
					resp, err := browser(t).PostForm(target, form.Values())
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, http.StatusForbidden, resp.StatusCode, target)
					assert.False(t, hasSessionCookie(resp))
				}
			})

			t.Run("sign-in started at one region completes at the other", func(t *testing.T) {
				c := browser(t)
				// The login reaches the east instance through the load
				// balancer's host, which is no regional endpoint, so it names
				// the first ready region in preference order: eu-west-1,
				// served by the west instance. The pending request saved by
				// the east instance is consumed by the west one. (All
				// loopback ports share cookies, as regional hosts under one
				// cookie domain do.)
				loginURL := tp.lb + "/saml/sp/login?return_to=/portal/x"
				form, err := idp.Login(ctx, c, loginURL, user.UserName, user.Password)
				require.NoError(t, err)
				require.Equal(t, tp.acsWest, form.Action)
				resp, err := c.PostForm(form.Action, form.Values())
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusSeeOther, resp.StatusCode)
				assert.Equal(t, "/portal/x", resp.Header.Get("Location"))
				status, _ := getSession(t, c, tp.west)
				assert.Equal(t, http.StatusOK, status)
			})

			t.Run("signed AuthnRequests", func(t *testing.T) {
				// The peer is told to require signed requests and checks them
				// against the SP metadata's signing certificate.
				stp, sidp := startTopology(t, peer.start, user, topologyOptions{signRequests: true})
				c := browser(t)
				form, err := sidp.Login(ctx, c, stp.east+"/saml/sp/login", user.UserName, user.Password)
				require.NoError(t, err)
				resp, err := c.PostForm(form.Action, form.Values())
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusSeeOther, resp.StatusCode)
				require.True(t, hasSessionCookie(resp))
			})

			t.Run("wrong browser", func(t *testing.T) {
				c := browser(t)
				form, err := idp.Login(ctx, c, tp.east+"/saml/sp/login", user.UserName, user.Password)
				require.NoError(t, err)
				// Posted from a browser without the state cookie.
				resp, err := browser(t).PostForm(form.Action, form.Values())
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusForbidden, resp.StatusCode)
				assert.False(t, hasSessionCookie(resp))
			})
		})
	}
}

// TestInteropIdPInitiated: SimpleSAMLphp's IdP-initiated sign-in is accepted
// only when allow_idp_initiated is set, and lands on the portal whatever the
// RelayState says.
func TestInteropIdPInitiated(t *testing.T) {
	user := peers.User{UserName: "bob", Password: "pw-bob-123", Email: "bob@example.com", DisplayName: "Bob"}
	for _, allowed := range []bool{true, false} {
		t.Run(fmt.Sprintf("allowed=%t", allowed), func(t *testing.T) {
			tp, idp := startTopology(t, peers.StartSimpleSAMLphp, user, topologyOptions{allowIdPInitiated: allowed})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := browser(t)
			start := idp.SSOURL() + "?spentityid=" + url.QueryEscape(tp.entityID) + "&RelayState=" + url.QueryEscape("https://evil.example/")
			form, err := idp.Login(ctx, c, start, user.UserName, user.Password)
			require.NoError(t, err)
			resp, err := c.PostForm(form.Action, form.Values())
			require.NoError(t, err)
			resp.Body.Close()
			if !allowed {
				assert.Equal(t, http.StatusForbidden, resp.StatusCode)
				assert.False(t, hasSessionCookie(resp))
				return
			}
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			assert.Equal(t, "/portal", resp.Header.Get("Location"))
			assert.True(t, hasSessionCookie(resp))
		})
	}
}
