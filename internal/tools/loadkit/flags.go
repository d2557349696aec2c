package loadkit

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Flags are the command-line flags every load tool shares.
type Flags struct {
	N           int
	Concurrency int
	Warmup      int
	Users       int
	Gatehouse   string
	GOGC        string
	GOMEMLIMIT  string
	// GOMAXPROCS stays empty (inherited) unless the tool registers
	// -gomaxprocs (FlagDefaults.GOMAXPROCS).
	GOMAXPROCS string
	Rate       float64
	JSON       bool
	Keep       bool
	Timeout    time.Duration
	Perf       string
	// Store is the gateway's store driver, StoreSQLite or StorePostgres;
	// with StorePostgres, DSN is the server's URL, on which each run
	// creates (and drops) a database of its own.
	Store string
	DSN   string
	// Instances > 1 starts that many gateways sharing keys and the
	// PostgreSQL database, with nginx in front.
	Instances int
}

// FlagDefaults are what the shared flags of one tool say and default to.
type FlagDefaults struct {
	// Noun is the plural of what one request does, such as "sign-ins".
	Noun string
	// NUsage is the usage text of -n.
	NUsage string
	// Warmup is the default of -warmup.
	Warmup int
	// Users is the default of -users and UsersUsage its usage text.
	Users      int
	UsersUsage string
	// GOMAXPROCS registers -gomaxprocs.
	GOMAXPROCS bool
}

// Register defines the shared flags on fs, storing into f.
func (f *Flags) Register(fs *flag.FlagSet, d FlagDefaults) {
	fs.IntVar(&f.N, "n", 20000, d.NUsage)
	fs.IntVar(&f.Concurrency, "c", 16, "concurrent workers (keep-alive connections)")
	fs.IntVar(&f.Warmup, "warmup", d.Warmup, d.Noun+" sent before the measured run, not counted")
	fs.IntVar(&f.Users, "users", d.Users, d.UsersUsage)
	fs.StringVar(&f.Gatehouse, "gatehouse", "", "gatehouse binary (default: go build ./cmd/gatehouse into the run folder)")
	fs.StringVar(&f.GOGC, "gogc", "", "GOGC for the gateway (default: inherited)")
	fs.StringVar(&f.GOMEMLIMIT, "gomemlimit", "", "GOMEMLIMIT for the gateway, such as 120MiB (default: inherited)")
	if d.GOMAXPROCS {
		fs.StringVar(&f.GOMAXPROCS, "gomaxprocs", "", "GOMAXPROCS for the gateway (default: inherited)")
	}
	fs.Float64Var(&f.Rate, "rate", 0, "open-loop arrival rate in "+d.Noun+"/s for the measured run (0: closed loop, each worker sends when answered)")
	fs.BoolVar(&f.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.BoolVar(&f.Keep, "keep", false, "keep the run folder (config, database, gateway log)")
	fs.DurationVar(&f.Timeout, "timeout", 8*time.Minute, "upper bound on the measured run")
	fs.StringVar(&f.Perf, "perf", "", "record the gateway with `perf record -g` during the measured run into this file")
	fs.StringVar(&f.Store, "store", StoreSQLite, "store driver of the gateway: sqlite (in the run folder) or postgres (a fresh database on -dsn's server, dropped at the end)")
	fs.StringVar(&f.DSN, "dsn", "", "with -store postgres: the server's URL, such as postgres://postgres@127.0.0.1:5432/test")
	fs.IntVar(&f.Instances, "instances", 1, "gateway instances; more than 1 needs -store postgres and puts nginx in front")
}

// reMemLimit matches the GOMEMLIMIT syntax of package runtime.
var reMemLimit = regexp.MustCompile(`^(off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$`)

// Validate checks the shared flags after fs has parsed them, and that fs
// has no arguments left.
func (f Flags) Validate(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case f.N <= 0 || f.Concurrency <= 0 || f.Warmup < 0 || f.Users <= 0 || f.Timeout <= 0:
		return errors.New("-n, -c, -users and -timeout must be positive and -warmup not negative")
	case !(f.Rate >= 0) || math.IsInf(f.Rate, 0):
		return errors.New("-rate must be 0 or a positive number")
	case f.GOMEMLIMIT != "" && !reMemLimit.MatchString(f.GOMEMLIMIT):
		return fmt.Errorf("-gomemlimit %q is not a size such as 120MiB or off", f.GOMEMLIMIT)
	}
	if f.GOGC != "" && f.GOGC != "off" {
		if n, err := strconv.Atoi(f.GOGC); err != nil || n <= 0 {
			return fmt.Errorf("-gogc %q is not a positive number or off", f.GOGC)
		}
	}
	if err := f.validateTopology(); err != nil {
		return err
	}
	if f.GOMAXPROCS != "" {
		if n, err := strconv.Atoi(f.GOMAXPROCS); err != nil || n <= 0 {
			return fmt.Errorf("-gomaxprocs %q is not a positive number", f.GOMAXPROCS)
		}
	}
	return nil
}

// validateTopology checks -store, -dsn and -instances.
func (f Flags) validateTopology() error {
	switch f.Store {
	case StoreSQLite, "":
		if f.DSN != "" {
			return errors.New("-dsn needs -store postgres")
		}
	case StorePostgres:
		u, err := url.Parse(f.DSN)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return errors.New("-store postgres needs -dsn postgres://user@host:port/database")
		}
	default:
		return fmt.Errorf("-store %q is not one of sqlite, postgres", f.Store)
	}
	switch {
	case f.Instances < 1:
		return errors.New("-instances must be positive")
	case f.Instances > 1 && f.Store != StorePostgres:
		return errors.New("-instances > 1 needs -store postgres (instances share the database)")
	case f.Instances > 1 && f.Perf != "":
		return errors.New("-perf records one gateway: use it with -instances 1")
	}
	return nil
}

// instances is -instances, 1 in a Flags that was not parsed.
func (f Flags) instances() int { return max(f.Instances, 1) }
