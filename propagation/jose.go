package propagation

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// allowedAlgs is the asymmetric signature allow-list. "none" and every HMAC
// algorithm are absent on purpose (SECURITY.md class 6).
var allowedAlgs = map[jwa.SignatureAlgorithm]bool{
	jwa.RS256: true, jwa.RS384: true, jwa.RS512: true,
	jwa.PS256: true, jwa.PS384: true, jwa.PS512: true,
	jwa.ES256: true, jwa.ES384: true, jwa.ES512: true,
	jwa.EdDSA: true,
}

// joseHeader holds the only header parameters Gatehouse reads. jku, jwk,
// x5u and x5c are never read, so they are never fetched or trusted.
type joseHeader struct {
	Alg jwa.SignatureAlgorithm
	Typ string
	Kid string
}

// compactJWS is a strictly parsed JWS compact serialization (RFC 7515 §7.1).
type compactJWS struct {
	header       joseHeader
	signingInput string
	payload      []byte
	signature    []byte
}

var b64 = base64.RawURLEncoding.Strict()

// parseCompact splits and decodes a compact JWS with strict base64url and
// checks the header: a JSON object with a string alg on the allow-list, no
// crit (no extension is understood, RFC 7515 §4.1.11) and no b64 (RFC 7797).
func parseCompact(raw string) (*compactJWS, *ValidationError) {
	if strings.Count(raw, ".") != 2 {
		return nil, refuse(ReasonMalformed, "compact JWS needs exactly 3 parts")
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ := strings.Cut(rest, ".")
	if h == "" || p == "" || s == "" {
		return nil, refuse(ReasonMalformed, "empty JWS part")
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, refuse(ReasonMalformed, "header encoding: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(hb, &fields); err != nil || fields == nil {
		return nil, refuse(ReasonMalformed, "header is not a JSON object")
	}
	if _, ok := fields["crit"]; ok {
		return nil, refuse(ReasonCrit, "crit header present; no extension is supported")
	}
	if _, ok := fields["b64"]; ok {
		return nil, refuse(ReasonCrit, "b64 header present (RFC 7797 unsupported)")
	}
	if _, ok := fields["zip"]; ok {
		return nil, refuse(ReasonCrit, "zip header present")
	}
	var hdr struct {
		Alg *string `json:"alg"`
		Typ *string `json:"typ"`
		Kid *string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, refuse(ReasonMalformed, "header fields: %w", err)
	}
	if hdr.Alg == nil {
		return nil, refuse(ReasonAlgorithm, "alg missing")
	}
	alg := jwa.SignatureAlgorithm(*hdr.Alg)
	if !allowedAlgs[alg] {
		return nil, refuse(ReasonAlgorithm, "alg %q not allowed", truncate(*hdr.Alg))
	}
	out := &compactJWS{header: joseHeader{Alg: alg}, signingInput: raw[:len(h)+1+len(p)]}
	if hdr.Typ != nil {
		out.header.Typ = *hdr.Typ
	}
	if hdr.Kid != nil {
		out.header.Kid = *hdr.Kid
	}
	if out.payload, err = b64.DecodeString(p); err != nil {
		return nil, refuse(ReasonMalformed, "payload encoding: %w", err)
	}
	if out.signature, err = b64.DecodeString(s); err != nil {
		return nil, refuse(ReasonMalformed, "signature encoding: %w", err)
	}
	return out, nil
}

// truncate bounds attacker-controlled strings placed in error details.
func truncate(s string) string {
	const maxLen = 32
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
