package saml

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Signature algorithm URIs (XML Signature, RFC 6931 §2.3). Only these are
// accepted for signing and verification.
const (
	SigAlgRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	SigAlgRSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	SigAlgRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	SigAlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	SigAlgECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	SigAlgECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// Digest algorithm URIs accepted in ds:Reference (XML Encryption §5.7.2,
// RFC 6931 §2.1.3).
const (
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

type keyKind int

const (
	kindRSA keyKind = iota + 1
	kindECDSA
)

type sigAlgorithm struct {
	kind keyKind
	hash crypto.Hash
}

// signatureAlgorithms is the allow-list: RSA PKCS#1 v1.5 and ECDSA with
// SHA-256 or stronger. Read-only after initialisation.
var signatureAlgorithms = map[string]sigAlgorithm{
	SigAlgRSASHA256:   {kindRSA, crypto.SHA256},
	SigAlgRSASHA384:   {kindRSA, crypto.SHA384},
	SigAlgRSASHA512:   {kindRSA, crypto.SHA512},
	SigAlgECDSASHA256: {kindECDSA, crypto.SHA256},
	SigAlgECDSASHA384: {kindECDSA, crypto.SHA384},
	SigAlgECDSASHA512: {kindECDSA, crypto.SHA512},
}

// digestAlgorithms is the allow-list of reference digests.
var digestAlgorithms = map[string]crypto.Hash{
	DigestSHA256: crypto.SHA256,
	DigestSHA384: crypto.SHA384,
	DigestSHA512: crypto.SHA512,
}

// AllowedSignatureAlgorithm reports whether uri is an allow-listed
// signature algorithm (RSA-SHA256/384/512, ECDSA-SHA256/384/512).
func AllowedSignatureAlgorithm(uri string) bool {
	_, ok := signatureAlgorithms[uri]
	return ok
}

// AllowedDigestAlgorithm reports whether uri is an allow-listed reference
// digest (SHA-256, SHA-384, SHA-512).
func AllowedDigestAlgorithm(uri string) bool {
	_, ok := digestAlgorithms[uri]
	return ok
}

// CheckKey accepts RSA keys of at least 2048 bits and ECDSA keys on P-256,
// P-384 or P-521; anything else is an error. Use it on trusted IdP and SP
// keys at configuration and metadata time.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.BitLen() < 2048 {
			return errors.New("saml: RSA key shorter than 2048 bits")
		}
		// An upper bound keeps verification cheap: a hostile document
		// must not turn a huge modulus into a CPU sink.
		if k.N.BitLen() > 16384 {
			return errors.New("saml: RSA key longer than 16384 bits")
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("saml: invalid ECDSA key")
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return errors.New("saml: ECDSA curve not allowed")
	default:
		return fmt.Errorf("saml: key type %T not allowed", pub)
	}
}

func (a sigAlgorithm) matchKey(pub crypto.PublicKey) error {
	switch pub.(type) {
	case *rsa.PublicKey:
		if a.kind == kindRSA {
			return nil
		}
	case *ecdsa.PublicKey:
		if a.kind == kindECDSA {
			return nil
		}
	}
	return fmt.Errorf("saml: signature algorithm does not match key type %T", pub)
}

func (a sigAlgorithm) digest(msg []byte) []byte {
	h := a.hash.New()
	h.Write(msg)
	return h.Sum(nil)
}

// sign signs msg for the HTTP-Redirect binding. ECDSA signatures are
// encoded as r||s (XML Signature 1.1 §6.4.3), not ASN.1.
func (a sigAlgorithm) sign(signer crypto.Signer, msg []byte) ([]byte, error) {
	sig, err := signer.Sign(rand.Reader, a.digest(msg), a.hash)
	if err != nil {
		return nil, err
	}
	if a.kind != kindECDSA {
		return sig, nil
	}
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("saml: ECDSA algorithm with non-ECDSA key")
	}
	var parsed struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &parsed); err != nil {
		return nil, err
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	parsed.R.FillBytes(out[:size])
	parsed.S.FillBytes(out[size:])
	return out, nil
}

// verify checks a redirect-binding signature. ECDSA signatures are accepted
// as r||s or as ASN.1 DER; the two encodings cannot be confused by length.
func (a sigAlgorithm) verify(pub crypto.PublicKey, msg, sig []byte) error {
	d := a.digest(msg)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, a.hash, d, sig)
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*size {
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			if ecdsa.Verify(k, d, r, s) {
				return nil
			}
			return errors.New("saml: invalid ECDSA signature")
		}
		if ecdsa.VerifyASN1(k, d, sig) {
			return nil
		}
		return errors.New("saml: invalid ECDSA signature")
	}
	return errors.New("saml: unsupported key")
}

// Sign adds an enveloped XML signature (exclusive canonicalization, digest
// with the hash of sigAlg, SHA-256 or stronger) to el, which must carry an
// ID attribute, using goxmldsig's NewSigningContext(signer, certChain). The
// ds:Signature is inserted where the SAML schema requires it: right after
// the saml:Issuer child (SAML core §2.3.3, §3.2.1), or first when there is
// no Issuer. el is changed in place; the inserted Signature is returned.
func Sign(el *etree.Element, signer crypto.Signer, certChain [][]byte, sigAlg string) (*etree.Element, error) {
	if el == nil || signer == nil {
		return nil, errors.New("saml: Sign: nil element or signer")
	}
	alg, ok := signatureAlgorithms[sigAlg]
	if !ok {
		return nil, fmt.Errorf("saml: signature algorithm %s not allowed", quoteShort(sigAlg))
	}
	if err := alg.matchKey(signer.Public()); err != nil {
		return nil, err
	}
	if el.SelectAttrValue("ID", "") == "" {
		return nil, errors.New("saml: Sign: element has no ID attribute")
	}
	ctx, err := dsig.NewSigningContext(signer, certChain)
	if err != nil {
		return nil, fmt.Errorf("saml: Sign: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(sigAlg); err != nil {
		return nil, fmt.Errorf("saml: Sign: %w", err)
	}
	// Sign a detached copy carrying every in-scope namespace declaration:
	// exclusive canonicalization rewrites the element it is given.
	nsCtx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fmt.Errorf("saml: Sign: %w", err)
	}
	detached, err := etreeutils.NSDetatch(nsCtx, el)
	if err != nil {
		return nil, fmt.Errorf("saml: Sign: %w", err)
	}
	sig, err := ctx.ConstructSignature(detached, true)
	if err != nil {
		return nil, fmt.Errorf("saml: Sign: %w", err)
	}
	InsertSignature(el, sig)
	return sig, nil
}

// InsertSignature places sig in el right after its first Issuer child
// element, or as the first child element when there is none.
func InsertSignature(el, sig *etree.Element) {
	for i, tok := range el.Child {
		if c, ok := tok.(*etree.Element); ok && c.Tag == "Issuer" {
			el.InsertChildAt(i+1, sig)
			return
		}
	}
	el.InsertChildAt(0, sig)
}
