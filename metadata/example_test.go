package metadata_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/metadata"
)

func ExampleBuildSP() {
	b, err := metadata.BuildSP(metadata.SPConfig{
		EntityID: "https://gw.example.com/saml/sp/metadata",
		ACS: []metadata.ACSEndpoint{
			{URL: "https://us-east-1.gw.example.com/saml/acs"},
			{URL: "https://eu-west-1.gw.example.com/saml/acs"},
		},
		WantAssertionsSigned: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://gw.example.com/saml/sp/metadata">
	//   <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="false" WantAssertionsSigned="true">
	//     <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://us-east-1.gw.example.com/saml/acs" index="0" isDefault="true"/>
	//     <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://eu-west-1.gw.example.com/saml/acs" index="1"/>
	//   </md:SPSSODescriptor>
	// </md:EntityDescriptor>
}

func ExampleParseIdP() {
	b, err := metadata.LoadFile("testdata/okta.xml", 0)
	if err != nil {
		log.Fatal(err)
	}
	md, err := metadata.ParseIdP(b, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}
	sso, _ := md.SSOService(metadata.BindingHTTPRedirect)
	fmt.Println(md.EntityID)
	fmt.Println(sso.Location)
	fmt.Println(len(md.SigningCertificates), "signing certificate(s)")
	// Output:
	// http://www.okta.com/exk1fcia6d6EOsf8T0h8
	// https://dev-123456.okta.com/app/dev-123456_gatehouse_1/exk1fcia6d6EOsf8T0h8/sso/saml
	// 1 signing certificate(s)
}

// The refresher behind identity_source.saml: metadata_url (or metadata_file)
// and metadata_refresh.
func ExampleNewRefresher() {
	r, err := metadata.NewRefresher(metadata.RefresherConfig{
		URL:       "https://idp.example.com/app/metadata",
		Interval:  time.Hour,
		CachePath: "/var/lib/gatehouse/idp-metadata.xml",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Load(ctx); err != nil {
		log.Printf("no IdP metadata: %v", err)
		return
	}
	r.Start(ctx)
	defer func() { cancel(); <-r.Done() }()
	if md := r.Current(); md != nil {
		fmt.Println(md.EntityID)
	}
}
