package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

const keysUsage = `Usage: gatehouse keys <subcommand> --config FILE [--ring idp|oauth]

Rolls a signing key ring over without a failed sign-in or a rejected
access token. The ring is where keys.rings keeps it: in the store (the
default with PostgreSQL; every instance reads it there) or in keys.dir.
--ring selects it:

  idp       (default) ring "idp-signing": the app-facing IdP's SAML key,
            published in /saml/idp/metadata
  oauth     ring "oauth-signing": the access-token key, published in
            /oauth/jwks; its algorithm follows oauth.signing_alg

  list      --config FILE [--ring R]
                                show each key's role, algorithm, expiry and
                                SHA-256 fingerprint
  rotate    --config FILE [--ring R] [--algorithm RSA-2048|ECDSA-P256]
                                create the next key; the metadata or JWKS
                                publishes it, the current key still signs
                                (--algorithm: idp only)
  activate  --config FILE [--ring R]
                                make the next key current (run it once every
                                application has refreshed the metadata, or
                                every data service /oauth/jwks)
`

// errNoKeysSubcommand is returned by "gatehouse keys" without a subcommand.
var errNoKeysSubcommand = errors.New("keys: a subcommand is required (list, rotate or activate)")

// keysPublishReminder is printed after a rotation of the IdP ring.
const keysPublishReminder = "publish: applications refresh /saml/idp/metadata; then run gatehouse keys activate"

// oauthPublishReminder is printed after a rotation of the OAuth ring.
const oauthPublishReminder = "publish: data services refresh /oauth/jwks (wait at least as long as they cache it); then run gatehouse keys activate --ring oauth"

// The values of --ring.
const (
	ringIdP   = "idp"
	ringOAuth = "oauth"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errNoKeysSubcommand
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return runKeysList(ctx, rest, stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, rest, stdout, stderr)
	case "activate":
		return runKeysActivate(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	default:
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("keys: unknown subcommand %q", sub)
	}
}

// keyRing is the ring --ring selects, opened as `gatehouse serve` opens it.
type keyRing struct {
	*keys.Ring
	// published is where the ring's certificates or public keys appear.
	published string
	// reminder is printed after a rotation.
	reminder string
	// afterActivate explains the grace after an activation.
	afterActivate string
}

// openKeyRing opens the ring named by --ring (ringIdP or ringOAuth) where
// keys.rings keeps it (keys.dir, or st), generating it when there is none
// yet, as serve would. algorithm (idp only) is the algorithm of the keys
// generated from now on; empty means the default.
func openKeyRing(ctx context.Context, cfg *config.Config, st keys.RingStore, ring, algorithm string) (*keyRing, error) {
	switch ring {
	case ringIdP:
		r, err := gateway.OpenRing(ctx, cfg, st, keys.IdPSigningRing, keys.RingOptions{
			Algorithm:  algorithm,
			CommonName: keys.IdPSigningCommonName,
		})
		if err != nil {
			return nil, err
		}
		return &keyRing{
			Ring:      r,
			published: "/saml/idp/metadata",
			reminder:  keysPublishReminder,
			afterActivate: fmt.Sprintf("The old key stays published for %s (responses it signed are still in flight), then only the new key is.",
				keys.DefaultPreviousGrace),
		}, nil
	case ringOAuth:
		// keysFlags has refused --algorithm with --ring oauth.
		// As the gateway opens it, with the grace serve computes from
		// keys.reload_interval.
		opts, err := gateway.OAuthRingOptions(cfg, cfg.Keys.ReloadInterval.Std())
		if err != nil {
			return nil, err
		}
		r, err := gateway.OpenRing(ctx, cfg, st, gateway.OAuthSigningRing, opts)
		if err != nil {
			return nil, err
		}
		return &keyRing{
			Ring:      r,
			published: "/oauth/jwks",
			reminder:  oauthPublishReminder,
			afterActivate: fmt.Sprintf("The old key stays in /oauth/jwks for %s (oauth.access_token_lifetime %s plus reload and clock skew), so access tokens it signed verify until they expire; then only the new key is.",
				opts.PreviousGrace, cfg.OAuth.AccessTokenLifetime.Std()),
		}, nil
	default:
		return nil, fmt.Errorf("keys: --ring must be %s or %s, not %q", ringIdP, ringOAuth, ring)
	}
}

