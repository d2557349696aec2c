package saml

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The structural checks once ran on an etree tree of the whole response.
// The reference functions below are that implementation, kept verbatim as
// an oracle: the streaming checks must give the same verdict, reason and
// message on every document CheckXML accepts.

func refCheckRoot(root *etree.Element) *VerifyError {
	if root.Tag != "Response" || root.NamespaceURI() != NSProtocol {
		return fail(ReasonMalformed, "%w: root element is not samlp:Response", ErrMalformed)
	}
	return nil
}

func refCheckAssertionStructure(root *etree.Element) (*etree.Element, *VerifyError) {
	var found *etree.Element
	count := 0
	walk(root, func(el *etree.Element) {
		if el.Tag == "Assertion" || el.Tag == "EncryptedAssertion" {
			count++
			found = el
		}
	})
	if count != 1 {
		return nil, fail(ReasonAssertionCount, "%d assertions in response, want exactly 1", count)
	}
	if found.Parent() != root || found.NamespaceURI() != NSAssertion {
		return nil, fail(ReasonAssertionCount, "assertion is not a direct child of the Response")
	}
	return found, nil
}

func refCheckAlgorithms(root *etree.Element) *VerifyError {
	var verr *VerifyError
	walk(root, func(el *etree.Element) {
		if verr != nil {
			return
		}
		alg := attr(el, "Algorithm")
		parent := ""
		if p := el.Parent(); p != nil {
			parent = p.Tag
		}
		switch el.Tag {
		case "SignatureMethod":
			if !AllowedSignatureAlgorithm(alg) {
				verr = fail(ReasonAlgorithm, "signature algorithm %s not allowed", quoteShort(alg))
			}
		case "DigestMethod":
			if parent == "EncryptionMethod" {
				if _, ok := oaepDigest(alg); !ok {
					verr = fail(ReasonAlgorithm, "OAEP digest %s not allowed", quoteShort(alg))
				}
			} else if !AllowedDigestAlgorithm(alg) {
				verr = fail(ReasonAlgorithm, "digest algorithm %s not allowed", quoteShort(alg))
			}
		case "EncryptionMethod":
			switch parent {
			case "EncryptedKey":
				if !keyTransportAlgorithms[alg] {
					verr = fail(ReasonAlgorithm, "key transport %s not allowed", quoteShort(alg))
				}
			case "EncryptedData":
				if _, ok := dataEncryptionAlgorithms[alg]; !ok {
					verr = fail(ReasonAlgorithm, "data encryption %s not allowed", quoteShort(alg))
				}
			default:
				verr = fail(ReasonAlgorithm, "unexpected EncryptionMethod")
			}
		}
	})
	return verr
}

// refStructure is the former tree-based sequence; encrypted reports
// whether the one assertion found is an EncryptedAssertion.
func refStructure(t testing.TB, b []byte) (verr *VerifyError, encrypted bool) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = DefaultMaxDepth
	if err := doc.ReadFromBytes(b); err != nil || doc.Root() == nil {
		t.Fatalf("etree rejects what CheckXML accepts: %v", err)
	}
	root := doc.Root()
	if verr := refCheckRoot(root); verr != nil {
		return verr, false
	}
	el, verr := refCheckAssertionStructure(root)
	if verr != nil {
		return verr, false
	}
	if verr := refCheckAlgorithms(root); verr != nil {
		return verr, false
	}
	return nil, el.Tag == "EncryptedAssertion"
}

// streamStructure is the sequence verify runs now.
func streamStructure(b []byte) (verr *VerifyError, encrypted bool, err error) {
	var s responseShape
	if err := scanXML(b, Limits{}, s.visit); err != nil {
		return nil, false, err
	}
	for _, check := range []func(*responseShape) *VerifyError{checkRoot, checkAssertionStructure, checkScannedAlgorithms} {
		if verr := check(&s); verr != nil {
			return verr, false, nil
		}
	}
	return nil, s.assertion.Local == "EncryptedAssertion", nil
}

