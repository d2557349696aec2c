package keys

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// Algorithms a Ring can generate.
const (
	AlgorithmRSA2048   = "RSA-2048"
	AlgorithmECDSAP256 = "ECDSA-P256"
	// AlgorithmEd25519 keys sign JWTs (EdDSA, RFC 8037) only: XML
	// Signature as goxmldsig implements it has no EdDSA, so a ring holds
	// them only when it allows them (RingOptions.AllowEd25519).
	AlgorithmEd25519 = "Ed25519"
)

// The ring that signs the app-facing IdP's assertions and metadata, shared
// by `gatehouse serve` and `gatehouse keys`.
const (
	IdPSigningRing       = "idp-signing"
	IdPSigningCommonName = "Gatehouse IdP"
)

// DefaultValidity is the certificate lifetime of generated ring keys.
const DefaultValidity = 10 * 365 * 24 * time.Hour

// DefaultWatchInterval is the Watch period when none is given.
const DefaultWatchInterval = 30 * time.Second

// DefaultPreviousGrace is how long the previous certificate stays published
// after an activation when RingOptions.PreviousGrace is zero. After
// `gatehouse keys activate`, a server that has not reloaded yet goes on
// signing with the old key for up to DefaultWatchInterval (30 s); what it
// signs stays valid for the IdP's assertion lifetime (5 minutes) plus the
// clock skew the relying party allows (commonly up to a few minutes). A
// relying party that refreshes its metadata in that window must still find
// the old certificate there, or it rejects a response the gateway signed
// correctly. Fifteen minutes covers 30 s + 5 min + skew with room to spare,
// and is short enough that a retired key does not linger in metadata.
const DefaultPreviousGrace = 15 * time.Minute

// Role is the place of a key in a Ring.
type Role string

// The roles of ring keys. Only current signs; current and next are
// published; previous is published for the grace period after the
// activation that retired it (RingOptions.PreviousGrace), then kept for
// reference only. Previous never signs.
const (
	RoleCurrent  Role = "current"
	RoleNext     Role = "next"
	RolePrevious Role = "previous"
)

var roles = [...]Role{RoleCurrent, RoleNext, RolePrevious}

// Ring errors callers branch on.
var (
	// ErrNextKeyExists: Rotate found a next key already; activate it first.
	ErrNextKeyExists = errors.New("keys: a next key already exists; run `gatehouse keys activate` to make it current before rotating again")
	// ErrNoNextKey: Activate found no next key.
	ErrNoNextKey = errors.New("keys: there is no next key to activate; run `gatehouse keys rotate` first")
	// ErrInterruptedActivation: an activation stopped between its renames;
	// Activate finishes it.
	ErrInterruptedActivation = errors.New("keys: an activation was interrupted; run `gatehouse keys activate` to finish it")
	// ErrCorrupt: key files are missing, unreadable as keys or
	// certificates, mismatched or too weak. They are never replaced
	// automatically.
	ErrCorrupt = errors.New("keys: damaged or inconsistent key files")
	// ErrInvalidOptions: OpenRing was given an invalid name or options.
	ErrInvalidOptions = errors.New("keys: invalid ring options")
)

