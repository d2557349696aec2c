// Package directory is Gatehouse's identity store model: users (SCIM
// User resources with custom attributes for attribute-based access
// control), groups and memberships; the Store interface the SCIM server
// and the admin API use; and the rules every backend shares:
// normalization (NormalizeUser, NormalizeGroup), validation
// (ValidateUser, ValidateGroup, the Max... limits), case folding (Fold),
// paging (Query.Window) and filter evaluation (CompileUserFilter,
// CompileGroupFilter, MatchUser, MatchGroup).
//
// The users are the same users SAML sign-in sees through sp.UserDirectory:
// an sp.User is a projection of a User (SPUser), sign-in's just-in-time
// provisioning creates Users, and the groups sign-in asserts are Groups
// named by display name. The backends are internal/store/memory and
// internal/store/sqlstore; internal/store/storetest is the conformance
// suite both pass, which also checks that the SQL translation of every
// filter selects what MatchUser and MatchGroup select.
//
// # Security model
//
// Input comes from provisioning clients holding a SCIM token and from
// upstream assertions, and is treated as hostile:
//   - Every write is validated by one function per resource before
//     anything is stored: lengths, counts (e-mail addresses, custom
//     attributes, members, IDs per membership change), UTF-8, no control
//     characters in identifiers, IDs of a URL-safe alphabet. Lists are
//     cut to MaxListCount items. Filters are bounded by the parser
//     (internal/scim/filter) and resolved here against an allow-list of
//     attributes, operators and value types; anything else is
//     ErrInvalidFilter, never ignored.
//   - Writes are all or nothing: a failed check, a version mismatch, an
//     unknown member or an error returned by an update function leaves
//     the store unchanged. Optimistic concurrency (Version, ifVersion)
//     and row locks make concurrent updates of one resource run one after
//     the other without losing any.
//   - userName and group displayName are unique ignoring case, with the
//     Unicode simple case folding of Fold computed here, not by a
//     database's collation, so every backend and database agrees on what
//     is a duplicate and on what a case-insensitive filter selects.
//   - Deactivating a user (Active true to false) deletes its sessions and
//     revokes its refresh tokens in the same transaction; deleting a user
//     also removes its memberships and upstream identity links. Sign-in
//     and token issuance refuse inactive users in any case.
//   - Filters select with parameterized SQL (in sqlstore) built from the
//     compiled Cond, never from filter text.
//
// What is the caller's job: authenticating and authorizing the SCIM
// client, mapping errors to SCIM responses (ErrInvalidFilter to 400
// invalidFilter, other ErrInvalid to 400 invalidValue, ErrConflict to 409
// uniqueness, ErrPreconditionFailed to 412, ErrNotFound to 404, anything
// else to 503), and deciding who may change which attributes.
package directory
