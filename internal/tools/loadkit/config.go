package loadkit

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// File names inside the run folder.
const (
	ConfigFile   = "gatehouse.yaml"
	MetadataFile = "idp.xml"
	DatabaseFile = "gatehouse.db"
	KeysDir      = "keys"
	LogFile      = "gatehouse.log"
)

// Site describes the gateway a tool configures: everything derives from
// its loopback port.
type Site struct {
	Port int
}

// HostPort is the gateway's listen address.
func (s Site) HostPort() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// BaseURL is the gateway's external_url.
func (s Site) BaseURL() string { return "http://" + s.HostPort() }

// ReadyURL is the gateway's readiness endpoint.
func (s Site) ReadyURL() string { return s.BaseURL() + "/readyz" }

// Config is the YAML shape of the config keys the tools set; everything
// else is left to the gateway's defaults. Field names are those of
// CONTRACT.md. A tool that sets more sections embeds it with
// `yaml:",inline"`.
type Config struct {
	ExternalURL    string          `yaml:"external_url"`
	Listen         string          `yaml:"listen"`
	Store          StoreSection    `yaml:"store"`
	Keys           KeysSection     `yaml:"keys"`
	IdentitySource IdentitySection `yaml:"identity_source"`
}

// StoreSection is the store key of Config.
type StoreSection struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
}

// KeysSection is the keys key of Config.
type KeysSection struct {
	Dir string `yaml:"dir"`
}

// IdentitySection is the identity_source key of Config.
type IdentitySection struct {
	SAML SAMLSection `yaml:"saml"`
}

// SAMLSection is identity_source.saml; the keys a tool leaves at their
// zero value are left out.
type SAMLSection struct {
	MetadataFile      string     `yaml:"metadata_file"`
	AllowIDPInitiated bool       `yaml:"allow_idp_initiated,omitempty"`
	JITProvisioning   bool       `yaml:"jit_provisioning,omitempty"`
	ClockSkew         string     `yaml:"clock_skew,omitempty"`
	ACSEndpoints      []Endpoint `yaml:"acs_endpoints"`
}

// Endpoint is one regional ACS endpoint.
type Endpoint struct {
	Region string `yaml:"region"`
	URL    string `yaml:"url"`
}

// BaseConfig returns the config of a gateway at s with a SQLite store
// (DatabaseFile), its keys in KeysDir and the IdP metadata in
// MetadataFile, all relative to the config file's folder, and the given
// ACS endpoints.
func BaseConfig(s Site, acs ...Endpoint) Config {
	return Config{
		ExternalURL: s.BaseURL(),
		Listen:      s.HostPort(),
		Store:       StoreSection{Driver: "sqlite", DSN: DatabaseFile},
		Keys:        KeysSection{Dir: KeysDir},
		IdentitySource: IdentitySection{SAML: SAMLSection{
			MetadataFile: MetadataFile,
			ACSEndpoints: acs,
		}},
	}
}

// RenderConfig returns c (a Config or a struct embedding one) as YAML.
func RenderConfig(c any) ([]byte, error) {
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return out, nil
}

// RunFile is a file written next to the gateway config.
type RunFile struct {
	Name string // inside the run folder
	What string // for error messages, such as "IdP metadata"
	Data []byte
}

// WriteRunFiles writes files and then config (as ConfigFile) into dir,
// each readable by its owner only, and returns the config's path.
func WriteRunFiles(dir string, config []byte, files ...RunFile) (string, error) {
	for _, f := range slices.Concat(files, []RunFile{{Name: ConfigFile, What: "config", Data: config}}) {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", f.What, err)
		}
	}
	return filepath.Join(dir, ConfigFile), nil
}

// FreeLoopbackPort asks the kernel for a free port on 127.0.0.1. Another
// process could take it before the gateway binds it; the gateway then
// fails to start and the tool reports that.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// CheckLoopback fails unless every URL is an http URL on a loopback IP
// address.
func CheckLoopback(urls ...string) error {
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("target %q: %w", raw, err)
		}
		ip := net.ParseIP(u.Hostname())
		if u.Scheme != "http" || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("target %q is not an http URL on a loopback address", raw)
		}
	}
	return nil
}
