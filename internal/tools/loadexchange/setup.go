package main

import (
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// jwksFileName is the trusted issuer's JWK Set inside the run folder.
const jwksFileName = "corp-jwks.json"

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

// site is the gateway the tool configures.
type site struct {
	loadkit.Site
}

// TokenURL is the gateway's token endpoint.
func (s site) TokenURL() string { return s.BaseURL() + oauth.PathToken }

// ACSURL is the gateway's one SAML ACS endpoint (the config needs one; the
// run never signs in).
func (s site) ACSURL() string { return s.BaseURL() + "/saml/acs" }

// configFile is the YAML shape of the config: loadkit's keys and the
// oauth section. Field names are those of CONTRACT.md.
type configFile struct {
	loadkit.Config `yaml:",inline"`
	OAuth          oauthSection `yaml:"oauth"`
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
		Config: loadkit.BaseConfig(s.Site, loadkit.Endpoint{Region: "us-east-1", URL: s.ACSURL()}),
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
	return loadkit.RenderConfig(c)
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
	return loadkit.WriteRunFiles(dir, cfg,
		loadkit.RunFile{Name: loadkit.MetadataFile, What: "IdP metadata", Data: idpMetadata},
		loadkit.RunFile{Name: jwksFileName, What: "JWK Set", Data: jwks})
}
