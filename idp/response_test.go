package idp

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func TestBuildResponseModes(t *testing.T) {
	app := testApp()
	for _, tc := range []struct {
		name    string
		ec      bool
		opts    ServiceProviderOptions
		respSig bool
		asSig   bool
	}{
		{"assertion signed (default)", false, ServiceProviderOptions{}, false, true},
		{"response signed", false, ServiceProviderOptions{Sign: SignResponse}, true, false},
		{"both signed", false, ServiceProviderOptions{Sign: SignBoth}, true, true},
		{"encrypted, assertion signed", false, ServiceProviderOptions{EncryptAssertions: true}, false, false},
		{"encrypted, both signed", false, ServiceProviderOptions{EncryptAssertions: true, Sign: SignBoth}, true, false},
		{"ECDSA P-256 key", true, ServiceProviderOptions{Sign: SignBoth}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *fixture
			if tc.ec {
				f = newFixture(t, idpECKey())
			} else {
				f = newFixture(t, nil)
			}
			tc.opts.Attributes = []AttributeMapping{{Name: "email", Field: "email"}}
			sp := f.register("wiki", app, tc.opts, false)
			b, err := f.idp.BuildResponse(t.Context(), sp, alice(), appACS, "_req1", f.now)
			require.NoError(t, err)
			enc := saml.EncodePOST(b)
			a, err := f.verify(app, enc)
			require.NoError(t, err)
			assert.Equal(t, "_req1", a.InResponseTo())
			assert.Equal(t, []string{"alice@example.com"}, a.Attribute("email"))
			assert.Equal(t, f.now.Add(5*time.Minute), a.NotOnOrAfter())

			root := decodeResponse(t, enc)
			assert.Equal(t, tc.respSig, root.SelectElement("Signature") != nil)
			if as := root.SelectElement("Assertion"); as != nil {
				assert.Equal(t, tc.asSig, as.SelectElement("Signature") != nil)
			}
			assert.Equal(t, tc.opts.EncryptAssertions, root.SelectElement("EncryptedAssertion") != nil)
			switch {
			case tc.opts.EncryptAssertions && !tc.respSig:
				assert.NotContains(t, string(b), "SignatureMethod", "the only signature is inside the ciphertext")
			case tc.ec:
				assert.Contains(t, string(b), saml.SigAlgECDSASHA256)
			default:
				assert.Contains(t, string(b), saml.SigAlgRSASHA256)
			}
		})
	}
}

func TestBuildResponseShape(t *testing.T) {
	app := testApp()
	f := newFixture(t, idpECKey())
	sp := f.register("wiki", app, ServiceProviderOptions{}, false, appACS2)
	p := alice()
	p.SessionNotOnOrAfter = f.now.Add(8 * time.Hour)
	p.AuthnContextClassRef = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
	p.SessionIndex = "_sess1"
	b, err := f.idp.BuildResponse(t.Context(), sp, p, appACS2, "_r", f.now)
	require.NoError(t, err)
	root := decodeResponse(t, saml.EncodePOST(b))
	assert.Equal(t, appACS2, root.SelectAttrValue("Destination", ""))
	assert.Len(t, root.FindElements("//Assertion"), 1)
	scd := root.FindElement("//SubjectConfirmationData")
	assert.Equal(t, appACS2, scd.SelectAttrValue("Recipient", ""))
	assert.Equal(t, "192.0.2.7", scd.SelectAttrValue("Address", ""))
	assert.Equal(t, app.EntityID(), root.FindElement("//Audience").Text())
	as := root.FindElement("//AuthnStatement")
	assert.Equal(t, saml.FormatTime(p.SessionNotOnOrAfter), as.SelectAttrValue("SessionNotOnOrAfter", ""))
	assert.Equal(t, "_sess1", as.SelectAttrValue("SessionIndex", ""))
	assert.Equal(t, p.AuthnContextClassRef, root.FindElement("//AuthnContextClassRef").Text())
	assert.Nil(t, root.FindElement("//AttributeStatement"), "no mappings, no AttributeStatement")

	// Address only for a bare IP.
	for _, ip := range []string{"192.0.2.7:443", "fe80::1%eth0", "example.com", ""} {
		p.ClientIP = ip
		b, err := f.idp.BuildResponse(t.Context(), sp, p, appACS, "", f.now)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "Address=", ip)
	}

	// The ACS must be registered.
	_, err = f.idp.BuildResponse(t.Context(), sp, p, "https://evil.example.com/acs", "", f.now)
	require.ErrorIs(t, err, ErrACSNotRegistered)
	// An ended session issues nothing.
	p.SessionNotOnOrAfter = f.now
	_, err = f.idp.BuildResponse(t.Context(), sp, p, appACS, "", f.now)
	require.ErrorIs(t, err, ErrUserData)
}

