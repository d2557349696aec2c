package main

import (
	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// site is the gateway the tool configures.
type site struct {
	loadkit.Site
}

// EntityID is the SP entity ID the gateway defaults to.
func (s site) EntityID() string { return s.BaseURL() + "/saml/sp/metadata" }

// Endpoints are the two regional ACS endpoints, sharing the host with
// different paths.
func (s site) Endpoints() []loadkit.Endpoint {
	return []loadkit.Endpoint{
		{Region: "us-east-1", URL: s.BaseURL() + "/saml/acs"},
		{Region: "eu-west-1", URL: s.BaseURL() + "/eu-west-1/saml/acs"},
	}
}

// configYAML returns the gateway config for s: IdP-initiated sign-in with
// JIT provisioning at both regional endpoints. Paths are relative to the
// config file's folder.
func configYAML(s site) ([]byte, error) {
	c := loadkit.BaseConfig(s.Site, s.Endpoints()...)
	c.IdentitySource.SAML.AllowIDPInitiated = true
	c.IdentitySource.SAML.JITProvisioning = true
	c.IdentitySource.SAML.ClockSkew = "90s"
	return loadkit.RenderConfig(c)
}

// writeRunFiles writes the IdP metadata and the gateway config into dir and
// returns the config's path.
func writeRunFiles(dir string, s site, idpMetadata []byte) (string, error) {
	cfg, err := configYAML(s)
	if err != nil {
		return "", err
	}
	return loadkit.WriteRunFiles(dir, cfg, loadkit.RunFile{Name: loadkit.MetadataFile, What: "IdP metadata", Data: idpMetadata})
}
