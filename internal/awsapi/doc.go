// Package awsapi is the gateway's API for the gatehouse command line's AWS
// commands (issue 7): GET /api/v1/accounts lists the signed-in user's
// accounts and the roles (permission sets) they may assume there, and
// POST /api/v1/credentials vends short-lived AWS credentials for one
// (account, role), answered in the shape of the AWS credential_process
// protocol (Version 1, AccessKeyId, SecretAccessKey, SessionToken,
// Expiration in RFC 3339 UTC) so that the CLI can print them unchanged.
//
// The package owns the HTTP surface only. Token validation (TokenVerifier),
// entitlements (EntitlementLister), account names (AccountReader) and
// vending (CredentialVendor) are small interfaces that the gateway
// implements with its OAuth validator, internal/access and internal/vend.
//
// # Security model
//
//   - Every request needs an OAuth access token in an Authorization:
//     Bearer header (RFC 6750); tokens in query strings or form bodies are
//     never read. The gateway's TokenVerifier checks the signature, expiry,
//     revocation, audience ({external_url}/api) and scope (credentials);
//     any failure it wraps in ErrUnauthorized answers 401 with
//     WWW-Authenticate: Bearer error="invalid_token", and ErrInsufficientScope
//     answers 403 error="insufficient_scope". Any other verifier error
//     (a store that is down) answers 503: it never lets a request through.
//   - The user is the token's subject only; no request field names a user,
//     so one user cannot ask for another's accounts or credentials.
//   - Entitlement is not decided here: the vendor checks it again against
//     the store at each call (the account listing is never trusted at
//     vending time). vend.ErrNotEntitled answers 403 not_entitled whether
//     the account or role does not exist or is not granted, so the answer
//     does not reveal which accounts or permission sets exist.
//   - Request bodies are capped (MaxBody), must be application/json, must
//     be one JSON object with no unknown field and no trailing data, and
//     the account ID (12 digits) and role (an IAM name of at most 32
//     characters) are checked before the vendor is called.
//   - Credentials are answered with Cache-Control: no-store and are never
//     logged; logs carry the user ID, account, role and outcome only, never
//     tokens, keys or request bodies. Credentials already expired by the
//     injected clock are refused (503) rather than handed out.
//   - Failures close: an error listing entitlements or reading an account
//     answers 503, never a partial list; an entitled account that has been
//     deleted since the listing was computed is left out.
package awsapi