// RingOptions configures OpenRing.
type RingOptions struct {
	// Algorithm of the keys the ring generates: AlgorithmRSA2048,
	// AlgorithmECDSAP256 or AlgorithmEd25519 ("RSA-3072", "RSA-4096",
	// "ECDSA-P384" and "ECDSA-P521" are accepted too). Empty means RSA-2048
	// for the first key and the current key's algorithm for a rotation.
	// AlgorithmEd25519 implies AllowEd25519.
	Algorithm string
	// AllowEd25519 accepts Ed25519 keys in the ring's files. Without it (and
	// without Algorithm AlgorithmEd25519) an Ed25519 key is ErrCorrupt, as
	// a ring that signs SAML must hold only keys saml.CheckKey accepts.
	// Rings that sign only JWTs set it, so that a ring whose current key is
	// Ed25519 still opens when another algorithm is configured and the
	// mismatch can be reported as such.
	AllowEd25519 bool
	// CommonName of generated certificates; empty means "Gatehouse NAME".
	CommonName string
	// Validity of generated certificates; zero means DefaultValidity.
	Validity time.Duration
	// PreviousGrace is how long the previous certificate stays published
	// after the activation that made it previous, measured from the
	// activation time the activating process recorded in the folder; zero
	// means DefaultPreviousGrace (see there for why), negative is invalid.
	// Each process applies its own value to the recorded time.
	PreviousGrace time.Duration
	// Now is the clock for certificate dates, activation times and the
	// grace period; nil means time.Now.
	Now func() time.Time
	// Logger receives Watch's reload failures; nil discards them.
	Logger *slog.Logger

	// SealKey (SealKeySize bytes) seals the ring's state in the store;
	// OpenStoreRing only, where it is required.
	SealKey []byte
	// ImportFrom is a keys.dir whose ring OpenStoreRing imports when the
	// store holds none yet; OpenStoreRing only, empty for none.
	ImportFrom string
}

// KeyInfo describes one key of a Ring.
type KeyInfo struct {
	Role        Role
	Algorithm   string // e.g. "RSA-2048", "ECDSA-P256"
	Fingerprint string // SHA-256 of the certificate, as Fingerprint returns it
	Certificate *x509.Certificate
	// Published reports whether PublishedCertificates lists the key now:
	// always for current and next, for previous until PublishedUntil.
	Published bool
	// PublishedUntil is, for the previous key, the end of its grace period
	// (activation time + PreviousGrace); zero for the other roles and for a
	// previous key without an activation record, which is not published.
	PublishedUntil time.Time
}

// Ring is a signing key with its rollover successor, kept in a folder and
// shared with other processes through the files (see the package
// documentation). Its methods are safe for concurrent use.
type Ring struct {
	dir, name string
	alg       string
	cn        string
	ed25519   bool // Ed25519 keys allowed
	validity  time.Duration
	grace     time.Duration
	now       func() time.Time
	log       *slog.Logger

	// store and seal, for a ring opened with OpenStoreRing, replace the
	// folder: the ring's state is one sealed row (see storering.go).
	store RingStore
	seal  cipher.AEAD

	mu   sync.Mutex // serialises Reload, Rotate and Activate in this process
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable, consistent view of the ring.
type snapshot struct {
	pairs     [len(roles)]*Pair   // by role index; current is never nil
	published []*x509.Certificate // current, then next if any
	// previousUntil is the end of the previous key's grace period; zero
	// when there is no previous key or no activation record for it.
	previousUntil time.Time
	digest        [sha256.Size]byte // of the files it was parsed from
}

// previousPublished reports whether the previous key is published at now.
func (s *snapshot) previousPublished(now time.Time) bool {
	return s.pairs[2] != nil && now.Before(s.previousUntil)
}

// OpenRing opens the ring NAME in dir, generating the current key (and the
// folder, 0700) when the ring does not exist yet.
func OpenRing(dir, name string, opts RingOptions) (*Ring, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty folder", ErrInvalidOptions)
	}
	r, err := newRing(dir, name, opts)
	if err != nil {
		return nil, err
	}
	st, err := r.readShared()
	if err != nil {
		return nil, err
	}
	if st.empty() || st.activationStep() != 0 || st.interruptedRotation() {
		if st, err = r.initLocked(); err != nil {
			return nil, err
		}
	}
	s, err := r.parse(st)
	if err != nil {
		return nil, err
	}
	r.snap.Store(s)
	return r, nil
}

