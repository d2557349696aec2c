// Package peers runs independent, third-party SAML 2.0 identity providers on
// 127.0.0.1 so that Gatehouse's service provider can be tested end to end
// against implementations nobody on the team wrote. It is test support code:
// its functions take a testing.TB, and nothing outside tests imports it.
//
// Two peers are offered, each started fresh per test with a configuration of
// the test's own (temporary directory, free port, new RSA-2048 key):
//
//   - StartSimpleSAMLphp: Debian's SimpleSAMLphp 1.19 under `php -S`, an
//     exampleauth:UserPass source, a hosted SAML 2.0 IdP, and the SP's
//     metadata read by SimpleSAMLphp's own metadata parser.
//     Packages: simplesamlphp php-cli php-xml php-mbstring php-curl.
//     Paths: /usr/share/simplesamlphp/www, /etc/simplesamlphp/attributemap/.
//   - StartPySAML2: a small HTTP server (assets/pysaml2/idp.py, embedded)
//     around pysaml2 7's saml2.server.Server, run by /usr/bin/python3.
//     Packages: python3-pysaml2 xmlsec1.
//
// Both sign with RSA-SHA256 and SHA-256 digests, release the attributes
// named by IdPOptions.Attributes (default uid, email, displayName, groups,
// NameFormat basic; OIDAttributeNames gives urn:oid names, NameFormat uri),
// and put an emailAddress NameID (User.Email) or a persistent one
// (User.UserName) in the Subject. What they differ in is left as each
// implementation does it, and is what the tests are for: SimpleSAMLphp signs
// Response and Assertion by default, adds SPNameQualifier, sets NotBefore 30
// seconds in the past, falls back to the default ACS when the requested one is
// not in the SP metadata, and answers errors with HTTP 200 pages; pysaml2
// signs the Assertion only by default, sets NotBefore to the issue instant,
// omits SessionNotOnOrAfter, and refuses an unknown ACS. SimpleSAMLphp also
// serves IdP-initiated sign-in at SSOURL()+"?spentityid=...&RelayState=...",
// which IdP.Login drives like any other SSO URL.
//
// IdP.Login plays the browser: it follows the SSO redirect chain with the
// caller's http.Client (which must have a cookie jar: SimpleSAMLphp keeps its
// login state in a session cookie), fills in the login form, and returns the
// HTTP-POST form addressed to the SP without posting it, so the test decides
// what reaches the SP (unchanged, replayed, tampered with).
//
// When a peer is not installed its tests are skipped, naming the packages to
// install; with GATEHOUSE_REQUIRE_PEERS set (as CI does) they fail instead.
//
// # Security model
//
// The peers are deliberately real, unmodified implementations: nothing here
// weakens or bypasses their checks, so an assertion a peer produces is one a
// production deployment of it could produce. The harness itself trusts
// nothing it scrapes beyond driving the flow: pages are read with a small
// tolerant HTML form scanner (bounded body size, bounded number of steps), and
// the SAMLResponse is handed back verbatim; verifying it is the caller's job,
// with the signing certificate from IdP.Metadata or IdP.CertificatePEM. The
// servers listen on 127.0.0.1 only, use throwaway keys and passwords, are
// killed when the test ends (or when the test binary dies, on Linux), and
// must never be used outside tests.
package peers
