package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// BenchmarkIssuance compares building and signing a complete Response (8
// attributes, assertion signed) with the raw signature that bounds it:
// rsa.SignPKCS1v15 with SHA-256 on a 2048-bit key, and ECDSA P-256.
func BenchmarkIssuance(b *testing.B) {
	digest := sha256.Sum256([]byte("gatehouse"))
	b.Run("raw/rsa2048-sha256", func(b *testing.B) {
		k := idpRSAKey()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw/ecdsa-p256", func(b *testing.B) {
		k := idpECKey()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
	}{
		{"build/rsa2048", idpRSAKey()},
		{"build/ecdsa-p256", idpECKey()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, tc.signer)
			sp := f.register("wiki", testApp(), ServiceProviderOptions{Attributes: []AttributeMapping{
				{Name: "id", Field: "id"},
				{Name: "userName", Field: "user_name"},
				{Name: "email", Field: "email"},
				{Name: "displayName", Field: "display_name"},
				{Name: "givenName", Field: "given_name"},
				{Name: "familyName", Field: "family_name"},
				{Name: "groups", Field: "groups"},
				{Name: "https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter", Field: "attributes.cost_center"},
			}}, false)
			p := alice()
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.idp.BuildResponse(ctx, sp, p, appACS, "_req", f.now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
