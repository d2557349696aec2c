package saml_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func findChild(el *etree.Element, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}

func findDeep(el *etree.Element, tag string) *etree.Element {
	if el.Tag == tag {
		return el
	}
	for _, c := range el.ChildElements() {
		if f := findDeep(c, tag); f != nil {
			return f
		}
	}
	return nil
}

func TestVerifyResponsePositive(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	cases := map[string]func(o *samltest.ResponseOptions){
		"sign assertion":             func(o *samltest.ResponseOptions) { o.Sign = samltest.SignAssertion },
		"sign response":              func(o *samltest.ResponseOptions) { o.Sign = samltest.SignResponse },
		"sign both":                  func(o *samltest.ResponseOptions) { o.Sign = samltest.SignBoth },
		"RSA-SHA512":                 func(o *samltest.ResponseOptions) { o.SigAlg = saml.SigAlgRSASHA512 },
		"encrypted, signed inside":   func(o *samltest.ResponseOptions) { o.EncryptTo = k.spCert },
		"encrypted, response signed": func(o *samltest.ResponseOptions) { o.EncryptTo, o.Sign = k.spCert, samltest.SignResponse },
		"encrypted AES-128-GCM": func(o *samltest.ResponseOptions) {
			o.EncryptTo, o.DataEncryption = k.spCert, samltest.DataAES128GCM
		},
		"missing NotBefore": func(o *samltest.ResponseOptions) { o.OmitNotBefore = true },
		"NotBefore within skew": func(o *samltest.ResponseOptions) {
			o.NotBefore = now.Add(80 * time.Second)
		},
		"NotOnOrAfter within skew": func(o *samltest.ResponseOptions) {
			o.IssueInstant = now.Add(-4 * time.Minute)
			o.NotBefore = now.Add(-4 * time.Minute)
			o.NotOnOrAfter = now.Add(-80 * time.Second)
		},
		"IssueInstant within skew in the future": func(o *samltest.ResponseOptions) {
			o.IssueInstant = now.Add(80 * time.Second)
		},
		"unsolicited (no InResponseTo)": func(o *samltest.ResponseOptions) { o.InResponseTo = "" },
		"no attributes":                 func(o *samltest.ResponseOptions) { o.Attributes = nil },
		"comment in NameID is not a truncation": func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) {
				n := findDeep(a, "NameID")
				n.SetText("alice@example.com")
				n.CreateComment("x")
				n.CreateText(".evil.example")
			}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(now)
			mutate(&o)
			enc, err := k.idp.EncodedResponse(o)
			require.NoError(t, err)
			a, err := v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
			require.NoError(t, err)
			if name == "comment in NameID is not a truncation" {
				assert.Equal(t, "alice@example.com.evil.example", a.NameID())
				return
			}
			assert.Equal(t, "alice@example.com", a.NameID())
			assert.Equal(t, idpEntityID, a.Issuer())
			assert.Equal(t, o.InResponseTo, a.InResponseTo())
			assert.NotEmpty(t, a.ID())
			assert.NotEmpty(t, a.SessionIndex())
		})
	}
}

func TestVerifyResponseAssertionFields(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	o := baseOptions(now)
	o.AssertionID = "_assertion1"
	o.SessionIndex = "_session1"
	o.NotOnOrAfter = now.Add(4 * time.Minute)
	o.SubjectNotOnOrAfter = now.Add(5 * time.Minute)
	enc, err := k.idp.EncodedResponse(o)
	require.NoError(t, err)
	a, err := v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
	require.NoError(t, err)
	assert.Equal(t, "_assertion1", a.ID())
	assert.Equal(t, "_session1", a.SessionIndex())
	assert.Equal(t, samltest.NameIDFormatEmail, a.NameIDFormat())
	assert.Equal(t, requestID, a.InResponseTo())
	assert.True(t, a.IssueInstant().Equal(now))
	assert.True(t, a.AuthnInstant().Equal(now))
	assert.True(t, a.NotOnOrAfter().Equal(now.Add(5*time.Minute)), "later of Conditions and SCD")
	assert.Equal(t, samltest.AuthnContextPPT, a.AuthnContextClassRef())
	assert.Equal(t, []string{"admins", "engineering"}, a.Attribute("groups"))
	assert.Equal(t, []string{"displayName", "email", "groups"}, a.AttributeNames())
	attrs := a.Attributes()
	attrs["groups"][0] = "changed"
	assert.Equal(t, "admins", a.Attribute("groups")[0], "Attributes returns a copy")
	assert.Nil(t, a.Attribute("missing"))
}

