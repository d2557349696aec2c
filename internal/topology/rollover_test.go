package topology_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// x509InMetadata finds the certificates of a metadata document.
var x509InMetadata = regexp.MustCompile(`<(?:ds:)?X509Certificate>\s*([A-Za-z0-9+/=\s]+?)\s*</(?:ds:)?X509Certificate>`)

// published is what one instance publishes: the IdP metadata's signing
// certificates and the JWKS key IDs, in order.
type published struct {
	idp  []string
	jwks []string
}

func publishedBy(t *testing.T, base string) published {
	t.Helper()
	var p published
	seen := map[string]bool{}
	for _, m := range x509InMetadata.FindAllStringSubmatch(string(get(t, base+"/saml/idp/metadata")), -1) {
		c := strings.Join(strings.Fields(m[1]), "")
		if !seen[c] {
			seen[c] = true
			p.idp = append(p.idp, c)
		}
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(get(t, base+"/oauth/jwks"), &set))
	for _, k := range set.Keys {
		p.jwks = append(p.jwks, k.KID)
	}
	return p
}

// agreed waits until every instance publishes the same keys and cond
// holds for them, and returns what they publish.
func agreed(t *testing.T, tp *topology, what string, cond func(published) bool) published {
	t.Helper()
	var last []published
	ok := assert.Eventually(t, func() bool {
		last = last[:0]
		for i := range tp.instances {
			last = append(last, publishedBy(t, tp.nginx.directBase(i)))
		}
		for _, p := range last[1:] {
			if fmt.Sprint(p) != fmt.Sprint(last[0]) {
				return false
			}
		}
		return cond(last[0])
	}, 20*time.Second, 100*time.Millisecond, "instances did not agree on %s", what)
	if !ok {
		for i, p := range last {
			t.Logf("instance %d publishes IdP %d certificates, JWKS %v", i+1, len(p.idp), p.jwks)
		}
		t.FailNow()
	}
	return last[0]
}

// keysCommand runs `gatehouse keys SUB --ring RING` against the first
// instance's config, as an operator would on any machine of the
// deployment.
func keysCommand(t *testing.T, tp *topology, sub, ring string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tp.bin, "keys", sub, "--config", tp.instances[0].config, "--ring", ring).CombinedOutput()
	require.NoError(t, err, "gatehouse keys %s --ring %s:\n%s", sub, ring, out)
	return string(out)
}

// tokenKID is the kid in a JWT's header.
func tokenKID(t *testing.T, jwt string) string {
	t.Helper()
	head, _, ok := strings.Cut(jwt, ".")
	require.True(t, ok)
	b, err := base64.RawURLEncoding.DecodeString(head)
	require.NoError(t, err)
	var h struct {
		KID string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(b, &h))
	return h.KID
}

// keyRollover rolls the IdP's SAML signing key and the OAuth access-token
// key over with `gatehouse keys` while sign-ins and token exchanges
// (access tokens minted by one instance exchanged at another) run through
// nginx. The rings live in PostgreSQL (keys.rings defaults to store with
// PostgreSQL): every instance must publish the next key after a rotation
// and sign with it after the activation, each step seen by all instances
// through the store alone; no request may fail.
func keyRollover(t *testing.T, tp *topology) {
	const workers = 4
	before := agreed(t, tp, "the keys before the rollover", func(p published) bool { return len(p.idp) == 1 && len(p.jwks) == 1 })
	s := startStream(t, tp, workers)

	time.Sleep(time.Second)
	keysCommand(t, tp, "rotate", "idp")
	keysCommand(t, tp, "rotate", "oauth")
	rotated := agreed(t, tp, "the rotation", func(p published) bool { return len(p.idp) == 2 && len(p.jwks) == 2 })
	assert.Equal(t, before.idp[0], rotated.idp[0], "the current IdP key still comes first")
	assert.Equal(t, before.jwks[0], rotated.jwks[0], "the current OAuth key still comes first")

	// Tokens are still signed with the old key everywhere.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mint := func(i int) string {
		t.Helper()
		jwt, err := tp.corp.subjectToken(testUser.Email)
		require.NoError(t, err)
		_, at, err := exchange(ctx, browser(t), tp.nginx.directBase(i), jwt, tokenTypeJWT)
		require.NoError(t, err)
		return at
	}
	for i := range tp.instances {
		assert.Equal(t, before.jwks[0], tokenKID(t, mint(i)), "instance %d signs with the current key", i+1)
	}

	time.Sleep(time.Second)
	keysCommand(t, tp, "activate", "idp")
	keysCommand(t, tp, "activate", "oauth")
	activated := agreed(t, tp, "the activation", func(p published) bool {
		return len(p.jwks) == 2 && p.jwks[0] == rotated.jwks[1] && len(p.idp) == 2 && p.idp[0] == rotated.idp[1]
	})
	assert.Equal(t, before.idp[0], activated.idp[1], "the old IdP key stays published for its grace period")
	assert.Equal(t, before.jwks[0], activated.jwks[1], "the old OAuth key stays published while its tokens live")
	for i := range tp.instances {
		at := mint(i)
		assert.Equal(t, rotated.jwks[1], tokenKID(t, at), "instance %d signs with the activated key", i+1)
		// And a token of the activated key minted here is accepted at the
		// next instance.
		_, _, err := exchange(ctx, browser(t), tp.nginx.directBase((i+1)%len(tp.instances)), at, tokenTypeAccess)
		require.NoError(t, err)
	}
	time.Sleep(time.Second)
	s.finish(t, tp, "key rollover", workers)
	out := keysCommand(t, tp, "list", "oauth")
	assert.Contains(t, out, "previous")
}
