package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Binding is a SAML 2.0 protocol binding URI (SAML bindings §3).
type Binding string

// The bindings Gatehouse speaks.
const (
	BindingHTTPRedirect Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingHTTPPost     Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// Limits bound parsing. Zero fields take defaults: MaxEncodedBytes 256 KiB
// (the base64 form or query value), MaxXMLBytes 1 MiB (after inflate or
// decode), MaxDepth 64, MaxTokens 50000.
type Limits struct{ MaxEncodedBytes, MaxXMLBytes, MaxDepth, MaxTokens int }

// Default limits.
const (
	DefaultMaxEncodedBytes = 256 << 10
	DefaultMaxXMLBytes     = 1 << 20
	DefaultMaxDepth        = 64
	DefaultMaxTokens       = 50000
)

func (l Limits) withDefaults() Limits {
	if l.MaxEncodedBytes <= 0 {
		l.MaxEncodedBytes = DefaultMaxEncodedBytes
	}
	if l.MaxXMLBytes <= 0 {
		l.MaxXMLBytes = DefaultMaxXMLBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	return l
}

// decodeBase64 decodes standard base64, tolerating the CR, LF, tab and space
// characters that IdPs and browsers insert.
func decodeBase64(value string, lim Limits) ([]byte, error) {
	if len(value) > lim.MaxEncodedBytes {
		return nil, malformed("encoded message larger than %d bytes", lim.MaxEncodedBytes)
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '\t', ' ':
			return -1
		}
		return r
	}, value)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, malformed("invalid base64")
	}
	if len(b) == 0 {
		return nil, malformed("empty message")
	}
	return b, nil
}

// DecodePOST decodes an HTTP-POST binding form value (SAML bindings §3.5.4):
// standard base64, size caps, then CheckXML.
func DecodePOST(value string, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	b, err := decodeBase64(value, lim)
	if err != nil {
		return nil, err
	}
	if err := CheckXML(b, lim); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeRedirect decodes an HTTP-Redirect binding value (SAML bindings
// §3.4.4.1), already URL-decoded: base64, then raw DEFLATE inflated to at
// most MaxXMLBytes (an error when exceeded), then CheckXML.
func DecodeRedirect(value string, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	compressed, err := decodeBase64(value, lim)
	if err != nil {
		return nil, err
	}
	fr := flate.NewReader(bytes.NewReader(compressed))
	defer fr.Close()
	b, err := io.ReadAll(io.LimitReader(fr, int64(lim.MaxXMLBytes)+1))
	if err != nil {
		return nil, malformed("invalid DEFLATE data")
	}
	if len(b) > lim.MaxXMLBytes {
		return nil, malformed("inflated message larger than %d bytes", lim.MaxXMLBytes)
	}
	if err := CheckXML(b, lim); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodePOST encodes a message for the HTTP-POST binding.
func EncodePOST(xml []byte) string {
	return base64.StdEncoding.EncodeToString(xml)
}

// EncodeRedirect encodes a message for the HTTP-Redirect binding: raw
// DEFLATE, then standard base64 (not yet URL-encoded).
func EncodeRedirect(xml []byte) (string, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", fmt.Errorf("saml: deflate: %w", err)
	}
	if _, err := fw.Write(xml); err != nil {
		return "", fmt.Errorf("saml: deflate: %w", err)
	}
	if err := fw.Close(); err != nil {
		return "", fmt.Errorf("saml: deflate: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func checkRedirectParam(param string) error {
	if param != "SAMLRequest" && param != "SAMLResponse" {
		return fmt.Errorf("saml: redirect parameter must be SAMLRequest or SAMLResponse")
	}
	return nil
}

// RedirectQuery builds the HTTP-Redirect query string
// "SAMLRequest=..&RelayState=..&SigAlg=..&Signature=.." (param is
// "SAMLRequest" or "SAMLResponse"; RelayState is left out when empty). When
// signer is not nil it signs the exact octets of the query as built, per
// SAML bindings §3.4.4.1, with sigAlg, which must be one of the SigAlg
// constants and match the key type.
func RedirectQuery(param string, xml []byte, relayState string, signer crypto.Signer, sigAlg string) (string, error) {
	if err := checkRedirectParam(param); err != nil {
		return "", err
	}
	encoded, err := EncodeRedirect(xml)
	if err != nil {
		return "", err
	}
	q := param + "=" + url.QueryEscape(encoded)
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if signer == nil {
		return q, nil
	}
	alg, ok := signatureAlgorithms[sigAlg]
	if !ok {
		return "", fmt.Errorf("saml: signature algorithm %s not allowed", quoteShort(sigAlg))
	}
	if err := alg.matchKey(signer.Public()); err != nil {
		return "", err
	}
	q += "&SigAlg=" + url.QueryEscape(sigAlg)
	sig, err := alg.sign(signer, []byte(q))
	if err != nil {
		return "", fmt.Errorf("saml: sign redirect: %w", err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

// VerifyRedirectSignature verifies an HTTP-Redirect binding signature (SAML
// bindings §3.4.4.1) over the raw query octets as received (rawQuery is
// r.URL.RawQuery): it rebuilds "param=<raw>&RelayState=<raw>&SigAlg=<raw>"
// from the still-encoded values in that order and tries each key. Only
// allow-listed algorithms and keys passing CheckKey are accepted; any of the
// four parameters appearing twice is an error. Errors are *VerifyError.
func VerifyRedirectSignature(rawQuery string, param string, keys []crypto.PublicKey) error {
	if err := checkRedirectParam(param); err != nil {
		return &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	raw := map[string]string{}
	for _, part := range strings.Split(rawQuery, "&") {
		name, value, _ := strings.Cut(part, "=")
		switch name {
		case param, "RelayState", "SigAlg", "Signature":
			if _, dup := raw[name]; dup {
				return &VerifyError{Reason: ReasonMalformed, Err: malformed("duplicate %s parameter", name)}
			}
			raw[name] = value
		}
	}
	msg, okMsg := raw[param]
	rawAlg, okAlg := raw["SigAlg"]
	rawSig, okSig := raw["Signature"]
	if !okMsg || msg == "" {
		return &VerifyError{Reason: ReasonMalformed, Err: malformed("missing %s parameter", param)}
	}
	if !okAlg || !okSig {
		return &VerifyError{Reason: ReasonSignature, Err: errors.New("saml: redirect message not signed")}
	}
	sigAlg, err := url.QueryUnescape(rawAlg)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformed, Err: malformed("invalid SigAlg encoding")}
	}
	alg, ok := signatureAlgorithms[sigAlg]
	if !ok {
		return &VerifyError{Reason: ReasonAlgorithm, Err: fmt.Errorf("saml: signature algorithm %s not allowed", quoteShort(sigAlg))}
	}
	sigB64, err := url.QueryUnescape(rawSig)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformed, Err: malformed("invalid Signature encoding")}
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) == 0 {
		return &VerifyError{Reason: ReasonMalformed, Err: malformed("invalid Signature base64")}
	}
	signed := param + "=" + msg
	if rs, ok := raw["RelayState"]; ok {
		signed += "&RelayState=" + rs
	}
	signed += "&SigAlg=" + rawAlg
	for _, k := range keys {
		if CheckKey(k) != nil || alg.matchKey(k) != nil {
			continue
		}
		if alg.verify(k, []byte(signed), sig) == nil {
			return nil
		}
	}
	return &VerifyError{Reason: ReasonSignature, Err: errors.New("saml: redirect signature does not verify with any trusted key")}
}