// newRing validates opts and builds a Ring without keys.
func newRing(dir, name string, opts RingOptions) (*Ring, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, ok := generators[opts.Algorithm]; !ok && opts.Algorithm != "" {
		return nil, fmt.Errorf("%w: algorithm %q (want %s, %s or %s)", ErrInvalidOptions, opts.Algorithm, AlgorithmRSA2048, AlgorithmECDSAP256, AlgorithmEd25519)
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("%w: negative validity", ErrInvalidOptions)
	}
	if opts.PreviousGrace < 0 {
		return nil, fmt.Errorf("%w: negative previous-key grace period", ErrInvalidOptions)
	}
	r := &Ring{
		dir:      dir,
		name:     name,
		alg:      opts.Algorithm,
		cn:       opts.CommonName,
		ed25519:  opts.AllowEd25519 || opts.Algorithm == AlgorithmEd25519,
		validity: opts.Validity,
		grace:    opts.PreviousGrace,
		now:      opts.Now,
		log:      opts.Logger,
	}
	if r.cn == "" {
		r.cn = "Gatehouse " + name
	}
	if r.validity == 0 {
		r.validity = DefaultValidity
	}
	if r.grace == 0 {
		r.grace = DefaultPreviousGrace
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// checkName allows names that are one plain file name component.
func checkName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("%w: ring name %q", ErrInvalidOptions, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: ring name %q (letters, digits, '-', '_' and '.' only)", ErrInvalidOptions, name)
		}
	}
	return nil
}

// Name returns the ring's name.
func (r *Ring) Name() string { return r.name }

// Current returns the signing key and its certificate.
func (r *Ring) Current() (crypto.Signer, *x509.Certificate) {
	p := r.snap.Load().pairs[0]
	return p.Signer, p.Certificate
}

// PublishedCertificates returns the certificates to publish in metadata:
// the current one, then the next one if a rotation is under way, then the
// previous one while its grace period after the activation lasts. The
// result depends on the clock as well as on the files: call it for each
// metadata document rather than caching it. The slice is the caller's; the
// certificates must not be modified.
func (r *Ring) PublishedCertificates() []*x509.Certificate {
	s := r.snap.Load()
	out := make([]*x509.Certificate, 0, len(roles))
	out = append(out, s.published...)
	if s.previousPublished(r.now()) {
		out = append(out, s.pairs[2].Certificate)
	}
	return out
}

// SigningKey is Current in the context-first shape of a key source.
func (r *Ring) SigningKey(ctx context.Context) (crypto.Signer, *x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s, c := r.Current()
	return s, c, nil
}

// Certificates is PublishedCertificates in the context-first shape of a
// key source.
func (r *Ring) Certificates(ctx context.Context) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.PublishedCertificates(), nil
}

// Keys describes every key of the ring: current, then next and previous
// when they exist, with whether each is published now.
func (r *Ring) Keys() []KeyInfo {
	s := r.snap.Load()
	now := r.now()
	var out []KeyInfo
	for i, p := range s.pairs {
		if p == nil {
			continue
		}
		k := KeyInfo{
			Role:        roles[i],
			Algorithm:   Algorithm(p.Certificate.PublicKey),
			Fingerprint: Fingerprint(p.Certificate),
			Certificate: p.Certificate,
			Published:   true,
		}
		if roles[i] == RolePrevious {
			k.Published = s.previousPublished(now)
			k.PublishedUntil = s.previousUntil
		}
		out = append(out, k)
	}
	return out
}

// Reload re-reads the ring's files, so that this process sees a Rotate or
// Activate done by another one. changed reports whether the files differ
// from those last loaded. On error the keys in use are kept.
func (r *Ring) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.readShared()
	if err != nil {
		return false, err
	}
	if st.digest() == r.snap.Load().digest {
		return false, nil
	}
	s, err := r.parse(st)
	if err != nil {
		return false, err
	}
	r.snap.Store(s)
	return true, nil
}

// Watch calls Reload every period (DefaultWatchInterval when every <= 0)
// until ctx is done, and onChange (when not nil) after each Reload that
// changed the keys. Failures are logged and the keys in use are kept. It
// blocks; run it in its own goroutine. A server that also reloads on SIGHUP
// calls Reload from its signal handler.
func (r *Ring) Watch(ctx context.Context, every time.Duration, onChange func()) {
	if every <= 0 {
		every = DefaultWatchInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := r.Reload()
		if err != nil {
			r.log.Warn("reloading the signing key ring failed; keeping the keys in use",
				"ring", r.name, "location", r.location(), "err", err)
			continue
		}
		if changed {
			r.log.Info("signing key ring changed", "ring", r.name)
			if onChange != nil {
				onChange()
			}
		}
	}
}