// keysFlags parses the flags of a keys subcommand (--algorithm only when
// withAlgorithm), loads and validates the config, and opens the ring (and,
// with keys.rings: store, the store, which closeRing closes).
func keysFlags(ctx context.Context, name string, args []string, stderr io.Writer, withAlgorithm bool) (_ *config.Config, _ *keyRing, closeRing func(), done bool, _ error) {
	synopsis := name + " --config FILE [--ring idp|oauth]"
	if withAlgorithm {
		synopsis += " [--algorithm RSA-2048|ECDSA-P256]"
	}
	fs := newFlagSet(name, synopsis, stderr)
	path := fs.String("config", "", "the config `FILE` (YAML)")
	ringName := fs.String("ring", ringIdP, "the `ring`: "+ringIdP+" (the IdP's SAML signing key) or "+ringOAuth+" (the OAuth access-token signing key)")
	alg := new(string)
	if withAlgorithm {
		fs.StringVar(alg, "algorithm", "", "the next key's `algorithm`: "+keys.AlgorithmRSA2048+" or "+keys.AlgorithmECDSAP256+" (default: the current key's; --ring idp only)")
	}
	if done, err := parseFlags(fs, args); done || err != nil {
		return nil, nil, nil, done, err
	}
	switch *ringName {
	case ringIdP:
		switch *alg {
		case "", keys.AlgorithmRSA2048, keys.AlgorithmECDSAP256:
		default:
			return nil, nil, nil, false, fmt.Errorf("%s: --algorithm must be %s or %s, not %q", name, keys.AlgorithmRSA2048, keys.AlgorithmECDSAP256, *alg)
		}
	case ringOAuth:
		if *alg != "" {
			return nil, nil, nil, false, fmt.Errorf("%s: --algorithm is not accepted with --ring oauth: the OAuth keys' algorithm follows oauth.signing_alg in the config", name)
		}
	default:
		return nil, nil, nil, false, fmt.Errorf("%s: --ring must be %s or %s, not %q", name, ringIdP, ringOAuth, *ringName)
	}
	if *path == "" {
		fs.Usage()
		return nil, nil, nil, false, fmt.Errorf("%s: --config is required", name)
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, nil, nil, false, &configError{path: *path, err: err}
	}

	var st keys.RingStore
	closeStore := func() {}
	if cfg.Keys.Rings == config.RingsStore {
		s, closeFn, err := openStore(ctx, cfg.Store, slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			return nil, nil, nil, false, fmt.Errorf("%s: keys.rings is %s: %w", name, config.RingsStore, err)
		}
		st, closeStore = s, closeFn
	}
	// --algorithm applies to the next key only: a ring that does not exist
	// yet gets its current key with the default algorithm first.
	ring, err := openKeyRing(ctx, cfg, st, *ringName, "")
	if err == nil && *alg != "" {
		ring, err = openKeyRing(ctx, cfg, st, *ringName, *alg)
	}
	if err != nil {
		closeStore()
		return nil, nil, nil, false, err
	}
	return cfg, ring, closeStore, false, nil
}

// ringLocation says where keys.rings keeps the rings, for messages.
func ringLocation(cfg *config.Config) string {
	if cfg.Keys.Rings == config.RingsStore {
		return "the store (" + cfg.Store.Driver + ")"
	}
	return cfg.Keys.Dir
}

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, ring, closeRing, done, err := keysFlags(ctx, "keys list", args, stderr, false)
	if done || err != nil {
		return err
	}
	defer closeRing()
	printKeys(stdout, ring.Ring)
	return nil
}

func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, ring, closeRing, done, err := keysFlags(ctx, "keys rotate", args, stderr, true)
	if done || err != nil {
		return err
	}
	defer closeRing()
	next, err := ring.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created the next signing key (%s, SHA-256 %s) in %s.\n",
		keys.Algorithm(next.PublicKey), keys.Fingerprint(next), ringLocation(cfg))
	fmt.Fprintf(stdout, "The current key still signs; %s now publishes both.\n", ring.published)
	if _, cur := ring.Current(); keys.Algorithm(cur.PublicKey) != keys.Algorithm(next.PublicKey) {
		fmt.Fprintf(stdout, "The algorithm changes from %s to %s: activate the next key before gateways start with this config.\n",
			keys.Algorithm(cur.PublicKey), keys.Algorithm(next.PublicKey))
	}
	fmt.Fprintln(stdout)
	printKeys(stdout, ring.Ring)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, ring.reminder)
	return nil
}

func runKeysActivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, ring, closeRing, done, err := keysFlags(ctx, "keys activate", args, stderr, false)
	if done || err != nil {
		return err
	}
	defer closeRing()
	if err := ring.Activate(); err != nil {
		return err
	}
	_, cur := ring.Current()
	fmt.Fprintf(stdout, "Activated the next signing key (%s, SHA-256 %s): it signs from now on.\n",
		keys.Algorithm(cur.PublicKey), keys.Fingerprint(cur))
	fmt.Fprintln(stdout, ring.afterActivate)
	fmt.Fprintln(stdout, "Running gateways pick the change up at their next key reload.")
	fmt.Fprintln(stdout)
	printKeys(stdout, ring.Ring)
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
