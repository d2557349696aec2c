package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
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

// Role is the place of a key in a Ring.
type Role string

// The roles of ring keys. Only current signs; current and next are
// published; previous is kept for reference only.
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
	// Algorithm of the keys the ring generates: AlgorithmRSA2048 or
	// AlgorithmECDSAP256 ("RSA-3072", "RSA-4096", "ECDSA-P384" and
	// "ECDSA-P521" are accepted too). Empty means RSA-2048 for the first key and the
	// current key's algorithm for a rotation.
	Algorithm string
	// CommonName of generated certificates; empty means "Gatehouse NAME".
	CommonName string
	// Validity of generated certificates; zero means DefaultValidity.
	Validity time.Duration
	// Now is the clock for certificate dates; nil means time.Now.
	Now func() time.Time
	// Logger receives Watch's reload failures; nil discards them.
	Logger *slog.Logger
}

// KeyInfo describes one key of a Ring.
type KeyInfo struct {
	Role        Role
	Algorithm   string // e.g. "RSA-2048", "ECDSA-P256"
	Fingerprint string // SHA-256 of the certificate, as Fingerprint returns it
	Certificate *x509.Certificate
}

// Ring is a signing key with its rollover successor, kept in a folder and
// shared with other processes through the files (see the package
// documentation). Its methods are safe for concurrent use.
type Ring struct {
	dir, name string
	alg       string
	cn        string
	validity  time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu   sync.Mutex // serialises Reload, Rotate and Activate in this process
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable, consistent view of the ring.
type snapshot struct {
	pairs     [len(roles)]*Pair // by role index; current is never nil
	published []*x509.Certificate
	digest    [sha256.Size]byte // of the files it was parsed from
}

// OpenRing opens the ring NAME in dir, generating the current key (and the
// folder, 0700) when the ring does not exist yet.
func OpenRing(dir, name string, opts RingOptions) (*Ring, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: empty folder", ErrInvalidOptions)
	}
	if _, ok := generators[opts.Algorithm]; !ok && opts.Algorithm != "" {
		return nil, fmt.Errorf("%w: algorithm %q (want %s or %s)", ErrInvalidOptions, opts.Algorithm, AlgorithmRSA2048, AlgorithmECDSAP256)
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("%w: negative validity", ErrInvalidOptions)
	}
	r := &Ring{
		dir:      dir,
		name:     name,
		alg:      opts.Algorithm,
		cn:       opts.CommonName,
		validity: opts.Validity,
		now:      opts.Now,
		log:      opts.Logger,
	}
	if r.cn == "" {
		r.cn = "Gatehouse " + name
	}
	if r.validity == 0 {
		r.validity = DefaultValidity
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
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
// the current one, then the next one if a rotation is under way. The slice
// is the caller's; the certificates must not be modified.
func (r *Ring) PublishedCertificates() []*x509.Certificate {
	return append([]*x509.Certificate(nil), r.snap.Load().published...)
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
// when they exist.
func (r *Ring) Keys() []KeyInfo {
	s := r.snap.Load()
	var out []KeyInfo
	for i, p := range s.pairs {
		if p == nil {
			continue
		}
		out = append(out, KeyInfo{
			Role:        roles[i],
			Algorithm:   Algorithm(p.Certificate.PublicKey),
			Fingerprint: Fingerprint(p.Certificate),
			Certificate: p.Certificate,
		})
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
				"ring", r.name, "dir", r.dir, "err", err)
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
	alg := r.alg
	if alg == "" {
		alg = Algorithm(s.pairs[0].Certificate.PublicKey)
	}
	keyPEM, certPEM, err := newPair(alg, r.cn, r.validity, r.now())
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
// previous key, which is no longer published. It fails with ErrNoNextKey
// when there is no next key, and finishes an interrupted activation.
func (r *Ring) Activate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
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
	if err := r.renames(1, s.pairs[1].Certificate); err != nil {
		return err
	}
	_, err = r.reparse()
	return err
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
	alg := r.alg
	if alg == "" {
		alg = AlgorithmRSA2048
	}
	keyPEM, certPEM, err := newPair(alg, r.cn, r.validity, r.now())
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
func (r *Ring) repair(st ringFiles) (ringFiles, error) {
	switch step := st.activationStep(); {
	case step != 0:
		r.log.Warn("finishing an interrupted key activation", "ring", r.name, "step", step)
		if err := r.renames(step, nil); err != nil {
			return ringFiles{}, err
		}
	case st.journal != nil:
		// The activation stopped before its first rename or after its
		// last, and the keys are consistent: the journal is stale. With
		// damaged keys it stays, and parse reports the damage.
		if _, err := r.parse(st); err != nil && !st.interruptedRotation() {
			return st, nil
		}
		if err := removeSynced(r.journalPath()); err != nil {
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
// current becomes previous, then next becomes current, between writing and
// removing the journal. The caller holds the exclusive lock.
func (r *Ring) renames(step int, next *x509.Certificate) error {
	if step == 1 {
		if err := writeAtomic(r.journalPath(), []byte(Fingerprint(next)+"\n")); err != nil {
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
	return removeSynced(r.journalPath())
}

// removeSynced removes a file and flushes its folder.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func (r *Ring) journalPath() string { return filepath.Join(r.dir, r.name+".activating") }

func (r *Ring) path(role Role, ext string) string {
	return filepath.Join(r.dir, r.name+"."+string(role)+"."+ext)
}

// ringFiles holds the raw contents of the six ring files and of the
// activation journal; nil means absent.
type ringFiles struct {
	key, crt [len(roles)][]byte
	// journal is NAME.activating, written before an activation's first
	// rename and removed after its last: the SHA-256 fingerprint of the
	// certificate being activated.
	journal []byte
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

// journalNames reports whether the journal names the PEM certificate.
func (f ringFiles) journalNames(certPEM []byte) bool {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	return err == nil && strings.TrimSpace(string(f.journal)) == Fingerprint(c)
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
	for _, b := range [...][]byte{f.key[0], f.crt[0], f.key[1], f.crt[1], f.key[2], f.crt[2]} {
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
	b, err := os.ReadFile(r.journalPath())
	switch {
	case err == nil:
		f.journal = b
	case !errors.Is(err, fs.ErrNotExist):
		return ringFiles{}, fmt.Errorf("keys: %w", err)
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
		if err := saml.CheckKey(p.Signer.Public()); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, r.path(role, "key"), err)
		}
		s.pairs[i] = &p
	}
	if s.pairs[0] == nil {
		return nil, fmt.Errorf("%w: %s has no current key (%s)", ErrCorrupt, r.dir, r.path(RoleCurrent, "key"))
	}
	if n := s.pairs[1]; n != nil && publicKeysEqual(n.Signer.Public(), s.pairs[0].Signer.Public()) {
		return nil, fmt.Errorf("%w: the next key is the current key", ErrCorrupt)
	}
	s.published = []*x509.Certificate{s.pairs[0].Certificate}
	if n := s.pairs[1]; n != nil {
		s.published = append(s.published, n.Certificate)
	}
	return s, nil
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
// ("RSA-2048", "ECDSA-P256", "RSA-3072", "ECDSA-P384", ...), or "" for
// other key types.
func Algorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA-" + strings.ReplaceAll(k.Curve.Params().Name, "-", "")
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
