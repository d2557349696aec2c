package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

// File names inside the run folder.
const (
	configFileName   = "gatehouse.yaml"
	metadataFileName = "idp.xml"
	jwksFileName     = "corp-jwks.json"
	databaseFileName = "gatehouse.db"
	keysDirName      = "keys"
	logFileName      = "gatehouse.log"
)

// The OAuth names of the generated config.
const (
	clientID = "loadexchange"
	// secretEnv is the environment variable the config takes the client
	// secret from, so that the secret is in no file.
	secretEnv     = "LOADEXCHANGE_CLIENT_SECRET"
	issuerName    = "corp"
	issuerURL     = "https://corp-idp.loadexchange.test"
	issuerKID     = "corp-1"
	tokenAudience = "gatehouse"
	serviceURL    = "https://warehouse.loadexchange.test"
	serviceScope  = "warehouse.read"
	idpEntityID   = "https://idp.loadexchange.test/metadata"
	idpSSOURL     = "https://idp.loadexchange.test/sso"
)

// site describes the gateway the tool configures: everything derives from
// its loopback port.
type site struct {
	Port int
}

func (s site) hostPort() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// BaseURL is the gateway's external_url.
func (s site) BaseURL() string { return "http://" + s.hostPort() }

// ReadyURL is the gateway's readiness endpoint.
func (s site) ReadyURL() string { return s.BaseURL() + "/readyz" }

// TokenURL is the gateway's token endpoint.
func (s site) TokenURL() string { return s.BaseURL() + oauth.PathToken }

// ACSURL is the gateway's one SAML ACS endpoint (the config needs one; the
// run never signs in).
func (s site) ACSURL() string { return s.BaseURL() + "/saml/acs" }

// The YAML shape of the keys the tool sets; everything else is left to the
// gateway's defaults. Field names are those of CONTRACT.md.
type configFile struct {
	ExternalURL    string          `yaml:"external_url"`
	Listen         string          `yaml:"listen"`
	Store          storeSection    `yaml:"store"`
	Keys           keysSection     `yaml:"keys"`
	IdentitySource identitySection `yaml:"identity_source"`
	OAuth          oauthSection    `yaml:"oauth"`
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
	MetadataFile string     `yaml:"metadata_file"`
	ACSEndpoints []endpoint `yaml:"acs_endpoints"`
}

type endpoint struct {
	Region string `yaml:"region"`
	URL    string `yaml:"url"`
}

type oauthSection struct {
	SigningAlg          string         `yaml:"signing_alg"`
	Clients             []clientEntry  `yaml:"clients"`
	TrustedTokenIssuers []issuerEntry  `yaml:"trusted_token_issuers"`
	DataServices        []serviceEntry `yaml:"data_services"`
}

type clientEntry struct {
	ID         string   `yaml:"id"`
	Secret     string   `yaml:"secret"`
	GrantTypes []string `yaml:"grant_types"`
	Audiences  []string `yaml:"audiences"`
	Scopes     []string `yaml:"scopes"`
}

type issuerEntry struct {
	Name          string   `yaml:"name"`
	Issuer        string   `yaml:"issuer"`
	JWKSFile      string   `yaml:"jwks_file"`
	Audiences     []string `yaml:"audiences"`
	Claim         string   `yaml:"claim"`
	UserAttribute string   `yaml:"user_attribute"`
}

type serviceEntry struct {
	Audience string   `yaml:"audience"`
	Scopes   []string `yaml:"scopes"`
}

// configYAML returns the gateway config for s with access tokens signed
// with alg: a SQLite store, one confidential client whose secret comes
// from $LOADEXCHANGE_CLIENT_SECRET, one trusted issuer with a jwks_file
// whose tokens name users by email, and one data service. Paths are
// relative to the config file's folder.
func configYAML(s site, alg string) ([]byte, error) {
	c := configFile{
		ExternalURL: s.BaseURL(),
		Listen:      s.hostPort(),
		Store:       storeSection{Driver: "sqlite", DSN: databaseFileName},
		Keys:        keysSection{Dir: keysDirName},
		IdentitySource: identitySection{SAML: samlSection{
			MetadataFile: metadataFileName,
			ACSEndpoints: []endpoint{{Region: "us-east-1", URL: s.ACSURL()}},
		}},
		OAuth: oauthSection{
			SigningAlg: alg,
			Clients: []clientEntry{{
				ID: clientID, Secret: "${" + secretEnv + "}",
				GrantTypes: []string{oauth.GrantTokenExchange},
				Audiences:  []string{serviceURL},
				Scopes:     []string{serviceScope},
			}},
			TrustedTokenIssuers: []issuerEntry{{
				Name: issuerName, Issuer: issuerURL, JWKSFile: jwksFileName,
				Audiences: []string{tokenAudience}, Claim: "email", UserAttribute: "email",
			}},
			DataServices: []serviceEntry{{Audience: serviceURL, Scopes: []string{serviceScope, "warehouse.write"}}},
		},
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return out, nil
}

// jwksJSON is the JWK Set of the trusted issuer's public key pub, with the
// kid and alg the gateway requires.
func jwksJSON(pub jwk.Key) ([]byte, error) {
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return out, nil
}

// writeRunFiles writes the IdP metadata, the trusted issuer's JWK Set and
// the gateway config into dir and returns the config's path.
func writeRunFiles(dir string, s site, alg string, idpMetadata, jwks []byte) (string, error) {
	cfg, err := configYAML(s, alg)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, metadataFileName), idpMetadata, 0o600); err != nil {
		return "", fmt.Errorf("write IdP metadata: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, jwksFileName), jwks, 0o600); err != nil {
		return "", fmt.Errorf("write JWK Set: %w", err)
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
