package samltest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// SignMode says which elements of a Response are signed.
type SignMode int

// Sign modes. The zero value signs the assertion only.
const (
	SignAssertion SignMode = iota
	SignResponse
	SignBoth
	SignNone
)

// Algorithm URIs a test IdP can use, some beyond the saml allow-list (SHA-1,
// RSA-1_5, AES-CBC), to build messages that must be rejected.
const (
	SigAlgRSASHA1      = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	DigestSHA1         = "http://www.w3.org/2000/09/xmldsig#sha1"
	KeyTransportOAEP   = saml.KeyTransportRSAOAEPMGF1P
	KeyTransportRSA15  = saml.KeyTransportRSA15
	DataAES128GCM      = saml.DataAES128GCM
	DataAES256GCM      = saml.DataAES256GCM
	DataAES256CBC      = saml.DataAES256CBC
	StatusSuccess      = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester    = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	NameIDFormatEmail  = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	AuthnContextPPT    = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	attrNameFormatBase = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
)

// ResponseOptions describe one Response. Destination, NameID and (unless
// OmitAudience) Audience are required; everything else has a default.
type ResponseOptions struct {
	// Now is the issue time; zero means time.Now().
	Now time.Time
	// Destination is Response@Destination; Recipient defaults to it.
	Destination, Recipient string
	Audience               string
	// InResponseTo goes on the Response and the SubjectConfirmationData.
	InResponseTo string
	NameID       string
	NameIDFormat string
	// Attributes are emitted sorted by name.
	Attributes   map[string][]string
	SessionIndex string // default: a fresh ID
	Sign         SignMode
	// SigAlg defaults to RSA-SHA256 or ECDSA-SHA256 by key type. DigestAlg
	// defaults to the hash of SigAlg. Non-allow-listed values (SHA-1) are
	// signed with a built-in signer for negative tests.
	SigAlg, DigestAlg string
	// OmitKeyInfo leaves KeyInfo out of the signatures.
	OmitKeyInfo bool
	AssertionID string // default: a fresh ID
	// IssueInstant defaults to Now, NotBefore to Now (unless OmitNotBefore),
	// NotOnOrAfter to Now+5m, SubjectNotOnOrAfter to NotOnOrAfter.
	IssueInstant, NotBefore, NotOnOrAfter, SubjectNotOnOrAfter time.Time
	OmitNotBefore                                              bool
	OmitAudience                                               bool
	// Issuer overrides the IdP entity ID on Response and Assertion.
	Issuer string
	// StatusCode defaults to Success.
	StatusCode      string
	OmitDestination bool
	// EncryptTo wraps the (signed) assertion in an EncryptedAssertion for
	// this certificate's RSA key, built by saml.InsecureEncryptAssertion:
	// RSA-OAEP (SHA-1 digest, the XML Encryption default) and AES-256-GCM
	// unless KeyTransport / DataEncryption say otherwise (RSA-1_5 and
	// AES-CBC exist for negative tests).
	EncryptTo                    *x509.Certificate
	KeyTransport, DataEncryption string
	// BeforeSign runs on the unsigned elements; AfterSign on the finished
	// document (after signing and encryption). Hooks for negative tests.
	BeforeSign func(resp, assertion *etree.Element)
	AfterSign  func(doc *etree.Document)
}

// EncodedResponse returns Response(o) base64-encoded for HTTP-POST.
func (i *IdP) EncodedResponse(o ResponseOptions) (string, error) {
	b, err := i.Response(o)
	if err != nil {
		return "", err
	}
	return saml.EncodePOST(b), nil
}

