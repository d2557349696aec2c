package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Policy defaults and limits.
const (
	// DefaultMinLength is used when Policy.MinLength is 0.
	DefaultMinLength = 12
	// DefaultMaxLength is used when Policy.MaxLength is 0.
	DefaultMaxLength = 128
	// FloorMinLength is the smallest accepted MinLength (NIST SP 800-63B
	// requires at least 8 characters for user-chosen memorized secrets).
	FloorMinLength = 8
	// CeilMaxLength is the largest accepted MaxLength.
	CeilMaxLength = 1024
	// minPersonalLength is the shortest personal value that is checked;
	// shorter ones ("al", "bob") match too many good passwords by chance.
	minPersonalLength = 4
)

// Policy decides which new passwords are acceptable. Lengths are counted
// in characters (runes) after NFKC normalisation.
type Policy struct {
	// MinLength is the minimum length; 0 means 12. It must be >= 8
	// (NIST SP 800-63B).
	MinLength int
	// MaxLength is the maximum length; 0 means 128. It must be
	// >= MinLength and <= 1024.
	MaxLength int
}

// PolicyError is returned by Policy.Check. Reason is a sentence the user
// can act on; it never repeats the password or the personal value that
// matched.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

// withDefaults fills in zero fields and validates the result.
func (p Policy) withDefaults() (Policy, error) {
	if p.MinLength == 0 {
		p.MinLength = DefaultMinLength
	}
	if p.MaxLength == 0 {
		p.MaxLength = DefaultMaxLength
	}
	if p.MinLength < FloorMinLength {
		return p, fmt.Errorf("MinLength %d is below %d", p.MinLength, FloorMinLength)
	}
	if p.MaxLength < p.MinLength {
		return p, fmt.Errorf("MaxLength %d is below MinLength %d", p.MaxLength, p.MinLength)
	}
	if p.MaxLength > CeilMaxLength {
		return p, fmt.Errorf("MaxLength %d is above %d", p.MaxLength, CeilMaxLength)
	}
	return p, nil
}

// effective returns the limits Check enforces: the defaults for zero
// fields, and for an invalid policy (one New would reject) the nearest
// limits that are no weaker than NIST SP 800-63B.
func (p Policy) effective() (minLen, maxLen int) {
	minLen, maxLen = p.MinLength, p.MaxLength
	if minLen == 0 {
		minLen = DefaultMinLength
	}
	if maxLen == 0 {
		maxLen = DefaultMaxLength
	}
	minLen = max(minLen, FloorMinLength)
	maxLen = min(max(maxLen, minLen), CeilMaxLength)
	minLen = min(minLen, maxLen)
	return minLen, maxLen
}

// Check returns nil if password is acceptable under p, or a *PolicyError
// explaining why not. The password is normalised with NFKC first, as it
// will be when hashed. The rules, in order:
//
//   - valid UTF-8 with no control characters;
//   - at least MinLength and at most MaxLength characters;
//   - not a single character repeated;
//   - not in the embedded list of common passwords (case-insensitive);
//   - not containing any of personal (case-insensitive): each value, and
//     for an e-mail address its local part, and each part of those split
//     at spaces, punctuation and symbols (so a display name yields its
//     words) is checked when it is at least 4 characters long.
func (p Policy) Check(password string, personal ...string) error {
	if !utf8.ValidString(password) {
		return &PolicyError{Reason: "the password contains invalid characters"}
	}
	pw := norm.NFKC.String(password)
	for _, r := range pw {
		if unicode.IsControl(r) {
			return &PolicyError{Reason: "the password must not contain control characters such as tabs or line breaks"}
		}
	}
	minLen, maxLen := p.effective()
	n := utf8.RuneCountInString(pw)
	if n < minLen {
		return &PolicyError{Reason: fmt.Sprintf("the password must be at least %d characters", minLen)}
	}
	if n > maxLen {
		return &PolicyError{Reason: fmt.Sprintf("the password must be at most %d characters", maxLen)}
	}
	lower := strings.ToLower(pw)
	if first, _ := utf8.DecodeRuneInString(lower); strings.Trim(lower, string(first)) == "" {
		return &PolicyError{Reason: "the password must not be one character repeated"}
	}
	if _, common := commonPasswords()[lower]; common {
		return &PolicyError{Reason: "the password is too common; choose one that is harder to guess"}
	}
	for _, v := range personalValues(personal) {
		if strings.Contains(lower, v) {
			return &PolicyError{Reason: "the password must not contain your name, user name or e-mail address"}
		}
	}
	return nil
}

// personalValues normalises and lower-cases each value and splits it into
// parts, keeping the whole value and the parts of at least
// minPersonalLength characters.
func personalValues(values []string) []string {
	var out []string
	keep := func(s string) {
		if utf8.RuneCountInString(s) >= minPersonalLength {
			out = append(out, s)
		}
	}
	for _, v := range values {
		if !utf8.ValidString(v) {
			continue
		}
		v = strings.ToLower(norm.NFKC.String(strings.TrimSpace(v)))
		keep(v)
		if local, _, ok := strings.Cut(v, "@"); ok {
			// Only the local part of an e-mail address is personal;
			// the domain is shared with many other users.
			v = local
			keep(v)
		}
		parts := strings.FieldsFunc(v, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
		})
		if len(parts) > 1 {
			for _, part := range parts {
				keep(part)
			}
		}
	}
	return out
}

// commonTxt lists common passwords, one per line, lower-case, NFKC, each at
// least FloorMinLength characters (shorter ones are rejected by length).
//
//go:embed common.txt
var commonTxt string

// commonPasswords is the parsed form of commonTxt, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	lines := strings.Fields(commonTxt)
	m := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		m[l] = struct{}{}
	}
	return m
})
