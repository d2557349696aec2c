package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

const (
	msgShort    = "the password must be at least 12 characters"
	msgLong     = "the password must be at most 128 characters"
	msgControl  = "the password must not contain control characters such as tabs or line breaks"
	msgInvalid  = "the password contains invalid characters"
	msgRepeated = "the password must not be one character repeated"
	msgCommon   = "the password is too common; choose one that is harder to guess"
	msgPersonal = "the password must not contain your name, user name or e-mail address"
)

func TestPolicyCheck(t *testing.T) {
	const good = "correct horse battery staple"
	personal := []string{"jsmith", "john.smith@example.org", "Johanna Smithers", "Bob"}
	require.NoError(t, Policy{}.Check(good, personal...), "baseline")

	cases := []struct {
		name     string
		policy   Policy
		password string
		personal []string
		want     string // "" for accepted
	}{
		{"accepted", Policy{}, good, personal, ""},
		{"exactly min length", Policy{}, "gx7-kq2-wm9z", nil, ""},
		{"one below min length", Policy{}, "gx7-kq2-wm9", nil, msgShort},
		{"custom min length", Policy{MinLength: 8}, "gx7-kq2w", nil, ""},
		{"custom min length message", Policy{MinLength: 16}, "gx7-kq2-wm9z", nil, "the password must be at least 16 characters"},
		{"exactly max length", Policy{}, strings.Repeat("abcdefgh", 16), nil, ""},
		{"one above max length", Policy{}, strings.Repeat("abcdefgh", 16) + "i", nil, msgLong},
		{"custom max length", Policy{MinLength: 8, MaxLength: 10}, "gx7-kq2-wm9", nil, "the password must be at most 10 characters"},
		{"length in runes not bytes", Policy{}, "ĉu-ŝi-ĝojas?", nil, ""},
		{"length after NFKC", Policy{MinLength: 13}, "re\u0301sume\u0301-draft", nil, "the password must be at least 13 characters"},
		{"length after NFKC at min", Policy{}, "re\u0301sume\u0301-draft", nil, ""},
		{"spaces allowed", Policy{}, "a b c d e f g h", nil, ""},
		{"emoji allowed", Policy{}, "🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧", nil, ""},
		{"tab", Policy{}, "correct\thorse battery", nil, msgControl},
		{"newline", Policy{}, "correct horse battery\n", nil, msgControl},
		{"NUL", Policy{}, "correct horse\x00battery", nil, msgControl},
		{"DEL", Policy{}, "correct horse\x7fbattery", nil, msgControl},
		{"C1 control", Policy{}, "correct horse\u0085battery", nil, msgControl},
		{"invalid UTF-8", Policy{}, "correct horse\xffbattery", nil, msgInvalid},
		{"one char repeated", Policy{}, "aaaaaaaaaaaa", nil, msgRepeated},
		{"one char repeated, mixed case", Policy{}, "AaAaAaAaAaAa", nil, msgRepeated},
		{"one multi-byte char repeated", Policy{}, strings.Repeat("é", 12), nil, msgRepeated},
		{"one space repeated", Policy{}, strings.Repeat(" ", 12), nil, msgRepeated},
		{"two chars not repeated", Policy{}, "aaaaaaaaaaab", nil, ""},
		{"common", Policy{}, "password2024", nil, msgCommon},
		{"common, upper case", Policy{}, "PassWord2024", nil, msgCommon},
		{"common, long", Policy{}, "qwertyuiop123", nil, msgCommon},
		{"common, short policy", Policy{MinLength: 8}, "sunshine", nil, msgCommon},
		{"common, fullwidth", Policy{MinLength: 8}, "ｓｕｎｓｈｉｎｅ", nil, msgCommon},
		{"common plus suffix is not in the list", Policy{MinLength: 8}, "sunshine-over-oslo", nil, ""},
		{"user name", Policy{}, "my-jsmith-pass-77", personal, msgPersonal},
		{"user name upper case", Policy{}, "my-JSmith-pass-77", personal, msgPersonal},
		{"e-mail address", Policy{}, "john.smith@example.org!", personal, msgPersonal},
		{"e-mail local part", Policy{}, "xx-john.smith-xx", personal, msgPersonal},
		{"e-mail local part word", Policy{}, "a-smith-b-c-d", []string{"john.smith@example.org"}, msgPersonal},
		{"e-mail domain is not personal", Policy{}, "example-of-a-passphrase", []string{"john.smith@example.org"}, ""},
		{"display name part", Policy{}, "smithers-rules-ok", []string{"Johanna Smithers"}, msgPersonal},
		{"display name part other word", Policy{}, "i-am-johanna-x", []string{"Johanna Smithers"}, msgPersonal},
		{"display name fullwidth", Policy{}, "i-am-johanna-x", []string{"Ｊｏｈａｎｎａ"}, msgPersonal},
		{"short personal value ignored", Policy{}, "bob-likes-trains", []string{"Bob", "Al Li"}, ""},
		{"empty personal value ignored", Policy{}, good, []string{"", "  "}, ""},
		{"invalid policy still enforces 8", Policy{MinLength: 4, MaxLength: 6}, "gx7-kq2", nil, "the password must be at least 8 characters"},
		{"invalid policy max capped at 1024", Policy{MinLength: 8, MaxLength: 5000}, strings.Repeat("abcdefgh", 128) + "i", nil, "the password must be at most 1024 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.policy.Check(c.password, c.personal...)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			var pe *PolicyError
			require.True(t, errors.As(err, &pe), "want *PolicyError, got %v", err)
			assert.Equal(t, c.want, pe.Reason)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestPolicyErrorDoesNotEchoInput(t *testing.T) {
	for _, pw := range []string{"password2024", "my-jsmith-pass-77", "short", strings.Repeat("z", 20)} {
		err := Policy{}.Check(pw, "jsmith")
		require.Error(t, err)
		assert.NotContains(t, err.Error(), pw)
		assert.NotContains(t, err.Error(), "jsmith")
	}
}

func TestCommonList(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonTxt, "\n"), "\n")
	assert.GreaterOrEqual(t, len(lines), 250)
	assert.LessOrEqual(t, len(lines), 1000)
	assert.Len(t, commonPasswords(), len(lines), "no duplicates or blank lines")
	p := Policy{MinLength: FloorMinLength}
	for _, l := range lines {
		assert.Equal(t, strings.ToLower(l), l, "lower case: %q", l)
		assert.True(t, norm.NFKC.IsNormalString(l), "NFKC: %q", l)
		assert.GreaterOrEqual(t, utf8.RuneCountInString(l), FloorMinLength, "length: %q", l)
		assert.Equal(t, strings.TrimSpace(l), l, "no surrounding space: %q", l)
		assert.Error(t, p.Check(l), "rejected: %q", l)
		assert.Error(t, p.Check(strings.ToUpper(l)), "rejected in upper case: %q", l)
	}
}
