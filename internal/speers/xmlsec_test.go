package speers

import (
	"encoding/pem"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func TestXMLSecVerify(t *testing.T) {
	idp, err := samltest.NewIdP("https://idp.example/metadata")
	require.NoError(t, err)
	other, err := samltest.NewIdP("https://idp.example/metadata")
	require.NoError(t, err)
	spCert, err := samltest.NewSP("https://sp.example/metadata", "https://sp.example/acs")
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})

	base := func() samltest.ResponseOptions {
		return samltest.ResponseOptions{
			Destination: "https://sp.example/acs", Audience: "https://sp.example/metadata",
			InResponseTo: "_req1", NameID: "alice", Attributes: aliceAttributes(),
		}
	}
	setText := func(path, text string) func(*samltest.ResponseOptions) {
		return func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { doc.FindElement(path).SetText(text) }
		}
	}
	for _, tc := range []struct {
		name    string
		idp     *samltest.IdP
		change  func(*samltest.ResponseOptions)
		wantErr bool
	}{
		{name: "assertion signed (control)", idp: idp},
		{name: "response and assertion signed", idp: idp, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignBoth }},
		{name: "response signed, assertion encrypted", idp: idp, change: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignBoth
			o.EncryptTo = spCert.Certificate()
		}},
		{name: "signed by another key", idp: other, wantErr: true},
		{name: "response signed by another key", idp: other, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignResponse }, wantErr: true},
		{name: "unsigned", idp: idp, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }, wantErr: true},
		{name: "attribute value changed after signing", idp: idp, change: setText("//AttributeValue", "eve@example.com"), wantErr: true},
		{name: "NameID changed after signing", idp: idp, change: setText("//NameID", "eve"), wantErr: true},
		{name: "assertion signature moved to the response (wrapping)", idp: idp, change: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				sig := doc.FindElement("//Assertion/Signature")
				sig.Parent().RemoveChild(sig)
				doc.Root().InsertChildAt(1, sig)
			}
		}, wantErr: true},
		{name: "second copy of the assertion's ID", idp: idp, change: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				evil := doc.FindElement("//Assertion").Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				doc.Root().AddChild(evil)
			}
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			if tc.change != nil {
				tc.change(&o)
			}
			xml, err := tc.idp.Response(o)
			require.NoError(t, err)
			err = XMLSecVerify(t, xml, certPEM)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrXMLSec)
				return
			}
			require.NoError(t, err)
		})
	}
}
