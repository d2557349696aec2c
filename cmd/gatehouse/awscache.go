package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
)

// The cache folder is "gatehouse" under the user's config folder; it holds
// the session and one file per cached (gateway, account, role).
const (
	cacheDirName      = "gatehouse"
	sessionFile       = "session.json"
	lockFile          = ".lock"
	credentialsPrefix = "credentials-"
	// maxCacheFile caps a cache file read.
	maxCacheFile = 64 << 10
	// lockTimeout bounds the wait for another gatehouse process.
	lockTimeout = 30 * time.Second
)

// session is the cached sign-in.
type session struct {
	URL          string    `json:"url"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// fresh reports whether the access token is valid for at least
// refreshLeeway at now (a zero expiry is taken as unknown: valid until
// the gateway refuses it).
func (s session) fresh(now time.Time) bool {
	return s.AccessToken != "" && (s.Expiry.IsZero() || now.Add(refreshLeeway).Before(s.Expiry))
}

// credentialsKey names a credentials cache entry.
type credentialsKey struct {
	URL       string `json:"url"`
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
}

// file is the entry's file name: a hash, so that no value from the
// command line reaches a path.
func (k credentialsKey) file() string {
	h := sha256.Sum256([]byte(k.URL + "\n" + k.AccountID + "\n" + k.Role))
	return credentialsPrefix + hex.EncodeToString(h[:16]) + ".json"
}

// cachedCredentials is a credentials cache file.
type cachedCredentials struct {
	credentialsKey
	Credentials awsapi.ProcessCredentials `json:"credentials"`
}

// cacheDir is the cache folder. Every file in it is 0600 and owned by the
// user, the folder 0700 and owned by the user; files are replaced
// atomically (temporary file and rename) and never followed as symbolic
// links.
type cacheDir struct {
	path string
}

// cacheDir returns the cache folder (not yet created).
func (c *awsCLI) cacheDir() (*cacheDir, error) {
	base, err := c.configDir()
	if err != nil {
		return nil, fmt.Errorf("finding the config folder: %w", err)
	}
	return &cacheDir{path: filepath.Join(base, cacheDirName)}, nil
}

// exists reports whether the folder exists.
func (d *cacheDir) exists() bool {
	_, err := os.Lstat(d.path)
	return err == nil
}

// check refuses a folder that is a symbolic link, not the user's, or
// open to others.
func (d *cacheDir) check() error {
	fi, err := os.Lstat(d.path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", d.path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("the cache folder %s has permissions %04o; it must be 0700 (run: chmod 700 %s)", d.path, perm, d.path)
	}
	if !ownedByUser(fi) {
		return fmt.Errorf("the cache folder %s is owned by another user", d.path)
	}
	return nil
}

// ensure creates the folder (0700) if needed and checks it.
func (d *cacheDir) ensure() error {
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return fmt.Errorf("creating the cache folder: %w", err)
	}
	return d.check()
}

// read returns a file's content after checking that the folder and the
// file are the user's and private; a missing file is fs.ErrNotExist.
func (d *cacheDir) read(name string) ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	path := filepath.Join(d.path, name)
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has permissions %04o; it must be 0600 (run: chmod 600 %s, or gatehouse logout)", path, perm, path)
	}
	if !ownedByUser(fi) {
		return nil, fmt.Errorf("%s is owned by another user", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCacheFile {
		return nil, fmt.Errorf("%s exceeds %d bytes", path, maxCacheFile)
	}
	return b, nil
}

// write replaces a file atomically with a 0600 file.
func (d *cacheDir) write(name string, b []byte) (err error) {
	if err := d.ensure(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.path, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.path, name)); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// remove deletes a file; a missing one is not an error.
func (d *cacheDir) remove(name string) error {
	if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

// removeCredentials deletes every credentials cache file.
func (d *cacheDir) removeCredentials() error {
	entries, err := os.ReadDir(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the cache folder: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), credentialsPrefix) || strings.HasPrefix(e.Name(), "."+credentialsPrefix) {
			if err := d.remove(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// locked runs fn holding the folder's lock, which serializes the
// session's read-refresh-write among gatehouse processes (a rotated
// refresh token presented twice revokes the sign-in).
func (d *cacheDir) locked(ctx context.Context, fn func() error) error {
	if err := d.ensure(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.path, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening the cache lock: %w", err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if err := lockExclusive(ctx, f); err != nil {
		return fmt.Errorf("waiting for another gatehouse process: %w", err)
	}
	defer unlockFile(f)
	return fn()
}

// loadSession reads the session; errNotSignedIn when there is none.
func (d *cacheDir) loadSession() (session, error) {
	b, err := d.read(sessionFile)
	if errors.Is(err, fs.ErrNotExist) {
		return session{}, errNotSignedIn
	}
	if err != nil {
		return session{}, fmt.Errorf("reading the session cache: %w", err)
	}
	s, err := parseSession(b)
	if err != nil {
		return session{}, fmt.Errorf("the session cache %s: %w (run: gatehouse login --url URL)", filepath.Join(d.path, sessionFile), err)
	}
	return s, nil
}

// parseSession parses a session file, refusing unknown fields, trailing
// data, a session without a gateway URL or access token.
func parseSession(b []byte) (session, error) {
	var s session
	if err := decodeStrict(b, &s); err != nil {
		return session{}, err
	}
	if s.AccessToken == "" {
		return session{}, errors.New("no access token")
	}
	if _, err := gatewayURL(s.URL); err != nil {
		return session{}, fmt.Errorf("url: %w", err)
	}
	return s, nil
}

func (d *cacheDir) saveSession(s session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return d.write(sessionFile, b)
}

// loadCredentials returns the cached credentials for key when they are
// valid for more than credentialsLeeway at now. A damaged or unsafe
// entry is reported on warn and not used.
func (d *cacheDir) loadCredentials(key credentialsKey, now time.Time, warn io.Writer) (awsapi.ProcessCredentials, bool) {
	b, err := d.read(key.file())
	if errors.Is(err, fs.ErrNotExist) {
		return awsapi.ProcessCredentials{}, false
	}
	if err != nil {
		fmt.Fprintf(warn, "warning: not using the credentials cache: %v\n", err)
		return awsapi.ProcessCredentials{}, false
	}
	c, err := parseCachedCredentials(b)
	if err != nil {
		fmt.Fprintf(warn, "warning: not using the credentials cache %s: %v\n", key.file(), err)
		return awsapi.ProcessCredentials{}, false
	}
	if c.credentialsKey != key {
		return awsapi.ProcessCredentials{}, false
	}
	exp, _ := time.Parse(time.RFC3339, c.Credentials.Expiration)
	if !now.Add(credentialsLeeway).Before(exp) {
		return awsapi.ProcessCredentials{}, false
	}
	return c.Credentials, true
}

// parseCachedCredentials parses a credentials cache file.
func parseCachedCredentials(b []byte) (cachedCredentials, error) {
	var c cachedCredentials
	if err := decodeStrict(b, &c); err != nil {
		return cachedCredentials{}, err
	}
	pc := c.Credentials
	if pc.Version != 1 || pc.AccessKeyID == "" || pc.SecretAccessKey == "" || pc.SessionToken == "" {
		return cachedCredentials{}, errors.New("incomplete credentials")
	}
	if _, err := time.Parse(time.RFC3339, pc.Expiration); err != nil {
		return cachedCredentials{}, fmt.Errorf("expiration: %w", err)
	}
	return c, nil
}

func (d *cacheDir) saveCredentials(key credentialsKey, pc awsapi.ProcessCredentials) error {
	b, err := json.Marshal(cachedCredentials{credentialsKey: key, Credentials: pc})
	if err != nil {
		return err
	}
	return d.write(key.file(), b)
}

// decodeStrict decodes one JSON object with no unknown field and no
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
