package apps

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Sign modes accepted in Spec.Sign.
const (
	SignAssertion = "assertion"
	SignResponse  = "response"
	SignBoth      = "both"
)

// Source says where an application is defined.
type Source string

// Sources.
const (
	// SourceConfig: the config file's applications section (read-only).
	SourceConfig Source = "config"
	// SourceAPI: created through the admin API and kept in the Store.
	SourceAPI Source = "api"
)

// Limits on administrator input.
const (
	maxNameBytes      = 256
	maxPrincipalBytes = 256
	maxURLBytes       = 4096
	maxAssignments    = 10_000
	maxAttributes     = 256
)

// Attribute publishes one user field as a SAML attribute.
type Attribute struct {
	// Name is the SAML attribute name, for example "email" or
	// "https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter".
	Name string `json:"name"`
	// NameFormat is an attrname-format URI; empty chooses uri for names
	// that are URIs and basic otherwise.
	NameFormat string `json:"name_format,omitempty"`
	// Field is the user field: id, user_name, email, display_name,
	// given_name, family_name, external_id, groups or attributes.<key>.
	Field string `json:"field"`
}

// Assignments list who may use an application; empty means nobody.
type Assignments struct {
	Groups []string `json:"groups"`
	Users  []string `json:"users"`
}

// Spec is an application's settings as the administrator gives them. It is
// stored as JSON.
type Spec struct {
	// MetadataXML is the SP metadata document; exactly one of MetadataXML
	// and MetadataURL is set.
	MetadataXML string `json:"metadata_xml,omitempty"`
	// MetadataURL is where the SP metadata is fetched from (https, or
	// http on loopback), at registration and every refresh interval.
	MetadataURL string `json:"metadata_url,omitempty"`
	// NameIDFormat is emailAddress, persistent, transient or unspecified
	// (the default).
	NameIDFormat string      `json:"name_id_format,omitempty"`
	Attributes   []Attribute `json:"attributes,omitempty"`
	// Sign is assertion (the default), response or both.
	Sign string `json:"sign,omitempty"`
	// EncryptAssertions encrypts assertions to the SP's encryption
	// certificate.
	EncryptAssertions bool `json:"encrypt_assertions,omitempty"`
	// RequireSignedRequests requires signed AuthnRequests even when the
	// metadata does not ask for them.
	RequireSignedRequests bool `json:"require_signed_requests,omitempty"`
	// DefaultRelayState is sent with IdP-initiated launches.
	DefaultRelayState string      `json:"default_relay_state,omitempty"`
	Assignments       Assignments `json:"assignments"`
}

