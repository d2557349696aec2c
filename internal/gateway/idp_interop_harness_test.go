package gateway_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/speers"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// The upstream identity source's accounts: alice is in engineering (to
// which every application is assigned), bob is not. alice's display name
// carries markup, which must reach the applications as text.
const (
	aliceName = "alice"
	bobName   = "bob"
)

var upstreamUsers = map[string]samltest.DemoUser{
	aliceName: {
		Password:    "correct horse battery",
		Email:       "alice@example.com",
		DisplayName: `Alice <b>"Example"</b> & Co`,
		Groups:      []string{"engineering", "data"},
	},
	bobName: {
		Password:    "bob's own password",
		Email:       "bob@example.com",
		DisplayName: "Bob Example",
		Groups:      []string{"marketing"},
	},
}

// idpHarness is one gateway instance serving the app-facing IdP, with
// samltest's IdP mounted on the same server as its upstream identity
// source. Its IdP signing key ring is created before anything starts, so
// that the IdP metadata can be given to the applications before the
// gateway, which needs their metadata, exists.
type idpHarness struct {
	base     string // external_url
	dir      string // config directory
	keysDir  string
	listener net.Listener
	ring     *keys.Ring // the test's own handle on keys.dir's IdP ring

	upstream    *samltest.IdP
	upstreamSSO string

	// What the gateway's IdP is known to be before it starts.
	entityID, ssoURL, sloURL string
	idpMetadata              []byte

	gw *gateway.Gateway
}

// newIdPHarness reserves the gateway's address, creates its IdP key ring in
// keys.dir and builds the IdP metadata the gateway will serve.
func newIdPHarness(t *testing.T) *idpHarness {
	t.Helper()
	l := listen(t)
	t.Cleanup(func() { _ = l.Close() })
	h := &idpHarness{base: "http://" + l.Addr().String(), dir: t.TempDir(), listener: l}
	h.keysDir = filepath.Join(h.dir, "keys")
	h.entityID = h.base + "/saml/idp/metadata"
	h.ssoURL = h.base + "/saml/idp/sso"
	h.sloURL = h.base + "/saml/idp/slo"
	h.upstreamSSO = h.base + "/upstream-idp/sso"

	var err error
	h.ring, err = keys.OpenRing(h.keysDir, keys.IdPSigningRing, keys.RingOptions{CommonName: keys.IdPSigningCommonName})
	require.NoError(t, err)
	h.idpMetadata = h.buildIdPMetadata(t, h.ring.PublishedCertificates())
	h.upstream, err = samltest.NewIdP(h.base + "/upstream-idp/metadata")
	require.NoError(t, err)
	return h
}

// buildIdPMetadata is the IdP metadata the gateway must serve for certs.
func (h *idpHarness) buildIdPMetadata(t *testing.T, certs []*x509.Certificate) []byte {
	t.Helper()
	md, err := metadata.BuildIdP(metadata.IdPConfig{
		EntityID:            h.entityID,
		SigningCertificates: certs,
		SSOURL:              h.ssoURL,
		SLOURL:              h.sloURL,
		NameIDFormats: []string{
			idp.NameIDFormatEmailURI, idp.NameIDFormatPersistentURI,
			idp.NameIDFormatTransientURI, idp.NameIDFormatUnspecifiedURI,
		},
	})
	require.NoError(t, err)
	return md
}