// Rotate creates the next key and publishes it (PublishedCertificates)
// without signing with it. It fails with ErrNextKeyExists while a next key
// exists.
func (r *Ring) Rotate() (*x509.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		return r.rotateStored()
	}
	unlock, err := r.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()

	st, err := r.read()
	if err != nil {
		return nil, err
	}
	if st, err = r.repair(st); err != nil {
		return nil, err
	}
	s, err := r.parse(st)
	if err != nil {
		return nil, err
	}
	if s.pairs[1] != nil {
		return nil, ErrNextKeyExists
	}
	keyPEM, certPEM, err := r.newKey(s.pairs[0])
	if err != nil {
		return nil, err
	}
	// The key first: a crash in between leaves a recognisable, unpublished
	// key (see interruptedRotation).
	if err := writeAtomic(r.path(RoleNext, "key"), keyPEM); err != nil {
		return nil, err
	}
	if err := writeAtomic(r.path(RoleNext, "crt"), certPEM); err != nil {
		return nil, err
	}
	if err := syncDir(r.dir); err != nil {
		return nil, err
	}
	s, err = r.reparse()
	if err != nil {
		return nil, err
	}
	if s.pairs[1] == nil {
		return nil, fmt.Errorf("%w: the next key vanished after it was written", ErrCorrupt)
	}
	return s.pairs[1].Certificate, nil
}

// Activate makes the next key current and keeps the current one as the
// previous key, which stays published for the grace period
// (RingOptions.PreviousGrace) from now, the activation time recorded with
// the activation, and is then no longer published. It fails with
// ErrNoNextKey when there is no next key, and finishes an interrupted
// activation with the time that activation recorded.
func (r *Ring) Activate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		return r.activateStored()
	}
	unlock, err := r.lock(true)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := r.read()
	if err != nil {
		return err
	}
	if st.activationStep() != 0 {
		// Finishing the interrupted activation is this activation.
		if _, err := r.repair(st); err != nil {
			return err
		}
		_, err = r.reparse()
		return err
	}
	if st, err = r.repair(st); err != nil {
		return err
	}
	s, err := r.parse(st)
	if err != nil {
		return err
	}
	if s.pairs[1] == nil {
		return ErrNoNextKey
	}
	journal := activation{
		activated: Fingerprint(s.pairs[1].Certificate),
		at:        r.now(),
		previous:  Fingerprint(s.pairs[0].Certificate),
	}.marshal()
	if err := r.renames(1, journal); err != nil {
		return err
	}
	_, err = r.reparse()
	return err
}

// newKey generates a key pair of the ring's algorithm: RingOptions.Algorithm
// when set, else the algorithm of current (a rotation keeps it), else
// RSA-2048 (the first key).
func (r *Ring) newKey(current *Pair) (keyPEM, certPEM []byte, err error) {
	alg := r.alg
	switch {
	case alg != "":
	case current != nil:
		alg = Algorithm(current.Certificate.PublicKey)
	default:
		alg = AlgorithmRSA2048
	}
	return newPair(alg, r.cn, r.validity, r.now())
}

// reparse reads and parses the files (the caller holds the flock) and
// installs the result.
func (r *Ring) reparse() (*snapshot, error) {
	st, err := r.read()
	if err != nil {
		return nil, err
	}
	s, err := r.parse(st)
	if err != nil {
		return nil, err
	}
	r.snap.Store(s)
	return s, nil
}