// compareStructure fails t when the streaming checks and the reference
// disagree on b, and returns the streaming verdict.
func compareStructure(t testing.TB, b []byte) (*VerifyError, bool) {
	got, gotEnc, err := streamStructure(b)
	checkErr := CheckXML(b, Limits{})
	if (err == nil) != (checkErr == nil) || err != nil && err.Error() != checkErr.Error() {
		t.Fatalf("scanXML with a visitor (%v) differs from CheckXML (%v)", err, checkErr)
	}
	if err != nil {
		return nil, false
	}
	want, wantEnc := refStructure(t, b)
	switch {
	case (got == nil) != (want == nil):
		t.Fatalf("streaming %v, reference %v", got, want)
	case got != nil && (got.Reason != want.Reason || got.Error() != want.Error()):
		t.Fatalf("streaming %q, reference %q", got.Error(), want.Error())
	case gotEnc != wantEnc:
		t.Fatalf("encrypted: streaming %v, reference %v", gotEnc, wantEnc)
	}
	return got, gotEnc
}

const (
	shapeSig = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>` +
		`<ds:Reference><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference>` +
		`</ds:SignedInfo></ds:Signature>`
	shapeAssertion = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a">` +
		`<saml:Issuer>i</saml:Issuer>` + shapeSig + `</saml:Assertion>`
	shapeOpen  = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">`
	shapeClose = `</samlp:Response>`
	shapeEnc   = `<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>` +
		`<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep">` +
		`<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod>` +
		`</xenc:EncryptedKey></ds:KeyInfo></xenc:EncryptedData></saml:EncryptedAssertion>`
)

