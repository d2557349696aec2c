// Package metadata builds SAML 2.0 service provider metadata and loads,
// validates and refreshes identity provider metadata.
//
// The pieces are kept apart: BuildSP writes SP metadata; ParseIdP and
// ParseIdPEntity turn bytes into an immutable *IdPMetadata; LoadFile and Fetch
// obtain bytes under a size cap; a Refresher ties them together, keeping the
// last good copy and refreshing it periodically once Start is called.
//
// # Security model
//
// IdP metadata decides which keys may sign a user in, so it is treated as
// configuration that must be pinned: it comes from an operator-chosen file or
// an https URL (http only on loopback, for tests), redirects included.
// Metadata signatures are NOT verified; the file or URL is the trust anchor,
// and a ds:Signature element in the document is ignored. Every document first
// passes a hardened pre-parse check in a single encoding/xml pass (no DTD or
// other <! directive, hence no entities; no processing instruction besides the
// leading XML declaration; UTF-8 only; exactly one root; no trailing content;
// no duplicate attributes; depth at most 64; size capped), then is read with
// etree and matched by namespace URI, never by prefix. A document is rejected,
// never partly used, when a validUntil on the path to the IdP has passed, when
// no signing certificate or no HTTP-Redirect/HTTP-POST SingleSignOnService is
// published, when an endpoint is not https (http on loopback only), when a
// certificate does not parse, when a KeyDescriptor does not hold exactly one
// certificate, or when a key is not RSA of at least 2048 bits or ECDSA on
// P-256, P-384 or P-521. Certificate validity dates are not enforced (SAML
// pins keys; use IdPMetadata.NextCertificateExpiry to alert before expiry).
// Several signing certificates are kept, for key rollover; the caller must try
// each in turn.
//
// A Refresher never replaces the current copy with one that fails to load,
// parse or validate, or that names another entity; it logs a warning and
// counts the failure. Staleness is bounded: Current returns nil once the copy
// has not been refreshed from its source for MaxStaleness (default 7 days) or
// its validUntil has passed, and the caller must then fail closed. The cached
// copy on disk is written atomically with mode 0600 and is trusted like the
// source; protect its folder accordingly.
//
// The caller's job: choose and protect the metadata source, feed the
// signing certificates to a signature verifier that tries each of them,
// serve BuildSP's output, and treat a nil Current as "no trusted IdP".
package metadata
