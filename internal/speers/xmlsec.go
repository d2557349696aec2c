package speers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const (
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// ErrXMLSec means xmlsec1 refused a signature, or the response's signatures
// are not ones xmlsec1 can be trusted to have checked (see XMLSecVerify).
var ErrXMLSec = errors.New("speers: xmlsec1 verification failed")

// XMLSecVerify checks every XML signature of a SAML Response (the decoded
// XML, not base64) with xmlsec1, the reference XML Security Library, trusting
// only the public key of certPEM (a PEM certificate, as published in the
// IdP's metadata). It runs, once per signature,
//
//	xmlsec1 --verify --pubkey-cert-pem CERT --enabled-reference-uris same-doc
//	  --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion
//	  --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:Response
//	  --node-xpath "(//*[local-name()='Signature' and namespace-uri()='...xmldsig#'])[N]" FILE
//
// xmlsec1 verifies a signature over whatever its Reference points at, so
// XMLSecVerify first requires what it cannot see: at least one signature;
// each signature a direct child of the Response or of an Assertion, with one
// Reference whose URI is "#" + that parent's ID; IDs unique in the document.
// An EncryptedAssertion is not decrypted: only the signatures outside it are
// checked. Errors wrap ErrXMLSec. A missing xmlsec1 skips the test (fails it
// when GATEHOUSE_REQUIRE_PEERS is set).
func XMLSecVerify(t testing.TB, responseXML []byte, certPEM []byte) error {
	t.Helper()
	requireAvailable(t, "xmlsec1")
	n, err := checkSignaturePlacement(responseXML)
	if err != nil {
		return err
	}
	// Not t.TempDir: its name comes from the test's, and xmlsec1 splits file
	// names at commas.
	dir, err := os.MkdirTemp("", "speers-xmlsec-")
	if err != nil {
		return fmt.Errorf("speers: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "response.xml")
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(file, responseXML, 0o600); err != nil {
		return fmt.Errorf("speers: %w", err)
	}
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		return fmt.Errorf("speers: %w", err)
	}
	for i := 1; i <= n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, testpeer.XMLSecBin, "--verify",
			"--pubkey-cert-pem", cert,
			"--enabled-reference-uris", "same-doc",
			"--id-attr:ID", nsAssertion+":Assertion",
			"--id-attr:ID", nsProtocol+":Response",
			"--node-xpath", fmt.Sprintf("(//*[local-name()='Signature' and namespace-uri()='%s'])[%d]", nsDSig, i),
			file).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("%w: signature %d of %d: %v: %s", ErrXMLSec, i, n, err, snippet(out))
		}
		if !bytes.Contains(out, []byte("OK")) {
			return fmt.Errorf("%w: signature %d of %d: no OK from xmlsec1: %s", ErrXMLSec, i, n, snippet(out))
		}
	}
	return nil
}

// checkSignaturePlacement returns the number of ds:Signature elements after
// checking that each signs its own parent, a Response or an Assertion.
func checkSignaturePlacement(doc []byte) (int, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return 0, fmt.Errorf("%w: parse: %v", ErrXMLSec, err)
	}
	root := d.Root()
	if root == nil || root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return 0, fmt.Errorf("%w: the root is not a samlp:Response", ErrXMLSec)
	}
	ids := map[string]bool{}
	n := 0
	var walk func(e *etree.Element) error
	walk = func(e *etree.Element) error {
		if id := e.SelectAttrValue("ID", ""); id != "" {
			if ids[id] {
				return fmt.Errorf("%w: duplicate ID %q", ErrXMLSec, id)
			}
			ids[id] = true
		}
		for _, c := range e.ChildElements() {
			if c.Tag == "Signature" && c.NamespaceURI() == nsDSig {
				n++
				parentOK := (e.Tag == "Response" && e.NamespaceURI() == nsProtocol) ||
					(e.Tag == "Assertion" && e.NamespaceURI() == nsAssertion)
				refs := c.FindElements("./SignedInfo/Reference")
				id := e.SelectAttrValue("ID", "")
				if !parentOK || id == "" || len(refs) != 1 || refs[0].SelectAttrValue("URI", "") != "#"+id {
					return fmt.Errorf("%w: a signature that does not sign its parent Response or Assertion (under %s)", ErrXMLSec, e.Tag)
				}
			}
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: no signature", ErrXMLSec)
	}
	return n, nil
}
