// Package speers runs independent, third-party SAML 2.0 service providers on
// 127.0.0.1 so that Gatehouse's app-facing identity provider can be tested
// end to end against implementations nobody on the team wrote. It is test
// support code: its functions take a testing.TB, and nothing outside tests
// imports it. (internal/peers is its mirror image: third-party IdPs.)
//
// Three SPs are offered, each started fresh per call with a configuration of
// its own (temporary directory, free port, new RSA-2048 keys), trusting the
// IdP metadata given in SPOptions.IdPMetadata and publishing metadata of the
// same shape (SP.Metadata: one HTTP-POST ACS with index 0, a signing key, an
// encryption key with AES-GCM EncryptionMethods when EncryptAssertions, the
// persistent, emailAddress, transient and unspecified NameID formats):
//
//   - StartShibboleth: Shibboleth SP 3.4 (shibd, and Apache 2.4 with mod_shib
//     and a CGI echo page under /secure). The strictest: schema validation
//     of metadata and messages, a replay cache, requireSignedAssertions.
//     Packages: apache2 libapache2-mod-shib.
//   - StartNodeSAML: @node-saml/node-saml 5 in a small Node HTTP server
//     (internal/speers/node/sp.js; dependencies pinned in package-lock.json,
//     installed with npm ci by scripts/install-speers.sh).
//   - StartPySAML2: pysaml2 7's Saml2Client in a small Python HTTP server
//     (assets/pysaml2/sp.py, run by /usr/bin/python3). Packages:
//     python3-pysaml2 xmlsec1.
//
// What each supports (all tested against saml/samltest's IdP):
//
//	                          Shibboleth   node-saml    pysaml2
//	SP-initiated (Redirect)   yes          yes          yes
//	IdP-initiated             option       option       option
//	signed AuthnRequests      option       option       option
//	encrypted assertions      option       option       option
//	refuses plaintext then    no           yes (app)    yes (app)
//	refuses AES-CBC then      yes          no           no
//	InResponseTo checked      yes          yes          yes
//	  ... with AllowUnsolicited no           yes          no
//
// A test drives a sign-in like a browser: GET SP.LoginURL with a client that
// has a cookie jar (the SP redirects to the IdP with an AuthnRequest), let the
// IdP answer, then SP.Complete posts the IdP's form to the SP and reads the
// SP's protected echo page, which reports the NameID and the attributes the
// SP mapped (SPOptions.AttributeMap; by default uid, email, displayName,
// givenName, sn and groups from their basic names and their urn:oid forms).
// IdP-initiated sign-in is SP.Complete without the first step. An SP that
// refuses the response makes Complete fail with ErrRejected; its log is
// printed when the test fails. XMLSecVerify checks a response's signatures
// with xmlsec1 against the IdP's published certificate.
//
// When an SP is not installed its tests are skipped, naming the packages to
// install; with GATEHOUSE_REQUIRE_PEERS set (as CI does) they fail instead.
//
// # Security model
//
// The SPs are real, unmodified implementations in their strict settings:
// signatures verified with only the keys in the IdP's metadata, signed
// assertions required, audience and recipient checked, InResponseTo
// correlated with the requests they issued unless AllowUnsolicited. The
// small apps around node-saml and pysaml2 add only what the libraries leave
// to applications (sessions, one use per request ID in pysaml2, refusing a
// plaintext assertion when encryption is required, redirecting only to local
// paths), so an assertion they accept is one a production deployment of the
// library would accept. XMLSecVerify first requires that each signature
// signs its own parent Response or Assertion and that IDs are unique, since
// xmlsec1 alone verifies whatever a Reference points at. The servers listen
// on 127.0.0.1 only, over plain http (Shibboleth told so), use throwaway
// keys written world-readable (Apache's workers run as www-data), are
// killed when the test ends (or when the test binary dies, on Linux), and
// must never be used outside tests.
package speers