// initLocked takes the exclusive lock, then creates the current key when
// the ring is still empty (another process may have done so meanwhile) or
// repairs what a crashed rotation or activation left behind.
func (r *Ring) initLocked() (ringFiles, error) {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return ringFiles{}, fmt.Errorf("keys: %w", err)
	}
	unlock, err := r.lock(true)
	if err != nil {
		return ringFiles{}, err
	}
	defer unlock()
	st, err := r.read()
	if err != nil {
		return st, err
	}
	if !st.empty() {
		return r.repair(st)
	}
	keyPEM, certPEM, err := r.newKey(nil)
	if err != nil {
		return ringFiles{}, err
	}
	if err := writeAtomic(r.path(RoleCurrent, "key"), keyPEM); err != nil {
		return ringFiles{}, err
	}
	if err := writeAtomic(r.path(RoleCurrent, "crt"), certPEM); err != nil {
		return ringFiles{}, err
	}
	if err := syncDir(r.dir); err != nil {
		return ringFiles{}, err
	}
	return r.read()
}

// repair finishes an interrupted activation, or removes the key of an
// interrupted rotation (written but never published nor used), and
// returns the files as they are then. The caller holds the exclusive lock.
func (r *Ring) repair(st ringFiles) (_ ringFiles, err error) {
	switch step := st.activationStep(); {
	case step != 0:
		r.log.Warn("finishing an interrupted key activation", "ring", r.name, "step", step)
		if err := r.renames(step, st.journal); err != nil {
			return ringFiles{}, err
		}
	case st.journal != nil:
		// The activation stopped before its first rename or after its
		// last, and the keys are consistent. With damaged keys the journal
		// stays, and parse reports the damage.
		if _, err := r.parse(st); err != nil && !st.interruptedRotation() {
			return st, nil
		}
		if st.journalNames(st.crt[0]) {
			// After its last rename: only the record is left to do.
			err = r.closeJournal(st.journal)
		} else {
			// Before its first rename: nothing happened.
			err = removeSynced(r.journalPath())
		}
		if err != nil {
			return ringFiles{}, err
		}
		if !st.interruptedRotation() {
			return r.read()
		}
		fallthrough
	case st.interruptedRotation():
		r.log.Warn("removing the unpublished key of an interrupted rotation", "ring", r.name)
		if err := os.Remove(r.path(RoleNext, "key")); err != nil {
			return ringFiles{}, fmt.Errorf("keys: removing the key of an interrupted rotation: %w", err)
		}
		if err := syncDir(r.dir); err != nil {
			return ringFiles{}, err
		}
	default:
		return st, nil
	}
	return r.read()
}

// renames performs the renames of an activation from step (1 to 4) on:
// current becomes previous, then next becomes current, between writing the
// journal (at step 1) and turning it into the activation record. The
// caller holds the exclusive lock.
func (r *Ring) renames(step int, journal []byte) error {
	if step == 1 {
		if err := writeAtomic(r.journalPath(), journal); err != nil {
			return err
		}
		if err := syncDir(r.dir); err != nil {
			return err
		}
	}
	steps := [...][2]string{
		{r.path(RoleCurrent, "key"), r.path(RolePrevious, "key")},
		{r.path(RoleCurrent, "crt"), r.path(RolePrevious, "crt")},
		{r.path(RoleNext, "key"), r.path(RoleCurrent, "key")},
		{r.path(RoleNext, "crt"), r.path(RoleCurrent, "crt")},
	}
	for _, rn := range steps[step-1:] {
		if err := os.Rename(rn[0], rn[1]); err != nil {
			return fmt.Errorf("keys: activating: %w", err)
		}
	}
	if err := syncDir(r.dir); err != nil {
		return err
	}
	return r.closeJournal(journal)
}

// closeJournal ends an activation whose renames are all done: the journal
// becomes the activation record by one rename, so the activation is
// finished exactly when its time is recorded. A journal without an
// activation time (written by a version without the grace period) is
// removed instead, and the previous key is then not published. The caller
// holds the exclusive lock.
func (r *Ring) closeJournal(journal []byte) error {
	if _, err := parseActivation(journal); err != nil {
		r.log.Warn("the activation journal records no activation time; the previous key is not published",
			"ring", r.name, "err", err)
		return removeSynced(r.journalPath())
	}
	if err := os.Rename(r.journalPath(), r.recordPath()); err != nil {
		return fmt.Errorf("keys: activating: %w", err)
	}
	return syncDir(r.dir)
}

