package metadata

import (
	"bytes"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// parseLimits are the limits ParseIdP applies. The size cap is deliberately
// larger than DefaultMaxBytes: loaders enforce their own (configurable) cap,
// and the parser only guards against documents no IdP would publish.
func parseLimits() saml.Limits {
	return saml.Limits{MaxXMLBytes: 8 << 20, MaxDepth: 64, MaxTokens: 500_000}
}

// checkXML is saml.CheckXML (one pre-parse policy for every document
// Gatehouse reads), with its errors also matching ErrUnsafeXML.
func checkXML(b []byte, lim saml.Limits) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty document", ErrUnsafeXML)
	}
	if err := saml.CheckXML(b, lim); err != nil {
		return fmt.Errorf("%w: %w", ErrUnsafeXML, err)
	}
	return nil
}

const utf8BOM = "\xEF\xBB\xBF"

// trimBOM drops one leading UTF-8 byte order mark, as written by some Windows
// tools (AD FS exports). Both the check and the parser see the trimmed bytes.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte(utf8BOM)) }
