package peers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// Peer names accepted by Available and returned by IdP.Name.
const (
	NameSimpleSAMLphp = "simplesamlphp"
	NamePySAML2       = "pysaml2"
)

// RequirePeersEnv names the environment variable that turns a missing peer
// from a skipped test into a failed one (CI sets it).
const RequirePeersEnv = testpeer.RequirePeersEnv

// NameID formats the peers can put in the Subject.
const (
	// NameIDFormatEmail carries User.Email.
	NameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	// NameIDFormatPersistent carries User.UserName.
	NameIDFormatPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
)

// Attribute NameFormat values.
const (
	AttrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	AttrNameFormatURI   = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
)

// Sentinel errors returned by IdP.Login.
var (
	// ErrLoginRejected means the IdP showed its login form again after the
	// credentials were submitted (wrong user name or password).
	ErrLoginRejected = errors.New("peers: the IdP rejected the credentials")
	// ErrUnexpectedPage means the IdP answered with a page that is neither a
	// login form nor an auto-submit form carrying a SAMLResponse (an error
	// page, usually: the error includes its status and the start of its text).
	ErrUnexpectedPage = errors.New("peers: unexpected page from the IdP")
)

// User is an account the peer IdP knows.
type User struct {
	UserName    string
	Password    string
	Email       string
	DisplayName string
	Groups      []string
}

// AttributeNames says under which SAML attribute name each user field is
// released; an empty name leaves that field out of the assertion. The zero
// value means DefaultAttributeNames.
type AttributeNames struct {
	NameFormat  string // AttrNameFormatBasic or AttrNameFormatURI; empty means basic
	UserName    string
	Email       string
	DisplayName string
	Groups      string
}

// DefaultAttributeNames matches the default attribute mapping of Gatehouse's
// SAML identity source: uid, email, displayName and groups, NameFormat basic.
func DefaultAttributeNames() AttributeNames {
	return AttributeNames{
		NameFormat:  AttrNameFormatBasic,
		UserName:    "uid",
		Email:       "email",
		DisplayName: "displayName",
		Groups:      "groups",
	}
}

// OIDAttributeNames are the eduPerson/inetOrgPerson OIDs with NameFormat uri,
// as many campus and enterprise IdPs release them: uid, mail, displayName and
// isMemberOf.
func OIDAttributeNames() AttributeNames {
	return AttributeNames{
		NameFormat:  AttrNameFormatURI,
		UserName:    "urn:oid:0.9.2342.19200300.100.1.1",
		Email:       "urn:oid:0.9.2342.19200300.100.1.3",
		DisplayName: "urn:oid:2.16.840.1.113730.3.1.241",
		Groups:      "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
	}
}

// Signing selects which elements the peer signs.
type Signing int

const (
	// SignPeerDefault keeps the peer's own default: SimpleSAMLphp signs the
	// Response and the Assertion, pysaml2 signs the Assertion only.
	SignPeerDefault Signing = iota
	// SignAssertion signs the Assertion only.
	SignAssertion
	// SignResponse signs the Response only.
	SignResponse
	// SignBoth signs the Response and the Assertion.
	SignBoth
)

func (s Signing) flags(peerDefaultResponse, peerDefaultAssertion bool) (response, assertion bool) {
	switch s {
	case SignAssertion:
		return false, true
	case SignResponse:
		return true, false
	case SignBoth:
		return true, true
	default:
		return peerDefaultResponse, peerDefaultAssertion
	}
}

// IdPOptions configures a peer IdP.
type IdPOptions struct {
	// SPMetadata is the SP's metadata: an EntityDescriptor with an
	// SPSSODescriptor and one or more HTTP-POST AssertionConsumerService
	// endpoints with index. It is written to the peer's configuration as is.
	SPMetadata []byte
	// Users are the accounts the IdP accepts.
	Users []User
	// NameIDFormat is NameIDFormatEmail (the default when empty) or
	// NameIDFormatPersistent.
	NameIDFormat string
	// Attributes names the released attributes; zero means DefaultAttributeNames.
	Attributes AttributeNames
	// Signing selects what the IdP signs (always RSA-SHA256 with SHA-256 digests).
	Signing Signing
	// WantAuthnRequestsSigned makes the IdP verify the HTTP-Redirect binding
	// signature (SigAlg, Signature) of every AuthnRequest with the signing
	// certificate in SPMetadata, and refuse unsigned requests.
	WantAuthnRequestsSigned bool
}

