package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const usage = `Gatehouse is a workforce identity federation gateway.

Usage:
  gatehouse <command> [flags]

Commands:
  serve --config FILE                   run the gateway
  check-config --config FILE            validate a config file, naming every problem
  keys list|rotate|activate --config FILE [--ring idp|oauth]
                                        list or roll over the IdP signing key
                                        or the OAuth token signing key
  demo [--addr 127.0.0.1:8080] [--data DIR]
                                        run a local demo on the embedded store
  version                               print the version
  login --url URL [--no-browser]        sign in with the device flow and cache the tokens
  credentials --account ID --role NAME [--url URL]
                                        print AWS credential_process JSON
                                        (cached until 5 minutes before expiry)
  accounts [--url URL]                  list the signed-in user's accounts and roles
  logout                                revoke and delete the cached sign-in
  admin --url URL <resource> <verb>     call the admin API (run "gatehouse admin -h")

Run "gatehouse <command> -h" for the flags of a command.
`

// errNoCommand is returned when gatehouse is run without a command.
var errNoCommand = errors.New("no command given")

// run dispatches a command line (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errNoCommand
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "check-config":
		return runCheckConfig(rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "version":
		return runVersion(rest, stdout, stderr)
	case "admin":
		return runAdmin(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "login":
		return runLogin(ctx, rest, stdout, stderr)
	case "credentials":
		return runCredentials(ctx, rest, stdout, stderr)
	case "accounts":
		return runAccounts(ctx, rest, stdout, stderr)
	case "logout":
		return runLogout(ctx, rest, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gatehouse %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects positional arguments. It returns
// done=true (and a nil error) when help was requested.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return false, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	fmt.Fprintln(stdout, "gatehouse", version())
	return nil
}

// version is the main module's version from the build info, or "(devel)".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// loadConfig parses the --config flag of fs and returns the loaded and
// validated config.
func loadConfig(name string, args []string, stderr io.Writer) (cfg *config.Config, done bool, err error) {
	fs := newFlagSet(name, name+" --config FILE", stderr)
	path := fs.String("config", "", "the config `FILE` (YAML)")
	if done, err := parseFlags(fs, args); done || err != nil {
		return nil, done, err
	}
	if *path == "" {
		fs.Usage()
		return nil, false, fmt.Errorf("%s: --config is required", name)
	}
	cfg, err = config.Load(*path, os.LookupEnv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, false, &configError{path: *path, err: err}
	}
	return cfg, false, nil
}

// configError names the config file and lists every problem on its own line.
type configError struct {
	path string
	err  error
}

func (e *configError) Error() string {
	var ve *config.ValidationError
	if !errors.As(e.err, &ve) {
		return fmt.Sprintf("config %s: %s", e.path, strings.TrimPrefix(e.err.Error(), "config: "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config %s is invalid (%d problem", e.path, len(ve.Problems))
	if len(ve.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range ve.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *configError) Unwrap() error { return e.err }

func runCheckConfig(args []string, stdout, stderr io.Writer) error {
	_, done, err := loadConfig("check-config", args, stderr)
	if done || err != nil {
		return err
	}
	fmt.Fprintln(stdout, "config OK")
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, done, err := loadConfig("serve", args, stderr)
	if done || err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

// Demo defaults.
const defaultDemoAddr = "127.0.0.1:8080"

// defaultDemoDataDir is gatehouse-demo under the user's cache folder (or the
// temporary folder when there is none).
func defaultDemoDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gatehouse-demo")
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--addr 127.0.0.1:8080] [--data DIR]", stderr)
	addr := fs.String("addr", defaultDemoAddr, "the `host:port` to listen on")
	data := fs.String("data", defaultDemoDataDir(), "the `folder` for the demo's keys and database")
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	return demo(ctx, *addr, *data, stdout)
}
