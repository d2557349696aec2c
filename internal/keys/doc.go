// Package keys keeps the gateway's long-lived key pairs in keys.dir.
//
// LoadOrCreateRSA keeps one fixed pair per name: a PKCS#8 private key (0600)
// and a self-signed certificate, generated on first use.
//
// A Ring keeps a signing key that can be rolled over without a failed
// sign-in: NAME.current.key/.crt signs; `Rotate` creates NAME.next.key/.crt,
// which is published (Certificates) but not used, so relying parties can
// pick it up from metadata; `Activate` makes the next key current and keeps
// the old one as NAME.previous.key/.crt. The command line and the server are
// different processes: the server opens the same folder and calls Reload
// (or Watch) to pick up what the command line did.
//
// The previous key never signs, but its certificate stays published for a
// grace period after the activation (RingOptions.PreviousGrace, 15 minutes
// by default): a server that has not reloaded yet signs with the old key
// for up to one Watch period, what it signed stays valid for the
// assertion lifetime plus clock skew, and a relying party that refreshed
// its metadata meanwhile must still be able to verify it. Published order:
// current, next (during a rotation), previous (during its grace period), so
// at most three certificates. The grace period is measured from the
// activation time, which the activating process records in the folder
// together with the activation (NAME.activated, below), so that every
// process, whenever it reloads, ends the grace period at the same instant.
// Activating again within the grace period retires the older previous key
// at once; only one previous key is kept.
//
// OpenStoreRing keeps the same ring in the gateway's shared store
// (RingStore, one row per ring) instead of a folder, so that several
// instances agree on it through the database: Rotate and Activate are a
// compare-and-set on the row's version (of concurrent changes exactly one
// wins; the others start over and find the next key already there, or
// gone), Reload re-reads the row, and the activation time is stored with
// the activation as in the folder. On first use it imports the ring from a
// keys.dir (RingOptions.ImportFrom) so that the keys partners trust are
// kept.
//
// # Security model
//
// Private keys never leave the folder except as crypto.Signer values in
// memory; files are written atomically (temporary file, fsync, rename) with
// mode 0600 in a 0700 folder, so a crash never leaves a half-written key. A
// key file that exists but does not parse, a key without its certificate, a
// certificate of another key, or a ring key weaker than RSA-2048 or ECDSA
// P-256 (saml.CheckKey) is an error, never silently replaced: replacing it
// would change the key partners have pinned. Ed25519 keys (self-signed
// certificates like the others) are accepted only by rings opened with
// RingOptions.AllowEd25519 or Algorithm AlgorithmEd25519, the rings that
// sign JWTs only: in a ring that signs SAML an Ed25519 key is damage, as
// XML Signature here has no EdDSA. A failed Reload keeps the keys
// in use.
//
// Rotate and Activate hold an exclusive flock(2) on NAME.lock, and loading
// holds a shared one, so two command lines cannot race and a reader never
// sees a rotation or activation half done. An activation writes the
// journal NAME.activating (the fingerprint of the certificate being
// activated, the activation time, the fingerprint of the one it retires),
// does four renames, and renames the journal to the activation record
// NAME.activated, so the activation and its time are recorded by the same
// atomic step. If the process dies between the renames, Reload fails with
// ErrInterruptedActivation (fail closed, the keys in use are kept) until
// OpenRing or Activate, under the exclusive lock, finishes it with the
// journal's time: each intermediate state is recognised by the key and
// certificate a finished rename left behind, so a file an operator deleted
// is not mistaken for one. If it dies after the last rename, readers take
// the time from the journal and the next writer turns it into the record.
// The record counts only when it names both the current and the previous
// certificate; otherwise (keys replaced by hand, an older record) the
// previous key is not published. A record that does not parse is an error
// like a damaged key.
// A rotation that died after writing the next key but before its
// certificate left a key that was never published nor used; OpenRing and
// Rotate remove it. Nothing else is ever repaired. Signers and certificates
// are served from an immutable snapshot, so the key and the certificate a
// caller gets always belong together.
//
// In a store, the ring's state (private keys included) is sealed with
// AES-256-GCM under RingOptions.SealKey, with the ring's name as
// additional data: the database and its backups never hold a private key
// in the clear, and a state copied into another ring's row, altered, or
// sealed with another key is ErrCorrupt (never replaced, the keys in use
// kept).
//
// The caller's job: protect keys.dir (owner-only, backed up, never
// committed), leave enough time between Rotate and Activate for every
// relying party to refresh its copy of the metadata, alert on
// certificate expiry, and alert on failed reloads: a server whose Reload
// keeps failing goes on signing with the old key after its grace period
// has ended.
package keys