func (o IdPOptions) normalized() (IdPOptions, error) {
	if len(o.SPMetadata) == 0 {
		return o, errors.New("peers: IdPOptions.SPMetadata is empty")
	}
	if len(o.Users) == 0 {
		return o, errors.New("peers: IdPOptions.Users is empty")
	}
	if o.NameIDFormat == "" {
		o.NameIDFormat = NameIDFormatEmail
	}
	if o.NameIDFormat != NameIDFormatEmail && o.NameIDFormat != NameIDFormatPersistent {
		return o, fmt.Errorf("peers: unsupported NameIDFormat %q", o.NameIDFormat)
	}
	if o.Attributes == (AttributeNames{}) {
		o.Attributes = DefaultAttributeNames()
	}
	if o.Attributes.NameFormat == "" {
		o.Attributes.NameFormat = AttrNameFormatBasic
	}
	if o.Attributes.NameFormat != AttrNameFormatBasic && o.Attributes.NameFormat != AttrNameFormatURI {
		return o, fmt.Errorf("peers: unsupported attribute NameFormat %q", o.Attributes.NameFormat)
	}
	seen := map[string]bool{}
	for _, u := range o.Users {
		if u.UserName == "" || strings.ContainsAny(u.UserName, ":\x00") {
			return o, fmt.Errorf("peers: invalid user name %q", u.UserName)
		}
		if seen[u.UserName] {
			return o, fmt.Errorf("peers: duplicate user %q", u.UserName)
		}
		seen[u.UserName] = true
		if u.Password == "" {
			return o, fmt.Errorf("peers: user %q has no password", u.UserName)
		}
		if o.NameIDFormat == NameIDFormatEmail && u.Email == "" {
			return o, fmt.Errorf("peers: user %q has no e-mail address for an emailAddress NameID", u.UserName)
		}
	}
	o.SPMetadata = append([]byte(nil), o.SPMetadata...)
	o.Users = append([]User(nil), o.Users...)
	return o, nil
}

// IdP is a running third-party SAML identity provider on 127.0.0.1.
type IdP interface {
	// Name is NameSimpleSAMLphp or NamePySAML2.
	Name() string
	// EntityID is the IdP's entity ID (the Issuer of its responses).
	EntityID() string
	// SSOURL is the IdP's HTTP-Redirect SingleSignOnService location.
	SSOURL() string
	// MetadataURL is where the IdP serves its metadata (for metadata_url).
	MetadataURL() string
	// Metadata is the IdP's metadata XML as the peer itself publishes it
	// (signing certificate, HTTP-Redirect SSO endpoint).
	Metadata() []byte
	// CertificatePEM is the IdP's signing certificate, PEM encoded.
	CertificatePEM() []byte
	// Login drives a browser-like sign-in. ssoURL is the full IdP SSO URL
	// with an HTTP-Redirect AuthnRequest (SAMLRequest, RelayState[, SigAlg,
	// Signature]) as the SP produced it, or any URL that redirects there (an
	// SP's login endpoint, say). Login follows redirects with client, which
	// needs a cookie jar, fills in and submits the IdP's login form, and
	// returns the auto-submit form the IdP answers with, without posting it.
	// When the jar already holds an IdP session the IdP answers without a
	// login form and the credentials are not used. Wrong credentials give
	// ErrLoginRejected; an IdP error page gives ErrUnexpectedPage with the
	// page's status and text.
	Login(ctx context.Context, client *http.Client, ssoURL, userName, password string) (PostForm, error)
}

// PostForm is the HTTP-POST binding form an IdP returns to the browser.
type PostForm struct {
	Action       string // absolute URL the form posts to (the SP's ACS)
	SAMLResponse string // base64 as sent
	RelayState   string
}

// Values are the form's fields, ready for http.Client.PostForm(f.Action, ...).
func (f PostForm) Values() url.Values {
	v := url.Values{"SAMLResponse": {f.SAMLResponse}}
	if f.RelayState != "" {
		v.Set("RelayState", f.RelayState)
	}
	return v
}

// Available reports whether the named peer is installed on this machine; the
// string says what is missing and how to install it.
func Available(name string) (bool, string) {
	switch name {
	case NameSimpleSAMLphp:
		return testpeer.Installed(sspInstallHint,
			"php", sspWWWDir+"/saml2/idp/SSOService.php", sspModulesDir+"/exampleauth", sspAttributeMapDir)
	case NamePySAML2:
		return testpeer.Installed(pysaml2InstallHint, testpeer.PythonBin, testpeer.XMLSecBin, pysaml2Dir+"/server.py")
	default:
		return false, fmt.Sprintf("unknown peer %q", name)
	}
}

// requireAvailable skips t when the peer is missing, or fails it when
// RequirePeersEnv is set.
func requireAvailable(t testing.TB, name string) {
	t.Helper()
	ok, hint := Available(name)
	testpeer.Require(t, "peer "+name, ok, hint)
}
