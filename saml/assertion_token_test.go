package saml_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// tokenEndpoint is the Recipient of assertions used as OAuth tokens.
const tokenEndpoint = "https://gatehouse.example.com/oauth/token"

// tokenOptions describe a valid RFC 7522 assertion: Recipient the token
// endpoint, no InResponseTo, signed by the assertion's own signature.
func tokenOptions(now time.Time) samltest.ResponseOptions {
	o := baseOptions(now)
	o.Destination = tokenEndpoint
	o.InResponseTo = ""
	return o
}

// bareAssertion builds a Response with o and returns its Assertion (or
// EncryptedAssertion) as a document of its own, without XML declaration.
func bareAssertion(tb testing.TB, idp *samltest.IdP, o samltest.ResponseOptions) []byte {
	tb.Helper()
	b, err := idp.Response(o)
	require.NoError(tb, err)
	doc := etree.NewDocument()
	require.NoError(tb, doc.ReadFromBytes(b))
	a := findChild(doc.Root(), "Assertion")
	if a == nil {
		a = findChild(doc.Root(), "EncryptedAssertion")
	}
	require.NotNil(tb, a)
	a = a.Copy()
	if a.SelectAttr("xmlns:saml") == nil {
		a.CreateAttr("xmlns:saml", saml.NSAssertion)
	}
	out := etree.NewDocument()
	out.SetRoot(a)
	s, err := out.WriteToBytes()
	require.NoError(tb, err)
	return s
}

