// Package saml holds Gatehouse's SAML 2.0 core: typed bindings, hardened
// parsing (CheckXML, ParseXML), AuthnRequest building and parsing, XML
// signing (Sign), HTTP-Redirect binding signatures (RedirectQuery,
// VerifyRedirectSignature) and the one verification entry point for
// Responses, Verifier.VerifyResponse, with Verifier.VerifyAssertion for
// bare assertions presented as OAuth tokens (RFC 7522). It does no I/O,
// logging or global state.
//
// # Security model
//
// VerifyResponse runs a fixed sequence of checks, cheap before expensive,
// and fails closed with a *VerifyError carrying a bounded Reason:
//
//  1. Decoding with size caps; CheckXML rejects DTDs and entities,
//     processing instructions, several roots, trailing content, non-UTF-8
//     input and documents over the depth or token limits.
//  2. The root is samlp:Response holding exactly one Assertion or
//     EncryptedAssertion anywhere in the document, as its direct child.
//     Steps 2 and 3 run in CheckXML's one streaming pass, resolving
//     namespaces from their declarations, never from prefixes; only an
//     EncryptedAssertion is parsed into a tree before gosaml2 parses the
//     response.
//  3. Every SignatureMethod, DigestMethod and EncryptionMethod is
//     allow-listed: RSA or ECDSA with SHA-256 or stronger, SHA-256+
//     digests, RSA-OAEP key transport and AES-GCM only. Encrypted
//     assertions are accepted only with a configured decryption key, and
//     their plaintext is inspected the same way before use.
//  4. gosaml2 v0.12.0 and goxmldsig v1.6.1 verify the signature against
//     each pinned certificate in turn (key rollover without KeyInfo) and
//     return only the bytes that were verified. The Assertion type is
//     built from those alone.
//  5. On the verified data: exactly one assertion, signed (directly or by
//     the Response), Status Success, Destination present and equal to the
//     receiving URL, Issuers, bearer subject with non-empty NameID,
//     Recipient, time windows with a configurable skew (NotBefore
//     optional), at least one AudienceRestriction and every one naming the
//     SP, IssueInstant freshness, bounded lifetime, and Response
//     InResponseTo equal to the signed SubjectConfirmationData's.
//
// VerifyAssertion accepts only a single signed saml:Assertion whose one
// enveloped signature references it and uses exclusive canonicalization,
// with every namespace prefix it uses declared inside it and no
// InResponseTo; it then wraps the assertion in an unsigned Response (which
// cannot change the canonical form the signature covers) and runs the
// same sequence, the bearer Recipient being the token endpoint.
//
// The caller's job: match Assertion.InResponseTo against a pending request
// bound to the browser (consumed once), record (Issuer, ID) in a replay
// store until NotOnOrAfter plus skew and fail closed when that store is
// down, show every rejection identically (the Reason and error go to the
// server log only), rate-limit, and allow-list ACS and RelayState targets.
// Key identities on (Issuer, NameID), never on an email attribute alone.
//
// Known limits: gosaml2 decrypts only with an *rsa.PrivateKey and uses
// the OAEP digest as the MGF1 hash; assertions inside Advice, several
// assertions per Response, and certificates outside their validity period
// are rejected.
package saml
