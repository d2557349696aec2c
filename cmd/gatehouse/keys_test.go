package main

import (
	"context"
	"crypto/ecdsa"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
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
		{"unknown ring", []string{"keys", "list", "--config", valid, "--ring", "saml"}, `--ring must be idp or oauth, not "saml"`},
		{"unknown ring for rotate", []string{"keys", "rotate", "--config", valid, "--ring", "OAuth"}, `--ring must be idp or oauth, not "OAuth"`},
		{"empty ring for activate", []string{"keys", "activate", "--config", valid, "--ring", ""}, `--ring must be idp or oauth, not ""`},
		{"algorithm with the oauth ring", []string{"keys", "rotate", "--config", valid, "--ring", "oauth", "--algorithm", "ECDSA-P256"}, "--algorithm is not accepted with --ring oauth"},
		{"algorithm for list", []string{"keys", "list", "--config", valid, "--algorithm", "ECDSA-P256"}, "flag provided but not defined: -algorithm"},
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
	assert.Contains(t, stderr, "-ring")
	_, stderr, err = runCLI(t, ctx, "keys", "activate", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "Usage: gatehouse keys activate --config FILE [--ring idp|oauth]")
	assert.NotContains(t, stderr, "-algorithm")
}

func TestKeysInUsage(t *testing.T) {
	stdout, _, err := runCLI(t, context.Background(), "help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "\n  keys list|rotate|activate --config FILE [--ring idp|oauth]\n")
	stdout, _, err = runCLI(t, context.Background(), "keys", "help")
	require.NoError(t, err)
	assert.Equal(t, keysUsage, stdout)
}

// oauthConfig is validConfig with an oauth section.
func oauthConfig(signingAlg, lifetime string) string {
	return validConfig + "oauth:\n  signing_alg: " + signingAlg + "\n  access_token_lifetime: " + lifetime + "\n"
}

// openGatewayOAuthRing opens the OAuth ring of the config at path as the
// gateway does.
func openGatewayOAuthRing(t *testing.T, path string) *keys.Ring {
	t.Helper()
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	opts, err := gateway.OAuthRingOptions(cfg, 0)
	require.NoError(t, err)
	ring, err := keys.OpenRing(cfg.Keys.Dir, gateway.OAuthSigningRing, opts)
	require.NoError(t, err)
	return ring
}

func TestKeysOAuthRing(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, oauthConfig(config.AlgES256, "2h"))
	dir := keysDir(path)

	stdout, _, err := runCLI(t, ctx, "keys", "list", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	rows := listLines(t, stdout)
	require.Len(t, rows, 1)
	assert.Equal(t, []string{"current", keys.AlgorithmECDSAP256, "yes"}, rows[0][:3])
	// Only the OAuth ring was created: --ring selected it.
	_, err = os.Stat(filepath.Join(dir, gateway.OAuthSigningRing+".current.crt"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, keys.IdPSigningRing+".current.crt"))
	assert.True(t, os.IsNotExist(err), "the IdP ring is untouched")

	server := openGatewayOAuthRing(t, path)
	_, first := server.Current()
	assert.Equal(t, keys.Fingerprint(first), rows[0][4])

	stdout, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	assert.Contains(t, stdout, "Created the next signing key (ECDSA-P256, SHA-256 ")
	assert.Contains(t, stdout, "The current key still signs; /oauth/jwks now publishes both.\n")
	assert.Contains(t, stdout, oauthPublishReminder+"\n")
	assert.NotContains(t, stdout, "/saml/idp/metadata")
	assert.NotContains(t, stdout, "algorithm changes")
	changed, err := server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	published := server.PublishedCertificates()
	require.Len(t, published, 2)
	assert.True(t, published[0].Equal(first), "the current key still signs")
	assert.Equal(t, keys.AlgorithmECDSAP256, keys.Algorithm(published[1].PublicKey))
	assert.Contains(t, stdout, keys.Fingerprint(published[1]))

	_, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "oauth")
	require.ErrorIs(t, err, keys.ErrNextKeyExists)

	stdout, _, err = runCLI(t, ctx, "keys", "activate", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	assert.Contains(t, stdout, "Activated the next signing key (ECDSA-P256, SHA-256 "+keys.Fingerprint(published[1])+")")
	grace := gateway.OAuthPreviousGrace(2*time.Hour, 0)
	assert.Greater(t, grace, 2*time.Hour)
	assert.Contains(t, stdout, "The old key stays in /oauth/jwks for "+grace.String()+" (oauth.access_token_lifetime 2h0m0s")
	changed, err = server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	_, cur := server.Current()
	assert.True(t, cur.Equal(published[1]))
	rows = listLines(t, stdout[strings.Index(stdout, "ROLE"):])
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"current", keys.AlgorithmECDSAP256, "yes"}, rows[0][:3])
	assert.Equal(t, []string{"previous", keys.AlgorithmECDSAP256, "yes", rows[1][3], keys.Fingerprint(first)}, rows[1])

	// The IdP ring, the default, is still a separate ring with one key.
	stdout, _, err = runCLI(t, ctx, "keys", "list", "--config", path)
	require.NoError(t, err)
	rows = listLines(t, stdout)
	require.Len(t, rows, 1)
	assert.Equal(t, []string{"current", keys.AlgorithmRSA2048, "yes"}, rows[0][:3])

	_, _, err = runCLI(t, ctx, "keys", "activate", "--config", path, "--ring", "oauth")
	require.ErrorIs(t, err, keys.ErrNoNextKey)
}

