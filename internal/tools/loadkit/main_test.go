package loadkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testOptions are a tool's options with the shared flags embedded.
type testOptions struct {
	Flags
	Extra string
}

func TestMainCode(t *testing.T) {
	tool := Tool{Name: "loadtest", Noun: "pings"}
	parse := func(args []string, _ io.Writer) (testOptions, error) {
		if len(args) > 0 {
			return testOptions{}, errors.New("bad flags")
		}
		return testOptions{Flags: Flags{Gatehouse: "gh", JSON: true}, Extra: "x"}, nil
	}
	var dir string
	measure := func(err error) Measurer[testOptions] {
		return func(ctx context.Context, o testOptions, b *Bench) (Reporter, error) {
			require.NoError(t, ctx.Err())
			assert.Equal(t, "x", o.Extra)
			dir = b.Dir()
			_, statErr := os.Stat(dir)
			require.NoError(t, statErr, "the run folder exists while measuring")
			return fakeReport{Value: 1}, err
		}
	}

	var stdout, stderr bytes.Buffer
	require.Zero(t, mainCode(tool, parse, measure(nil), nil, &stdout, &stderr))
	assert.Equal(t, "{\n  \"value\": 1\n}\n", stdout.String(), "-json: the report as JSON on stdout")
	assert.Equal(t, "table\n", stderr.String())
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the run folder is removed")

	stdout.Reset()
	stderr.Reset()
	assert.Equal(t, 1, mainCode(tool, parse, measure(errors.New("boom")), nil, &stdout, &stderr))
	assert.Equal(t, "loadtest: boom\n", stderr.String())
	assert.Empty(t, stdout.String(), "no report without a measurement")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "the run folder is removed after an error too")

	stderr.Reset()
	assert.Equal(t, 1, mainCode(tool, parse, measure(nil), []string{"-x"}, &stdout, &stderr))
	assert.Equal(t, "loadtest: bad flags\n", stderr.String())
}
