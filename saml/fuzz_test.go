package saml_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func FuzzCheckXML(f *testing.F) {
	for _, s := range []string{
		sampleXML,
		`<?xml version="1.0" encoding="UTF-8"?><r a="1"><!-- c --><![CDATA[x]]></r>`,
		`<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>`,
		`<r/><r/>`, `<r><?pi x?></r>`, "<r>\xff</r>", `<r a="1" a="2"/>`,
		strings.Repeat("<a>", 70) + strings.Repeat("</a>", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := saml.CheckXML(b, saml.Limits{})
		if err != nil {
			if !errors.Is(err, saml.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if _, err := saml.ParseXML(b, saml.Limits{}); err != nil {
			t.Fatalf("CheckXML accepted what ParseXML rejects: %v", err)
		}
	})
}

func FuzzDecodePOST(f *testing.F) {
	f.Add(saml.EncodePOST([]byte(sampleXML)))
	f.Add("PHIvPg==\r\n")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := saml.DecodePOST(s, saml.Limits{})
		if err == nil && saml.CheckXML(b, saml.Limits{}) != nil {
			t.Fatal("DecodePOST returned XML that CheckXML rejects")
		}
	})
}

func FuzzDecodeRedirect(f *testing.F) {
	enc, err := saml.EncodeRedirect([]byte(sampleXML))
	require.NoError(f, err)
	f.Add(enc)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := saml.DecodeRedirect(s, saml.Limits{MaxXMLBytes: 64 << 10})
		if err == nil && len(b) > 64<<10 {
			t.Fatal("inflate cap exceeded")
		}
	})
}

func FuzzParseAuthnRequest(f *testing.F) {
	req := saml.AuthnRequest{ID: "_a", Issuer: spEntityID, IssueInstant: time.Unix(1700000000, 0), AssertionConsumerServiceURL: acsURL, ForceAuthn: true}
	b, err := req.Marshal()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0" IssueInstant="2025-01-01T00:00:00Z" AssertionConsumerServiceIndex="1"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := saml.ParseAuthnRequest(b, saml.Limits{})
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip.
		if r.Issuer == "" || r.AssertionConsumerServiceURL != "" && r.AssertionConsumerServiceIndex != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		if _, err := saml.ParseAuthnRequest(out, saml.Limits{}); err != nil {
			t.Fatalf("marshalled request does not parse: %v", err)
		}
	})
}

func FuzzVerifyResponse(f *testing.F) {
	k := mustKeys(f)
	// Fixed keys (testdata) and a fixed clock, so that seeds built by the
	// coordinator verify in every fuzz worker.
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	v := newVerifier(f, verifierConfig(k))
	for _, mode := range []samltest.SignMode{samltest.SignAssertion, samltest.SignResponse, samltest.SignNone} {
		o := baseOptions(now)
		o.Sign = mode
		enc, err := k.idp.EncodedResponse(o)
		require.NoError(f, err)
		f.Add(enc)
	}
	o := baseOptions(now)
	o.EncryptTo = k.spCert
	enc, err := k.idp.EncodedResponse(o)
	require.NoError(f, err)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := v.VerifyResponse(s, saml.Expected{Destination: acsURL, Now: now})
		if err != nil {
			var ve *saml.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("not a *VerifyError: %v", err)
			}
			return
		}
		if a.Issuer() != idpEntityID || strings.TrimSpace(a.NameID()) == "" || a.ID() == "" {
			t.Fatalf("accepted an assertion violating invariants: %+v", a)
		}
	})
}
