package main

import (
	"context"
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

// keysDir is the keys.dir of a config written by writeConfig (the default,
// "keys" next to the config file).
func keysDir(configPath string) string { return filepath.Join(filepath.Dir(configPath), "keys") }

// fingerprintRE matches a SHA-256 fingerprint as the commands print it.
var fingerprintRE = regexp.MustCompile(`([0-9A-F]{2}:){31}[0-9A-F]{2}`)

// listLines returns the rows of "keys list" without the header, each split
// into fields.
func listLines(t *testing.T, out string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NotEmpty(t, lines)
	require.Equal(t, []string{"ROLE", "ALGORITHM", "PUBLISHED", "NOT", "AFTER", "SHA-256", "FINGERPRINT"}, strings.Fields(lines[0]))
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestKeysRotateActivateList(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, validConfig)
	dir := keysDir(path)

	// The first command generates the ring, as serve would.
	stdout, _, err := runCLI(t, ctx, "keys", "list", "--config", path)
	require.NoError(t, err)
	rows := listLines(t, stdout)
	require.Len(t, rows, 1)
	assert.Equal(t, []string{"current", "RSA-2048", "yes"}, rows[0][:3])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, rows[0][3])
	assert.Regexp(t, "^"+fingerprintRE.String()+"$", rows[0][4])

	// The server's view of the same folder.
	server, err := keys.OpenRing(dir, keys.IdPSigningRing, keys.RingOptions{})
	require.NoError(t, err)
	_, first := server.Current()
	assert.Equal(t, keys.Fingerprint(first), rows[0][4])

	stdout, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path)
	require.NoError(t, err)
	assert.Contains(t, stdout, "Created the next signing key (RSA-2048, SHA-256 ")
	assert.Contains(t, stdout, "publish: applications refresh /saml/idp/metadata; then run gatehouse keys activate\n")
	changed, err := server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	published := server.PublishedCertificates()
	require.Len(t, published, 2)
	assert.True(t, published[0].Equal(first), "the current key still signs")
	assert.Contains(t, stdout, keys.Fingerprint(published[1]))

	stdout, _, err = runCLI(t, ctx, "keys", "list", "--config", path)
	require.NoError(t, err)
	rows = listLines(t, stdout)
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"current", "RSA-2048", "yes"}, rows[0][:3])
	assert.Equal(t, []string{"next", "RSA-2048", "yes", rows[1][3], keys.Fingerprint(published[1])}, rows[1])

	// A second rotation is refused and names the next step.
	stdout, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path)
	require.ErrorIs(t, err, keys.ErrNextKeyExists)
	assert.Contains(t, err.Error(), "gatehouse keys activate")
	assert.Empty(t, stdout)

	stdout, _, err = runCLI(t, ctx, "keys", "activate", "--config", path)
	require.NoError(t, err)
	assert.Contains(t, stdout, "Activated the next signing key (RSA-2048, SHA-256 "+keys.Fingerprint(published[1])+")")
	changed, err = server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	_, cur := server.Current()
	assert.True(t, cur.Equal(published[1]))
	published = server.PublishedCertificates()
	require.Len(t, published, 2, "the old key stays published for the grace period")
	assert.True(t, published[1].Equal(first))

	rows = listLines(t, stdout[strings.Index(stdout, "ROLE"):])
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"current", "RSA-2048", "yes"}, rows[0][:3])
	assert.Equal(t, []string{"previous", "RSA-2048", "yes"}, rows[1][:3])
	assert.Equal(t, keys.Fingerprint(first), rows[1][4])

	_, _, err = runCLI(t, ctx, "keys", "activate", "--config", path)
	require.ErrorIs(t, err, keys.ErrNoNextKey)
	assert.Contains(t, err.Error(), "gatehouse keys rotate")
}

func TestKeysRotateAlgorithm(t *testing.T) {
	path := writeConfig(t, validConfig)
	_, _, err := runCLI(t, context.Background(), "keys", "rotate", "--config", path, "--algorithm", "ECDSA-P256")
	require.NoError(t, err)
	ring, err := keys.OpenRing(keysDir(path), keys.IdPSigningRing, keys.RingOptions{})
	require.NoError(t, err)
	pub := ring.PublishedCertificates()
	require.Len(t, pub, 2)
	assert.IsType(t, &ecdsa.PublicKey{}, pub[1].PublicKey)
	assert.Equal(t, "RSA-2048", keys.Algorithm(pub[0].PublicKey))
}

func TestKeysCorruptRingIsAnError(t *testing.T) {
	path := writeConfig(t, validConfig)
	_, _, err := runCLI(t, context.Background(), "keys", "list", "--config", path)
	require.NoError(t, err) // positive control
	keyFile := filepath.Join(keysDir(path), keys.IdPSigningRing+".current.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("junk"), 0o600))
	for _, sub := range []string{"list", "rotate", "activate"} {
		_, _, err := runCLI(t, context.Background(), "keys", sub, "--config", path)
		require.ErrorIs(t, err, keys.ErrCorrupt, sub)
	}
	b, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, "junk", string(b), "never replaced")
}

func TestKeysErrors(t *testing.T) {
	ctx := context.Background()
	valid := writeConfig(t, validConfig)

	_, stderr, err := runCLI(t, ctx, "keys")
	require.ErrorIs(t, err, errNoKeysSubcommand)
	assert.Contains(t, stderr, "rotate    --config FILE")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown subcommand", []string{"keys", "shred"}, `unknown subcommand "shred"`},
		{"rotate without --config", []string{"keys", "rotate"}, "keys rotate: --config is required"},
		{"activate without --config", []string{"keys", "activate"}, "keys activate: --config is required"},
		{"list without --config", []string{"keys", "list"}, "keys list: --config is required"},
		{"extra argument", []string{"keys", "activate", "--config", valid, "now"}, `unexpected argument "now"`},
		{"rotate extra argument", []string{"keys", "rotate", "--config", valid, "now"}, `unexpected argument "now"`},
		{"unknown algorithm", []string{"keys", "rotate", "--config", valid, "--algorithm", "RSA-1024"}, "--algorithm must be"},
		{"missing config file", []string{"keys", "rotate", "--config", filepath.Join(t.TempDir(), "nope.yaml")}, "no such file"},
		{"invalid config", []string{"keys", "rotate", "--config", writeConfig(t, invalidConfig)}, "is invalid (3 problems)"},
		{"invalid config for activate", []string{"keys", "activate", "--config", writeConfig(t, invalidConfig)}, "is invalid (3 problems)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, ctx, tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout)
		})
	}

	// An invalid config creates no keys.
	invalid := writeConfig(t, invalidConfig)
	_, _, err = runCLI(t, ctx, "keys", "rotate", "--config", invalid)
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve)
	_, statErr := os.Stat(keysDir(invalid))
	assert.True(t, os.IsNotExist(statErr))

	// -h prints the flags and succeeds.
	_, stderr, err = runCLI(t, ctx, "keys", "rotate", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "Usage: gatehouse keys rotate --config FILE")
	assert.Contains(t, stderr, "-algorithm")
	_, stderr, err = runCLI(t, ctx, "keys", "activate", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "Usage: gatehouse keys activate --config FILE")
}

func TestKeysInUsage(t *testing.T) {
	stdout, _, err := runCLI(t, context.Background(), "help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "\n  keys list|rotate|activate --config FILE\n")
	stdout, _, err = runCLI(t, context.Background(), "keys", "help")
	require.NoError(t, err)
	assert.Equal(t, keysUsage, stdout)
}
