package metadata

import "errors"

// Sentinel errors. Every error this package returns wraps at least one of
// them, so callers can branch with errors.Is; the wrapping message carries the
// detail (which element, which URL, which file) for logs.
var (
	// ErrUnsafeXML: the document failed the pre-parse safety check (DTD,
	// entity, processing instruction, invalid UTF-8, several roots, trailing
	// content, too deep, too large) or is not well-formed.
	ErrUnsafeXML = errors.New("metadata: unsafe or malformed XML")
	// ErrInvalid: the document is well-formed XML but not usable metadata.
	ErrInvalid = errors.New("metadata: invalid metadata")
	// ErrExpired: a validUntil attribute lies in the past.
	ErrExpired = errors.New("metadata: validUntil has passed")
	// ErrNoSigningKey: the IdP publishes no signing certificate.
	ErrNoSigningKey = errors.New("metadata: no signing certificate")
	// ErrNoSSOService: the IdP publishes no SingleSignOnService with the
	// HTTP-Redirect or HTTP-POST binding.
	ErrNoSSOService = errors.New("metadata: no usable SingleSignOnService")
	// ErrInsecureURL: a URL is not https (http is allowed on loopback only),
	// is relative, or carries user info or a fragment.
	ErrInsecureURL = errors.New("metadata: URL must be absolute https (http only on loopback)")
	// ErrWeakKey: a key is not RSA of at least 2048 bits or ECDSA on P-256,
	// P-384 or P-521.
	ErrWeakKey = errors.New("metadata: key type or size not allowed")
	// ErrEntityNotFound: no entity (with an IDPSSODescriptor) matches.
	ErrEntityNotFound = errors.New("metadata: identity provider entity not found")
	// ErrAmbiguousEntity: several entities or descriptors match; select one
	// with ParseIdPEntity.
	ErrAmbiguousEntity = errors.New("metadata: ambiguous identity provider entity")
	// ErrTooLarge: a file or HTTP body exceeds the size cap. Documents are
	// never truncated.
	ErrTooLarge = errors.New("metadata: document exceeds size limit")
	// ErrHTTPStatus: a metadata URL answered with a status other than 200.
	ErrHTTPStatus = errors.New("metadata: unexpected HTTP status")
	// ErrStale: a cached copy is older than the staleness bound.
	ErrStale = errors.New("metadata: cached copy is too old")
	// ErrInvalidConfig: SPConfig or RefresherConfig is invalid.
	ErrInvalidConfig = errors.New("metadata: invalid configuration")
)
