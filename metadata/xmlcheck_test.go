package metadata

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func nested(depth int) string {
	return strings.Repeat("<e>", depth) + strings.Repeat("</e>", depth)
}

func TestParseIdPLimits(t *testing.T) {
	doc, _ := baseIdP(t)
	// Positive control: the base document parses; then the same document
	// wrapped deeper than 64 levels, or larger than the parse cap, does not.
	_, err := ParseIdP([]byte(doc), testNow)
	require.NoError(t, err)

	deep := strings.Replace(doc, "<md:NameIDFormat>", "<md:Extensions>"+nested(61)+"</md:Extensions><md:NameIDFormat>", 1)
	_, err = ParseIdP([]byte(deep), testNow)
	require.NoError(t, err, "depth 64 is allowed")
	deeper := strings.Replace(doc, "<md:NameIDFormat>", "<md:Extensions>"+nested(62)+"</md:Extensions><md:NameIDFormat>", 1)
	_, err = ParseIdP([]byte(deeper), testNow)
	require.ErrorIs(t, err, ErrUnsafeXML)

	big := strings.Replace(doc, "<md:NameIDFormat>", "<!--"+strings.Repeat("x", parseLimits().MaxXMLBytes)+"--><md:NameIDFormat>", 1)
	_, err = ParseIdP([]byte(big), testNow)
	require.ErrorIs(t, err, ErrUnsafeXML)

	bom := "\uFEFF" + doc
	_, err = ParseIdP([]byte(bom), testNow)
	require.NoError(t, err, "one leading byte order mark is allowed")
	_, err = ParseIdP([]byte("\uFEFF"+bom), testNow)
	require.ErrorIs(t, err, ErrUnsafeXML)
}