type negativeCase struct {
	name   string
	mutate func(o *samltest.ResponseOptions)
	raw    func(b []byte) []byte
	exp    func(e *saml.Expected)
	reason saml.Reason
}

func TestVerifyResponseNegative(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))

	// A second, genuinely signed assertion from the same IdP.
	other := baseOptions(now)
	other.NameID = "mallory@example.com"
	otherXML, err := k.idp.Response(other)
	require.NoError(t, err)
	otherDoc := etree.NewDocument()
	require.NoError(t, otherDoc.ReadFromBytes(otherXML))
	signedOther := findChild(otherDoc.Root(), "Assertion")

	// copyWithNameID returns a copy of the signed assertion with a new NameID.
	copyWithNameID := func(doc *etree.Document) *etree.Element {
		c := findChild(doc.Root(), "Assertion").Copy()
		findDeep(c, "NameID").SetText("mallory@example.com")
		return c
	}

	cases := []negativeCase{
		{name: "two signed assertions", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { doc.Root().AddChild(signedOther.Copy()) }
		}},
		{name: "unsigned", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }},
		{name: "tampered attribute after signing", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) { findDeep(doc.Root(), "AttributeValue").SetText("root") }
		}},
		{name: "tampered NameID under signed response", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignResponse
			o.AfterSign = func(doc *etree.Document) { findDeep(doc.Root(), "NameID").SetText("mallory@example.com") }
		}},
		{name: "signature stripped", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				a := findChild(doc.Root(), "Assertion")
				a.RemoveChild(findChild(a, "Signature"))
			}
		}},
		{name: "signed by an untrusted key", reason: saml.ReasonSignature, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				enc, _ := k.other.Response(baseOptions(now))
				d := etree.NewDocument()
				_ = d.ReadFromBytes(enc)
				root := doc.Root()
				root.RemoveChild(findChild(root, "Assertion"))
				root.AddChild(findChild(d.Root(), "Assertion"))
			}
		}},
		{name: "RSA-SHA1 signature", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) { o.SigAlg = samltest.SigAlgRSASHA1 }},
		{name: "SHA-1 digest", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) { o.DigestAlg = samltest.DigestSHA1 }},
		{name: "HMAC signature method", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				findDeep(doc.Root(), "SignatureMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
			}
		}},
		{name: "wrong Issuer on both", reason: saml.ReasonIssuer, mutate: func(o *samltest.ResponseOptions) { o.Issuer = "https://evil.example.com" }},
		{name: "wrong Response Issuer", reason: saml.ReasonIssuer, mutate: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignBoth
			o.BeforeSign = func(resp, _ *etree.Element) { findChild(resp, "Issuer").SetText("https://evil.example.com") }
		}},
		{name: "wrong Assertion Issuer", reason: saml.ReasonIssuer, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { findChild(a, "Issuer").SetText("https://evil.example.com") }
		}},
		{name: "non-success status", reason: saml.ReasonStatus, mutate: func(o *samltest.ResponseOptions) { o.StatusCode = samltest.StatusRequester }},
		{name: "missing Destination", reason: saml.ReasonDestination, mutate: func(o *samltest.ResponseOptions) {
			o.OmitDestination = true
			o.Sign = samltest.SignBoth
		}},
		{name: "Destination with trailing slash", reason: saml.ReasonDestination, mutate: func(o *samltest.ResponseOptions) {
			o.Destination, o.Recipient = acsURL+"/", acsURL
		}},
		{name: "Destination of another region", reason: saml.ReasonDestination, exp: func(e *saml.Expected) {
			e.Destination = "https://us.sp.example.com/saml/acs"
		}},
		{name: "wrong Recipient", reason: saml.ReasonRecipient, mutate: func(o *samltest.ResponseOptions) { o.Recipient = "https://evil.example.com/acs" }},
		{name: "missing AudienceRestriction", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) { o.OmitAudience = true }},
		{name: "wrong Audience", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) { o.Audience = "https://other-sp.example.com" }},
		{name: "second AudienceRestriction without us", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) {
				findChild(a, "Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://other")
			}
		}},
		{name: "missing Conditions", reason: saml.ReasonAudience, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { a.RemoveChild(findChild(a, "Conditions")) }
		}},
		{name: "expired", reason: saml.ReasonExpired, mutate: func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore, o.NotOnOrAfter = now.Add(-4*time.Minute), now.Add(-4*time.Minute), now.Add(-2*time.Minute)
		}},
		{name: "Conditions expired, SubjectConfirmationData not", reason: saml.ReasonExpired, mutate: func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore = now.Add(-4*time.Minute), now.Add(-4*time.Minute)
			o.NotOnOrAfter, o.SubjectNotOnOrAfter = now.Add(-2*time.Minute), now.Add(time.Minute)
		}},
		{name: "not yet valid", reason: saml.ReasonNotYetValid, mutate: func(o *samltest.ResponseOptions) { o.NotBefore = now.Add(2 * time.Minute) }},
		{name: "IssueInstant in the future", reason: saml.ReasonNotYetValid, mutate: func(o *samltest.ResponseOptions) { o.IssueInstant = now.Add(2 * time.Minute) }},
		{name: "IssueInstant too old", reason: saml.ReasonTooOld, mutate: func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore = now.Add(-7*time.Minute), now.Add(-7*time.Minute)
		}},
		{name: "lifetime too long", reason: saml.ReasonLifetime, mutate: func(o *samltest.ResponseOptions) { o.NotOnOrAfter = now.Add(3 * time.Hour) }},
		{name: "Response InResponseTo differs from SubjectConfirmationData", reason: saml.ReasonInResponseToMismatch, mutate: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignBoth
			o.BeforeSign = func(resp, _ *etree.Element) { resp.CreateAttr("InResponseTo", "_someotherrequest") }
		}},
		{name: "empty NameID", reason: saml.ReasonSubject, mutate: func(o *samltest.ResponseOptions) {
			o.BeforeSign = func(_, a *etree.Element) { findDeep(a, "NameID").SetText(" ") }
		}},
		{name: "XSW: modified copy in Extensions", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(copyWithNameID(doc))
				doc.Root().InsertChildAt(findChild(doc.Root(), "Issuer").Index()+1, ext)
			}
		}},
		{name: "XSW: modified copy as sibling", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				doc.Root().InsertChildAt(findChild(doc.Root(), "Assertion").Index(), copyWithNameID(doc))
			}
		}},
		{name: "XSW: signed assertion moved into Extensions, forged one in place", reason: saml.ReasonAssertionCount, mutate: func(o *samltest.ResponseOptions) {
			o.Sign = samltest.SignResponse
			o.AfterSign = func(doc *etree.Document) {
				root := doc.Root()
				orig := findChild(root, "Assertion")
				forged := copyWithNameID(doc)
				root.RemoveChild(orig)
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(orig)
				root.InsertChildAt(findChild(root, "Issuer").Index()+1, ext)
				root.AddChild(forged)
			}
		}},
		{name: "DOCTYPE prepended", reason: saml.ReasonMalformed, raw: func(b []byte) []byte {
			b = bytes.Replace(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`), nil, 1)
			return append([]byte(`<!DOCTYPE r [<!ENTITY e "x">]>`), b...)
		}},
		{name: "trailing element", reason: saml.ReasonMalformed, raw: func(b []byte) []byte { return append(b, []byte("<x/>")...) }},
		{name: "root is not a Response", reason: saml.ReasonMalformed, raw: func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("samlp:Response"), []byte("samlp:LogoutResponse"))
		}},
		{name: "encrypted with RSA-1_5", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.EncryptTo, o.KeyTransport = k.spCert, samltest.KeyTransportRSA15
		}},
		{name: "encrypted with AES-CBC", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.EncryptTo, o.DataEncryption = k.spCert, samltest.DataAES256CBC
		}},
		{name: "encrypted assertion signed with RSA-SHA1", reason: saml.ReasonAlgorithm, mutate: func(o *samltest.ResponseOptions) {
			o.EncryptTo, o.SigAlg = k.spCert, samltest.SigAlgRSASHA1
		}},
		{name: "encrypted for another key", reason: saml.ReasonDecrypt, mutate: func(o *samltest.ResponseOptions) {
			o.EncryptTo = k.idp2.Certificate()
		}},
		{name: "encrypted ciphertext tampered", reason: saml.ReasonDecrypt, mutate: func(o *samltest.ResponseOptions) {
			o.EncryptTo = k.spCert
			o.AfterSign = func(doc *etree.Document) {
				cvs := doc.Root().FindElements("//CipherValue")
				last := cvs[len(cvs)-1]
				ct, _ := base64.StdEncoding.DecodeString(last.Text())
				ct[len(ct)-1] ^= 1
				last.SetText(base64.StdEncoding.EncodeToString(ct))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(now)
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			b, err := k.idp.Response(o)
			require.NoError(t, err)
			if tc.raw != nil {
				b = tc.raw(b)
			}
			exp := saml.Expected{Destination: acsURL, Now: now}
			if tc.exp != nil {
				tc.exp(&exp)
			}
			a, err := v.VerifyResponse(saml.EncodePOST(b), exp)
			require.Error(t, err)
			t.Log(err)
			assert.Nil(t, a)
			var ve *saml.VerifyError
			require.True(t, errors.As(err, &ve), "error is a *VerifyError: %v", err)
			assert.Equal(t, tc.reason, saml.ReasonOf(err), "%v", err)
			assert.Less(t, len(err.Error()), 400, "error text stays short")
		})
	}
}

func TestVerifyResponseEncryptedWithoutKey(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	cfg := verifierConfig(k)
	cfg.DecryptionKey, cfg.DecryptionCert = nil, nil
	v := newVerifier(t, cfg)
	o := baseOptions(now)
	enc, err := k.idp.EncodedResponse(o)
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
	require.NoError(t, err, "positive control: plain assertion")

	o.EncryptTo = k.spCert
	enc, err = k.idp.EncodedResponse(o)
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
	assert.Equal(t, saml.ReasonDecrypt, saml.ReasonOf(err))
}

func TestVerifyResponseKeyRollover(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	cfg := verifierConfig(k)
	cfg.Certificates = []*x509.Certificate{k.idp.Certificate(), k.idp2.Certificate()}
	v := newVerifier(t, cfg)
	for _, tc := range []struct {
		name string
		idp  *samltest.IdP
		mode samltest.SignMode
	}{
		{"first key, assertion", k.idp, samltest.SignAssertion},
		{"second key, assertion", k.idp2, samltest.SignAssertion},
		{"second key, response", k.idp2, samltest.SignResponse},
		{"second key, both", k.idp2, samltest.SignBoth},
	} {
		for _, omit := range []bool{false, true} {
			o := baseOptions(now)
			o.Sign, o.OmitKeyInfo = tc.mode, omit
			enc, err := tc.idp.EncodedResponse(o)
			require.NoError(t, err)
			a, err := v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
			require.NoError(t, err, "%s omitKeyInfo=%v", tc.name, omit)
			assert.Equal(t, "alice@example.com", a.NameID())
		}
	}
	// Negative: a third, untrusted key without KeyInfo.
	o := baseOptions(now)
	o.OmitKeyInfo = true
	enc, err := k.other.EncodedResponse(o)
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
	assert.Equal(t, saml.ReasonSignature, saml.ReasonOf(err))
}

func TestVerifyResponseECDSA(t *testing.T) {
	now := testNow()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := samltest.SelfSignedCert("ec", key, now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)
	idp, err := samltest.NewIdPWithKey(idpEntityID, key, der)
	require.NoError(t, err)
	v := newVerifier(t, saml.VerifierConfig{IdPEntityID: idpEntityID, Audience: spEntityID, Certificates: []*x509.Certificate{idp.Certificate()}})
	for _, alg := range []string{saml.SigAlgECDSASHA256, saml.SigAlgECDSASHA384, saml.SigAlgECDSASHA512} {
		o := baseOptions(now)
		o.SigAlg = alg
		o.Sign = samltest.SignBoth
		enc, err := idp.EncodedResponse(o)
		require.NoError(t, err)
		_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
		require.NoError(t, err, alg)
	}
}

func TestVerifyResponseCertificateOutsideValidity(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	v := newVerifier(t, verifierConfig(k))
	enc, err := k.idp.EncodedResponse(baseOptions(now))
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
	require.NoError(t, err, "positive control")

	later := k.idp.Certificate().NotAfter.Add(time.Hour).UTC().Truncate(time.Second)
	enc, err = k.idp.EncodedResponse(baseOptions(later))
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: later})
	assert.Equal(t, saml.ReasonSignature, saml.ReasonOf(err))
}

func TestVerifyResponseExpectedRequired(t *testing.T) {
	k := mustKeys(t)
	v := newVerifier(t, verifierConfig(k))
	enc, err := k.idp.EncodedResponse(baseOptions(testNow()))
	require.NoError(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Destination: acsURL})
	assert.Error(t, err)
	_, err = v.VerifyResponse(enc, saml.Expected{Now: testNow()})
	assert.Error(t, err)
	_, err = v.VerifyResponse("%%%", saml.Expected{Destination: acsURL, Now: testNow()})
	assert.Equal(t, saml.ReasonMalformed, saml.ReasonOf(err))
	assert.Equal(t, saml.ReasonOther, saml.ReasonOf(errors.New("x")))
}

func TestNewVerifier(t *testing.T) {
	k := mustKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakDER, err := samltest.SelfSignedCert("weak", weak, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	weakCert, err := x509.ParseCertificate(weakDER)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)

	_, err = saml.NewVerifier(verifierConfig(k))
	require.NoError(t, err, "positive control")

	for name, mutate := range map[string]func(c *saml.VerifierConfig){
		"RSA-1024 certificate":   func(c *saml.VerifierConfig) { c.Certificates = []*x509.Certificate{weakCert} },
		"RSA-1024 among good":    func(c *saml.VerifierConfig) { c.Certificates = append(c.Certificates, weakCert) },
		"no certificates":        func(c *saml.VerifierConfig) { c.Certificates = nil },
		"nil certificate":        func(c *saml.VerifierConfig) { c.Certificates = []*x509.Certificate{nil} },
		"no entity ID":           func(c *saml.VerifierConfig) { c.IdPEntityID = "" },
		"no audience":            func(c *saml.VerifierConfig) { c.Audience = "" },
		"skew too large":         func(c *saml.VerifierConfig) { c.ClockSkew = 11 * time.Minute },
		"negative skew":          func(c *saml.VerifierConfig) { c.ClockSkew = -time.Second },
		"age too large":          func(c *saml.VerifierConfig) { c.MaxAssertionAge = 25 * time.Hour },
		"lifetime too large":     func(c *saml.VerifierConfig) { c.MaxAssertionLifetime = 25 * time.Hour },
		"key without cert":       func(c *saml.VerifierConfig) { c.DecryptionCert = nil },
		"key not matching cert":  func(c *saml.VerifierConfig) { c.DecryptionCert = k.idp.Certificate() },
		"non-RSA decryption key": func(c *saml.VerifierConfig) { c.DecryptionKey = ecdsaDecrypter{ecKey} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := verifierConfig(k)
			mutate(&cfg)
			_, err := saml.NewVerifier(cfg)
			assert.Error(t, err)
		})
	}
}

// ecdsaDecrypter is a crypto.Decrypter that is not an *rsa.PrivateKey.
type ecdsaDecrypter struct{ *ecdsa.PrivateKey }

func (ecdsaDecrypter) Decrypt(_ io.Reader, _ []byte, _ crypto.DecrypterOpts) ([]byte, error) {
	return nil, errors.New("unsupported")
}

// TestVerifyResponseNoClockSkew: responses just inside the default skew are
// accepted with it and rejected when the verifier compares times exactly.
func TestVerifyResponseNoClockSkew(t *testing.T) {
	k := mustKeys(t)
	now := testNow()
	strictCfg := verifierConfig(k)
	strictCfg.ClockSkew = saml.NoClockSkew
	lenient, strict := newVerifier(t, verifierConfig(k)), newVerifier(t, strictCfg)
	for name, tc := range map[string]struct {
		mutate func(*samltest.ResponseOptions)
		reason saml.Reason
	}{
		"NotBefore 10s ahead": {func(o *samltest.ResponseOptions) { o.NotBefore = now.Add(10 * time.Second) }, saml.ReasonNotYetValid},
		"expired 10s ago": {func(o *samltest.ResponseOptions) {
			o.IssueInstant, o.NotBefore = now.Add(-4*time.Minute), now.Add(-4*time.Minute)
			o.NotOnOrAfter = now.Add(-10 * time.Second)
		}, saml.ReasonExpired},
	} {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(now)
			tc.mutate(&o)
			enc, err := k.idp.EncodedResponse(o)
			require.NoError(t, err)
			_, err = lenient.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
			require.NoError(t, err, "accepted within the default skew")
			_, err = strict.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now})
			assert.Equal(t, tc.reason, saml.ReasonOf(err))
		})
	}
}
