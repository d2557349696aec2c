package speers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func TestAvailableUnknown(t *testing.T) {
	ok, hint := Available("no-such-sp")
	assert.False(t, ok)
	assert.Contains(t, hint, "unknown SP")
}

func TestSPOptionsNormalized(t *testing.T) {
	md := []byte("<md/>")
	for _, tc := range []struct {
		name    string
		o       SPOptions
		wantErr bool
	}{
		{name: "defaults (control)", o: SPOptions{IdPMetadata: md}},
		{name: "custom map", o: SPOptions{IdPMetadata: md, AttributeMap: []AttributeMapping{{ID: "abac_team", Names: []string{"https://aws.amazon.com/SAML/Attributes/AccessControl:Team"}}}}},
		{name: "no metadata", o: SPOptions{}, wantErr: true},
		{name: "ID with a dash", o: SPOptions{IdPMetadata: md, AttributeMap: []AttributeMapping{{ID: "team-name", Names: []string{"team"}}}}, wantErr: true},
		{name: "ID taken by the NameID", o: SPOptions{IdPMetadata: md, AttributeMap: []AttributeMapping{{ID: "nameid_x", Names: []string{"x"}}}}, wantErr: true},
		{name: "no names", o: SPOptions{IdPMetadata: md, AttributeMap: []AttributeMapping{{ID: "team"}}}, wantErr: true},
		{name: "name mapped twice", o: SPOptions{IdPMetadata: md, AttributeMap: []AttributeMapping{{ID: "a", Names: []string{"x"}}, {ID: "b", Names: []string{"x"}}}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.normalized()
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.NotEmpty(t, got.AttributeMap)
		})
	}
}

func TestParseIdPMetadata(t *testing.T) {
	idp, err := samltest.NewIdP("https://idp.example/metadata")
	require.NoError(t, err)
	good := idp.Metadata("https://idp.example/sso")
	info, err := parseIdPMetadata(good)
	require.NoError(t, err)
	assert.Equal(t, "https://idp.example/metadata", info.entityID)
	assert.Equal(t, "https://idp.example/sso", info.ssoRedirect)
	require.Len(t, info.certsPEM, 1)

	for name, md := range map[string]string{
		"not XML":             "<",
		"not metadata":        `<x/>`,
		"no IDPSSO":           `<EntityDescriptor entityID="e"/>`,
		"no redirect":         `<EntityDescriptor entityID="e"><IDPSSODescriptor><KeyDescriptor><KeyInfo><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>`,
		"bad certificate":     `<EntityDescriptor entityID="e"><IDPSSODescriptor><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="x"/><KeyDescriptor><KeyInfo><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>`,
		"encryption key only": `<EntityDescriptor entityID="e"><IDPSSODescriptor><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="x"/><KeyDescriptor use="encryption"><KeyInfo><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseIdPMetadata([]byte(md))
			require.Error(t, err)
		})
	}
}

func FuzzParseIdPMetadata(f *testing.F) {
	idp, err := samltest.NewIdP("https://idp.example/metadata")
	require.NoError(f, err)
	f.Add(idp.Metadata("https://idp.example/sso"))
	f.Add([]byte(`<EntityDescriptor entityID="e"><IDPSSODescriptor/></EntityDescriptor>`))
	f.Add([]byte("<"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := parseIdPMetadata(b)
		if err == nil && (info.entityID == "" || info.ssoRedirect == "" || len(info.certsPEM) == 0) {
			t.Fatalf("accepted incomplete metadata: %+v", info)
		}
	})
}

func FuzzCheckSignaturePlacement(f *testing.F) {
	idp, err := samltest.NewIdP("https://idp.example/metadata")
	require.NoError(f, err)
	for _, mode := range []samltest.SignMode{samltest.SignAssertion, samltest.SignResponse, samltest.SignBoth, samltest.SignNone} {
		xml, err := idp.Response(samltest.ResponseOptions{Destination: "https://sp/acs", Audience: "https://sp", NameID: "alice", Sign: mode})
		require.NoError(f, err)
		f.Add(xml)
	}
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := checkSignaturePlacement(b)
		if err == nil && n < 1 {
			t.Fatalf("no signature accepted")
		}
	})
}