func encodeToken(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func tokenExpected(now time.Time) saml.Expected {
	return saml.Expected{Destination: tokenEndpoint, Now: now}
}

func TestVerifyAssertionPositive(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	b := bareAssertion(t, k.idp, tokenOptions(now))
	for name, enc := range map[string]string{
		"base64url without padding": encodeToken(b),
		"base64url with padding":    base64.URLEncoding.EncodeToString(append(b, ' ')),
		"with XML declaration":      encodeToken(append([]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"), b...)),
		"with comments around":      encodeToken(append(append([]byte("<!-- before -->\n"), b...), []byte("\n<!-- after -->")...)),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := v.VerifyAssertion(enc, tokenExpected(now))
			require.NoError(t, err)
			assert.Equal(t, "alice@example.com", a.NameID())
			assert.Equal(t, idpEntityID, a.Issuer())
			assert.Empty(t, a.InResponseTo())
			assert.NotEmpty(t, a.ID())
			assert.Equal(t, []string{"admins", "engineering"}, a.Attribute("groups"))
		})
	}

	// signedAlone signs an unsigned bare assertion on its own, after
	// rewriting its bytes.
	signedAlone := func(t *testing.T, rewrite func([]byte) []byte) []byte {
		o := tokenOptions(now)
		o.Sign = samltest.SignNone
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(rewrite(bareAssertion(t, k.idp, o))))
		_, err := saml.Sign(doc.Root(), k.idp.Signer(), [][]byte{k.idp.Certificate().Raw}, saml.SigAlgRSASHA256)
		require.NoError(t, err)
		b, err := doc.WriteToBytes()
		require.NoError(t, err)
		return b
	}
	for name, rewrite := range map[string]func([]byte) []byte{
		"signed on its own, not inside a Response": func(b []byte) []byte { return b },
		"default namespace, no prefix": func(b []byte) []byte {
			b = bytes.ReplaceAll(b, []byte("xmlns:saml="), []byte("xmlns="))
			b = bytes.ReplaceAll(b, []byte("<saml:"), []byte("<"))
			return bytes.ReplaceAll(b, []byte("</saml:"), []byte("</"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := v.VerifyAssertion(encodeToken(signedAlone(t, rewrite)), tokenExpected(now))
			require.NoError(t, err)
			assert.Equal(t, "alice@example.com", a.NameID())
		})
	}

	t.Run("key rollover without KeyInfo", func(t *testing.T) {
		cfg := verifierConfig(k)
		cfg.Certificates = append(cfg.Certificates, k.idp2.Certificate())
		v := newVerifier(t, cfg)
		o := tokenOptions(now)
		o.OmitKeyInfo = true
		_, err := v.VerifyAssertion(encodeToken(bareAssertion(t, k.idp2, o)), tokenExpected(now))
		require.NoError(t, err)
	})
}

// TestVerifyAssertionNegative starts each case from the valid token of
// TestVerifyAssertionPositive and changes one thing.
func TestVerifyAssertionNegative(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))

	// A second, genuinely signed assertion of the same IdP.
	signedOther := bareAssertion(t, k.idp, func() samltest.ResponseOptions {
		o := tokenOptions(now)
		o.NameID = "mallory@example.com"
		return o
	}())
	parse := func(b []byte) *etree.Document {
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(b))
		return doc
	}
	write := func(doc *etree.Document) []byte {
		b, err := doc.WriteToBytes()
		require.NoError(t, err)
		return b
	}

	cases := []struct {
		name   string
		mutate func(o *samltest.ResponseOptions)
		raw    func(b []byte) []byte
		encode func(b []byte) string
		exp    func(e *saml.Expected)
		reason saml.Reason
		detail string
	}{
		{name: "wrong audience", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) { o.Audience = "https://other-sp.example.com" }},
		{name: "missing AudienceRestriction", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) { o.OmitAudience = true }},
		{name: "wrong recipient", reason: saml.ReasonRecipient, mutate: func(o *samltest.ResponseOptions) { o.Recipient = "https://gatehouse.example.com/oauth/token/" }},
		{name: "ACS assertion at the token endpoint", reason: saml.ReasonRecipient, mutate: func(o *samltest.ResponseOptions) { o.Destination = acsURL }},
		{name: "expired", reason: saml.ReasonExpired, mutate: func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore, o.NotOnOrAfter = now.Add(-4*time.Minute), now.Add(-4*time.Minute), now.Add(-2*time.Minute)
		}},
		{name: "not yet valid", reason: saml.ReasonNotYetValid, mutate: func(o *samltest.ResponseOptions) { o.NotBefore = now.Add(2 * time.Minute) }},
		{name: "lifetime too long", reason: saml.ReasonLifetime, mutate: func(o *samltest.ResponseOptions) { o.NotOnOrAfter = now.Add(3 * time.Hour) }},
		{name: "InResponseTo present", reason: saml.ReasonInResponseToMismatch, mutate: func(o *samltest.ResponseOptions) { o.InResponseTo = requestID }},
		{name: "unsigned", reason: saml.ReasonSignature, detail: "not signed", mutate: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }},
		{name: "only the Response was signed", reason: saml.ReasonSignature, detail: "not signed", mutate: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignResponse }},
		{name: "signature over modified content", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { findDeep(doc.Root(), "NameID").SetText("mallory@example.com") }
		}},
		{name: "tampered attribute", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { findDeep(doc.Root(), "AttributeValue").SetText("root") }
		}},
		{name: "signed by an untrusted key", reason: saml.ReasonSignature, raw: func([]byte) []byte {
			return bareAssertion(t, k.other, tokenOptions(now))
		}},
		{name: "wrong issuer", reason: saml.ReasonIssuer, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { findChild(a, "Issuer").SetText("https://evil.example.com") }
		}},
		{name: "RSA-SHA1 signature", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) { o.SigAlg = samltest.SigAlgRSASHA1 }},
		{name: "inclusive canonicalization", reason: saml.ReasonAlgorithm, raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("http://www.w3.org/2001/10/xml-exc-c14n#"), []byte("http://www.w3.org/TR/2001/REC-xml-c14n-20010315"), 1)
		}},
		{name: "second signed assertion inside", reason: saml.ReasonAssertionCount, raw: func(b []byte) []byte {
			doc := parse(b)
			doc.Root().CreateElement("saml:Advice").AddChild(parse(signedOther).Root())
			return write(doc)
		}},
		{name: "XSW: signed assertion wrapped in a forged one", reason: saml.ReasonAssertionCount, raw: func(b []byte) []byte {
			doc := parse(b)
			forged := doc.Root().Copy()
			findDeep(forged, "NameID").SetText("mallory@example.com")
			forged.RemoveChild(findChild(forged, "Signature"))
			forged.CreateElement("saml:Advice").AddChild(doc.Root())
			out := etree.NewDocument()
			out.SetRoot(forged)
			return write(out)
		}},
		{name: "a whole Response", reason: saml.ReasonMalformed, detail: "not saml:Assertion", raw: func([]byte) []byte {
			b, err := k.idp.Response(tokenOptions(now))
			require.NoError(t, err)
			return b
		}},
		{name: "encrypted assertion", reason: saml.ReasonMalformed, detail: "encrypted", mutate: func(o *samltest.ResponseOptions) { o.EncryptTo = k.spCert }},
		{name: "decoy second signature", reason: saml.ReasonSignature, raw: func(b []byte) []byte {
			doc := parse(b)
			doc.Root().AddChild(findChild(parse(signedOther).Root(), "Signature"))
			return write(doc)
		}},
		{name: "signature moved below the assertion", reason: saml.ReasonSignature, raw: func(b []byte) []byte {
			doc := parse(b)
			sig := findChild(doc.Root(), "Signature")
			doc.Root().RemoveChild(sig)
			findChild(doc.Root(), "Subject").AddChild(sig)
			return write(doc)
		}},
		{name: "envelope prefix declared", reason: saml.ReasonMalformed, detail: "reserved", mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { a.CreateAttr("xmlns:gatehouse-envelope", "urn:example") }
		}},
		{name: "envelope prefix in an InclusiveNamespaces PrefixList", reason: saml.ReasonMalformed, detail: "reserved", raw: func(b []byte) []byte {
			doc := parse(b)
			for _, tr := range doc.Root().FindElements("//Transform") {
				if tr.SelectAttrValue("Algorithm", "") == "http://www.w3.org/2001/10/xml-exc-c14n#" {
					in := tr.CreateElement("ec:InclusiveNamespaces")
					in.CreateAttr("xmlns:ec", "http://www.w3.org/2001/10/xml-exc-c14n#")
					in.CreateAttr("PrefixList", "xs gatehouse-envelope")
				}
			}
			return write(doc)
		}},
		{name: "undeclared prefix", reason: saml.ReasonMalformed, detail: "undeclared", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<saml:Subject>"), []byte("<saml:Subject><x:Y/>"), 1)
		}},
		{name: "DOCTYPE", reason: saml.ReasonMalformed, detail: "DTD", raw: func(b []byte) []byte {
			return append([]byte(`<!DOCTYPE r [<!ENTITY e "x">]>`), b...)
		}},
		{name: "trailing element", reason: saml.ReasonMalformed, raw: func(b []byte) []byte { return append(b, []byte("<x/>")...) }},
		{name: "standard base64", reason: saml.ReasonMalformed, detail: "base64url", encode: func(b []byte) string {
			return base64.StdEncoding.EncodeToString(append(b, "\n???>>>"...))
		}},
		{name: "base64url with a line break", reason: saml.ReasonMalformed, detail: "base64url", encode: func(b []byte) string {
			s := encodeToken(b)
			return s[:64] + "\n" + s[64:]
		}},
		{name: "base64url with wrong padding", reason: saml.ReasonMalformed, detail: "padding", encode: func(b []byte) string {
			return base64.URLEncoding.EncodeToString(append(b, ' ')) + "=="
		}},
		{name: "too large", reason: saml.ReasonMalformed, detail: "larger", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<saml:Subject>"), []byte("<saml:Subject><!--"+strings.Repeat("x", saml.DefaultMaxEncodedBytes)+"-->"), 1)
		}},
		{name: "empty", reason: saml.ReasonMalformed, encode: func([]byte) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tokenOptions(now)
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			b := bareAssertion(t, k.idp, o)
			if tc.raw != nil {
				b = tc.raw(b)
			}
			enc := encodeToken(b)
			if tc.encode != nil {
				enc = tc.encode(b)
			}
			exp := tokenExpected(now)
			if tc.exp != nil {
				tc.exp(&exp)
			}
			a, err := v.VerifyAssertion(enc, exp)
			require.Error(t, err)
			t.Log(err)
			assert.Nil(t, a)
			var ve *saml.VerifyError
			require.True(t, errors.As(err, &ve), "error is a *VerifyError: %v", err)
			assert.Equal(t, tc.reason, saml.ReasonOf(err), "%v", err)
			if tc.detail != "" {
				assert.ErrorContains(t, err, tc.detail)
			}
			assert.Less(t, len(err.Error()), 400, "error text stays short")
		})
	}
}

