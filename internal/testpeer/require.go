package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequirePeersEnv names the environment variable that turns a missing peer
// from a skipped test into a failed one (CI sets it).
const RequirePeersEnv = "GATEHOUSE_REQUIRE_PEERS"

// Require returns when installed; otherwise it skips t or, when
// RequirePeersEnv is set to anything, fails it. name says what is missing
// ("peer pysaml2", "SP shibboleth") and hint how to install it.
func Require(t testing.TB, name string, installed bool, hint string) {
	t.Helper()
	if installed {
		return
	}
	if os.Getenv(RequirePeersEnv) != "" {
		t.Fatalf("%s is required (%s is set) but not installed: %s", name, RequirePeersEnv, hint)
	} else {
		t.Skipf("%s not installed: %s", name, hint)
	}
}

// Installed reports whether every path exists: an absolute path as a file,
// any other as a program in PATH. When one is missing the string names it
// and adds hint; otherwise it is hint.
func Installed(hint string, paths ...string) (bool, string) {
	for _, p := range paths {
		if strings.HasPrefix(p, "/") {
			if _, err := os.Stat(p); err != nil {
				return false, fmt.Sprintf("%s missing: %s", p, hint)
			}
			continue
		}
		if _, err := exec.LookPath(p); err != nil {
			return false, fmt.Sprintf("%s not in PATH: %s", p, hint)
		}
	}
	return true, hint
}
