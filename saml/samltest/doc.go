// Package samltest provides a SAML identity provider for tests: it issues
// signed (and optionally encrypted) Responses with every knob a negative
// test needs (weak algorithms, missing elements, hooks before and after
// signing), publishes IdP metadata, and serves a demo login page
// (LoginHandler) that answers HTTP-Redirect AuthnRequests; and a SAML
// service provider for tests of identity providers (SP): metadata,
// optionally signed AuthnRequests, and full verification of the responses
// it receives.
//
// # Security model
//
// This package is for tests and demos only. It deliberately can produce
// messages Gatehouse must reject (RSA-SHA1, SHA-1 digests, RSA-1_5 and
// AES-CBC encryption, wrong audiences). LoginHandler keeps the minimum of
// IdP hygiene so that demos are not trivially abusable: responses go only
// to allow-listed ACS URLs and only for the configured SP Issuer, all page
// output is escaped by html/template, pages are no-store and not
// frameable, and passwords are compared in constant time. It does not
// verify AuthnRequest signatures, rate-limit, or keep sessions.
package samltest
