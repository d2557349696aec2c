package scimtoken

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewToken(t *testing.T) {
	tok, hash := newToken()
	assert.True(t, strings.HasPrefix(tok, Prefix))
	assert.Len(t, tok, TokenLength)
	assert.True(t, wellFormed(tok))
	assert.Equal(t, HashToken(tok), hash)
	assert.Regexp(t, `^[0-9a-f]{64}$`, hash)
	other, _ := newToken()
	assert.NotEqual(t, tok, other)

	id := newID()
	assert.Regexp(t, `^[0-9a-f]{32}$`, id)
	assert.True(t, validID(id))
}

func TestWellFormed(t *testing.T) {
	valid := Prefix + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	require.True(t, wellFormed(valid))
	for name, tok := range map[string]string{
		"empty":            "",
		"no prefix":        "xxscim_" + valid[len(Prefix):],
		"upper prefix":     "GHSCIM_" + valid[len(Prefix):],
		"one char short":   valid[:len(valid)-1],
		"one char long":    valid + "A",
		"padding":          valid[:len(valid)-1] + "=",
		"std alphabet":     valid[:len(valid)-1] + "+",
		"non-canonical":    valid[:len(valid)-1] + "B", // the last character's low bits must be zero
		"only the prefix":  Prefix,
		"space in secret":  valid[:10] + " " + valid[11:],
		"non-ASCII secret": valid[:10] + "é" + valid[12:],
	} {
		assert.False(t, wellFormed(tok), name)
	}
}

func TestValidID(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 2)
	require.True(t, validID(id))
	for name, v := range map[string]string{
		"empty":     "",
		"short":     id[:31],
		"long":      id + "0",
		"uppercase": strings.ToUpper(id),
		"not hex":   id[:31] + "g",
		"path":      id[:30] + "/.",
	} {
		assert.False(t, validID(v), name)
	}
}

func TestParseBearer(t *testing.T) {
	const tok = "ghscim_abc-DEF_123"
	for _, tc := range []struct {
		name, header string
		want         string
		err          error
	}{
		{"valid", "Bearer " + tok, tok, nil},
		{"lowercase scheme", "bearer " + tok, tok, nil},
		{"uppercase scheme", "BEARER " + tok, tok, nil},
		{"b64token padding", "Bearer abc+/~.==", "abc+/~.==", nil},
		{"empty", "", "", ErrNoCredentials},
		{"basic scheme", "Basic " + tok, "", ErrMalformedCredentials},
		{"scheme only", "Bearer", "", ErrMalformedCredentials},
		{"empty token", "Bearer ", "", ErrMalformedCredentials},
		{"two spaces", "Bearer  " + tok, "", ErrMalformedCredentials},
		{"tab", "Bearer\t" + tok, "", ErrMalformedCredentials},
		{"trailing space", "Bearer " + tok + " ", "", ErrMalformedCredentials},
		{"leading space", " Bearer " + tok, "", ErrMalformedCredentials},
		{"two tokens", "Bearer " + tok + " " + tok, "", ErrMalformedCredentials},
		{"comma list", "Bearer " + tok + ", Basic x", "", ErrMalformedCredentials},
		{"only padding", "Bearer ==", "", ErrMalformedCredentials},
		{"padding inside", "Bearer ab=cd", "", ErrMalformedCredentials},
		{"quoted", `Bearer "` + tok + `"`, "", ErrMalformedCredentials},
		{"non-ASCII", "Bearer tok\u00e9n", "", ErrMalformedCredentials},
		{"NUL", "Bearer tok\x00en", "", ErrMalformedCredentials},
		{"scheme prefix", "Bearerx " + tok, "", ErrMalformedCredentials},
		{"overlong", "Bearer " + strings.Repeat("a", MaxAuthorizationLength), "", ErrMalformedCredentials},
		{"longest", "Bearer " + strings.Repeat("a", MaxAuthorizationLength-len("Bearer ")), strings.Repeat("a", MaxAuthorizationLength-len("Bearer ")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBearer(tc.header)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzParseBearer checks that whatever ParseBearer accepts is exactly
// "<bearer in any case> <b64token>" within the length cap.
func FuzzParseBearer(f *testing.F) {
	tok, _ := newToken()
	for _, s := range []string{
		"Bearer " + tok, "bearer " + tok, "Basic dXNlcjpwYXNz", "", "Bearer", "Bearer ",
		"Bearer  " + tok, "Bearer " + tok + " x", "Bearer a==", "Bearer =", "BeArEr ~+/._-",
		"Bearer " + strings.Repeat("a", MaxAuthorizationLength),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, err := ParseBearer(header)
		if err != nil {
			if got != "" {
				t.Fatalf("token %q returned with error %v", got, err)
			}
			if header == "" && err != ErrNoCredentials {
				t.Fatalf("empty header: %v", err)
			}
			return
		}
		if len(header) > MaxAuthorizationLength {
			t.Fatalf("overlong header accepted: %d bytes", len(header))
		}
		if got == "" || !strings.EqualFold(header[:len("Bearer ")], "Bearer ") || header[len("Bearer "):] != got {
			t.Fatalf("header %q gave token %q", header, got)
		}
		if strings.ContainsAny(got, " \t\r\n,\"") || strings.TrimRight(got, "=") == "" {
			t.Fatalf("token %q is not a b64token", got)
		}
		for _, c := range []byte(strings.TrimRight(got, "=")) {
			if c == '=' || c > 0x7e || c < 0x21 {
				t.Fatalf("token %q has byte %#x", got, c)
			}
		}
	})
}
