// Package password hashes and verifies user passwords with argon2id and
// checks new passwords against a policy.
//
// A Hasher is built with New from a Config: argon2id Params (default: the
// OWASP minimum, m=19456 KiB, t=2, p=1), a bound on concurrent hashes, and
// a Policy. Hash returns a PHC string,
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// in the format of the argon2 reference implementation and passlib, so
// hashes can move between Gatehouse and other systems. Verify checks a
// password against such a string and reports whether it should be
// re-hashed because the parameters have changed. Equalize spends the
// same work as a Verify when there is nothing to verify against. Policy
// Check tells a user, in a sentence, why a new password is not acceptable.
//
// # Security model
//
// Algorithm and parameters. argon2id (RFC 9106) is memory-hard, which
// makes guessing on GPUs and ASICs expensive, and its hybrid design
// resists both side-channel and time-memory trade-off attacks. The default
// parameters are the OWASP Password Storage Cheat Sheet minimum for
// argon2id (19 MiB, two passes, one lane) with a 16-byte random salt from
// crypto/rand and a 32-byte key; deployments with memory to spare should
// raise Memory. Params.Validate caps memory at MaxMemory (256 MiB),
// iterations at 10 and lanes at 16.
//
// Concurrency bound. Each hash allocates Params.Memory KiB and keeps a
// core busy for tens of milliseconds, so a flood of sign-in attempts could
// exhaust memory. A Hasher runs at most Config.MaxConcurrent hashes at
// once (default 2*GOMAXPROCS); further callers queue and give up when
// their context ends. Peak hashing memory is thus bounded by
// MaxConcurrent times the largest accepted memory cost.
//
// Stored hashes are untrusted input. The parameters in a stored hash
// decide how much work Verify does, so a corrupted or tampered hash with
// m=4194304 could make us allocate 4 GiB. Verify parses strictly (argon2id
// version 19 only, canonical m,t,p order and decimals, unpadded base64
// with no stray characters, bounded total length) and rejects any
// parameter set that fails Params.Validate before allocating or hashing,
// with an error wrapping ErrMalformed.
//
// Constant-time compare. Derived keys are compared with
// crypto/subtle.ConstantTimeCompare so the response time does not leak
// how many leading bytes of a guess matched.
//
// Equalization. A sign-in for an unknown user name, or for a user without
// a password, must cost as much as one for a real user, or the response
// time reveals which accounts exist. Callers call Equalize in those cases;
// it derives a key with the hasher's parameters (which is what Verify does
// for a hash that does not need re-hashing), queues for a slot like
// Verify, and discards the result.
//
// Normalisation. Passwords are normalised with Unicode NFKC before
// hashing, verifying and length checks (NIST SP 800-63B §5.1.1.2), so a
// password typed as "é" (U+00E9) on one keyboard and "e" + U+0301 on
// another is the same password, and lengths count characters rather than
// bytes.
//
// Policy. Following NIST SP 800-63B, the policy sets a minimum length
// (default 12, never below 8) and a generous maximum (default 128), does
// not impose composition rules, and instead rejects control characters,
// one character repeated, passwords from an embedded list of common
// passwords, and passwords containing the user's own name, user name or
// e-mail local part. PolicyError reasons never echo the password.
package password
