package speers

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// SP names accepted by Available and returned by SP.Name.
const (
	NameShibboleth = "shibboleth"
	NameNodeSAML   = "node-saml"
	NamePySAML2    = "pysaml2"
)

// RequirePeersEnv names the environment variable that turns a missing SP
// from a skipped test into a failed one (CI sets it). It is the same variable
// internal/peers reads.
const RequirePeersEnv = testpeer.RequirePeersEnv

// NameID formats.
const (
	NameIDFormatEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDFormatPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDFormatTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// nameIDFormats are the formats every SP accepts and advertises in its
// metadata, in preference order.
var nameIDFormats = []string{NameIDFormatPersistent, NameIDFormatEmail, NameIDFormatTransient, NameIDFormatUnspecified}

// Attribute NameFormat values.
const (
	AttrNameFormatBasic       = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	AttrNameFormatURI         = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	AttrNameFormatUnspecified = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
)

// ErrRejected means the SP did not sign the user in: its ACS answered with
// an error (or a page other than the echo page). The error text carries the
// SP's HTTP status and the start of its answer; the SP's log is printed when
// the test fails.
var ErrRejected = errors.New("speers: the SP rejected the response")

// AttributeMapping tells an SP to report the SAML attributes named Names
// (any NameFormat: basic, uri or unspecified) under the local name ID.
type AttributeMapping struct {
	ID    string
	Names []string
}

// DefaultAttributeMap maps the attribute names Gatehouse's default mapping
// releases (basic NameFormat) and their eduPerson/inetOrgPerson OIDs (uri
// NameFormat) to uid, email, displayName, givenName, sn and groups.
func DefaultAttributeMap() []AttributeMapping {
	return []AttributeMapping{
		{ID: "uid", Names: []string{"uid", "urn:oid:0.9.2342.19200300.100.1.1"}},
		{ID: "email", Names: []string{"email", "mail", "urn:oid:0.9.2342.19200300.100.1.3"}},
		{ID: "displayName", Names: []string{"displayName", "urn:oid:2.16.840.1.113730.3.1.241"}},
		{ID: "givenName", Names: []string{"givenName", "urn:oid:2.5.4.42"}},
		{ID: "sn", Names: []string{"sn", "surname", "urn:oid:2.5.4.4"}},
		{ID: "groups", Names: []string{"groups", "memberOf", "isMemberOf", "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"}},
	}
}

// SPOptions configures a third-party SP.
type SPOptions struct {
	// IdPMetadata is the IdP's metadata: an EntityDescriptor with an
	// IDPSSODescriptor, its signing certificate(s) and an HTTP-Redirect
	// SingleSignOnService. Every SP trusts exactly the signing keys in it.
	IdPMetadata []byte
	// EncryptAssertions makes the SP publish an encryption certificate (with
	// AES-GCM EncryptionMethods) and refuse responses whose assertion is
	// not encrypted (Shibboleth: decrypts, but cannot be told to refuse
	// plaintext; it is told to refuse AES-CBC instead).
	EncryptAssertions bool
	// SignAuthnRequests makes the SP sign its HTTP-Redirect AuthnRequests
	// (RSA-SHA256) and publish AuthnRequestsSigned="true".
	SignAuthnRequests bool
	// AllowUnsolicited makes the SP accept IdP-initiated (unsolicited)
	// responses, without an InResponseTo. Off, every SP refuses them.
	// On, node-saml still checks an InResponseTo that is present (it must be
	// one it issued); Shibboleth (security policy "default") and pysaml2
	// then accept any InResponseTo.
	AllowUnsolicited bool
	// AttributeMap names the attributes the SP reports; nil means
	// DefaultAttributeMap. Shibboleth drops unmapped attributes; node-saml and
	// pysaml2 report them under their SAML Name.
	AttributeMap []AttributeMapping
}

func (o SPOptions) normalized() (SPOptions, error) {
	if len(o.IdPMetadata) == 0 {
		return o, errors.New("speers: SPOptions.IdPMetadata is empty")
	}
	if o.AttributeMap == nil {
		o.AttributeMap = DefaultAttributeMap()
	}
	seen := map[string]bool{}
	for _, m := range o.AttributeMap {
		if !isSimpleID(m.ID) || len(m.Names) == 0 {
			return o, fmt.Errorf("speers: invalid attribute mapping %q (IDs are letters, digits and _)", m.ID)
		}
		for _, n := range m.Names {
			if n == "" || seen[n] {
				return o, fmt.Errorf("speers: attribute name %q empty or mapped twice", n)
			}
			seen[n] = true
		}
	}
	o.IdPMetadata = slices.Clone(o.IdPMetadata)
	o.AttributeMap = slices.Clone(o.AttributeMap)
	return o, nil
}

func isSimpleID(s string) bool {
	if s == "" || strings.HasPrefix(s, "nameid") {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// nameIndex returns SAML attribute Name -> local ID.
func nameIndex(m []AttributeMapping) map[string]string {
	idx := map[string]string{}
	for _, a := range m {
		for _, n := range a.Names {
			idx[n] = a.ID
		}
	}
	return idx
}

// SP is a running third-party SAML service provider on 127.0.0.1.
type SP interface {
	// Name is NameShibboleth, NameNodeSAML or NamePySAML2.
	Name() string
	// EntityID is the SP's entity ID (the Issuer of its AuthnRequests and the
	// Audience it requires).
	EntityID() string
	// Metadata is the SP's metadata: one HTTP-POST AssertionConsumerService
	// (index 0, isDefault), the signing certificate, the encryption
	// certificate when encrypting, the NameID formats it accepts. No empty
	// elements.
	Metadata() []byte
	// LoginURL is a protected page of the SP. GET it with a client that has a
	// cookie jar: without a session the SP redirects to the IdP's
	// HTTP-Redirect SSO endpoint with an AuthnRequest (SP-initiated sign-in);
	// with one it answers the echo page (JSON, see Result).
	LoginURL() string
	// ACSURL is the SP's HTTP-POST Assertion Consumer Service.
	ACSURL() string
	// SigningCertificate signs AuthnRequests (when SignAuthnRequests).
	SigningCertificate() *x509.Certificate
	// EncryptionCertificate is the certificate to encrypt assertions to; nil
	// unless EncryptAssertions.
	EncryptionCertificate() *x509.Certificate
	// Complete plays the browser's auto-submit: it posts SAMLResponse (and
	// RelayState when not empty) to action, which must be on the SP's
	// origin, with client (the same cookie jar as the LoginURL request),
	// follows the SP's redirects, and returns what the echo page reports. An
	// SP that refuses the response gives an error wrapping ErrRejected.
	Complete(ctx context.Context, client *http.Client, action, samlResponse, relayState string) (Result, error)
}

// Result is what the SP says it received, read from its protected echo page.
type Result struct {
	NameID       string
	NameIDFormat string // as the SP reports it; empty when it does not
	// Attributes are keyed by the mapped local ID (see AttributeMapping).
	Attributes map[string][]string
}

// Available reports whether the named SP is installed on this machine; the
// string says what is missing and how to install it.
func Available(name string) (bool, string) {
	switch name {
	case NameShibboleth:
		return testpeer.Installed(shibInstallHint, shibdBin, apacheBin, modShib, modCGI, modPrefork, testpeer.PythonBin,
			"/etc/shibboleth/protocols.xml", "/etc/shibboleth/security-policy.xml")
	case NameNodeSAML:
		return testpeer.Installed(nodeInstallHint, "node", filepath.Join(nodeDir(), "node_modules", "@node-saml", "node-saml", "package.json"),
			filepath.Join(nodeDir(), "node_modules", "@xmldom", "xmldom", "package.json"))
	case NamePySAML2:
		return testpeer.Installed(pysaml2InstallHint, testpeer.PythonBin, testpeer.XMLSecBin, "/usr/lib/python3/dist-packages/saml2/client.py")
	case "xmlsec1":
		return testpeer.Installed("apt-get install xmlsec1", testpeer.XMLSecBin)
	default:
		return false, fmt.Sprintf("unknown SP %q", name)
	}
}

// requireAvailable skips t when the SP is missing, or fails it when
// RequirePeersEnv is set.
func requireAvailable(t testing.TB, name string) {
	t.Helper()
	ok, hint := Available(name)
	testpeer.Require(t, "SP "+name, ok, hint)
}

// packageDir is this source directory, where the node app lives.
func packageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}

func nodeDir() string { return filepath.Join(packageDir(), "node") }

// echo is the JSON the SPs' protected pages answer.
type echo struct {
	NameID       string              `json:"nameID"`
	NameIDFormat string              `json:"nameIDFormat"`
	Attributes   map[string][]string `json:"attributes"`
}

// complete posts the form to action and reads the echo page the SP ends on.
func complete(ctx context.Context, client *http.Client, origin, action, samlResponse, relayState string) (Result, error) {
	u, err := url.Parse(action)
	if err != nil || u.Scheme+"://"+u.Host != origin {
		return Result{}, fmt.Errorf("speers: form action %q is not on the SP %s", action, origin)
	}
	form := url.Values{"SAMLResponse": {samlResponse}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
	if err != nil {
		return Result{}, fmt.Errorf("speers: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("speers: post to the ACS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return Result{}, fmt.Errorf("speers: read the SP's answer: %w", err)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	final := resp.Request.URL
	if resp.StatusCode != http.StatusOK || ct != "application/json" {
		return Result{}, fmt.Errorf("%w: HTTP %d %s at %s: %s", ErrRejected, resp.StatusCode, ct, final.Redacted(), snippet(body))
	}
	if final.Scheme+"://"+final.Host != origin {
		return Result{}, fmt.Errorf("%w: ended at %s, off the SP", ErrRejected, final.Redacted())
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		return Result{}, fmt.Errorf("speers: decode the echo page: %w", err)
	}
	if e.NameID == "" {
		return Result{}, fmt.Errorf("%w: the echo page reports no NameID: %s", ErrRejected, snippet(body))
	}
	if e.Attributes == nil {
		e.Attributes = map[string][]string{}
	}
	return Result(e), nil
}

const maxBodyBytes = 1 << 20

// snippet returns the start of a body for error messages, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