// currentCertPEM is the IdP's current signing certificate, as published.
func (h *idpHarness) currentCertPEM() []byte {
	_, cert := h.ring.Current()
	return certPEM(cert)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// application is one `applications` entry.
type application struct {
	id                string
	metadata          []byte
	nameIDFormat      string // emailAddress | persistent
	sign              string // "" (assertion) | response | both
	encrypt           bool
	defaultRelayState string
}

// gatewayOptions vary how the harness starts the gateway.
type gatewayOptions struct {
	keyReloadInterval time.Duration
}

// startGateway writes the applications' metadata, the upstream IdP's
// metadata and the config, and starts the gateway (with its background
// work) on the reserved address.
func (h *idpHarness) startGateway(t *testing.T, apps []application, o gatewayOptions) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "upstream-idp.xml"), h.upstream.Metadata(h.upstreamSSO), 0o600))
	var yaml strings.Builder
	fmt.Fprintf(&yaml, `external_url: %q
listen: "127.0.0.1:0"
store:
  dsn: gatehouse.db
keys:
  dir: keys
identity_source:
  saml:
    metadata_file: upstream-idp.xml
    jit_provisioning: true
    attributes:
      email: email
      display_name: displayName
      groups: groups
    acs_endpoints:
      - region: us-east-1
        url: %q
applications:
`, h.base, h.base+"/saml/acs")
	for _, a := range apps {
		file := "app-" + a.id + ".xml"
		require.NoError(t, os.WriteFile(filepath.Join(h.dir, file), a.metadata, 0o600))
		fmt.Fprintf(&yaml, `  - id: %q
    name: %q
    metadata_file: %q
    name_id_format: %q
    attributes:
      email: email
      displayName: display_name
      groups: groups
      uid: user_name
    assignments:
      groups: [engineering]
`, a.id, "Application "+a.id, file, a.nameIDFormat)
		if a.sign != "" {
			fmt.Fprintf(&yaml, "    sign: %q\n", a.sign)
		}
		if a.encrypt {
			yaml.WriteString("    encrypt_assertions: true\n")
		}
		if a.defaultRelayState != "" {
			fmt.Fprintf(&yaml, "    default_relay_state: %q\n", a.defaultRelayState)
		}
	}
	cfg, err := config.Parse([]byte(yaml.String()), h.dir, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.Equal(t, h.keysDir, cfg.Keys.Dir)

	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.Store.DSN.Value()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(context.Background(), db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)

	login, err := samltest.LoginHandler(samltest.IdPHandlerConfig{
		IdP:        h.upstream,
		SSOURL:     h.upstreamSSO,
		Users:      upstreamUsers,
		AllowedACS: []string{h.base + "/saml/acs"},
		Audience:   cfg.IdentitySource.SAML.EntityID,
	})
	require.NoError(t, err)
	h.gw, err = gateway.New(context.Background(), cfg, gateway.Options{
		Store:             st,
		KeyReloadInterval: o.keyReloadInterval,
		Routes:            func(mux *http.ServeMux) { mux.Handle("/upstream-idp/sso", login) },
	})
	require.NoError(t, err)
	require.Equal(t, h.entityID, h.gw.IdPEntityID())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.gw.Start(ctx)
	srv := &http.Server{Handler: h.gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(h.listener) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// persistentSecret is the gateway's persistent-NameID key (created by the
// gateway in keys.dir).
func (h *idpHarness) persistentSecret(t *testing.T) []byte {
	t.Helper()
	secret, err := keys.LoadOrCreateSecret(h.keysDir, "persistent-nameid", 32)
	require.NoError(t, err)
	return secret
}

// servedIdPMetadata GETs /saml/idp/metadata.
func (h *idpHarness) servedIdPMetadata(c *http.Client) ([]byte, error) {
	resp, err := c.Get(h.entityID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("IdP metadata: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

// recorder is a browser: a client with a cookie jar that follows
// redirects and remembers every URL it was sent to.
type recorder struct {
	*http.Client
	mu      sync.Mutex
	visited []*url.URL
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	r := &recorder{}
	r.Client = &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			r.mu.Lock()
			r.visited = append(r.visited, req.URL)
			r.mu.Unlock()
			return nil
		},
	}
	return r
}

// visitedPath returns the last redirect target with the given path.
func (r *recorder) visitedPath(path string) *url.URL {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.visited) - 1; i >= 0; i-- {
		if r.visited[i].Path == path {
			return r.visited[i]
		}
	}
	return nil
}

// page is a fetched HTML page.
type page struct {
	status int
	url    *url.URL // where the browser ended up
	body   string
}

// getPage GETs u with c, following redirects.
func getPage(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	resp, err := c.Get(u)
	return readPage(t, resp, err)
}

// postPage POSTs the form v to u with c, following redirects.
func postPage(t *testing.T, c *http.Client, u string, v url.Values) page {
	t.Helper()
	resp, err := c.PostForm(u, v)
	return readPage(t, resp, err)
}

func readPage(t *testing.T, resp *http.Response, err error) page {
	t.Helper()
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(b)}
}

func (p page) at() string { return p.url.Scheme + "://" + p.url.Host + p.url.Path }

// htmlForm is the one form of a page rendered by html/template.
type htmlForm struct {
	action string
	hidden url.Values // the hidden inputs
	inputs []string   // names of the other inputs
}

var (
	formTagRE  = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	inputTagRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE     = regexp.MustCompile(`(?is)\s([a-z-]+)="([^"]*)"`)
)

func tagAttrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// parseForm reads the page's only form: a POST form's action, its hidden
// inputs (name, value; html.UnescapeString'd) and the names of the others.
func parseForm(body string) (htmlForm, error) {
	forms := formTagRE.FindAllString(body, -1)
	if len(forms) != 1 {
		return htmlForm{}, fmt.Errorf("want one form, found %d", len(forms))
	}
	fa := tagAttrs(forms[0])
	if !strings.EqualFold(fa["method"], "post") || fa["action"] == "" {
		return htmlForm{}, fmt.Errorf("not a POST form with an action: %s", forms[0])
	}
	f := htmlForm{action: fa["action"], hidden: url.Values{}}
	for _, tag := range inputTagRE.FindAllString(body, -1) {
		a := tagAttrs(tag)
		if a["name"] == "" {
			continue
		}
		if strings.EqualFold(a["type"], "hidden") {
			f.hidden.Add(a["name"], a["value"])
		} else {
			f.inputs = append(f.inputs, a["name"])
		}
	}
	return f, nil
}

// signInUpstream answers the upstream IdP's login page p as user: it posts
// the credentials, then the upstream's auto-submit form to the gateway's
// ACS, and follows the gateway's redirects to the page it ends on.
func (h *idpHarness) signInUpstream(t *testing.T, c *http.Client, p page, user string) page {
	t.Helper()
	require.Equal(t, http.StatusOK, p.status, "%s: %s", p.url, p.body)
	require.Equal(t, h.upstreamSSO, p.at(), "not the upstream login page: %s", p.body)
	login, err := parseForm(p.body)
	require.NoError(t, err)
	require.Equal(t, h.upstreamSSO, login.action)
	require.ElementsMatch(t, []string{"username", "password"}, login.inputs)
	v := login.hidden
	v.Set("username", user)
	v.Set("password", upstreamUsers[user].Password)
	posted := postPage(t, c, login.action, v)
	require.Equal(t, http.StatusOK, posted.status, posted.body)
	toGateway, err := parseForm(posted.body)
	require.NoError(t, err)
	require.Equal(t, h.base+"/saml/acs", toGateway.action)
	require.NotEmpty(t, toGateway.hidden.Get("SAMLResponse"))
	return postPage(t, c, toGateway.action, toGateway.hidden)
}

// signIn signs user in to the gateway (portal session) with c.
func (h *idpHarness) signIn(t *testing.T, c *http.Client, user string) {
	t.Helper()
	p := getPage(t, c, h.base+"/saml/sp/login?return_to=/portal")
	end := h.signInUpstream(t, c, p, user)
	require.Equal(t, http.StatusOK, end.status, end.body)
	require.Equal(t, "/portal", end.url.Path)
}

// issuedResponse is what the test expects of a Response the IdP issued.
type issuedResponse struct {
	acs          string
	inResponseTo string // "" for IdP-initiated
	sign         string // assertion | response | both
	encrypted    bool
}

// checkResponse decodes a SAMLResponse the IdP issued, has xmlsec1 verify
// every signature outside an EncryptedAssertion with certPEM, and checks
// its addressing, signature placement and encryption (inspectResponse).
func checkResponse(t *testing.T, samlResponse string, certPEM []byte, want issuedResponse) {
	t.Helper()
	xml, err := saml.DecodePOST(samlResponse, saml.Limits{})
	require.NoError(t, err)
	require.NoError(t, speers.XMLSecVerify(t, xml, certPEM))
	_, err = inspectResponse(xml, want)
	require.NoError(t, err)
}

// inspectResponse checks a decoded Response's Destination, InResponseTo,
// status, which elements are signed, encryption and Recipient, and returns
// the certificates carried in its signatures' KeyInfo. It only reads: the
// signatures themselves are checked by xmlsec1 and the verifying SPs.
func inspectResponse(xml []byte, want issuedResponse) ([]*x509.Certificate, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		return nil, err
	}
	root := doc.Root()
	if root == nil || root.Tag != "Response" {
		return nil, errors.New("the root is not a Response")
	}
	if got := root.SelectAttrValue("Destination", ""); got != want.acs {
		return nil, fmt.Errorf("Destination %q, want %q", got, want.acs)
	}
	if got := root.SelectAttrValue("InResponseTo", ""); got != want.inResponseTo {
		return nil, fmt.Errorf("InResponseTo %q, want %q", got, want.inResponseTo)
	}
	if sc := root.FindElement("./Status/StatusCode"); sc == nil || sc.SelectAttrValue("Value", "") != "urn:oasis:names:tc:SAML:2.0:status:Success" {
		return nil, errors.New("status is not Success")
	}
	sign := want.sign
	if sign == "" {
		sign = "assertion"
	}
	if got, want := root.SelectElement("Signature") != nil, sign == "response" || sign == "both"; got != want {
		return nil, fmt.Errorf("Response signed: %t, want %t", got, want)
	}
	plain, encrypted := root.SelectElements("Assertion"), root.SelectElements("EncryptedAssertion")
	switch {
	case want.encrypted && (len(encrypted) != 1 || len(plain) != 0):
		return nil, fmt.Errorf("%d encrypted and %d plaintext assertions, want one encrypted", len(encrypted), len(plain))
	case !want.encrypted && (len(plain) != 1 || len(encrypted) != 0):
		return nil, fmt.Errorf("%d plaintext and %d encrypted assertions, want one plaintext", len(plain), len(encrypted))
	case !want.encrypted:
		a := plain[0]
		if got, want := a.SelectElement("Signature") != nil, sign == "assertion" || sign == "both"; got != want {
			return nil, fmt.Errorf("Assertion signed: %t, want %t", got, want)
		}
		scd := a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData")
		if scd == nil || scd.SelectAttrValue("Recipient", "") != want.acs {
			return nil, errors.New("Recipient is not the ACS")
		}
	}
	var certs []*x509.Certificate
	for _, el := range doc.FindElements("//Signature/KeyInfo/X509Data/X509Certificate") {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(el.Text()), ""))
		if err != nil {
			return nil, fmt.Errorf("KeyInfo certificate: %w", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("KeyInfo certificate: %w", err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// sameCert reports whether a and b are the same certificate.
func sameCert(a, b *x509.Certificate) bool { return bytes.Equal(a.Raw, b.Raw) }