// Response builds, signs and optionally encrypts a samlp:Response.
func (i *IdP) Response(o ResponseOptions) ([]byte, error) {
	if o.Destination == "" || o.NameID == "" || (o.Audience == "" && !o.OmitAudience) {
		return nil, errors.New("samltest: Destination, NameID and Audience are required")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	def := func(t, d time.Time) time.Time {
		if t.IsZero() {
			return d
		}
		return t
	}
	issueInstant := def(o.IssueInstant, now)
	notBefore := def(o.NotBefore, now)
	notOnOrAfter := def(o.NotOnOrAfter, now.Add(5*time.Minute))
	subjectNotOnOrAfter := def(o.SubjectNotOnOrAfter, notOnOrAfter)
	issuer := or(o.Issuer, i.entityID)
	sigAlg := or(o.SigAlg, i.defaultSigAlg())

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	resp := doc.CreateElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", saml.NSProtocol)
	resp.CreateAttr("xmlns:saml", saml.NSAssertion)
	resp.CreateAttr("ID", saml.NewID())
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", saml.FormatTime(issueInstant))
	if !o.OmitDestination {
		resp.CreateAttr("Destination", o.Destination)
	}
	if o.InResponseTo != "" {
		resp.CreateAttr("InResponseTo", o.InResponseTo)
	}
	resp.CreateElement("saml:Issuer").SetText(issuer)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").
		CreateAttr("Value", or(o.StatusCode, StatusSuccess))

	a := resp.CreateElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", saml.NSAssertion)
	a.CreateAttr("ID", or(o.AssertionID, saml.NewID()))
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", saml.FormatTime(issueInstant))
	a.CreateElement("saml:Issuer").SetText(issuer)
	subj := a.CreateElement("saml:Subject")
	nameID := subj.CreateElement("saml:NameID")
	if o.NameIDFormat != "" {
		nameID.CreateAttr("Format", o.NameIDFormat)
	}
	nameID.SetText(o.NameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if o.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", o.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", saml.FormatTime(subjectNotOnOrAfter))
	scd.CreateAttr("Recipient", or(o.Recipient, o.Destination))
	cond := a.CreateElement("saml:Conditions")
	if !o.OmitNotBefore {
		cond.CreateAttr("NotBefore", saml.FormatTime(notBefore))
	}
	cond.CreateAttr("NotOnOrAfter", saml.FormatTime(notOnOrAfter))
	if !o.OmitAudience {
		cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(o.Audience)
	}
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", saml.FormatTime(issueInstant))
	as.CreateAttr("SessionIndex", or(o.SessionIndex, saml.NewID()))
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(AuthnContextPPT)
	if len(o.Attributes) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		for _, name := range slices.Sorted(maps.Keys(o.Attributes)) {
			at := st.CreateElement("saml:Attribute")
			at.CreateAttr("Name", name)
			at.CreateAttr("NameFormat", attrNameFormatBase)
			for _, v := range o.Attributes[name] {
				at.CreateElement("saml:AttributeValue").SetText(v)
			}
		}
	}

	if o.BeforeSign != nil {
		o.BeforeSign(resp, a)
	}
	if o.Sign == SignAssertion || o.Sign == SignBoth {
		if err := i.sign(a, sigAlg, o.DigestAlg, o.OmitKeyInfo); err != nil {
			return nil, err
		}
	}
	if o.EncryptTo != nil {
		ea, err := saml.InsecureEncryptAssertion(a, o.EncryptTo, or(o.KeyTransport, KeyTransportOAEP), or(o.DataEncryption, DataAES256GCM))
		if err != nil {
			return nil, fmt.Errorf("samltest: %w", err)
		}
		idx := a.Index()
		resp.RemoveChildAt(idx)
		resp.InsertChildAt(idx, ea)
	}
	if o.Sign == SignResponse || o.Sign == SignBoth {
		if err := i.sign(resp, sigAlg, o.DigestAlg, o.OmitKeyInfo); err != nil {
			return nil, err
		}
	}
	if o.AfterSign != nil {
		o.AfterSign(doc)
	}
	return doc.WriteToBytes()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sign signs el with saml.Sign when the algorithms are allow-listed, and
// with insecureSign otherwise.
func (i *IdP) sign(el *etree.Element, sigAlg, digestAlg string, omitKeyInfo bool) error {
	var sig *etree.Element
	var err error
	if saml.AllowedSignatureAlgorithm(sigAlg) && digestAlg == "" {
		sig, err = saml.Sign(el, i.signer, [][]byte{i.cert.Raw}, sigAlg)
	} else {
		sig, err = insecureSign(el, i.signer, i.cert.Raw, sigAlg, digestAlg)
	}
	if err != nil {
		return fmt.Errorf("samltest: sign: %w", err)
	}
	if omitKeyInfo {
		// KeyInfo is outside SignedInfo: removing it keeps the signature valid.
		for _, c := range sig.ChildElements() {
			if c.Tag == "KeyInfo" {
				sig.RemoveChild(c)
			}
		}
	}
	return nil
}

var sigHashes = map[string]crypto.Hash{
	SigAlgRSASHA1: crypto.SHA1,
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": crypto.SHA1,
	saml.SigAlgRSASHA256:   crypto.SHA256,
	saml.SigAlgRSASHA384:   crypto.SHA384,
	saml.SigAlgRSASHA512:   crypto.SHA512,
	saml.SigAlgECDSASHA256: crypto.SHA256,
	saml.SigAlgECDSASHA384: crypto.SHA384,
	saml.SigAlgECDSASHA512: crypto.SHA512,
}

var digestHashes = map[string]crypto.Hash{
	DigestSHA1:        crypto.SHA1,
	saml.DigestSHA256: crypto.SHA256,
	saml.DigestSHA384: crypto.SHA384,
	saml.DigestSHA512: crypto.SHA512,
}

var digestURIs = map[crypto.Hash]string{
	crypto.SHA1:   DigestSHA1,
	crypto.SHA256: saml.DigestSHA256,
	crypto.SHA384: saml.DigestSHA384,
	crypto.SHA512: saml.DigestSHA512,
}

// insecureSign builds an enveloped exclusive-c14n signature like
// goxmldsig's, but with any signature and digest algorithm goxmldsig can
// verify, including SHA-1, so tests can prove they are rejected.
func insecureSign(el *etree.Element, signer crypto.Signer, cert []byte, sigAlg, digestAlg string) (*etree.Element, error) {
	sigHash, ok := sigHashes[sigAlg]
	if !ok {
		return nil, fmt.Errorf("unknown signature algorithm %q", sigAlg)
	}
	if digestAlg == "" {
		digestAlg = digestURIs[sigHash]
	}
	digHash, ok := digestHashes[digestAlg]
	if !ok {
		return nil, fmt.Errorf("unknown digest algorithm %q", digestAlg)
	}
	canon := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	c14n, err := canon.Canonicalize(detached)
	if err != nil {
		return nil, err
	}
	h := digHash.New()
	h.Write(c14n)

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", saml.NSDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", string(dsig.CanonicalXML10ExclusiveAlgorithmId))
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sigAlg)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "#"+el.SelectAttrValue("ID", ""))
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", string(dsig.EnvelopedSignatureAltorithmId))
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", string(dsig.CanonicalXML10ExclusiveAlgorithmId))
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestAlg)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(h.Sum(nil)))

	siCtx, err := etreeutils.NSBuildParentContext(si)
	if err != nil {
		return nil, err
	}
	siDetached, err := etreeutils.NSDetatch(siCtx, si)
	if err != nil {
		return nil, err
	}
	siC14n, err := canon.Canonicalize(siDetached)
	if err != nil {
		return nil, err
	}
	sh := sigHash.New()
	sh.Write(siC14n)
	value, err := signer.Sign(rand.Reader, sh.Sum(nil), sigHash)
	if err != nil {
		return nil, err
	}
	sig.CreateElement("ds:SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(cert))
	saml.InsertSignature(el, sig)
	return sig, nil
}
