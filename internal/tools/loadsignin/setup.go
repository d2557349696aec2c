package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// File names inside the run folder.
const (
	configFileName   = "gatehouse.yaml"
	metadataFileName = "idp.xml"
	databaseFileName = "gatehouse.db"
	keysDirName      = "keys"
	logFileName      = "gatehouse.log"
)

// endpoint is one regional ACS endpoint of the generated config.
type endpoint struct {
	Region string `yaml:"region"`
	URL    string `yaml:"url"`
}

// site describes the gateway the tool configures: everything derives from
// its loopback port.
type site struct {
	Port int
}

func (s site) hostPort() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// BaseURL is the gateway's external_url.
func (s site) BaseURL() string { return "http://" + s.hostPort() }

// EntityID is the SP entity ID the gateway defaults to.
func (s site) EntityID() string { return s.BaseURL() + "/saml/sp/metadata" }

// ReadyURL is the gateway's readiness endpoint.
func (s site) ReadyURL() string { return s.BaseURL() + "/readyz" }

// Endpoints are the two regional ACS endpoints, sharing the host with
// different paths.
func (s site) Endpoints() []endpoint {
	return []endpoint{
		{Region: "us-east-1", URL: s.BaseURL() + "/saml/acs"},
		{Region: "eu-west-1", URL: s.BaseURL() + "/eu-west-1/saml/acs"},
	}
}

// The YAML shape of the keys the tool sets; everything else is left to the
// gateway's defaults. Field names are those of CONTRACT.md.
type configFile struct {
	ExternalURL    string          `yaml:"external_url"`
	Listen         string          `yaml:"listen"`
	Store          storeSection    `yaml:"store"`
	Keys           keysSection     `yaml:"keys"`
	IdentitySource identitySection `yaml:"identity_source"`
}

type storeSection struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
}

type keysSection struct {
	Dir string `yaml:"dir"`
}

type identitySection struct {
	SAML samlSection `yaml:"saml"`
}

type samlSection struct {
	MetadataFile      string     `yaml:"metadata_file"`
	AllowIDPInitiated bool       `yaml:"allow_idp_initiated"`
	JITProvisioning   bool       `yaml:"jit_provisioning"`
	ClockSkew         string     `yaml:"clock_skew"`
	ACSEndpoints      []endpoint `yaml:"acs_endpoints"`
}

// configYAML returns the gateway config for s. Paths are relative to the
// config file's folder.
func configYAML(s site) ([]byte, error) {
	c := configFile{
		ExternalURL: s.BaseURL(),
		Listen:      s.hostPort(),
		Store:       storeSection{Driver: "sqlite", DSN: databaseFileName},
		Keys:        keysSection{Dir: keysDirName},
		IdentitySource: identitySection{SAML: samlSection{
			MetadataFile:      metadataFileName,
			AllowIDPInitiated: true,
			JITProvisioning:   true,
			ClockSkew:         "90s",
			ACSEndpoints:      s.Endpoints(),
		}},
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return out, nil
}

// writeRunFiles writes the IdP metadata and the gateway config into dir and
// returns the config's path.
func writeRunFiles(dir string, s site, idpMetadata []byte) (string, error) {
	cfg, err := configYAML(s)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, metadataFileName), idpMetadata, 0o600); err != nil {
		return "", fmt.Errorf("write IdP metadata: %w", err)
	}
	path := filepath.Join(dir, configFileName)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1. Another
// process could take it before the gateway binds it; the gateway then fails
// to start and the tool reports that.
func freeLoopbackPort() (int, error) {
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

// checkLoopback fails unless raw is an http URL on a loopback IP address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme != "http" || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not an http URL on a loopback address", raw)
	}
	return nil
}
