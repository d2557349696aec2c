//go:build !unix

package main

import (
	"context"
	"os"
)

// ownedByUser cannot be checked here; the folder's ACLs protect it.
func ownedByUser(os.FileInfo) bool { return true }

// openNoFollow opens path for reading after refusing a symbolic link.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrPermission}
	}
	return os.Open(path)
}

// lockExclusive is a no-op: concurrent refreshes are not serialized here.
func lockExclusive(context.Context, *os.File) error { return nil }

func unlockFile(*os.File) {}
