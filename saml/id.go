package saml

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a fresh SAML ID: "_" followed by 32 lowercase hex digits of
// 128 bits from crypto/rand (SAML core §1.3.4 requires at least 128 bits of
// randomness; the leading underscore makes it a valid xs:ID / NCName).
func NewID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (Go 1.24+); it aborts the
	// program if the system randomness source fails.
	_, _ = rand.Read(b[:])
	return "_" + hex.EncodeToString(b[:])
}