// Record is an application as the Store keeps it.
type Record struct {
	ID   string
	Name string
	Spec Spec
	// MetadataCopy is the last document fetched from Spec.MetadataURL
	// that passed validation, and MetadataFetchedAt when it was fetched;
	// empty for inline metadata. It is what a restart uses while the URL
	// is down.
	MetadataCopy      []byte
	MetadataFetchedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Clone returns a deep copy of r.
func (r Record) Clone() Record {
	r.Spec = r.Spec.Clone()
	r.MetadataCopy = bytes.Clone(r.MetadataCopy)
	return r
}

// Clone returns a deep copy of s.
func (s Spec) Clone() Spec {
	s.Attributes = slices.Clone(s.Attributes)
	s.Assignments.Groups = slices.Clone(s.Assignments.Groups)
	s.Assignments.Users = slices.Clone(s.Assignments.Users)
	return s
}

// Application is a registered application as the registry holds it.
type Application struct {
	Record
	Source Source
	// MetadataFile is the config file's metadata_file (config applications
	// only).
	MetadataFile string
	// EntityID is the SP entity ID of the metadata in use; empty when the
	// application is unavailable.
	EntityID string
	// Available reports whether the application is served; when it is
	// not, Problem says why (no usable metadata, a duplicate entity ID).
	Available bool
	Problem   string
	// MetadataLoadedAt is when the metadata in use was read from its
	// source (for a last good copy: when it was fetched).
	MetadataLoadedAt time.Time
}

// Summary is an application as the access portal lists it.
type Summary struct {
	ID   string
	Name string
}

// ErrInvalid is wrapped by every *ValidationError.
var ErrInvalid = errors.New("apps: invalid application")

// ValidationError is a rejected application: Field names the offending
// input (for example "attributes[2].field" or "metadata_url") and Problem
// says what is wrong with it. Error returns "Field: Problem".
type ValidationError struct {
	Field   string
	Problem string
	// Err is the underlying error, when there is one.
	Err error
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap returns ErrInvalid and the underlying error.
func (e *ValidationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// reAppID is the application ID rule of the config file, so IDs created
// through the API can also be moved into a config file.
var reAppID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// normalize checks the parts of an application that need no metadata and
// fills in defaults: the name defaults to the ID, name_id_format to
// unspecified, sign to assertion, and nil lists become empty.
func normalize(id, name string, s Spec) (string, Spec, error) {
	if !reAppID.MatchString(id) {
		return "", Spec{}, invalid("id", "%s may hold only letters, digits, '.', '_' and '-' (at most 64, not starting with '.', '_' or '-')", quoteShort(id))
	}
	if name == "" {
		name = id
	}
	if err := checkText(name, maxNameBytes); err != nil {
		return "", Spec{}, invalid("name", "%v", err)
	}
	s = s.Clone()
	switch {
	case s.MetadataXML == "" && s.MetadataURL == "":
		return "", Spec{}, invalid("metadata_xml", "one of metadata_xml and metadata_url is required")
	case s.MetadataXML != "" && s.MetadataURL != "":
		return "", Spec{}, invalid("metadata_url", "only one of metadata_xml and metadata_url may be set")
	case s.MetadataURL != "":
		if err := checkText(s.MetadataURL, maxURLBytes); err != nil {
			return "", Spec{}, invalid("metadata_url", "%v", err)
		}
	}
	if s.NameIDFormat == "" {
		s.NameIDFormat = config.NameIDUnspecified
	}
	if s.Sign == "" {
		s.Sign = SignAssertion
	}
	if _, err := signMode(s.Sign); err != nil {
		return "", Spec{}, err
	}
	if len(s.Attributes) > maxAttributes {
		return "", Spec{}, invalid("attributes", "more than %d attributes", maxAttributes)
	}
	if s.Attributes == nil {
		s.Attributes = []Attribute{}
	}
	for _, list := range []struct {
		field string
		v     *[]string
	}{{"assignments.groups", &s.Assignments.Groups}, {"assignments.users", &s.Assignments.Users}} {
		if *list.v == nil {
			*list.v = []string{}
		}
		if len(*list.v) > maxAssignments {
			return "", Spec{}, invalid(list.field, "more than %d entries", maxAssignments)
		}
		for i, p := range *list.v {
			if err := checkText(p, maxPrincipalBytes); err != nil {
				return "", Spec{}, invalid(fmt.Sprintf("%s[%d]", list.field, i), "%v", err)
			}
		}
	}
	return name, s, nil
}

func signMode(s string) (idp.SignMode, error) {
	switch s {
	case SignAssertion, "":
		return idp.SignAssertion, nil
	case SignResponse:
		return idp.SignResponse, nil
	case SignBoth:
		return idp.SignBoth, nil
	}
	return 0, invalid("sign", "%s is not one of assertion, response, both", quoteShort(s))
}

// options converts a normalized Spec into idp options.
func (s Spec) options() (idp.ServiceProviderOptions, error) {
	sign, err := signMode(s.Sign)
	if err != nil {
		return idp.ServiceProviderOptions{}, err
	}
	opts := idp.ServiceProviderOptions{
		NameIDFormat:          idp.NameIDFormat(s.NameIDFormat),
		Sign:                  sign,
		EncryptAssertions:     s.EncryptAssertions,
		RequireSignedRequests: s.RequireSignedRequests,
		DefaultRelayState:     s.DefaultRelayState,
	}
	for _, a := range s.Attributes {
		opts.Attributes = append(opts.Attributes, idp.AttributeMapping{Name: a.Name, NameFormat: a.NameFormat, Field: a.Field})
	}
	return opts, nil
}

// metadataField is the Spec field the metadata comes from, for messages.
func (s Spec) metadataField() string {
	if s.MetadataURL != "" {
		return "metadata_url"
	}
	return "metadata_xml"
}

// buildSP validates the metadata md of application id against spec and
// returns the service provider. Errors are *ValidationError naming the
// field; mdField names where md came from.
func buildSP(id string, spec Spec, md []byte, mdField string, now time.Time) (*idp.ServiceProvider, error) {
	opts, err := spec.options()
	if err != nil {
		return nil, err
	}
	sp, err := idp.NewServiceProvider(id, md, opts, now)
	if err != nil {
		field, problem := splitIdPError(err, id)
		if field == "metadata" {
			field = mdField
		}
		return nil, &ValidationError{Field: field, Problem: problem, Err: err}
	}
	return sp, nil
}

// splitIdPError takes apart the message of an idp.NewServiceProvider error,
// "idp: invalid service provider: application "ID": FIELD: PROBLEM".
func splitIdPError(err error, id string) (field, problem string) {
	msg := err.Error()
	prefix := idp.ErrInvalidServiceProvider.Error() + ": application " + strconv.Quote(id) + ": "
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "metadata", tidy(msg)
	}
	field, problem, ok = strings.Cut(rest, ": ")
	if !ok {
		return "metadata", tidy(rest)
	}
	return field, tidy(problem)
}

// tidy drops the idp package's sentinel prefixes from a message meant for
// an administrator.
func tidy(msg string) string {
	msg = strings.ReplaceAll(msg, idp.ErrInvalidMetadata.Error()+": ", "")
	return strings.ReplaceAll(msg, idp.ErrInvalidServiceProvider.Error()+": ", "")
}

// specFromConfig converts a config-file application; attributes are
// ordered by SAML name.
func specFromConfig(a config.ApplicationConfig) Spec {
	s := Spec{
		MetadataXML:  a.MetadataXML,
		MetadataURL:  a.MetadataURL,
		NameIDFormat: a.NameIDFormat,
		Sign:         cmp.Or(a.Sign, SignAssertion),
		Attributes:   []Attribute{},

		EncryptAssertions:     a.EncryptAssertions,
		RequireSignedRequests: a.RequireSignedRequests,
		DefaultRelayState:     a.DefaultRelayState,
		Assignments: Assignments{
			Groups: append([]string{}, a.Assignments.Groups...),
			Users:  append([]string{}, a.Assignments.Users...),
		},
	}
	if s.NameIDFormat == "" {
		s.NameIDFormat = config.NameIDUnspecified
	}
	names := make([]string, 0, len(a.Attributes))
	for n := range a.Attributes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s.Attributes = append(s.Attributes, Attribute{Name: n, Field: a.Attributes[n]})
	}
	return s
}

// sameSettings reports whether two records hold the same name and spec.
func sameSettings(a, b Record) bool {
	if a.Name != b.Name {
		return false
	}
	ja, err1 := json.Marshal(a.Spec)
	jb, err2 := json.Marshal(b.Spec)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// checkText requires a non-empty value of at most max bytes, valid UTF-8,
// without surrounding white space or control characters.
func checkText(s string, max int) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > max:
		return fmt.Errorf("is longer than %d bytes", max)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return errors.New("has surrounding white space")
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("holds control characters")
	}
	return nil
}

// quoteShort quotes s for a message, truncated to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
