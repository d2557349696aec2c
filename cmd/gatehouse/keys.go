package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

const keysUsage = `Usage: gatehouse keys <subcommand> --config FILE

Rolls the IdP signing key (ring "idp-signing" in keys.dir) over without a
failed sign-in:

  list      --config FILE       show each key's role, algorithm, expiry and
                                SHA-256 fingerprint
  rotate    --config FILE [--algorithm RSA-2048|ECDSA-P256]
                                create the next key; /saml/idp/metadata
                                publishes it, the current key still signs
  activate  --config FILE       make the next key current (run it once every
                                application has refreshed the metadata)
`

// errNoKeysSubcommand is returned by "gatehouse keys" without a subcommand.
var errNoKeysSubcommand = errors.New("keys: a subcommand is required (list, rotate or activate)")

// keysPublishReminder is printed after a rotation.
const keysPublishReminder = "publish: applications refresh /saml/idp/metadata; then run gatehouse keys activate"

func runKeys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errNoKeysSubcommand
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return runKeysList(rest, stdout, stderr)
	case "rotate":
		return runKeysRotate(rest, stdout, stderr)
	case "activate":
		return runKeysActivate(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	default:
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("keys: unknown subcommand %q", sub)
	}
}

// openIdPRing opens the IdP signing ring in the config's keys.dir; it is
// generated when the folder holds none yet, as serve would.
func openIdPRing(cfg *config.Config, algorithm string) (*keys.Ring, error) {
	return keys.OpenRing(cfg.Keys.Dir, keys.IdPSigningRing, keys.RingOptions{
		Algorithm:  algorithm,
		CommonName: keys.IdPSigningCommonName,
	})
}

func runKeysList(args []string, stdout, stderr io.Writer) error {
	cfg, done, err := loadConfig("keys list", args, stderr)
	if done || err != nil {
		return err
	}
	ring, err := openIdPRing(cfg, "")
	if err != nil {
		return err
	}
	printKeys(stdout, ring)
	return nil
}

func runKeysRotate(args []string, stdout, stderr io.Writer) error {
	const name = "keys rotate"
	fs := newFlagSet(name, name+" --config FILE [--algorithm RSA-2048|ECDSA-P256]", stderr)
	path := fs.String("config", "", "the config `FILE` (YAML)")
	alg := fs.String("algorithm", "", "the next key's `algorithm`: "+keys.AlgorithmRSA2048+" or "+keys.AlgorithmECDSAP256+" (default: the current key's)")
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	switch *alg {
	case "", keys.AlgorithmRSA2048, keys.AlgorithmECDSAP256:
	default:
		return fmt.Errorf("%s: --algorithm must be %s or %s, not %q", name, keys.AlgorithmRSA2048, keys.AlgorithmECDSAP256, *alg)
	}
	if *path == "" {
		fs.Usage()
		return fmt.Errorf("%s: --config is required", name)
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return &configError{path: *path, err: err}
	}

	// --algorithm applies to the next key only: a ring that does not exist
	// yet gets its current key with the default algorithm first.
	ring, err := openIdPRing(cfg, "")
	if err == nil && *alg != "" {
		ring, err = openIdPRing(cfg, *alg)
	}
	if err != nil {
		return err
	}
	next, err := ring.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created the next signing key (%s, SHA-256 %s) in %s.\n",
		keys.Algorithm(next.PublicKey), keys.Fingerprint(next), cfg.Keys.Dir)
	fmt.Fprintln(stdout, "The current key still signs; /saml/idp/metadata now publishes both.")
	fmt.Fprintln(stdout)
	printKeys(stdout, ring)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, keysPublishReminder)
	return nil
}

func runKeysActivate(args []string, stdout, stderr io.Writer) error {
	cfg, done, err := loadConfig("keys activate", args, stderr)
	if done || err != nil {
		return err
	}
	ring, err := openIdPRing(cfg, "")
	if err != nil {
		return err
	}
	if err := ring.Activate(); err != nil {
		return err
	}
	_, cur := ring.Current()
	fmt.Fprintf(stdout, "Activated the next signing key (%s, SHA-256 %s): it signs from now on.\n",
		keys.Algorithm(cur.PublicKey), keys.Fingerprint(cur))
	fmt.Fprintf(stdout, "The old key stays published for %s (responses it signed are still in flight), then only the new key is.\n", keys.DefaultPreviousGrace)
	fmt.Fprintln(stdout, "Running gateways pick the change up at their next key reload.")
	fmt.Fprintln(stdout)
	printKeys(stdout, ring)
	return nil
}

// printKeys prints one line per key of the ring.
func printKeys(w io.Writer, ring *keys.Ring) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tALGORITHM\tPUBLISHED\tNOT AFTER\tSHA-256 FINGERPRINT")
	pub := ring.PublishedCertificates()
	for _, k := range ring.Keys() {
		published := "no"
		if slices.ContainsFunc(pub, k.Certificate.Equal) {
			published = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Role, k.Algorithm, published,
			k.Certificate.NotAfter.UTC().Format(time.RFC3339), k.Fingerprint)
	}
	_ = tw.Flush()
}
