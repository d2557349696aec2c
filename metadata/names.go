package metadata

// SAML 2.0 binding URIs (SAML Bindings, section 3). They are untyped string
// constants so that they compare with Endpoint.Binding and convert to
// saml.Binding without ceremony.
const (
	BindingHTTPRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingHTTPPost     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// Namespace and protocol URIs matched by this package. Elements are matched by
// namespace URI and local name, never by prefix.
const (
	nsMD          = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDS          = "http://www.w3.org/2000/09/xmldsig#"
	protocolSAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"

	algAES256GCM  = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	algAES128GCM  = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	algRSAOAEP11  = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	algRSAOAEPMGF = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
)

// maxEntityIDLen is the SAML 2.0 limit on entityID (SAML Metadata, 2.3.2).
const maxEntityIDLen = 1024
