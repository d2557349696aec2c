package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SealKeySize is the size of RingOptions.SealKey.
const SealKeySize = 32

// storeTimeout bounds each store call of a ring opened with OpenStoreRing;
// Reload, Rotate and Activate take no context.
const storeTimeout = 15 * time.Second

// storeAttempts bounds how often Rotate and Activate start over after
// losing a compare-and-set to another process.
const storeAttempts = 5

// sealedVersion is the first byte of a sealed ring state.
const sealedVersion = 1

// maxStoredRing bounds the sealed state Reload accepts; three RSA-4096 keys
// with their certificates are under 20 KiB.
const maxStoredRing = 256 << 10

// OpenStoreRing opens the ring NAME kept in st, the store every instance of
// a deployment shares, so that all of them agree on the current, next and
// previous key and on the activation time: a Rotate or Activate by any
// process (an instance or `gatehouse keys`) is one compare-and-set on the
// ring's row, and every other process sees it at its next Reload. When st
// holds no ring NAME yet, the ring in opts.ImportFrom is imported (so that
// the keys relying parties already trust stay in use) or, when that folder
// has none, a current key is generated; of processes opening a new ring at
// the same time exactly one creates it and the others load it.
//
// opts.SealKey (SealKeySize bytes, the same for every process) seals the
// state, private keys included, with AES-256-GCM bound to the ring's name:
// the store never holds a private key in the clear, and a state copied to
// another ring's row does not open.
func OpenStoreRing(ctx context.Context, st RingStore, name string, opts RingOptions) (*Ring, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: no store", ErrInvalidOptions)
	}
	if len(opts.SealKey) != SealKeySize {
		return nil, fmt.Errorf("%w: the seal key must be %d bytes, not %d", ErrInvalidOptions, SealKeySize, len(opts.SealKey))
	}
	r, err := newRing("", name, opts)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(opts.SealKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if r.seal, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	r.store = st

	f, _, err := r.loadStoredCtx(ctx)
	if errors.Is(err, ErrRingNotFound) {
		f, err = r.createStored(ctx, opts.ImportFrom)
	}
	if err != nil {
		return nil, err
	}
	s, err := r.parse(f)
	if err != nil {
		return nil, err
	}
	r.snap.Store(s)
	return r, nil
}

// createStored stores the first state of the ring: imported from the folder
// dir when it holds the ring, else a new current key. When another process
// created the ring meanwhile, its state is loaded instead.
func (r *Ring) createStored(ctx context.Context, dir string) (ringFiles, error) {
	var f ringFiles
	imported := false
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, r.name+"."+string(RoleCurrent)+".key")); err == nil {
			// OpenRing finishes what an interrupted rotation or activation
			// left in the folder, and validates it, before it is imported.
			fr, err := OpenRing(dir, r.name, RingOptions{
				AllowEd25519: r.ed25519, CommonName: r.cn, Validity: r.validity,
				PreviousGrace: r.grace, Now: r.now, Logger: r.log,
			})
			if err != nil {
				return ringFiles{}, fmt.Errorf("keys: importing ring %s from %s: %w", r.name, dir, err)
			}
			if f, err = fr.readShared(); err != nil {
				return ringFiles{}, fmt.Errorf("keys: importing ring %s from %s: %w", r.name, dir, err)
			}
			f.journal = nil
			imported = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return ringFiles{}, fmt.Errorf("keys: importing ring %s: %w", r.name, err)
		}
	}
	if !imported {
		var err error
		if f.key[0], f.crt[0], err = r.newKey(nil); err != nil {
			return ringFiles{}, err
		}
	}
	if _, err := r.parse(f); err != nil {
		return ringFiles{}, err
	}
	err := r.saveStored(ctx, 0, f)
	if errors.Is(err, ErrRingConflict) {
		f, _, err = r.loadStoredCtx(ctx)
		return f, err
	}
	if err != nil {
		return ringFiles{}, err
	}
	if imported {
		r.log.Info("signing key ring imported into the store", "ring", r.name, "from", dir)
	}
	return f, nil
}

// rotateStored is Rotate for a ring in a store; the caller holds r.mu.
func (r *Ring) rotateStored() (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for range storeAttempts {
		f, version, err := r.loadStoredCtx(ctx)
		if err != nil {
			return nil, err
		}
		s, err := r.parse(f)
		if err != nil {
			return nil, err
		}
		if s.pairs[1] != nil {
			r.snap.Store(s)
			return nil, ErrNextKeyExists
		}
		if f.key[1], f.crt[1], err = r.newKey(s.pairs[0]); err != nil {
			return nil, err
		}
		if s, err = r.parse(f); err != nil {
			return nil, err
		}
		switch err := r.saveStored(ctx, version, f); {
		case errors.Is(err, ErrRingConflict):
			continue
		case err != nil:
			return nil, err
		}
		r.snap.Store(s)
		return s.pairs[1].Certificate, nil
	}
	return nil, fmt.Errorf("%w: %s changed %d times while rotating", ErrRingConflict, r.name, storeAttempts)
}

