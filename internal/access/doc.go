// Package access is Gatehouse's multi-account access (issue 7), modelled
// on AWS IAM Identity Center: accounts (AWS accounts placed in a tree of
// organizational units), permission sets (the template of a role: AWS and
// customer managed policies, an inline policy, a permissions boundary, a
// session duration), and assignments granting a permission set to a user
// or a group on an account or on every account of an OU and its
// descendants. A user's entitlements are the (account, permission set)
// pairs those assignments give them.
//
// access.go holds the model and the Store contract (implemented by
// internal/store/memory and internal/store/sqlstore). validate.go checks
// every value against the limits of IAM Identity Center, AWS
// Organizations and IAM, reporting every problem at once in a
// ValidationError (wrapping ErrInvalid) whose fields are named as in the
// admin API. Choices made where AWS leaves room: an OU path is "/" or
// "/seg/..." of at most MaxOUDepth (5) segments of 1 to 64 characters
// of A-Z a-z 0-9 _ - (AWS Organizations' depth; one spelling per OU, no
// trailing slash); an account's AssumeRoleARN must be a role in that
// same account, in the aws partition; IAM paths have no empty segment; a
// permission set description has no control characters (newlines
// included); an inline policy must have a Version and no object with a
// repeated key; a session duration is required (no default).
//
// Service computes entitlements from a Store and a GroupResolver (which
// returns the group IDs that assignments name, not display names) and
// wraps the administrative writes. EntitlementsFor makes one
// AssignmentsForPrincipals call, reads the permission sets involved once
// (one by one when there are at most four, else one ListPermissionSets),
// and lists each distinct OU once; its cost follows the number of
// assignments and entitlements of the user, not the total number of
// assignments (see BenchmarkEntitlements).
//
// # Security model
//
//   - Entitlement is computed from the store at each call; the Service
//     caches nothing, positive or negative, across calls. Entitled, which
//     the gateway calls again when it vends credentials, re-reads the
//     user's groups, their assignments, the permission set and (for an OU
//     assignment) the account's current OU: the portal's listing is never
//     trusted at vending time.
//   - A removed assignment, a user removed from a group, an account moved
//     out of an OU or a deleted permission set grants nothing from the
//     next call on. An assignment whose permission set no longer exists
//     (deleted between two reads) is ignored, never an error that a
//     caller might treat as "allowed".
//   - Failures close: an error from the group resolver or the store makes
//     EntitlementsFor and Entitled fail; they never fall back to the
//     user's own assignments or to a partial list. Assignments the store
//     returns for a principal other than the user or their groups are
//     ignored and logged.
//   - OU containment is by whole path segment: "/eng" contains "/eng" and
//     "/eng/prod", never "/engineering".
//   - Role names are "AWSReservedSSO_<permission set>_<16 hex>", the hex
//     the first 8 bytes of HMAC-SHA256(secret, account + "/" + name):
//     stable for an account and permission set, so provisioning is
//     idempotent, but not guessable without the secret, so a role name
//     cannot be predicted in an account to pre-create or trust it. They
//     fit IAM's 64-character limit for every valid permission set name.
//   - Every administrative write is validated before the store is called:
//     a bad value stores nothing and returns an ErrInvalid error naming
//     the field. An assignment's permission set and account must exist
//     (ErrNotFound naming the field); an OU target need not hold accounts
//     yet and covers accounts placed in it later, by design.
//   - Inline policies are parsed strictly (one JSON object, no trailing
//     data, no repeated keys, at most 10,240 bytes compacted), so that
//     what Gatehouse validated is what AWS will evaluate.
package access
