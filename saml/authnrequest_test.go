package saml_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func TestAuthnRequestRoundTrip(t *testing.T) {
	idx := 3
	instant := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for name, req := range map[string]saml.AuthnRequest{
		"full": {
			ID: saml.NewID(), Issuer: spEntityID, Destination: "https://idp.example.com/sso",
			AssertionConsumerServiceURL: acsURL, ProtocolBinding: saml.BindingHTTPPost,
			NameIDPolicyFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			ForceAuthn:         true, IsPassive: true, IssueInstant: instant,
		},
		"minimal": {ID: saml.NewID(), Issuer: spEntityID, IssueInstant: instant},
		"index":   {ID: saml.NewID(), Issuer: spEntityID, IssueInstant: instant, AssertionConsumerServiceIndex: &idx},
		"escaped": {ID: saml.NewID(), Issuer: `https://sp.example.com/?a=1&b=<"x">`, IssueInstant: instant},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := req.Marshal()
			require.NoError(t, err)
			assert.NotContains(t, string(b), `=""`, "no empty attributes")
			got, err := saml.ParseAuthnRequest(b, saml.Limits{})
			require.NoError(t, err)
			assert.Equal(t, req, *got)
		})
	}
}

func TestAuthnRequestMarshalErrors(t *testing.T) {
	idx := 1
	instant := time.Now()
	for name, req := range map[string]saml.AuthnRequest{
		"no ID":         {Issuer: "x", IssueInstant: instant},
		"invalid ID":    {ID: "1abc", Issuer: "x", IssueInstant: instant},
		"no issuer":     {ID: "_a", IssueInstant: instant},
		"no instant":    {ID: "_a", Issuer: "x"},
		"URL and index": {ID: "_a", Issuer: "x", IssueInstant: instant, AssertionConsumerServiceURL: acsURL, AssertionConsumerServiceIndex: &idx},
	} {
		_, err := req.Marshal()
		assert.Error(t, err, name)
	}
}

func TestParseAuthnRequestErrors(t *testing.T) {
	const ok = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="2025-01-01T00:00:00Z"><saml:Issuer>sp</saml:Issuer></samlp:AuthnRequest>`
	_, err := saml.ParseAuthnRequest([]byte(ok), saml.Limits{})
	require.NoError(t, err, "positive control")
	for name, in := range map[string]string{
		"wrong root":       strings.ReplaceAll(ok, "AuthnRequest", "LogoutRequest"),
		"wrong namespace":  strings.Replace(ok, "SAML:2.0:protocol", "SAML:1.0:protocol", 1),
		"version":          strings.Replace(ok, `Version="2.0"`, `Version="1.1"`, 1),
		"bad ID":           strings.Replace(ok, `ID="_a"`, `ID="1 2"`, 1),
		"bad instant":      strings.Replace(ok, `2025-01-01T00:00:00Z`, `yesterday`, 1),
		"bad bool":         strings.Replace(ok, `ID="_a"`, `ID="_a" ForceAuthn="yes"`, 1),
		"bad index":        strings.Replace(ok, `ID="_a"`, `ID="_a" AssertionConsumerServiceIndex="70000"`, 1),
		"two issuers":      strings.Replace(ok, `</samlp:AuthnRequest>`, `<saml:Issuer>evil</saml:Issuer></samlp:AuthnRequest>`, 1),
		"DOCTYPE":          `<!DOCTYPE x>` + ok,
		"trailing content": ok + `<x/>`,
	} {
		_, err := saml.ParseAuthnRequest([]byte(in), saml.Limits{})
		assert.ErrorIs(t, err, saml.ErrMalformed, name)
	}
}
