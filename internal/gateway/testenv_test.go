package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// lateServer is an httptest server whose handler is set once the gateway
// behind its URL exists (the gateway's config needs the URL first).
func lateServer(tb testing.TB) (*httptest.Server, func(http.Handler)) {
	tb.Helper()
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv, func(handler http.Handler) { h.Store(&handler) }
}

// writeUpstreamIdP creates the identity source IdP of a test gateway at
// base and writes its metadata to dir/idp.xml.
func writeUpstreamIdP(tb testing.TB, dir, base string) *samltest.IdP {
	tb.Helper()
	upstream, err := samltest.NewIdP(base + "/upstream-idp/metadata")
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "idp.xml"), upstream.Metadata(base+"/upstream-idp/sso"), 0o600))
	return upstream
}

// gatewayYAML is the config of a test gateway at base: SQLite file and
// keys under the config's folder, the identity source from idp.xml with
// one ACS endpoint, samlExtra lines (e.g. "jit_provisioning: true") added
// to identity_source.saml, and the given oauth section (without the
// "oauth:" line, indented by two spaces).
func gatewayYAML(base, oauthSection string, samlExtra ...string) string {
	var extra strings.Builder
	for _, l := range samlExtra {
		extra.WriteString("\n    " + l)
	}
	return fmt.Sprintf(`external_url: %q
listen: "127.0.0.1:0"
store:
  dsn: gatehouse.db
keys:
  dir: keys
identity_source:
  saml:
    metadata_file: idp.xml%s
    attributes:
      email: email
    acs_endpoints:
      - region: us-east-1
        url: %q
oauth:
%s`, base, extra.String(), base+"/saml/acs", oauthSection)
}

// loadGatewayConfig parses and validates yaml with dir as the config's
// folder and creates keys.dir.
func loadGatewayConfig(tb testing.TB, dir, yaml string) *config.Config {
	tb.Helper()
	cfg, err := config.Parse([]byte(yaml), dir, func(string) (string, bool) { return "", false })
	require.NoError(tb, err)
	require.NoError(tb, cfg.Validate())
	require.NoError(tb, os.MkdirAll(cfg.Keys.Dir, 0o700))
	return cfg
}

// jwksOf is a JWK Set of the public half of key.
func jwksOf(tb testing.TB, key jwk.Key) []byte {
	tb.Helper()
	pub, err := key.PublicKey()
	require.NoError(tb, err)
	set := jwk.NewSet()
	require.NoError(tb, set.AddKey(pub))
	b, err := json.Marshal(set)
	require.NoError(tb, err)
	return b
}

// writeJWKS writes the JWK Set of key's public half to dir/name.
func writeJWKS(tb testing.TB, dir, name string, key jwk.Key) {
	tb.Helper()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, name), jwksOf(tb, key), 0o600))
}
