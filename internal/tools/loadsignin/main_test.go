package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// The shared flags' validation is tested in loadkit; these are this
// tool's defaults and -sign.
func TestParseFlags(t *testing.T) {
	defaults := loadkit.Flags{N: 20000, Concurrency: 16, Warmup: 500, Users: 200, Timeout: 8 * time.Minute,
		Store: loadkit.StoreSQLite, Instances: 1}
	tests := []struct {
		args []string
		want options
	}{
		{nil, options{Flags: defaults, Sign: "assertion"}},
		{[]string{"-n", "10", "-c", "2", "-warmup", "0", "-gogc", "400", "-json", "-sign", "both"},
			options{Flags: loadkit.Flags{N: 10, Concurrency: 2, Warmup: 0, Users: 200, GOGC: "400", JSON: true, Timeout: 8 * time.Minute,
				Store: loadkit.StoreSQLite, Instances: 1},
				Sign: "both"}},
		{[]string{"-gomemlimit", "120MiB", "-rate", "700", "-sign", "response"},
			options{Flags: loadkit.Flags{N: 20000, Concurrency: 16, Warmup: 500, Users: 200, GOMEMLIMIT: "120MiB", Rate: 700,
				Timeout: 8 * time.Minute, Store: loadkit.StoreSQLite, Instances: 1}, Sign: "response"}},
		{[]string{"-store", "postgres", "-dsn", "postgres://postgres@127.0.0.1:5432/test", "-instances", "3"},
			options{Flags: loadkit.Flags{N: 20000, Concurrency: 16, Warmup: 500, Users: 200, Timeout: 8 * time.Minute,
				Store: loadkit.StorePostgres, DSN: "postgres://postgres@127.0.0.1:5432/test", Instances: 3}, Sign: "assertion"}},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		require.NoError(t, err, "%v", tt.args)
		assert.Equal(t, tt.want, got, "%v", tt.args)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-instances", "2"}, "-instances > 1 needs -store postgres (instances share the database)"},
		{[]string{"-store", "postgres", "-dsn", "mysql://x@127.0.0.1/db"}, "-store postgres needs -dsn postgres://user@host:port/database"},
		{[]string{"-sign", "none"}, `-sign "none" is not one of assertion, response, both`},
		{[]string{"-sign", "Both"}, `-sign "Both" is not one of assertion, response, both`},
		{[]string{"-gomaxprocs", "2"}, "flag provided but not defined: -gomaxprocs"}, // only loadexchange sets GOMAXPROCS
		{[]string{"-n", "0"}, "-n, -c, -users and -timeout must be positive and -warmup not negative"},
	} {
		_, err := parseFlags(bad.args, io.Discard)
		assert.EqualError(t, err, bad.want, "%v", bad.args)
	}
}
