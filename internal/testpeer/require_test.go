package testpeer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		installed bool
		env       string
		wantSkip  string
		wantFatal string
	}{
		{name: "installed (control)", installed: true},
		{name: "installed, required", installed: true, env: "1"},
		{name: "missing", wantSkip: "SP shibboleth not installed: apt-get install x"},
		{name: "missing, required", env: "1", wantFatal: "SP shibboleth is required (GATEHOUSE_REQUIRE_PEERS is set) but not installed: apt-get install x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequirePeersEnv, tc.env)
			f := &fakeTB{TB: t}
			Require(f, "SP shibboleth", tc.installed, "apt-get install x")
			if tc.wantSkip == "" {
				assert.Empty(t, f.skips)
			} else {
				assert.Equal(t, []string{tc.wantSkip}, f.skips)
			}
			if tc.wantFatal == "" {
				assert.Empty(t, f.fatals)
			} else {
				assert.Equal(t, []string{tc.wantFatal}, f.fatals)
			}
		})
	}
}

func TestInstalled(t *testing.T) {
	file := filepath.Join(t.TempDir(), "present")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name  string
		paths []string
		ok    bool
		msg   string
	}{
		{name: "file and program (control)", paths: []string{file, "sh"}, ok: true, msg: "hint"},
		{name: "nothing to check", ok: true, msg: "hint"},
		{name: "missing file", paths: []string{"sh", file + "-not"}, msg: file + "-not missing: hint"},
		{name: "missing program", paths: []string{file, "no-such-program-testpeer"}, msg: "no-such-program-testpeer not in PATH: hint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := Installed("hint", tc.paths...)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.msg, msg)
		})
	}
}
