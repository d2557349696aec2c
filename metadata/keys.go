package metadata

import (
	"crypto/x509"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// checkCert checks the certificate's public key with saml.CheckKey. Validity
// dates are not checked: SAML pins the key, not the certificate path, and
// rejecting an IdP certificate on its expiry date would turn a reminder into
// an outage (see IdPMetadata.NextCertificateExpiry for alerting).
func checkCert(c *x509.Certificate) error {
	if err := saml.CheckKey(c.PublicKey); err != nil {
		return fmt.Errorf("certificate %q: %w: %w", c.Subject.String(), ErrWeakKey, err)
	}
	return nil
}
