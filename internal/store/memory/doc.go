// Package memory is an in-memory implementation of store.Store
// (sp.RequestTracker, sp.ReplayCache, sp.SessionStore, sp.UserDirectory,
// sp.Pinger, oauth.DeviceStore, oauth.RefreshStore, oauth.RevocationStore,
// audit.Store, directory.Store), idp.SSOStateStore and apps.Store, for
// tests and for programs that embed a single gateway instance and accept
// losing all state on restart. It passes the same conformance suite
// (internal/store/storetest) as the SQL store.
//
// # Security model
//
// One mutex guards all state, so every method is atomic: ConsumeRequest
// and ConsumeSSOState hand a pending request or SSO state to exactly one
// caller, MarkAssertionUsed is
// insert-if-absent (an expired record may be replaced) and returns
// sp.ErrReplay for a live duplicate, and ProvisionExternal creates or
// updates a user in one step. DecideDevice, ConsumeDevice and
// RotateRefreshToken change state for exactly one of concurrent callers; a
// rotated refresh token presented again revokes its family (the winner's
// new token included) and returns oauth.ErrRefreshReused, as in the SQL
// store. Audit events get IDs 1, 2, ... in append order, batches are all
// or none, and values are normalized as store.NormalizeAuditEvent
// describes. Identity store writes (directory.Store) check everything
// (validation, uniqueness ignoring case, versions, that members are
// users) before changing anything, so a failed write changes nothing;
// UpdateDirectoryUser and UpdateGroup run their function under the lock
// (it must not call the store); filters are evaluated by
// directory.MatchUser and directory.MatchGroup, the reference the SQL
// store's translation is tested against. Deactivating or deleting a user
// deletes its sessions and revokes its refresh tokens in the same step.
// The guarantees hold only within one process:
// instances behind a load balancer must share a SQL store instead.
// Sessions are kept under the SHA-256 of their ID, as in the SQL store, so
// the cookie secret is not retained. Nothing expires by itself: expired
// items are invisible to every method (except DeviceByCode and IsRevoked,
// as documented), and Cleanup frees them; it never deletes audit events.
package memory
