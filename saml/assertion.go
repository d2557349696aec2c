package saml

import (
	"maps"
	"slices"
	"time"

	"github.com/russellhaering/gosaml2/types"
)

// Assertion is a verified SAML assertion. It is built only from the
// assertion goxmldsig verified (directly, or through the signed Response
// that carried it) and is immutable.
type Assertion struct {
	id, issuer, nameID, nameIDFormat   string
	inResponseTo, sessionIndex         string
	authnContextClassRef               string
	authnInstant, issueInstant, expiry time.Time
	attrs                              map[string][]string
}

func newAssertion(a *types.Assertion) (*Assertion, *VerifyError) {
	scd := a.Subject.SubjectConfirmation.SubjectConfirmationData
	cond, err1 := parseTime(a.Conditions.NotOnOrAfter)
	sub, err2 := parseTime(scd.NotOnOrAfter)
	if err1 != nil || err2 != nil {
		return nil, fail(ReasonExpired, "invalid NotOnOrAfter")
	}
	if a.ID == "" {
		return nil, fail(ReasonMalformed, "missing assertion ID")
	}
	out := &Assertion{
		id:           a.ID,
		issuer:       a.Issuer.Value,
		nameID:       a.Subject.NameID.Value,
		nameIDFormat: a.Subject.NameID.Format,
		inResponseTo: scd.InResponseTo,
		issueInstant: a.IssueInstant,
		expiry:       cond,
		attrs:        map[string][]string{},
	}
	if sub.After(cond) {
		out.expiry = sub
	}
	if s := a.AuthnStatement; s != nil {
		out.sessionIndex = s.SessionIndex
		if s.AuthnInstant != nil {
			out.authnInstant = *s.AuthnInstant
		}
		if s.AuthnContext != nil && s.AuthnContext.AuthnContextClassRef != nil {
			out.authnContextClassRef = s.AuthnContext.AuthnContextClassRef.Value
		}
	}
	if s := a.AttributeStatement; s != nil {
		for _, at := range s.Attributes {
			vals := out.attrs[at.Name]
			for _, v := range at.Values {
				if v.NameID != nil {
					vals = append(vals, v.NameID.Value)
				} else {
					vals = append(vals, v.Value)
				}
			}
			if vals == nil {
				vals = []string{}
			}
			out.attrs[at.Name] = vals
		}
	}
	return out, nil
}

// ID is the Assertion@ID, for replay detection together with Issuer.
func (a *Assertion) ID() string { return a.id }

// Issuer is the verified Assertion Issuer (the IdP entity ID).
func (a *Assertion) Issuer() string { return a.issuer }

// NameID is the Subject NameID value. Key identities on (Issuer, NameID).
func (a *Assertion) NameID() string { return a.nameID }

// NameIDFormat is the NameID Format attribute ("" when absent).
func (a *Assertion) NameIDFormat() string { return a.nameIDFormat }

// InResponseTo is the signed SubjectConfirmationData@InResponseTo ("" for
// an unsolicited response). The caller matches it to a pending request.
func (a *Assertion) InResponseTo() string { return a.inResponseTo }

// SessionIndex is the AuthnStatement@SessionIndex ("" when absent).
func (a *Assertion) SessionIndex() string { return a.sessionIndex }

// AuthnInstant is the AuthnStatement@AuthnInstant (zero when absent).
func (a *Assertion) AuthnInstant() time.Time { return a.authnInstant }

// IssueInstant is the Assertion@IssueInstant.
func (a *Assertion) IssueInstant() time.Time { return a.issueInstant }

// NotOnOrAfter is the later of Conditions@NotOnOrAfter and
// SubjectConfirmationData@NotOnOrAfter: keep the replay record until then
// (plus clock skew).
func (a *Assertion) NotOnOrAfter() time.Time { return a.expiry }

// AuthnContextClassRef is the AuthnContextClassRef ("" when absent).
func (a *Assertion) AuthnContextClassRef() string { return a.authnContextClassRef }

// Attributes returns a copy of all attributes by Name. Values of attributes
// with the same Name are concatenated; NameID-valued attributes yield the
// NameID text.
func (a *Assertion) Attributes() map[string][]string {
	out := make(map[string][]string, len(a.attrs))
	for k, v := range a.attrs {
		out[k] = slices.Clone(v)
	}
	return out
}

// Attribute returns a copy of the values of the attribute named name (nil
// when absent).
func (a *Assertion) Attribute(name string) []string {
	return slices.Clone(a.attrs[name])
}

// AttributeNames returns the attribute names, sorted.
func (a *Assertion) AttributeNames() []string {
	return slices.Sorted(maps.Keys(a.attrs))
}
