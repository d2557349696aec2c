package saml_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^_[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 10000 {
		id := saml.NewID()
		require.Regexp(t, re, id)
		require.False(t, seen[id], "duplicate ID %s", id)
		seen[id] = true
	}
	assert.Len(t, seen, 10000)
}
