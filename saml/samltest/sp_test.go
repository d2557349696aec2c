package samltest_test

import (
	"crypto"
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func TestSPRoundTripWithIdP(t *testing.T) {
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	sp, err := samltest.NewSP("https://app.example.com/saml", "https://app.example.com/saml/acs")
	require.NoError(t, err)
	md, err := sp.Metadata(true, true)
	require.NoError(t, err)
	assert.Contains(t, string(md), `AuthnRequestsSigned="true"`)
	assert.Contains(t, string(md), `use="encryption"`)

	now := time.Now()
	for _, encrypt := range []bool{false, true} {
		req := sp.AuthnRequest("https://idp.example.com/sso", now)
		u, err := sp.RedirectURL("https://idp.example.com/sso", req, "rs", true)
		require.NoError(t, err)
		loc, err := url.Parse(u)
		require.NoError(t, err)
		require.NoError(t, saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", []crypto.PublicKey{sp.Certificate().PublicKey}))
		got, rs, err := samltest.ParseAuthnRequestFromRedirect(loc)
		require.NoError(t, err)
		assert.Equal(t, "rs", rs)
		assert.Equal(t, sp.ACSURL(), got.AssertionConsumerServiceURL)

		o := samltest.ResponseOptions{
			Now: now, Destination: sp.ACSURL(), Recipient: sp.ACSURL(), Audience: sp.EntityID(),
			InResponseTo: got.ID, NameID: "alice@example.com",
		}
		if encrypt {
			o.EncryptTo = sp.Certificate()
		}
		enc, err := idp.EncodedResponse(o)
		require.NoError(t, err)
		a, err := sp.Verify(idp.EntityID(), []*x509.Certificate{idp.Certificate()}, enc, now)
		require.NoError(t, err, "encrypt=%t", encrypt)
		assert.Equal(t, "alice@example.com", a.NameID())
		assert.Equal(t, req.ID, a.InResponseTo())

		// Negative control: the same response is not for another SP.
		other, err := samltest.NewSP("https://other.example.com/saml", sp.ACSURL())
		require.NoError(t, err)
		_, err = other.Verify(idp.EntityID(), []*x509.Certificate{idp.Certificate()}, enc, now)
		assert.Error(t, err)
	}
}
