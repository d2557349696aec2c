package saml_test

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

const sampleXML = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0" IssueInstant="2025-01-01T00:00:00Z"/>`

func TestPOSTRoundTrip(t *testing.T) {
	enc := saml.EncodePOST([]byte(sampleXML))
	got, err := saml.DecodePOST(enc, saml.Limits{})
	require.NoError(t, err)
	assert.Equal(t, sampleXML, string(got))

	// Line-wrapped base64 as some IdPs send it.
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteString("\r\n ")
	}
	got, err = saml.DecodePOST(wrapped.String(), saml.Limits{})
	require.NoError(t, err)
	assert.Equal(t, sampleXML, string(got))

	for name, in := range map[string]string{
		"not base64":    "%%%",
		"empty":         "",
		"not XML":       base64.StdEncoding.EncodeToString([]byte("hello")),
		"too large":     strings.Repeat("A", saml.DefaultMaxEncodedBytes+4),
		"DOCTYPE":       saml.EncodePOST([]byte(`<!DOCTYPE r><r/>`)),
		"deflated POST": mustRedirect(t, sampleXML),
	} {
		_, err := saml.DecodePOST(in, saml.Limits{})
		assert.ErrorIs(t, err, saml.ErrMalformed, name)
	}
}

func mustRedirect(t testing.TB, s string) string {
	enc, err := saml.EncodeRedirect([]byte(s))
	require.NoError(t, err)
	return enc
}

func TestRedirectRoundTrip(t *testing.T) {
	got, err := saml.DecodeRedirect(mustRedirect(t, sampleXML), saml.Limits{})
	require.NoError(t, err)
	assert.Equal(t, sampleXML, string(got))

	_, err = saml.DecodeRedirect(base64.StdEncoding.EncodeToString([]byte("not deflate at all \xff")), saml.Limits{})
	assert.ErrorIs(t, err, saml.ErrMalformed)
}

func TestDecodeRedirectInflateCap(t *testing.T) {
	// A deflate bomb: 64 MiB of zeros compress to about 64 KiB.
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for range 64 {
		_, err = fw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, fw.Close())
	bomb := base64.StdEncoding.EncodeToString(buf.Bytes())
	require.Less(t, len(bomb), saml.DefaultMaxEncodedBytes)
	_, err = saml.DecodeRedirect(bomb, saml.Limits{})
	require.ErrorIs(t, err, saml.ErrMalformed)
	assert.Contains(t, err.Error(), "inflated message larger")

	// Positive control: a message just under a small cap inflates.
	msg := "<r>" + strings.Repeat("x", 1000) + "</r>"
	_, err = saml.DecodeRedirect(mustRedirect(t, msg), saml.Limits{MaxXMLBytes: len(msg)})
	require.NoError(t, err)
	_, err = saml.DecodeRedirect(mustRedirect(t, msg), saml.Limits{MaxXMLBytes: len(msg) - 1})
	assert.ErrorIs(t, err, saml.ErrMalformed)
}

func TestRedirectSignature(t *testing.T) {
	rsaKey := mustKeys(t).spKey
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	otherKey := mustKeys(t).idp.Signer()

	for _, tc := range []struct {
		alg    string
		signer crypto.Signer
	}{
		{saml.SigAlgRSASHA256, rsaKey},
		{saml.SigAlgRSASHA512, rsaKey},
		{saml.SigAlgECDSASHA256, ecKey},
		{saml.SigAlgECDSASHA384, ecKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			q, err := saml.RedirectQuery("SAMLRequest", []byte(sampleXML), "state/with+special&chars", tc.signer, tc.alg)
			require.NoError(t, err)
			keys := []crypto.PublicKey{otherKey.Public(), tc.signer.Public()}
			require.NoError(t, saml.VerifyRedirectSignature(q, "SAMLRequest", keys), "positive control")

			// Parameters are decoded as usual.
			u, err := url.ParseQuery(q)
			require.NoError(t, err)
			assert.Equal(t, "state/with+special&chars", u.Get("RelayState"))
			xml, err := saml.DecodeRedirect(u.Get("SAMLRequest"), saml.Limits{})
			require.NoError(t, err)
			assert.Equal(t, sampleXML, string(xml))

			// Extra parameters and reordering of unsigned ones do not matter.
			require.NoError(t, saml.VerifyRedirectSignature("foo=bar&"+q, "SAMLRequest", keys))

			tamper := func(name, value string) string {
				parts := strings.Split(q, "&")
				for i, p := range parts {
					if strings.HasPrefix(p, name+"=") {
						parts[i] = name + "=" + value
					}
				}
				return strings.Join(parts, "&")
			}
			other, err := saml.EncodeRedirect([]byte(strings.Replace(sampleXML, `ID="_1"`, `ID="_2"`, 1)))
			require.NoError(t, err)
			for name, bad := range map[string]string{
				"SAMLRequest":             tamper("SAMLRequest", url.QueryEscape(other)),
				"RelayState":              tamper("RelayState", "evil"),
				"RelayState removed":      strings.Replace(q, "&RelayState="+url.QueryEscape("state/with+special&chars"), "", 1),
				"SigAlg":                  tamper("SigAlg", url.QueryEscape(saml.SigAlgRSASHA384)),
				"SigAlg SHA1":             tamper("SigAlg", url.QueryEscape("http://www.w3.org/2000/09/xmldsig#rsa-sha1")),
				"Signature":               tamper("Signature", url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("garbage")))),
				"Signature removed":       strings.Split(q, "&Signature=")[0],
				"duplicate SAMLRequest":   q + "&SAMLRequest=" + url.QueryEscape(other),
				"equivalent re-encoding":  strings.Replace(q, "%2F", "%2f", 1),
				"param name SAMLResponse": q,
			} {
				param := "SAMLRequest"
				if name == "param name SAMLResponse" {
					param = "SAMLResponse"
				}
				err := saml.VerifyRedirectSignature(bad, param, keys)
				var ve *saml.VerifyError
				assert.True(t, errors.As(err, &ve), "%s: %v", name, err)
			}
			// Wrong key only.
			assert.Error(t, saml.VerifyRedirectSignature(q, "SAMLRequest", []crypto.PublicKey{otherKey.Public()}))
		})
	}
}

func TestRedirectQueryUnsignedAndErrors(t *testing.T) {
	q, err := saml.RedirectQuery("SAMLResponse", []byte(sampleXML), "", nil, "")
	require.NoError(t, err)
	assert.NotContains(t, q, "RelayState")
	assert.NotContains(t, q, "Signature")
	err = saml.VerifyRedirectSignature(q, "SAMLResponse", []crypto.PublicKey{mustKeys(t).spKey.Public()})
	assert.Equal(t, saml.ReasonSignature, saml.ReasonOf(err), "unsigned is rejected")

	key := mustKeys(t).spKey
	_, err = saml.RedirectQuery("Other", []byte(sampleXML), "", key, saml.SigAlgRSASHA256)
	assert.Error(t, err)
	_, err = saml.RedirectQuery("SAMLRequest", []byte(sampleXML), "", key, "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
	assert.Error(t, err)
	_, err = saml.RedirectQuery("SAMLRequest", []byte(sampleXML), "", key, saml.SigAlgECDSASHA256)
	assert.Error(t, err, "algorithm must match key")

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	q, err = saml.RedirectQuery("SAMLRequest", []byte(sampleXML), "", weak, saml.SigAlgRSASHA256)
	require.NoError(t, err)
	assert.Error(t, saml.VerifyRedirectSignature(q, "SAMLRequest", []crypto.PublicKey{weak.Public()}), "weak keys are never trusted")
}