func TestIDsUnique(t *testing.T) {
	f := newFixture(t, idpECKey())
	sp := f.register("wiki", testApp(), ServiceProviderOptions{}, false)
	seen := map[string]bool{}
	for range 1000 {
		b, err := f.idp.BuildResponse(t.Context(), sp, alice(), appACS, "", f.now)
		require.NoError(t, err)
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(b))
		for _, id := range []string{doc.Root().SelectAttrValue("ID", ""), doc.FindElement("//Assertion").SelectAttrValue("ID", "")} {
			require.Len(t, id, 33)
			require.False(t, seen[id], "duplicate ID %s", id)
			seen[id] = true
		}
	}
	assert.Len(t, seen, 2000)
}

func TestNameIDFormats(t *testing.T) {
	app, other := testApp(), otherApp()
	f := newFixture(t, nil)
	nameID := func(id string, format NameIDFormat, a interface{ EntityID() string }, p Principal) (string, string) {
		sp, err := f.sps.ServiceProviderByID(t.Context(), id)
		require.NoError(t, err)
		b, err := f.idp.BuildResponse(t.Context(), sp, p, sp.DefaultACS().Location, "", f.now)
		require.NoError(t, err)
		el := decodeResponse(t, saml.EncodePOST(b)).FindElement("//NameID")
		assert.Equal(t, format.URI(), el.SelectAttrValue("Format", ""))
		return el.Text(), el.SelectAttrValue("SPNameQualifier", "")
	}
	f.register("wiki", app, ServiceProviderOptions{NameIDFormat: NameIDPersistent}, false)
	f.register("crm", other, ServiceProviderOptions{NameIDFormat: NameIDPersistent}, false)
	p := alice()
	w1, q1 := nameID("wiki", NameIDPersistent, app, p)
	w2, _ := nameID("wiki", NameIDPersistent, app, p)
	c1, q2 := nameID("crm", NameIDPersistent, other, p)
	assert.Equal(t, w1, w2, "stable per user and app")
	assert.NotEqual(t, w1, c1, "different across apps")
	assert.Equal(t, PersistentNameID([]byte("0123456789abcdef0123456789abcdef"), app.EntityID(), p.UserID), w1)
	assert.Equal(t, app.EntityID(), q1)
	assert.Equal(t, other.EntityID(), q2)
	assert.NotContains(t, w1, p.UserID)
	bob := alice()
	bob.UserID = "u-bob"
	b1, _ := nameID("wiki", NameIDPersistent, app, bob)
	assert.NotEqual(t, w1, b1, "different across users")

	f.sps.add(must(NewServiceProvider("t", appMD(t, app, false, false), ServiceProviderOptions{NameIDFormat: NameIDTransient}, f.now)))
	t1, _ := nameID("t", NameIDTransient, app, p)
	t2, _ := nameID("t", NameIDTransient, app, p)
	assert.NotEqual(t, t1, t2)

	f.sps.add(must(NewServiceProvider("e", appMD(t, app, false, false), ServiceProviderOptions{NameIDFormat: NameIDEmail}, f.now)))
	e, _ := nameID("e", NameIDEmail, app, p)
	assert.Equal(t, p.Email, e)
	sp, _ := f.sps.ServiceProviderByID(t.Context(), "e")
	noMail := alice()
	noMail.Email = ""
	_, err := f.idp.BuildResponse(t.Context(), sp, noMail, appACS, "", f.now)
	require.ErrorIs(t, err, ErrUserData)
}

