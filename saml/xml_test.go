package saml_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func TestCheckXML(t *testing.T) {
	deep := strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65)
	okDeep := strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64)
	many := "<r>" + strings.Repeat("<a/>", 30000) + "</r>" // 60002 tokens
	cases := []struct {
		name string
		in   string
		lim  saml.Limits
		ok   bool
	}{
		{name: "plain", in: `<r a="1"><b>text</b></r>`, ok: true},
		{name: "declaration", in: `<?xml version="1.0" encoding="UTF-8"?><r/>`, ok: true},
		{name: "declaration lower-case utf-8", in: `<?xml version="1.0" encoding='utf-8'?>` + "\n<r/>\n", ok: true},
		{name: "comments around root", in: "<!-- c --><r/><!-- d -->\n", ok: true},
		{name: "CDATA", in: `<r><![CDATA[<x>]]></r>`, ok: true},
		{name: "namespaces", in: `<p:r xmlns:p="urn:x"><p:a/></p:r>`, ok: true},
		{name: "DOCTYPE", in: `<!DOCTYPE r><r/>`},
		{name: "entity declaration", in: `<!DOCTYPE r [<!ENTITY e "boom">]><r>&e;</r>`},
		{name: "external entity", in: `<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>`},
		{name: "undefined entity reference", in: `<r>&e;</r>`},
		{name: "processing instruction", in: `<r><?php echo 1 ?></r>`},
		{name: "stylesheet PI before root", in: `<?xml-stylesheet href="x"?><r/>`},
		{name: "declaration not first", in: ` <?xml version="1.0"?><r/>`},
		{name: "two roots", in: `<r/><r/>`},
		{name: "trailing text", in: `<r/>x`},
		{name: "leading text", in: `x<r/>`},
		{name: "invalid UTF-8", in: "<r>\xff\xfe</r>"},
		{name: "ISO-8859-1 declared", in: `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`},
		{name: "UTF-16 declared", in: `<?xml version="1.0" encoding="UTF-16"?><r/>`},
		{name: "depth 64", in: okDeep, ok: true},
		{name: "depth 65", in: deep},
		{name: "too many tokens", in: many},
		{name: "tokens within raised limit", in: many, lim: saml.Limits{MaxTokens: 70000}, ok: true},
		{name: "too large", in: "<r>" + strings.Repeat("x", 100) + "</r>", lim: saml.Limits{MaxXMLBytes: 50}},
		{name: "size within limit", in: "<r>" + strings.Repeat("x", 40) + "</r>", lim: saml.Limits{MaxXMLBytes: 50}, ok: true},
		{name: "duplicate attribute", in: `<r a="1" a="2"/>`},
		{name: "mismatched tags", in: `<r><a></b></r>`},
		{name: "unclosed", in: `<r><a>`},
		{name: "empty", in: ``},
		{name: "only whitespace", in: "  \n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := saml.CheckXML([]byte(tc.in), tc.lim)
			if tc.ok {
				require.NoError(t, err)
				doc, err := saml.ParseXML([]byte(tc.in), tc.lim)
				require.NoError(t, err)
				assert.NotNil(t, doc.Root())
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, saml.ErrMalformed), "%v", err)
			_, err = saml.ParseXML([]byte(tc.in), tc.lim)
			assert.Error(t, err)
		})
	}
}
