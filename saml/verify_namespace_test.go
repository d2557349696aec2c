package saml_test

import (
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// renamePrefix moves el and its descendants from prefix from to prefix to
// ("" for the default namespace), declaring uri for it on el.
func renamePrefix(el *etree.Element, from, to, uri string) {
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if e.Space == from {
			e.Space = to
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	el.RemoveAttr("xmlns:" + from)
	if to == "" {
		el.CreateAttr("xmlns", uri)
	} else {
		el.CreateAttr("xmlns:"+to, uri)
	}
}

// The structural checks resolve namespaces from declarations, never from
// prefixes: prefixes an IdP may legally choose are accepted, namespace
// tricks are not.
func TestVerifyResponseNamespaces(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))

	// Positive controls, signed after the renaming.
	for name, mutate := range map[string]func(o *samltest.ResponseOptions){
		"assertion namespace under another prefix": func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { renamePrefix(a, "saml", "asrt", saml.NSAssertion) }
		},
		"assertion in the default namespace": func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { renamePrefix(a, "saml", "", saml.NSAssertion) }
		},
		"assertion inherits the Response's default namespace": func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(resp, a *etree.Element) {
				renamePrefix(a, "saml", "", saml.NSAssertion)
				a.RemoveAttr("xmlns")
				resp.CreateAttr("xmlns", saml.NSAssertion)
			}
		},
		"Response in the default namespace, signed": func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignBoth
			o.BeforeSign = func(resp, _ *etree.Element) { renamePrefix(resp, "samlp", "", saml.NSProtocol) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(now)
			mutate(&o)
			enc, err := k.idp.EncodedResponse(o)
			require.NoError(t, err)
			a, err := v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
			require.NoError(t, err)
			assert.Equal(t, "alice@example.com", a.NameID())
		})
	}

	cases := []negativeCase{
		{name: "saml prefix rebound on the assertion", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { findChild(doc.Root(), "Assertion").CreateAttr("xmlns:saml", "urn:evil") }
		}},
		{name: "assertion in another default namespace", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { renamePrefix(a, "saml", "", "urn:evil") }
		}},
		{name: "inherited default namespace undeclared on the assertion", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(resp, a *etree.Element) {
				renamePrefix(a, "saml", "", "")
				resp.CreateAttr("xmlns", saml.NSAssertion)
			}
		}},
		{name: "samlp prefix bound to the assertion namespace", reason: saml.ReasonMalformed, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { doc.Root().CreateAttr("xmlns:samlp", saml.NSAssertion) }
		}},
		{name: "only assertion moved into Extensions", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignResponse
			o.AfterSign = func(doc *etree.Document) {
				root := doc.Root()
				a := findChild(root, "Assertion")
				root.RemoveChild(a)
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(a)
				root.InsertChildAt(findChild(root, "Issuer").Index()+1, ext)
			}
		}},
		{name: "assertion nested in Advice", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) {
				nested := a.Copy()
				a.InsertChildAt(findChild(a, "Conditions").Index()+1, etree.NewElement("saml:Advice"))
				findChild(a, "Advice").AddChild(nested)
			}
		}},
		{name: "foreign-namespace Assertion beside it", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				x := doc.Root().CreateElement("x:Assertion")
				x.CreateAttr("xmlns:x", "urn:x")
			}
		}},
		{name: "weak SignatureMethod in a foreign namespace", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				ext := etree.NewElement("samlp:Extensions")
				m := ext.CreateElement("f:SignatureMethod")
				m.CreateAttr("xmlns:f", "urn:f")
				m.CreateAttr("Algorithm", samltest.SigAlgRSASHA1)
				doc.Root().InsertChildAt(findChild(doc.Root(), "Issuer").Index()+1, ext)
			}
		}},
		{name: "EncryptionMethod outside EncryptedKey and EncryptedData", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				ext := etree.NewElement("samlp:Extensions")
				m := ext.CreateElement("xenc:EncryptionMethod")
				m.CreateAttr("xmlns:xenc", saml.NSXMLEnc)
				m.CreateAttr("Algorithm", "http://www.w3.org/2009/xmlenc11#aes256-gcm")
				doc.Root().InsertChildAt(findChild(doc.Root(), "Issuer").Index()+1, ext)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(now)
			tc.mutate(&o)
			b, err := k.idp.Response(o)
			require.NoError(t, err)
			a, err := v.VerifyResponse(saml.EncodePOST(b), saml.Expected{Destination: acsURL, Now: now})
			require.Error(t, err)
			assert.Nil(t, a)
			assert.Equal(t, tc.reason, saml.ReasonOf(err), "%v", err)
		})
	}
}

// A form value with line breaks, as some IdPs send it, is decoded once by
// Gatehouse and handed to gosaml2 re-encoded; spaces and tabs, which
// gosaml2's decoder does not skip, are tolerated the same way.
func TestVerifyResponseWrappedBase64(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	enc, err := k.idp.EncodedResponse(baseOptions(now))
	require.NoError(t, err)
	for name, sep := range map[string]string{"plain": "", "CRLF": "\r\n", "LF": "\n", "space": " ", "tab": "\t"} {
		t.Run(name, func(t *testing.T) {
			wrapped := ""
			for i := 0; i < len(enc); i += 76 {
				wrapped += enc[i:min(i+76, len(enc))] + sep
			}
			a, err := v.VerifyResponse(wrapped, saml.Expected{Destination: acsURL, Now: now})
			require.NoError(t, err)
			assert.Equal(t, "alice@example.com", a.NameID())
		})
	}
}
