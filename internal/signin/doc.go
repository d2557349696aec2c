// Package signin is the gateway's built-in directory sign-in
// (identity_source: directory): a user of the identity store signs in with
// a password and, when the MFA policy requires it, a second factor, a TOTP
// authenticator app (RFC 6238) or a WebAuthn security key or platform
// authenticator. A user without a second factor registers one right after
// the password, or is refused, as configured. Administrators recover
// accounts by setting a password, unlocking, and removing lost devices.
//
// The Service holds the logic and no HTML: package portal renders the
// pages and calls it. Between the password and the session a sign-in is a
// Flow kept in the store (so any instance can continue it), named by a
// 256-bit secret carried in the browser's flow cookie.
//
// # Security model
//
//   - Passwords are argon2id hashes (package password); an unknown user, a
//     user without a password and a malformed request cost the same
//     hashing work as a real check, and every such failure gives the one
//     error ErrInvalidCredentials, so timing and answers do not tell
//     which user names exist. (A locked account is reported as locked:
//     that tells an attacker who already failed max_failures times that
//     the name exists, the usual trade for a message users can act on.)
//   - Lockout: wrong passwords and wrong second factors count toward one
//     failure counter per user in the store, shared by every instance;
//     at the limit the account is locked for a time that doubles with each
//     further failure up to a maximum. While locked, no password is even
//     checked. Only a completed sign-in or an administrator resets it.
//     Failures are also limited per client address (per instance), and a
//     flow ends after 5 wrong second factors.
//   - Password success alone grants nothing when MFA is required: the flow
//     records the user and stage, and the session is created only after
//     the second factor, by the one caller that deletes the flow (flows are
//     single use). A deactivated or deleted user's flow ends at once.
//   - TOTP: 6 digits, 30-second steps, one step of skew. The accepted step
//     is stored per device with a compare-and-set, so a code (or an older
//     one) is accepted once, on any instance. Secrets are sealed with
//     AES-256-GCM under a key from keys.dir, bound to their user and
//     device, and never returned by the admin API.
//   - WebAuthn (go-webauthn): the challenge lives in the flow and is
//     cleared after a failure; the origin is external_url's, the relying
//     party ID its host (or a configured parent domain); a signature
//     counter that does not advance (a possibly cloned authenticator) is
//     refused, and the counter is updated with a compare-and-set. The user
//     handle is a hash of the user ID.
//   - Fail closed: any store error is ErrUnavailable and creates no
//     session; a session or a newly registered device whose audit record
//     cannot be stored is deleted again.
//     Every step, success or failure, is audited with the credential type
//     and never with a password, code or key.
package signin
