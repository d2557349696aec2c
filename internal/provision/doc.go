// Package provision provisions permission sets into target AWS accounts
// with the AWS SDK (IAM and STS), the way IAM Identity Center does: in
// each account a SAML identity provider carrying Gatehouse's IdP metadata,
// and per provisioned permission set a role
// AWSReservedSSO_<PermissionSetName>_<16 hex> under the path
// /aws-reserved/sso.amazonaws.com/ that users federated through that
// provider assume with sts:AssumeRoleWithSAML.
//
// Provision converges: it reads what exists and makes only the calls that
// turn it into what the permission set says (the plan is computed by a
// pure function, planRole). Managed and customer managed policies no
// longer listed are detached, the inline policy (AwsSSOInlinePolicy) is
// replaced or deleted, any other inline policy is deleted, the permissions
// boundary is set or removed, tags not in the permission set are removed,
// and the trust policy, description and maximum session duration are
// rewritten when they differ. Running it again changes nothing. A run that
// fails part-way (an account unreachable, throttled past the retries, a
// policy missing) returns StatusFailed with the account, the step and the
// cause, and Version 0 (the role reflects no known version); because the
// role is created with its Gatehouse tag in the same call, the next run
// recognizes whatever was left and converges it. Transient failures
// (throttling, 5xx, connection errors) are retried with exponential
// backoff per call; others fail at once.
//
// Deprovision deletes the role (after detaching and deleting its
// policies); the caller calls it only when no assignment needs the
// permission set in that account any more. DeprovisionProvider deletes the
// SAML provider once no role in the account trusts it.
//
// # Security model
//
// The management credentials are used for exactly one call:
// sts:AssumeRole on the account's AssumeRoleARN, for short sessions (15
// minutes by default). Before assuming, the ARN must be an IAM role in the
// account being provisioned, and the session STS returns must be in that
// account too (ErrWrongAccount otherwise), so a misconfigured account
// record cannot make Gatehouse write into another account. Every IAM call
// is made with the assumed session, never with the management
// credentials.
//
// Only roles Gatehouse created are changed or deleted: a role is touched
// only when its name is AWSReservedSSO_<set>_<16 lowercase hex> (checked
// on whatever RoleNameFor returns), it is under
// /aws-reserved/sso.amazonaws.com/, and it carries the tag
// gatehouse:managed=true. A role with the name that lacks the tag, or sits
// at another path, is refused with ErrUnmanagedRole (an access.ErrConflict)
// and left exactly as it was. Permission set tags may not use the
// gatehouse: prefix, so a permission set cannot forge or remove the mark.
// The SAML provider is identified by its configured name (IAM has no
// conditional create, and emulators lack provider tags); it is tagged on
// creation and deleted only when no role, Gatehouse's or not, still trusts
// it (ErrProviderInUse).
//
// Each role's trust policy allows only sts:AssumeRoleWithSAML and
// sts:TagSession, only for principals federated through the account's
// Gatehouse provider, and only when SAML:aud is the AWS sign-in endpoint;
// a trust policy that drifted from that is rewritten on the next run.
// Within a run, restricting changes (a new permissions boundary, detaching
// policies, deleting inline ones) are made before granting ones
// (attaching, putting the inline policy, removing the boundary), so a run
// that stops part-way errs towards fewer permissions, and is reported.
// Errors name the account, step and AWS error, never credentials.
package provision
