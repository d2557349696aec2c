package loadkit

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testDefaults = FlagDefaults{Noun: "sign-ins", NUsage: "measured sign-ins", Warmup: 500, Users: 200, UsersUsage: "users"}

func parse(t *testing.T, d FlagDefaults, args ...string) (Flags, error) {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	f.Register(fs, d)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	return f, f.Validate(fs)
}

func TestFlagsDefaults(t *testing.T) {
	f, err := parse(t, testDefaults)
	require.NoError(t, err)
	assert.Equal(t, Flags{N: 20000, Concurrency: 16, Warmup: 500, Users: 200, Timeout: 8 * time.Minute, Store: StoreSQLite, Instances: 1}, f,
		"one gateway on SQLite by default")

	f, err = parse(t, testDefaults, "-n", "10", "-c", "2", "-warmup", "0", "-users", "3", "-gatehouse", "/bin/gh", "-gogc", "off",
		"-gomemlimit", "120MiB", "-rate", "700", "-json", "-keep", "-timeout", "1m", "-perf", "p.data")
	require.NoError(t, err)
	assert.Equal(t, Flags{N: 10, Concurrency: 2, Warmup: 0, Users: 3, Gatehouse: "/bin/gh", GOGC: "off", GOMEMLIMIT: "120MiB",
		Rate: 700, JSON: true, Keep: true, Timeout: time.Minute, Perf: "p.data", Store: StoreSQLite, Instances: 1}, f)

	f, err = parse(t, testDefaults, "-store", "postgres", "-dsn", "postgres://u@127.0.0.1:5432/test", "-instances", "3")
	require.NoError(t, err)
	assert.Equal(t, StorePostgres, f.Store)
	assert.Equal(t, "postgres://u@127.0.0.1:5432/test", f.DSN)
	assert.Equal(t, 3, f.Instances)
}

func TestFlagsGOMAXPROCS(t *testing.T) {
	_, err := parse(t, testDefaults, "-gomaxprocs", "2")
	assert.EqualError(t, err, "flag provided but not defined: -gomaxprocs", "registered only on request")

	d := testDefaults
	d.GOMAXPROCS = true
	f, err := parse(t, d, "-gomaxprocs", "2")
	require.NoError(t, err)
	assert.Equal(t, "2", f.GOMAXPROCS)
	for _, bad := range []string{"0", "two", "-1"} {
		_, err := parse(t, d, "-gomaxprocs", bad)
		assert.EqualError(t, err, `-gomaxprocs "`+bad+`" is not a positive number`)
	}
}

func TestFlagsValidate(t *testing.T) {
	const (
		pgURL    = "postgres://postgres@127.0.0.1:5432/test"
		pgDSNErr = "-store postgres needs -dsn postgres://user@host:port/database"
	)
	const rangeErr = "-n, -c, -users and -timeout must be positive and -warmup not negative"
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
		{[]string{"-n", "0"}, rangeErr},
		{[]string{"-c", "0"}, rangeErr},
		{[]string{"-warmup", "-1"}, rangeErr},
		{[]string{"-users", "0"}, rangeErr},
		{[]string{"-timeout", "0s"}, rangeErr},
		{[]string{"-rate", "-1"}, "-rate must be 0 or a positive number"},
		{[]string{"-rate", "NaN"}, "-rate must be 0 or a positive number"},
		{[]string{"-rate", "+Inf"}, "-rate must be 0 or a positive number"},
		{[]string{"-gomemlimit", "120MB"}, `-gomemlimit "120MB" is not a size such as 120MiB or off`},
		{[]string{"-gomemlimit", "lots"}, `-gomemlimit "lots" is not a size such as 120MiB or off`},
		{[]string{"-gogc", "fast"}, `-gogc "fast" is not a positive number or off`},
		{[]string{"-gogc", "0"}, `-gogc "0" is not a positive number or off`},
		{[]string{"-store", "mysql"}, `-store "mysql" is not one of sqlite, postgres`},
		{[]string{"-dsn", pgURL}, "-dsn needs -store postgres"},
		{[]string{"-store", "postgres"}, pgDSNErr},
		{[]string{"-store", "postgres", "-dsn", "mysql://u@127.0.0.1/test"}, pgDSNErr},
		{[]string{"-store", "postgres", "-dsn", "postgres:///test"}, pgDSNErr},
		{[]string{"-store", "postgres", "-dsn", "%zz"}, pgDSNErr},
		{[]string{"-instances", "0"}, "-instances must be positive"},
		{[]string{"-instances", "2"}, "-instances > 1 needs -store postgres (instances share the database)"},
		{[]string{"-store", "sqlite", "-instances", "3"}, "-instances > 1 needs -store postgres (instances share the database)"},
		{[]string{"-store", "postgres", "-dsn", pgURL, "-instances", "0"}, "-instances must be positive"},
		{[]string{"-store", "postgres", "-dsn", pgURL, "-instances", "2", "-perf", "p.data"}, "-perf records one gateway: use it with -instances 1"},
	} {
		_, err := parse(t, testDefaults, bad.args...)
		assert.EqualError(t, err, bad.want, "%v", bad.args)
	}
	for _, ok := range [][]string{{"-gogc", "off"}, {"-gogc", "400"}, {"-gomemlimit", "off"}, {"-gomemlimit", "1048576"}, {"-rate", "0"},
		{"-store", "sqlite"}, {"-store", "postgres", "-dsn", pgURL}, {"-store", "postgres", "-dsn", "postgresql://u@db:5432/x"},
		{"-store", "postgres", "-dsn", pgURL, "-instances", "3"}, {"-store", "postgres", "-dsn", pgURL, "-perf", "p.data"}, {"-instances", "1"}} {
		_, err := parse(t, testDefaults, ok...)
		assert.NoError(t, err, "%v", ok)
	}
}

func TestFlagsUsage(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.Register(fs, FlagDefaults{Noun: "exchanges", NUsage: "measured exchanges (a counted run)", UsersUsage: "users in the store"})
	assert.Equal(t, "measured exchanges (a counted run)", fs.Lookup("n").Usage)
	assert.Equal(t, "exchanges sent before the measured run, not counted", fs.Lookup("warmup").Usage)
	assert.Equal(t, "users in the store", fs.Lookup("users").Usage)
	assert.Contains(t, fs.Lookup("rate").Usage, "open-loop arrival rate in exchanges/s")
}