// shapeCases are documents around one valid shape, each changing one
// thing, with the reason the checks must give ("" for accepted).
var shapeCases = []struct {
	name, xml string
	reason    Reason
	encrypted bool
}{
	{"valid", shapeOpen + shapeAssertion + shapeClose, "", false},
	{"valid encrypted", shapeOpen + shapeEnc + shapeClose, "", true},
	{"assertion namespace under another prefix", shapeOpen +
		`<a:Assertion xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion"><a:Issuer>i</a:Issuer></a:Assertion>` + shapeClose, "", false},
	{"assertion in the default namespace", shapeOpen +
		`<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"><Issuer>i</Issuer></Assertion>` + shapeClose, "", false},
	{"assertion inherits the root's default namespace",
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` +
			`<Assertion/>` + shapeClose, "", false},
	{"assertion inherits the root's saml prefix", shapeOpen + `<saml:Assertion/>` + shapeClose, "", false},
	{"response in the default namespace",
		`<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol">` + shapeAssertion + `</Response>`, "", false},
	{"response prefix bound to another namespace",
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:assertion">` + shapeAssertion + shapeClose, ReasonMalformed, false},
	{"response prefix undeclared", `<samlp:Response>` + shapeAssertion + shapeClose, ReasonMalformed, false},
	{"response without namespace", `<Response>` + shapeAssertion + `</Response>`, ReasonMalformed, false},
	{"root is an Assertion", shapeAssertion, ReasonMalformed, false},
	{"root is a LogoutResponse",
		`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` + shapeAssertion + `</samlp:LogoutResponse>`, ReasonMalformed, false},
	{"saml prefix rebound on the assertion", shapeOpen +
		`<saml:Assertion xmlns:saml="urn:evil"><saml:Issuer>i</saml:Issuer></saml:Assertion>` + shapeClose, ReasonAssertionCount, false},
	{"assertion in another default namespace", shapeOpen +
		`<Assertion xmlns="urn:evil"/>` + shapeClose, ReasonAssertionCount, false},
	{"default namespace undeclared on the assertion",
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` +
			`<Assertion xmlns=""/>` + shapeClose, ReasonAssertionCount, false},
	{"assertion prefix undeclared",
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><saml:Assertion/>` + shapeClose, ReasonAssertionCount, false},
	{"assertion without namespace",
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><Assertion/>` + shapeClose, ReasonAssertionCount, false},
	{"protocol namespace on the assertion", shapeOpen + `<samlp:Assertion/>` + shapeClose, ReasonAssertionCount, false},
	{"no assertion", shapeOpen + `<saml:Issuer>i</saml:Issuer>` + shapeClose, ReasonAssertionCount, false},
	{"two assertions", shapeOpen + shapeAssertion + shapeAssertion + shapeClose, ReasonAssertionCount, false},
	{"assertion and encrypted assertion", shapeOpen + shapeAssertion + shapeEnc + shapeClose, ReasonAssertionCount, false},
	{"foreign-namespace Assertion beside it", shapeOpen + `<x:Assertion xmlns:x="urn:x"/>` + shapeAssertion + shapeClose, ReasonAssertionCount, false},
	{"unprefixed foreign Assertion after it", shapeOpen + shapeAssertion + `<Assertion/>` + shapeClose, ReasonAssertionCount, false},
	{"only assertion in Extensions", shapeOpen + `<samlp:Extensions>` + shapeAssertion + `</samlp:Extensions>` + shapeClose, ReasonAssertionCount, false},
	{"assertion in Advice", shapeOpen +
		`<saml:Assertion><saml:Advice>` + shapeAssertion + `</saml:Advice></saml:Assertion>` + shapeClose, ReasonAssertionCount, false},
	{"RSA-SHA1 SignatureMethod", shapeOpen +
		strings.Replace(shapeAssertion, "rsa-sha256", "rsa-sha1", 1) + shapeClose, ReasonAlgorithm, false},
	{"SHA-1 DigestMethod", shapeOpen +
		strings.Replace(shapeAssertion, "xmlenc#sha256", "xmldsig#sha1", 1) + shapeClose, ReasonAlgorithm, false},
	{"SignatureMethod without Algorithm", shapeOpen +
		strings.Replace(shapeAssertion, `Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"`, "", 1) + shapeClose, ReasonAlgorithm, false},
	{"prefixed Algorithm attribute is not the Algorithm", shapeOpen +
		strings.Replace(shapeAssertion, `<ds:SignatureMethod Algorithm=`, `<ds:SignatureMethod ds:Algorithm=`, 1) + shapeClose, ReasonAlgorithm, false},
	{"weak SignatureMethod in a foreign namespace", shapeOpen +
		`<samlp:Extensions><f:SignatureMethod xmlns:f="urn:f" Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/></samlp:Extensions>` +
		shapeAssertion + shapeClose, ReasonAlgorithm, false},
	{"weak DigestMethod after the assertion", shapeOpen + shapeAssertion +
		`<DigestMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#md5"/>` + shapeClose, ReasonAlgorithm, false},
	{"EncryptionMethod outside EncryptedKey and EncryptedData", shapeOpen + shapeAssertion +
		`<samlp:Extensions><xenc:EncryptionMethod xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/></samlp:Extensions>` +
		shapeClose, ReasonAlgorithm, false},
	{"RSA-1_5 key transport", shapeOpen +
		strings.Replace(shapeEnc, "xmlenc11#rsa-oaep", "xmlenc#rsa-1_5", 1) + shapeClose, ReasonAlgorithm, true},
	{"AES-CBC data encryption", shapeOpen +
		strings.Replace(shapeEnc, "xmlenc11#aes256-gcm", "xmlenc#aes256-cbc", 1) + shapeClose, ReasonAlgorithm, true},
	{"MD5 OAEP digest", shapeOpen +
		strings.Replace(shapeEnc, "xmldsig#sha1", "xmldsig-more#md5", 1) + shapeClose, ReasonAlgorithm, true},
	{"root check before count", `<Response>` + shapeAssertion + shapeAssertion + `</Response>`, ReasonMalformed, false},
	{"count before algorithms", shapeOpen +
		strings.Replace(shapeAssertion, "rsa-sha256", "rsa-sha1", 1) + shapeAssertion + shapeClose, ReasonAssertionCount, false},
}

func TestStructureMatchesTreeChecks(t *testing.T) {
	for _, tc := range shapeCases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, CheckXML([]byte(tc.xml), Limits{}))
			got, enc := compareStructure(t, []byte(tc.xml))
			if tc.reason == "" {
				require.Nil(t, got)
				assert.Equal(t, tc.encrypted, enc)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tc.reason, got.Reason, "%v", got)
		})
	}
}

