package config_test

import (
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func ExampleParse() {
	yaml := `
external_url: https://gw.example.com
listen: 127.0.0.1:8080
identity_source:
  directory: {}
oauth:
  clients:
    - id: bi-tool
      secret: ${BI_TOOL_SECRET}
      grant_types: [urn:ietf:params:oauth:grant-type:token-exchange]
`
	lookup := func(name string) (string, bool) {
		if name == "BI_TOOL_SECRET" {
			return "from-the-environment", true
		}
		return "", false
	}
	cfg, err := config.Parse([]byte(yaml), "/etc/gatehouse", lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Store.Driver, cfg.Store.DSN.Value())
	fmt.Println(cfg.Session.Lifetime)
	fmt.Println(cfg.OAuth.Clients[0].Secret) // redacted when printed
	// Output:
	// sqlite /etc/gatehouse/gatehouse.db
	// 8h0m0s
	// [REDACTED]
}

func ExampleConfig_Validate() {
	cfg, err := config.Parse([]byte(`
external_url: http://gw.example.com
listen: "8080"
identity_source:
  directory: {}
`), "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = cfg.Validate()
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// external_url: must use https (http is allowed only on a loopback host) (line 2)
	// listen: "8080" is not host:port, such as 127.0.0.1:8080 (line 3)
}
