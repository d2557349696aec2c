package testpeer

import (
	"fmt"
	"strconv"
	"testing"
)

// MotoPath is where the machine's pyenv Python keeps moto's standalone
// server.
const MotoPath = "/root/.pyenv/versions/3.11.7/bin/moto_server"

// Moto starts moto's standalone AWS emulator on a free loopback port for
// the test and returns its URL. AWS managed policies are loaded, so that
// roles can attach them. It skips (or, under RequirePeersEnv, fails) when
// moto is not installed.
func Moto(t testing.TB) string {
	t.Helper()
	path := MotoPath
	if ok, _ := Installed("", path); !ok {
		path = "moto_server"
	}
	ok, hint := Installed("pip install 'moto[server]' (expected at "+MotoPath+")", path)
	Require(t, "AWS emulator moto", ok, hint)
	var endpoint string
	err := OnFreePort(func(port int) error {
		p, err := Start(t, Command{
			Name: "moto_server",
			Path: path,
			Args: []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)},
			Env:  []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true", "AWS_DEFAULT_REGION=us-east-1"},
		})
		if err != nil {
			return err
		}
		endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		if _, err := p.WaitHTTP(endpoint+"/moto-api/", []byte("<title>Moto</title>")); err != nil {
			p.Stop()
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("starting moto: %v", err)
	}
	return endpoint
}