func TestNamespaceURI(t *testing.T) {
	root := `<r xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q">`
	for _, tc := range []struct{ doc, want string }{
		{root + `<a/></r>`, "urn:d"},
		{root + `<p:a/></r>`, "urn:p"},
		{root + `<p:a xmlns:p="urn:inner"/></r>`, "urn:inner"},
		{root + `<a xmlns=""/></r>`, ""},
		{root + `<x:a/></r>`, ""},
		{`<r><a/></r>`, ""},
		{`<r xmlns:p="urn:p"><a xmlns="urn:own"/></r>`, "urn:own"},
	} {
		var rootAttr [][]xml.Attr
		got := "unset"
		require.NoError(t, scanXML([]byte(tc.doc), Limits{}, func(el xml.StartElement, _ string, depth int) {
			if depth == 0 {
				rootAttr = append(rootAttr, el.Attr)
				return
			}
			got = namespaceURI(el.Name.Space, el.Attr, rootAttr[0])
		}))
		assert.Equal(t, tc.want, got, tc.doc)
	}
}

// FuzzStructure: on every document CheckXML accepts, the streaming
// structural checks agree with the tree-based reference.
func FuzzStructure(f *testing.F) {
	for _, tc := range shapeCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		compareStructure(t, b)
	})
}

// benchShapeXML is shaped like BenchmarkVerifyResponse's response: a
// signed assertion with 8 attributes of 3 values each, about 6 KB.
func benchShapeXML() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + shapeOpen +
		`<saml:Issuer>https://idp.example.com/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_0123456789abcdef0123456789abcdef" Version="2.0" IssueInstant="2026-06-01T12:00:00Z">` +
		`<saml:Issuer>https://idp.example.com/metadata</saml:Issuer>` + shapeSig +
		`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@example.com</saml:NameID>` +
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="_0123456789abcdef0123456789abcdef" NotOnOrAfter="2026-06-01T12:05:00Z" Recipient="https://eu.sp.example.com/saml/acs"/></saml:SubjectConfirmation></saml:Subject>` +
		`<saml:Conditions NotBefore="2026-06-01T12:00:00Z" NotOnOrAfter="2026-06-01T12:05:00Z"><saml:AudienceRestriction><saml:Audience>https://sp.example.com/saml/metadata</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
		`<saml:AuthnStatement AuthnInstant="2026-06-01T12:00:00Z" SessionIndex="_s"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>`)
	for i := range 8 {
		b.WriteString(`<saml:Attribute Name="urn:oid:1.3.6.1.4.1.5923.1.1.1.` + string(rune('0'+i)) + `" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">`)
		for _, v := range []string{"value-a@example.com", "value-b-with-some-length", "group-engineering-platform-team"} {
			b.WriteString(`<saml:AttributeValue>` + v + `</saml:AttributeValue>`)
		}
		b.WriteString(`</saml:Attribute>`)
	}
	b.WriteString(`</saml:AttributeStatement></saml:Assertion>` + shapeClose)
	return []byte(b.String())
}

// BenchmarkStructure compares the pre-verification stage of verify, from
// the form value to the string handed to gosaml2: the former tree-based
// checks against the streaming ones.
func BenchmarkStructure(b *testing.B) {
	enc := EncodePOST(benchShapeXML())
	b.Run("tree", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := DecodePOST(enc, Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if verr, _ := refStructure(b, raw); verr != nil {
				b.Fatal(verr)
			}
			_ = EncodePOST(raw)
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := decodeBase64(enc, Limits{}.withDefaults())
			if err != nil {
				b.Fatal(err)
			}
			if verr, _, err := streamStructure(raw); err != nil || verr != nil {
				b.Fatal(err, verr)
			}
			_ = gosaml2Input(enc, raw)
		}
	})
}
