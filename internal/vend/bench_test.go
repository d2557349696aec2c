package vend_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

// BenchmarkAssertion is credential vending without STS (the emulator's
// or AWS's own time): the entitlement re-check, the user and catalog
// reads, and building and signing the assertion, with the IdP's RSA-2048
// key and with an ECDSA P-256 key.
//
//	go test -run '^$' -bench Assertion ./internal/vend/
func BenchmarkAssertion(b *testing.B) {
	rsaKey, rsaCert, err := testpeer.SelfSigned("gatehouse idp", x509.KeyUsageDigitalSignature)
	if err != nil {
		b.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ecCert := selfSignedEC(b, ecKey)
	for _, k := range []struct {
		name string
		deps idpDeps
	}{{"RSA-2048", idpDeps{signer: rsaKey, cert: rsaCert}}, {"ECDSA-P256", idpDeps{signer: ecKey, cert: ecCert}}} {
		b.Run(k.name, func(b *testing.B) {
			v, userID := benchVendor(b, k.deps)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := v.Assertion(ctx, userID, prodID, "ReadOnly"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func selfSignedEC(b *testing.B, key *ecdsa.PrivateKey) *x509.Certificate {
	b.Helper()
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	return cert
}

func benchVendor(b *testing.B, deps idpDeps) (*vend.Vendor, string) {
	b.Helper()
	ctx := context.Background()
	st := memory.New()
	issuer, err := idp.New(idp.Config{
		EntityID: "https://gw.example.com/saml/idp/metadata", SSOURL: "https://gw.example.com/saml/idp/sso",
		ServiceProviders: deps, Sessions: deps, Access: deps, Keys: deps, States: st,
		PersistentIDKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		b.Fatal(err)
	}
	u, err := st.CreateDirectoryUser(ctx, directory.User{UserName: "fox", Active: true, Attributes: map[string]string{"CostCenter": "cc-42"}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	svc, err := access.New(access.Config{Store: st, Groups: groupIDs{st}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateAccount(ctx, access.Account{ID: prodID, Name: "prod", Email: "p@example.com", OU: "/prod",
		AssumeRoleARN: "arn:aws:iam::" + prodID + ":role/OrganizationAccountAccessRole"}); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreatePermissionSet(ctx, access.PermissionSet{Name: "ReadOnly", SessionDuration: time.Hour}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.CreateAssignment(ctx, access.Assignment{PrincipalType: access.PrincipalUser, PrincipalID: u.ID,
		PermissionSet: "ReadOnly", TargetType: access.TargetAccount, TargetID: prodID}); err != nil {
		b.Fatal(err)
	}
	v, err := vend.New(vend.Config{
		Entitlements: svc, Catalog: st, Users: st, IdP: issuer, STS: noSTS{},
		RoleName: func(ps access.PermissionSet, acct string) string {
			return "AWSReservedSSO_" + ps.Name + "_0123456789abcdef"
		},
		TagAttributes: []string{"CostCenter"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return v, u.ID
}

type noSTS struct{}

func (noSTS) AssumeRoleWithSAML(context.Context, *sts.AssumeRoleWithSAMLInput, ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error) {
	panic("not called by Assertion")
}

func bigOne() *big.Int { return big.NewInt(1) }