// TestVerifyAssertionNotAtTheACS: a token is no SAMLResponse, and a
// Response is no token, so neither entry point accepts the other's input.
func TestVerifyAssertionNotAtTheACS(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	b := bareAssertion(t, k.idp, tokenOptions(now))
	_, err := v.VerifyAssertion(encodeToken(b), tokenExpected(now))
	require.NoError(t, err, "positive control")
	_, err = v.VerifyResponse(saml.EncodePOST(b), tokenExpected(now))
	assert.Equal(t, saml.ReasonMalformed, saml.ReasonOf(err))
}

func TestVerifyAssertionExpectedRequired(t *testing.T) {
	k := mustKeys(t)
	v := newVerifier(t, verifierConfig(k))
	enc := encodeToken(bareAssertion(t, k.idp, tokenOptions(testNow())))
	_, err := v.VerifyAssertion(enc, saml.Expected{Destination: tokenEndpoint})
	assert.Equal(t, saml.ReasonOther, saml.ReasonOf(err))
	_, err = v.VerifyAssertion(enc, saml.Expected{Now: testNow()})
	assert.Equal(t, saml.ReasonOther, saml.ReasonOf(err))
}

func FuzzVerifyAssertion(f *testing.F) {
	k := mustKeys(f)
	// Fixed keys (testdata) and a fixed clock, so that seeds built by the
	// coordinator verify in every fuzz worker.
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	v := newVerifier(f, verifierConfig(k))
	valid := bareAssertion(f, k.idp, tokenOptions(now))
	_, err := v.VerifyAssertion(encodeToken(valid), tokenExpected(now))
	require.NoError(f, err, "the seed verifies")
	f.Add(encodeToken(valid))
	f.Add(base64.URLEncoding.EncodeToString(valid))
	f.Add(encodeToken(append([]byte(`<?xml version="1.0"?>`), valid...)))
	unsigned := tokenOptions(now)
	unsigned.Sign = samltest.SignNone
	f.Add(encodeToken(bareAssertion(f, k.idp, unsigned)))
	resp, err := k.idp.Response(tokenOptions(now))
	require.NoError(f, err)
	f.Add(encodeToken(resp))
	f.Add("")
	f.Add("PHIvPg")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := v.VerifyAssertion(s, tokenExpected(now))
		if err != nil {
			var ve *saml.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("not a *VerifyError: %v", err)
			}
			return
		}
		if a.Issuer() != idpEntityID || strings.TrimSpace(a.NameID()) == "" || a.ID() == "" || a.InResponseTo() != "" {
			t.Fatalf("accepted an assertion violating invariants: %+v", a)
		}
	})
}
