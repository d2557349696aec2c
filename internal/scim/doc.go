// Package scim is Gatehouse's SCIM 2.0 service provider (RFC 7643, RFC
// 7644) at /scim/v2: identity providers such as Microsoft Entra ID and
// Okta provision users and groups into the identity store
// (directory.Store) through it.
//
// New validates a Config; Server.Handler serves Users, Groups (GET, POST,
// PUT, PATCH, DELETE, POST .search), ServiceProviderConfig, Schemas and
// ResourceTypes under PathPrefix, behind scimtoken's Require middleware.
// Responses are application/scim+json; errors are RFC 7644 section 3.12
// bodies with a scimType where one is defined (asError lists the
// mapping). Resources carry meta (resourceType, created, lastModified,
// location from Config.BaseURL, version W/"<n>"), and the ETag header
// equals meta.version; If-Match is honoured by PUT, PATCH and DELETE
// (412 on a mismatch) and If-None-Match by GET (304).
//
// # What is kept, and where
//
// userName, externalId, displayName, name.givenName, name.familyName,
// active and emails (value, type, primary) are directory fields. The
// other string attributes of the core User schema Gatehouse keeps, and
// every attribute of the enterprise extension, are custom attributes
// (directory.User.Attributes), under fixed names usable for
// attribute-based access control: name.formatted, name.middleName,
// name.honorificPrefix, name.honorificSuffix, nickName, profileUrl,
// title, userType, preferredLanguage, locale, timezone, employeeNumber,
// costCenter, organization, division, department, and manager (the
// manager's id, manager.value). Custom attributes under other names (set
// by the admin API or sign-in) are not SCIM's: they are not shown and a
// PUT keeps them. groups is read-only (memberships change through
// Groups). Group members are users only. /Schemas publishes exactly what
// is kept.
//
// # What a body may hold (POST, PUT)
//
// Strict on syntax, lenient on names: the body must be one JSON object
// of valid UTF-8, nested at most MaxJSONDepth levels, without an
// attribute named twice (names are case-insensitive, so "userName" and
// "username" are the same), and without trailing data (else 400
// invalidSyntax). "schemas" must list the resource's core schema, and
// may list extensions and other URIs (Entra lists a non-URN one for
// groups). Kept attributes are checked against their type (400
// invalidValue); booleans may be the strings "True" and "False" (Entra).
// Dropped without error: read-only attributes (id, meta, groups), the
// attributes of RFC 7643 Gatehouse does not keep (phoneNumbers,
// addresses, ims, photos, roles, entitlements, x509Certificates,
// emails.display, members.display, manager.displayName), names no
// schema defines, and extensions listed in "schemas" that Gatehouse does
// not know. An extension object or a URN-qualified name of a schema not
// listed in "schemas" is refused (400 invalidSyntax). A password is
// dropped, never stored, logged or echoed: Okta sends a placeholder
// password with every creation, password synchronization or not, and
// Gatehouse has no SCIM passwords (changePassword is unsupported). A PUT
// without active keeps the user's active state; POST defaults it to
// true. A PUT replaces everything else SCIM manages.
//
// # PATCH (RFC 7644 section 3.5.2)
//
// Operation names are case-insensitive (Entra sends "Replace"). Paths are
// parsed by internal/scim/filter: attr, attr.sub, URN-qualified names
// (the enterprise extension's attributes, or the extension itself), and
// value filters such as emails[type eq "work"].value, resolved by the
// same compiler as list filters. An operation without a path applies
// each attribute of its value object as if that name were the path (so
// Entra's {"name.givenName": ...} and URN-qualified keys work), dropping
// unknown names and read-only ones as a PUT does; an id in it must equal
// the resource's (Okta sends it). Semantics: add to a multi-valued
// attribute appends values not already there; replace of a complex
// attribute merges the given sub-attributes; a value that becomes
// primary makes the former primary not primary; remove of a multi-valued
// attribute with a value list removes the values whose "value" matches
// (Entra removes members so), and without a value removes them all; an
// add or replace whose value filter matches nothing creates the value
// when the filter is a conjunction of equalities (what Entra expects and
// scim-patch does), else 400 noTarget; a remove that matches nothing does
// nothing. A path to an attribute Gatehouse does not keep is accepted
// and does nothing; to an unknown attribute it is 400 invalidPath; to a
// read-only or immutable one 400 mutability; remove without a path is
// 400 noTarget; active cannot be removed (replace it with false). The
// enterprise manager may be given as a bare id (Entra). Every operation
// is applied to a copy inside the store's update function, which
// validates the result: the first failing operation fails the whole
// request and nothing changes. A group PATCH made only of member adds
// and removes (at most directory.MaxPatchMembers IDs, none both added
// and removed) runs as one PatchGroupMembers call, which does not read
// the group's members; any other runs through UpdateGroup.
//
// # Lists
//
// filter is parsed by internal/scim/filter and compiled by the
// directory (unsupported attributes or operators: 400 invalidFilter).
// startIndex below 1 means 1; count below 0 means 0 (only totalResults),
// above Config.MaxResults means MaxResults, and absent means MaxResults.
// attributes and excludedAttributes take top-level names, sub-attributes
// and URN-qualified names; id and schemas are always returned. Groups
// listed without members (excludedAttributes=members, as Entra and Okta
// ask) are read without them. Sorting is not supported (sortBy is
// ignored; lists are in creation order).
//
// # Security model
//
//   - Authentication is scimtoken's bearer token: the gateway serves
//     Handler only behind scimtoken.Service.Require, and the handler
//     itself refuses (401) any request whose context carries no
//     authenticated token, so a wiring mistake fails closed. Every SCIM
//     token may provision every user and group.
//   - Bounded work: bodies are capped at Config.MaxBody (413; the
//     declared length is checked before reading), JSON nesting at
//     MaxJSONDepth, PATCH at MaxPatchOperations operations, projections at
//     MaxProjectionAttributes names, filters and paths by the parser's
//     limits, pages at Config.MaxResults, and resources by the
//     directory's limits. Patch application is linear in the size of the
//     resource per operation.
//   - No partial writes: every write is one store call; PATCH and PUT
//     compute the new resource inside the store's update function (which
//     may run more than once and never calls the store), and the store
//     validates it, so a failure anywhere leaves the resource unchanged.
//     If-Match gives optimistic concurrency, DELETE included: the store
//     compares the version in the same transaction as the write.
//   - Uniqueness: userName and group displayName are unique ignoring case
//     (409 uniqueness), decided by the store.
//   - Audit: every successful write is recorded (scim.user.created,
//     .replaced, .patched, .deleted; scim.group.*) with the token's actor
//     (scimtoken.Actor), the user's id as subject, the request ID and
//     client address, and details naming the changed attributes and
//     member counts, never values other than userName and displayName,
//     never a password. The record is written after the change (a store
//     and the audit log cannot commit together): when it fails, the
//     change stands, the client gets 500 and the failure is logged at
//     error level. Refused requests change nothing and are not recorded.
//   - Errors: store failures answer 503 with a generic detail and are
//     logged; client errors quote at most a short prefix of the client's
//     own input.
//
// The caller's job: mount Handler under PathPrefix behind
// scimtoken.Service.Require (and server.RequestID, for request IDs in
// logs and audit records), set Config.BaseURL to the external URL of
// PathPrefix, and give it the gateway's audit log.
package scim
