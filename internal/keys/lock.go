package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lock takes flock(2) on NAME.lock in the ring's folder: exclusive for
// writers, shared for readers, and returns the function that releases it.
// A reader proceeds without the lock when the folder does not exist yet or
// is on a read-only file system, where no writer can be at work either.
func (r *Ring) lock(exclusive bool) (unlock func(), err error) {
	path := filepath.Join(r.dir, r.name+".lock")
	flag, how := os.O_RDONLY|os.O_CREATE, syscall.LOCK_SH
	if exclusive {
		flag, how = os.O_RDWR|os.O_CREATE, syscall.LOCK_EX
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		if !exclusive && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EROFS)) {
			return func() {}, nil
		}
		return nil, fmt.Errorf("keys: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("keys: lock %s: %w", path, err)
	}
	// Closing the file releases the lock.
	return func() { _ = f.Close() }, nil
}

// syncDir flushes the folder's entries, so that renames survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keys: syncing %s: %w", dir, err)
	}
	return nil
}
