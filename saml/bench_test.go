package saml_test

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// benchResponse is an RSA-2048, assertion-signed response with 8
// attributes (about 6 KB of XML).
func benchResponse(b *testing.B) (string, time.Time) {
	b.Helper()
	k := mustKeys(b)
	now := testNow() // fixed for the whole run; the certificate is fresh
	o := baseOptions(now)
	o.Attributes = map[string][]string{}
	for i := range 8 {
		o.Attributes[fmt.Sprintf("urn:oid:1.3.6.1.4.1.5923.1.1.1.%d", i)] = []string{
			fmt.Sprintf("value-%d-a@example.com", i), fmt.Sprintf("value-%d-b-with-some-length", i), "group-engineering-platform-team",
		}
	}
	xml, err := k.idp.Response(o)
	require.NoError(b, err)
	return saml.EncodePOST(xml), now
}

func BenchmarkGosaml2RetrieveAssertionInfo(b *testing.B) {
	enc, now := benchResponse(b)
	k := mustKeys(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sp := &saml2.SAMLServiceProvider{
			IdentityProviderIssuer:      idpEntityID,
			AssertionConsumerServiceURL: acsURL,
			AudienceURI:                 spEntityID,
			IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{k.idp.Certificate()}},
			Clock:                       dsig.NewFakeClockAt(now),
		}
		info, err := sp.RetrieveAssertionInfo(enc)
		if err != nil || info.WarningInfo.InvalidTime || info.WarningInfo.NotInAudience {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)*3/4), "xml-bytes")
}

func BenchmarkVerifyResponse(b *testing.B) {
	enc, now := benchResponse(b)
	v := newVerifier(b, verifierConfig(mustKeys(b)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.VerifyResponse(enc, saml.Expected{Destination: acsURL, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)*3/4), "xml-bytes")
}
