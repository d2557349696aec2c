package metadata

import (
	"github.com/gatehouse-dev/gatehouse/saml"

	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
)

// addSeeds adds testdata/*.xml and the base document to f's corpus.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	doc, _ := baseIdP(f)
	f.Add([]byte(doc))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte("<a/><b/>"))
}

func FuzzParseIdP(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseIdP(b, testNow)
		if err != nil {
			if md != nil {
				t.Fatal("metadata returned with an error")
			}
			return
		}
		if md.EntityID == "" || len(md.SigningCertificates) == 0 {
			t.Fatalf("accepted without entity ID or signing key: %+v", md)
		}
		if _, ok := md.SSOService(BindingHTTPRedirect); !ok {
			if _, ok := md.SSOService(BindingHTTPPost); !ok {
				t.Fatal("accepted without a usable SSO service")
			}
		}
		for _, e := range append(md.SSOServices, md.SLOServices...) {
			if _, err := checkURL(e.Location); err != nil {
				t.Fatalf("accepted endpoint %q: %v", e.Location, err)
			}
		}
		for _, c := range append(md.SigningCertificates, md.EncryptionCertificates...) {
			if err := saml.CheckKey(c.PublicKey); err != nil {
				t.Fatalf("accepted key: %v", err)
			}
		}
		if !md.ValidUntil.IsZero() && !testNow.Before(md.ValidUntil) {
			t.Fatalf("accepted expired metadata (validUntil %s)", md.ValidUntil)
		}
		if err := checkXML(trimBOM(b), parseLimits()); err != nil {
			t.Fatalf("parsed a document the safety check rejects: %v", err)
		}
		// Selecting the entity it found must give the same answer.
		md2, err := ParseIdPEntity(b, md.EntityID, testNow)
		if err != nil || md2.EntityID != md.EntityID || len(md2.SigningCertificates) != len(md.SigningCertificates) {
			t.Fatalf("ParseIdPEntity disagrees with ParseIdP: %v", err)
		}
	})
}

func FuzzCheckXML(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkXML(b, saml.Limits{MaxXMLBytes: 1 << 20, MaxDepth: 64, MaxTokens: 100_000}); err != nil {
			return
		}
		// What the check accepts, etree must read as one root element.
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(b); err != nil {
			t.Fatalf("checkXML accepted what etree rejects: %v", err)
		}
		if doc.Root() == nil {
			t.Fatal("checkXML accepted a document without a root")
		}
	})
}
