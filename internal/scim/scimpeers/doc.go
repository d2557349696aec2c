// Package scimpeers runs two SCIM libraries nobody on the team wrote, so
// that tests can check the SCIM server (internal/scim) and the filter
// parser (internal/scim/filter) against them: scim-patch, which applies
// RFC 7644 PATCH operations to a resource, and scim2-parse-filter, which
// parses RFC 7644 filters. ApplyPatches and ParseFilters run a batch in
// one Node.js child process (node/patch.mjs and node/filter.mjs under
// internal/scim); SExpr and JSSExpr turn both parsers' trees into one
// canonical S-expression so that they can be compared.
//
// The libraries are installed by scripts/install-speers.sh (npm ci in
// internal/scim/node at the versions pinned in its package-lock.json). A
// missing one skips the tests, or fails them when GATEHOUSE_REQUIRE_PEERS
// is set.
//
// # Security model
//
// Nothing here is a security boundary: it is test support code that runs
// pinned third-party libraries on test data, with a bounded output. What
// it guards is the claim that Gatehouse reads filters and applies PATCH
// operations as other implementations do, so that a provisioning client
// gets the result it expects; the tests also assert the documented
// differences, so a change on either side is noticed.
package scimpeers