// activateStored is Activate for a ring in a store; the caller holds r.mu.
func (r *Ring) activateStored() error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for range storeAttempts {
		f, version, err := r.loadStoredCtx(ctx)
		if err != nil {
			return err
		}
		s, err := r.parse(f)
		if err != nil {
			return err
		}
		if s.pairs[1] == nil {
			r.snap.Store(s)
			return ErrNoNextKey
		}
		record := activation{
			activated: Fingerprint(s.pairs[1].Certificate),
			at:        r.now(),
			previous:  Fingerprint(s.pairs[0].Certificate),
		}.marshal()
		next := ringFiles{record: record}
		next.key[0], next.crt[0] = f.key[1], f.crt[1]
		next.key[2], next.crt[2] = f.key[0], f.crt[0]
		if s, err = r.parse(next); err != nil {
			return err
		}
		switch err := r.saveStored(ctx, version, next); {
		case errors.Is(err, ErrRingConflict):
			continue
		case err != nil:
			return err
		}
		r.snap.Store(s)
		return nil
	}
	return fmt.Errorf("%w: %s changed %d times while activating", ErrRingConflict, r.name, storeAttempts)
}

// loadStored reads and opens the ring's state, with its version.
func (r *Ring) loadStored() (ringFiles, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return r.loadStoredCtx(ctx)
}

func (r *Ring) loadStoredCtx(ctx context.Context) (ringFiles, int64, error) {
	sr, err := r.store.LoadRing(ctx, r.name)
	if err != nil {
		return ringFiles{}, 0, fmt.Errorf("keys: loading ring %s: %w", r.name, err)
	}
	f, err := r.open(sr.Data)
	if err != nil {
		return ringFiles{}, 0, err
	}
	return f, sr.Version, nil
}

// saveStored seals f and stores it if the stored version is still prev.
func (r *Ring) saveStored(ctx context.Context, prev int64, f ringFiles) error {
	data, err := r.sealFiles(f)
	if err != nil {
		return err
	}
	if _, err := r.store.SaveRing(ctx, r.name, prev, data, r.now()); err != nil {
		return fmt.Errorf("keys: saving ring %s: %w", r.name, err)
	}
	return nil
}

// storedState is the JSON inside a sealed ring state: the PEM files of
// each role (absent roles null) and the activation record.
type storedState struct {
	Keys   [len(roles)][]byte `json:"keys"`
	Certs  [len(roles)][]byte `json:"certs"`
	Record []byte             `json:"record,omitempty"`
}

// sealFiles returns version byte || nonce || AES-GCM(JSON state), with the
// ring's name as additional data.
func (r *Ring) sealFiles(f ringFiles) ([]byte, error) {
	plain, err := json.Marshal(storedState{Keys: f.key, Certs: f.crt, Record: f.record})
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	out := make([]byte, 1+r.seal.NonceSize(), 1+r.seal.NonceSize()+len(plain)+r.seal.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return r.seal.Seal(out, out[1:], plain, r.aad()), nil
}

// open reverses sealFiles. A state that does not open (another seal key,
// another ring's row, damage) is ErrCorrupt: never replaced, since
// replacing it would change the keys partners trust.
func (r *Ring) open(data []byte) (ringFiles, error) {
	n := r.seal.NonceSize()
	if len(data) > maxStoredRing || len(data) < 1+n+r.seal.Overhead() || data[0] != sealedVersion {
		return ringFiles{}, fmt.Errorf("%w: ring %s in the store: not a sealed ring state", ErrCorrupt, r.name)
	}
	plain, err := r.seal.Open(nil, data[1:1+n], data[1+n:], r.aad())
	if err != nil {
		return ringFiles{}, fmt.Errorf("%w: ring %s in the store does not open with this seal key (keys.dir/%s.secret must be the same on every instance): %w",
			ErrCorrupt, r.name, RingSealSecret, err)
	}
	var st storedState
	if err := json.Unmarshal(plain, &st); err != nil {
		return ringFiles{}, fmt.Errorf("%w: ring %s in the store: %w", ErrCorrupt, r.name, err)
	}
	return ringFiles{key: st.Keys, crt: st.Certs, record: st.Record}, nil
}

func (r *Ring) aad() []byte { return []byte("gatehouse key ring " + r.name) }

// RingSealSecret names the keys.dir secret that seals rings kept in the
// store (LoadOrCreateSecret(dir, RingSealSecret, SealKeySize)).
const RingSealSecret = "ring-seal"

// location names where the ring lives, for messages.
func (r *Ring) location() string {
	if r.store != nil {
		return "store"
	}
	return r.dir
}