// removeSynced removes a file and flushes its folder.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func (r *Ring) journalPath() string { return filepath.Join(r.dir, r.name+".activating") }

func (r *Ring) recordPath() string { return filepath.Join(r.dir, r.name+".activated") }

func (r *Ring) path(role Role, ext string) string {
	return filepath.Join(r.dir, r.name+"."+string(role)+"."+ext)
}

// ringFiles holds the raw contents of the six ring files, of the
// activation journal and of the activation record; nil means absent.
type ringFiles struct {
	key, crt [len(roles)][]byte
	// journal is NAME.activating, written before an activation's first
	// rename and renamed to NAME.activated after its last: an activation
	// (see activation.marshal) whose first line is the SHA-256 fingerprint
	// of the certificate being activated. A journal written before the
	// grace period existed holds that line only.
	journal []byte
	// record is NAME.activated, the journal of the last activation that
	// finished: when the current key was activated and which key it
	// retired. Its time starts the previous key's grace period.
	record []byte
}

func (f ringFiles) has(i int) (key, crt bool) { return f.key[i] != nil, f.crt[i] != nil }

func (f ringFiles) empty() bool {
	for i := range roles {
		if k, c := f.has(i); k || c {
			return false
		}
	}
	return true
}

// activationStep recognises the states between the four renames of
// Activate and returns the step (2, 3 or 4) to resume at; 0 means none. The
// journal must name the certificate being activated, and each state is
// confirmed by the pair a finished rename left behind, so that files an
// operator deleted are never mistaken for an interrupted activation.
func (f ringFiles) activationStep() int {
	ck, cc := f.has(0)
	nk, nc := f.has(1)
	const cur, next, prev = 0, 1, 2
	if f.journal == nil || !nc || !f.journalNames(f.crt[next]) {
		return 0
	}
	switch {
	case !ck && cc && nk && matches(f.key[prev], f.crt[cur]): // current.key became previous.key
		return 2
	case !ck && !cc && nk && matches(f.key[prev], f.crt[prev]): // current.crt followed
		return 3
	case ck && !cc && !nk && matches(f.key[cur], f.crt[next]): // next.key became current.key
		return 4
	}
	return 0
}