// TestEncryptionCBCOnly: an application whose metadata lists only
// AES-256-CBC gets CBC; the plaintext is the signed assertion.
func TestEncryptionCBCOnly(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	md := string(appMD(t, app, false, true))
	// Keep the key transport methods, replace the GCM data methods by CBC.
	md = strings.Replace(md, `Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"`, `Algorithm="`+EncAES256CBC+`"`, 1)
	md = strings.Replace(md, `<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>`, ``, 1)
	sp, err := NewServiceProvider("wiki", []byte(md), ServiceProviderOptions{EncryptAssertions: true}, f.now)
	require.NoError(t, err)
	require.Equal(t, EncAES256CBC, sp.DataEncryption)
	require.Equal(t, KeyRSAOAEPMGF1, sp.KeyTransport)

	b, err := f.idp.BuildResponse(t.Context(), sp, alice(), appACS, "", f.now)
	require.NoError(t, err)
	root := decodeResponse(t, saml.EncodePOST(b))
	ed := root.FindElement("//EncryptedData")
	require.NotNil(t, ed)
	assert.Equal(t, EncAES256CBC, ed.SelectElement("EncryptionMethod").SelectAttrValue("Algorithm", ""))
	wrapped, err := base64.StdEncoding.DecodeString(ed.FindElement("./KeyInfo/EncryptedKey/CipherData/CipherValue").Text())
	require.NoError(t, err)
	key, err := app.Key().Decrypt(rand.Reader, wrapped, &rsaOAEPSHA1)
	require.NoError(t, err)
	ct, err := base64.StdEncoding.DecodeString(ed.FindElement("./CipherData/CipherValue").Text())
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	plain := make([]byte, len(ct)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, ct[:aes.BlockSize]).CryptBlocks(plain, ct[aes.BlockSize:])
	plain = plain[:len(plain)-int(plain[len(plain)-1])]
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(plain))
	assert.Equal(t, "Assertion", doc.Root().Tag)
	assert.NotNil(t, doc.Root().SelectElement("Signature"))
}

func TestChooseEncryption(t *testing.T) {
	app := testApp()
	base := string(appMD(t, app, false, true))
	for _, tc := range []struct {
		name      string
		edit      func(string) string
		data, key string
		ok        bool
	}{
		{"advertised GCM", func(s string) string { return s }, EncAES256GCM, KeyRSAOAEPMGF1, true},
		{"no methods listed", func(s string) string { return stripMethods(s) }, EncAES256GCM, KeyRSAOAEPMGF1, true},
		{"only rsa-1_5 key transport", func(s string) string {
			return strings.Replace(stripMethods(s), "</md:KeyDescriptor>", `<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/></md:KeyDescriptor>`, 2)
		}, "", "", false},
		{"only aes128-cbc", func(s string) string {
			return strings.Replace(stripMethods(s), "</md:KeyDescriptor>", `<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/></md:KeyDescriptor>`, 2)
		}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := NewServiceProvider("wiki", []byte(tc.edit(base)), ServiceProviderOptions{EncryptAssertions: true}, time.Now())
			if !tc.ok {
				require.ErrorIs(t, err, ErrInvalidServiceProvider)
				assert.Contains(t, err.Error(), "encrypt_assertions")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.data, sp.DataEncryption)
			assert.Equal(t, tc.key, sp.KeyTransport)
		})
	}
}

func stripMethods(s string) string {
	for {
		i := strings.Index(s, "<md:EncryptionMethod")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "/>")
		s = s[:i] + s[i+j+2:]
	}
}

var rsaOAEPSHA1 = rsa.OAEPOptions{Hash: crypto.SHA1}