// TestKeysOAuthRingAlgorithm: the OAuth ring's keys follow
// oauth.signing_alg, through the gateway's mapping.
func TestKeysOAuthRingAlgorithm(t *testing.T) {
	for _, alg := range []string{config.AlgES256, config.AlgRS256, config.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			want, err := gateway.OAuthRingAlgorithm(alg)
			require.NoError(t, err)
			path := writeConfig(t, oauthConfig(alg, "1h"))
			stdout, _, err := runCLI(t, context.Background(), "keys", "rotate", "--config", path, "--ring", "oauth")
			require.NoError(t, err)
			assert.Contains(t, stdout, "Created the next signing key ("+want+", SHA-256 ")
			rows := listLines(t, stdout[strings.Index(stdout, "ROLE"):strings.Index(stdout, "publish:")])
			require.Len(t, rows, 2)
			assert.Equal(t, []string{"current", want, "yes"}, rows[0][:3])
			assert.Equal(t, []string{"next", want, "yes"}, rows[1][:3])
		})
	}
}

// TestKeysOAuthRingAlgorithmChange: after oauth.signing_alg changes, the
// next key has the new algorithm and the command says so.
func TestKeysOAuthRingAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, oauthConfig(config.AlgES256, "1h"))
	_, _, err := runCLI(t, ctx, "keys", "list", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(oauthConfig(config.AlgRS256, "1h")), 0o600))
	stdout, _, err := runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	assert.Contains(t, stdout, "The algorithm changes from ECDSA-P256 to RSA-2048")
	ring := openGatewayOAuthRing(t, path)
	pub := ring.PublishedCertificates()
	require.Len(t, pub, 2)
	assert.Equal(t, keys.AlgorithmECDSAP256, keys.Algorithm(pub[0].PublicKey))
	assert.Equal(t, keys.AlgorithmRSA2048, keys.Algorithm(pub[1].PublicKey))
}

// TestKeysOAuthAlgorithmRefused: --algorithm with --ring oauth creates
// nothing; the same command for the IdP ring works.
func TestKeysOAuthAlgorithmRefused(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, validConfig)
	stdout, _, err := runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "oauth", "--algorithm", keys.AlgorithmRSA2048)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "follows oauth.signing_alg")
	assert.Empty(t, stdout)
	_, statErr := os.Stat(keysDir(path))
	assert.True(t, os.IsNotExist(statErr), "no ring was created")

	_, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "idp", "--algorithm", keys.AlgorithmRSA2048)
	require.NoError(t, err) // positive control
}

// With keys.rings: store the command line changes the ring in the store,
// where every instance reads it, after importing the one in keys.dir.
func TestKeysInStore(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t, validConfig+"keys: {rings: store}\n")
	dir := keysDir(path)
	folder, err := keys.OpenRing(dir, keys.IdPSigningRing, keys.RingOptions{})
	require.NoError(t, err)
	_, imported := folder.Current()

	stdout, _, err := runCLI(t, ctx, "keys", "list", "--config", path)
	require.NoError(t, err)
	rows := listLines(t, stdout)
	require.Len(t, rows, 1)
	assert.Equal(t, keys.Fingerprint(imported), rows[0][4], "the folder's key is imported")

	stdout, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path)
	require.NoError(t, err)
	assert.Contains(t, stdout, "in the store (sqlite)")
	assert.NoFileExists(t, filepath.Join(dir, keys.IdPSigningRing+".next.key"), "nothing written to the folder")

	// A server on the same store sees the rotation.
	cfg, err := config.Load(path, os.LookupEnv)
	require.NoError(t, err)
	st, closeStore, err := openStore(ctx, cfg.Store, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(closeStore)
	server, err := gateway.OpenRing(ctx, cfg, st, keys.IdPSigningRing, keys.RingOptions{})
	require.NoError(t, err)
	published := server.PublishedCertificates()
	require.Len(t, published, 2)
	assert.True(t, published[0].Equal(imported))

	_, _, err = runCLI(t, ctx, "keys", "activate", "--config", path)
	require.NoError(t, err)
	changed, err := server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	_, cur := server.Current()
	assert.True(t, cur.Equal(published[1]), "the server signs with the activated key")
	_, stillFolder := folder.Current()
	assert.True(t, stillFolder.Equal(imported), "the folder is left as it was")

	stdout, _, err = runCLI(t, ctx, "keys", "rotate", "--config", path, "--ring", "oauth")
	require.NoError(t, err)
	assert.Contains(t, stdout, "/oauth/jwks now publishes both")
	assert.NoFileExists(t, filepath.Join(dir, gateway.OAuthSigningRing+".current.key"))
}
