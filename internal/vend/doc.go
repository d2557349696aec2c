// Package vend issues short-lived AWS credentials: for a signed-in user and
// an (account, permission set) they are entitled to, it mints a SAML
// assertion for the account's Gatehouse SAML provider (audience and
// recipient https://signin.aws.amazon.com/saml; the Role attribute naming
// the permission set's role and the provider; RoleSessionName the user
// name; SessionDuration the permission set's; PrincipalTag:<key> for the
// configured ABAC attributes) with the app-facing IdP's signing key, and
// exchanges it at STS (AssumeRoleWithSAML) for temporary credentials.
// Assertion alone serves the console sign-in, which posts the assertion
// from the browser.
//
// # Security model
//
// Entitlement is checked again at every call, against the store, never a
// cache: a user deactivated, removed from the group, whose assignment was
// deleted, or asking for a permission set deleted after they listed it,
// gets ErrNotEntitled, the same error whether the account or permission
// set exists or not. The assertion is signed by the same key ring as every
// other assertion of the IdP, lives at most five minutes, names exactly
// one role and provider, and releases only the attributes listed above
// (the internal keys the values travel under are not released). Roles
// trust only the Gatehouse provider with SAML:aud (package provision), so
// an assertion for one account cannot be used in another. A user name
// that is not a valid role session name is refused rather than altered.
// Errors from STS are ErrUnavailable: nothing is returned but the error.
package vend