// journalNames reports whether the journal's first line names the PEM
// certificate.
func (f ringFiles) journalNames(certPEM []byte) bool {
	if f.journal == nil {
		return false
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	first, _, _ := strings.Cut(string(f.journal), "\n")
	return err == nil && strings.TrimSpace(first) == Fingerprint(c)
}

// matches reports whether the key and the certificate parse and belong
// together.
func matches(keyPEM, certPEM []byte) bool {
	if keyPEM == nil || certPEM == nil {
		return false
	}
	_, err := parsePair("key", keyPEM, "certificate", certPEM)
	return err == nil
}

// interruptedRotation recognises a rotation that wrote the next key but not
// its certificate.
func (f ringFiles) interruptedRotation() bool {
	ck, cc := f.has(0)
	nk, nc := f.has(1)
	return ck && cc && nk && !nc
}

// digest identifies the files' contents, absence included.
func (f ringFiles) digest() [sha256.Size]byte {
	h := sha256.New()
	var n [9]byte
	for _, b := range [...][]byte{f.key[0], f.crt[0], f.key[1], f.crt[1], f.key[2], f.crt[2], f.journal, f.record} {
		n[0] = 0
		if b != nil {
			n[0] = 1
		}
		binary.BigEndian.PutUint64(n[1:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// readShared reads the files under a shared lock.
func (r *Ring) readShared() (ringFiles, error) {
	if r.store != nil {
		f, _, err := r.loadStored()
		return f, err
	}
	unlock, err := r.lock(false)
	if err != nil {
		return ringFiles{}, err
	}
	defer unlock()
	return r.read()
}

// read reads the files; the caller holds the flock.
func (r *Ring) read() (ringFiles, error) {
	var f ringFiles
	for i, role := range roles {
		for _, x := range [...]struct {
			ext string
			dst *[]byte
		}{{"key", &f.key[i]}, {"crt", &f.crt[i]}} {
			b, err := os.ReadFile(r.path(role, x.ext))
			switch {
			case err == nil:
				if b == nil {
					b = []byte{}
				}
				*x.dst = b
			case errors.Is(err, fs.ErrNotExist):
			default:
				return ringFiles{}, fmt.Errorf("keys: %w", err)
			}
		}
	}
	for _, x := range [...]struct {
		path string
		dst  *[]byte
	}{{r.journalPath(), &f.journal}, {r.recordPath(), &f.record}} {
		b, err := os.ReadFile(x.path)
		switch {
		case err == nil:
			if b == nil {
				b = []byte{}
			}
			*x.dst = b
		case !errors.Is(err, fs.ErrNotExist):
			return ringFiles{}, fmt.Errorf("keys: %w", err)
		}
	}
	return f, nil
}

// parse validates the files and builds a snapshot.
func (r *Ring) parse(f ringFiles) (*snapshot, error) {
	if step := f.activationStep(); step != 0 {
		return nil, fmt.Errorf("%w (%s: stopped before step %d of 4)", ErrInterruptedActivation, r.dir, step)
	}
	if f.interruptedRotation() {
		return nil, fmt.Errorf("%w: %s exists without %s (an interrupted rotation; opening the ring again removes the unpublished key)",
			ErrCorrupt, r.path(RoleNext, "key"), r.path(RoleNext, "crt"))
	}
	s := &snapshot{digest: f.digest()}
	for i, role := range roles {
		k, c := f.has(i)
		if k != c {
			return nil, fmt.Errorf("%w: %s and %s must both exist or both be absent",
				ErrCorrupt, r.path(role, "key"), r.path(role, "crt"))
		}
		if !k {
			continue
		}
		p, err := parsePair(r.path(role, "key"), f.key[i], r.path(role, "crt"), f.crt[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if err := r.checkKey(p.Signer.Public()); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, r.path(role, "key"), err)
		}
		s.pairs[i] = &p
	}
	if s.pairs[0] == nil {
		return nil, fmt.Errorf("%w: %s has no current key (%s)", ErrCorrupt, r.location(), r.path(RoleCurrent, "key"))
	}
	if n := s.pairs[1]; n != nil && publicKeysEqual(n.Signer.Public(), s.pairs[0].Signer.Public()) {
		return nil, fmt.Errorf("%w: the next key is the current key", ErrCorrupt)
	}
	s.published = []*x509.Certificate{s.pairs[0].Certificate}
	if n := s.pairs[1]; n != nil {
		s.published = append(s.published, n.Certificate)
	}
	at, ok, err := r.activationTime(f, s)
	if err != nil {
		return nil, err
	}
	if ok {
		s.previousUntil = at.Add(r.grace)
	}
	return s, nil
}

// checkKey accepts what saml.CheckKey accepts (RSA of 2048 bits or more,
// ECDSA on P-256, P-384 or P-521) and, when the ring allows them, Ed25519
// keys (RFC 8032: fixed size, so only the length is checked).
func (r *Ring) checkKey(pub crypto.PublicKey) error {
	if k, ok := pub.(ed25519.PublicKey); ok {
		if !r.ed25519 {
			return errors.New("an Ed25519 key is not allowed in this ring (it cannot sign SAML)")
		}
		if len(k) != ed25519.PublicKeySize {
			return errors.New("invalid Ed25519 key")
		}
		return nil
	}
	return saml.CheckKey(pub)
}

// activationTime returns the time of the activation that made the
// snapshot's current key current and its previous key previous: from the
// activation record, or from the journal of an activation that stopped
// after its last rename. ok is false when neither names these two keys
// (no previous key, a record of an older activation, keys replaced by
// hand): the previous key is then not published. A record that does not
// parse is damage.
func (r *Ring) activationTime(f ringFiles, s *snapshot) (at time.Time, ok bool, err error) {
	var rec activation
	if f.record != nil {
		if rec, err = parseActivation(f.record); err != nil {
			return time.Time{}, false, fmt.Errorf("%w: %s: %w (removing it stops publishing the previous key)", ErrCorrupt, r.recordPath(), err)
		}
	}
	prev := s.pairs[2]
	if prev == nil {
		return time.Time{}, false, nil
	}
	cur, old := Fingerprint(s.pairs[0].Certificate), Fingerprint(prev.Certificate)
	if f.record != nil && rec.activated == cur && rec.previous == old {
		return rec.at, true, nil
	}
	if f.journal != nil {
		if j, err := parseActivation(f.journal); err == nil && j.activated == cur && j.previous == old {
			return j.at, true, nil
		}
	}
	return time.Time{}, false, nil
}

// activation is the content of the activation journal and record: three
// lines, the fingerprint of the certificate activated, the activation time
// (RFC 3339, UTC) and the fingerprint of the certificate it retired.
type activation struct {
	activated string
	at        time.Time
	previous  string
}

// maxActivationSize bounds what parseActivation reads; a real one is under
// 250 bytes.
const maxActivationSize = 1024

func (a activation) marshal() []byte {
	return []byte(a.activated + "\n" + a.at.UTC().Format(time.RFC3339Nano) + "\n" + a.previous + "\n")
}

// parseActivation parses what activation.marshal wrote.
func parseActivation(b []byte) (activation, error) {
	if len(b) > maxActivationSize {
		return activation{}, errors.New("activation record too large")
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return activation{}, errors.New("activation record: want three lines")
	}
	at, err := time.Parse(time.RFC3339Nano, lines[1])
	if err != nil {
		return activation{}, fmt.Errorf("activation record: time: %w", err)
	}
	for _, fp := range [...]string{lines[0], lines[2]} {
		if !isFingerprint(fp) {
			return activation{}, fmt.Errorf("activation record: %q is not a SHA-256 fingerprint", fp)
		}
	}
	return activation{activated: lines[0], at: at, previous: lines[2]}, nil
}

// isFingerprint reports whether s has the form Fingerprint returns.
func isFingerprint(s string) bool {
	if len(s) != sha256.Size*3-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// generators are the algorithms a Ring generates: the two RingOptions
// offers, and the stronger ones an operator may have installed by hand, so
// that a rotation keeps the current key's algorithm.
var generators = map[string]func() (crypto.Signer, error){
	AlgorithmRSA2048:   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	"RSA-3072":         func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) },
	"RSA-4096":         func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) },
	AlgorithmECDSAP256: func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	"ECDSA-P384":       func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
	"ECDSA-P521":       func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) },
	AlgorithmEd25519: func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	},
}

// newPair generates a key of the given algorithm and a self-signed
// certificate, both PEM encoded.
func newPair(alg, cn string, validity time.Duration, now time.Time) (keyPEM, certPEM []byte, err error) {
	gen, ok := generators[alg]
	if !ok {
		return nil, nil, fmt.Errorf("%w: cannot generate %q keys", ErrInvalidOptions, alg)
	}
	k, err := gen()
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Algorithm names the algorithm of a public key the way RingOptions does
// ("RSA-2048", "ECDSA-P256", "RSA-3072", "ECDSA-P384", "Ed25519", ...), or
// "" for other key types.
func Algorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA-" + strings.ReplaceAll(k.Curve.Params().Name, "-", "")
	case ed25519.PublicKey:
		return AlgorithmEd25519
	}
	return ""
}

// Fingerprint returns the SHA-256 fingerprint of a certificate's DER
// encoding as colon-separated upper-case hex, the form
// `openssl x509 -fingerprint -sha256` prints.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(sum) * 3)
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(hexdigits[x>>4])
		b.WriteByte(hexdigits[x&0xf])
	}
	return b.String()
}
