package scim

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// Schema URNs (RFC 7643 section 8 and RFC 7644 section 3).
const (
	UserSchema                  = directory.UserSchema
	GroupSchema                 = directory.GroupSchema
	EnterpriseUserSchema        = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListResponseSchema          = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpSchema               = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchRequestSchema         = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	ServiceProviderConfigSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeSchema          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// attrType is an attribute's SCIM data type (RFC 7643 section 2.3).
type attrType string

const (
	tString    attrType = "string"
	tBoolean   attrType = "boolean"
	tComplex   attrType = "complex"
	tReference attrType = "reference"
)

// Mutability values (RFC 7643 section 7).
const (
	readWrite = "readWrite"
	readOnly  = "readOnly"
	immutable = "immutable"
	writeOnly = "writeOnly"
)

// attrDef describes an attribute: what /Schemas publishes about it and
// how the server stores it.
type attrDef struct {
	name       string
	typ        attrType
	multi      bool
	required   bool
	caseExact  bool
	mutability string // readWrite when empty
	returned   string // default when empty
	uniqueness string // none when empty
	canonical  []string
	refTypes   []string
	desc       string
	sub        []*attrDef

	// key is the custom attribute (directory.User.Attributes) that keeps
	// the value of a string attribute the directory has no field for.
	key string
	// ignored marks an attribute of RFC 7643 that Gatehouse does not keep
	// (password among them: there are no SCIM passwords): accepted in
	// requests and dropped; not published in /Schemas.
	ignored bool
}

func (a *attrDef) readOnly() bool { return a.mutability == readOnly }

// find returns the attribute of defs named name, ignoring case.
func find(defs []*attrDef, name string) *attrDef {
	for _, d := range defs {
		if strings.EqualFold(d.name, name) {
			return d
		}
	}
	return nil
}

// schemaDef is a schema: a URN and its attributes.
type schemaDef struct {
	id, name, desc string
	attrs          []*attrDef
}

func str(name, desc string) *attrDef { return &attrDef{name: name, typ: tString, desc: desc} }

// custom is a string attribute kept as the custom attribute key.
func custom(name, key, desc string) *attrDef {
	return &attrDef{name: name, typ: tString, key: key, desc: desc + " Kept as the custom attribute \"" + key + "\"."}
}

// dropped is a multi-valued complex attribute of RFC 7643 that Gatehouse
// accepts and does not keep.
func dropped(name string) *attrDef {
	return &attrDef{name: name, typ: tComplex, multi: true, ignored: true}
}

// Common attributes (RFC 7643 section 3.1), part of every resource but
// of no schema.
var (
	idAttr = &attrDef{name: "id", typ: tString, caseExact: true, mutability: readOnly, returned: "always", uniqueness: "server",
		desc: "Unique identifier assigned by Gatehouse."}
	externalIDAttr = &attrDef{name: "externalId", typ: tString, caseExact: true,
		desc: "Identifier of the resource in the provisioning client; not unique."}
	metaAttr    = &attrDef{name: "meta", typ: tComplex, mutability: readOnly, desc: "Resource metadata."}
	commonAttrs = []*attrDef{idAttr, externalIDAttr, metaAttr}
)

// userSchema is the core User schema as Gatehouse keeps it.
var userSchema = &schemaDef{
	id: UserSchema, name: "User", desc: "User Account",
	attrs: []*attrDef{
		{name: "userName", typ: tString, required: true, uniqueness: "server",
			desc: "Unique identifier for the user, unique ignoring case; users sign in with it."},
		{name: "name", typ: tComplex, desc: "The components of the user's name.", sub: []*attrDef{
			custom("formatted", "name.formatted", "The full name."),
			str("familyName", "The family name."),
			str("givenName", "The given name."),
			custom("middleName", "name.middleName", "The middle name."),
			custom("honorificPrefix", "name.honorificPrefix", "The honorific prefix."),
			custom("honorificSuffix", "name.honorificSuffix", "The honorific suffix."),
		}},
		str("displayName", "The name of the user, suitable for display."),
		custom("nickName", "nickName", "The casual name of the user."),
		{name: "profileUrl", typ: tReference, refTypes: []string{"external"}, key: "profileUrl",
			desc: "A URI of the user's online profile. Kept as the custom attribute \"profileUrl\"."},
		custom("title", "title", "The user's title."),
		custom("userType", "userType", "The relationship between the organization and the user."),
		custom("preferredLanguage", "preferredLanguage", "The user's preferred written or spoken language."),
		custom("locale", "locale", "The user's default location."),
		custom("timezone", "timezone", "The user's time zone."),
		{name: "active", typ: tBoolean, desc: "Whether the user may sign in; false deactivates the user " +
			"(their sessions end and their refresh tokens are revoked)."},
		// Okta sends a placeholder password with every creation, password
		// synchronization or not: dropped like the others.
		{name: "password", typ: tString, mutability: writeOnly, returned: "never", ignored: true},
		{name: "emails", typ: tComplex, multi: true, desc: "E-mail addresses of the user; at most one primary.", sub: []*attrDef{
			str("value", "The e-mail address."),
			{name: "display", typ: tString, ignored: true},
			{name: "type", typ: tString, canonical: []string{"work", "home", "other"}, desc: "The kind of address."},
			{name: "primary", typ: tBoolean, desc: "Whether this is the primary address."},
		}},
		dropped("phoneNumbers"), dropped("ims"), dropped("photos"), dropped("addresses"),
		dropped("entitlements"), dropped("roles"), dropped("x509Certificates"),
		{name: "groups", typ: tComplex, multi: true, mutability: readOnly,
			desc: "The groups the user is a member of; change memberships through the Group resources.", sub: []*attrDef{
				{name: "value", typ: tString, caseExact: true, mutability: readOnly, desc: "The group's id."},
				{name: "$ref", typ: tReference, refTypes: []string{"Group"}, mutability: readOnly, desc: "The group's URI."},
				{name: "display", typ: tString, mutability: readOnly, desc: "The group's displayName."},
				{name: "type", typ: tString, mutability: readOnly, canonical: []string{"direct"}, desc: "Always direct."},
			}},
	},
}

// enterpriseSchema is the enterprise User extension (RFC 7643 section
// 4.3); every attribute is kept as a custom attribute.
var enterpriseSchema = &schemaDef{
	id: EnterpriseUserSchema, name: "EnterpriseUser", desc: "Enterprise User",
	attrs: []*attrDef{
		custom("employeeNumber", "employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
		custom("costCenter", "costCenter", "Identifies the name of a cost center."),
		custom("organization", "organization", "Identifies the name of an organization."),
		custom("division", "division", "Identifies the name of a division."),
		custom("department", "department", "Identifies the name of a department."),
		{name: "manager", typ: tComplex, desc: "The user's manager.", sub: []*attrDef{
			{name: "value", typ: tString, caseExact: true, key: "manager",
				desc: "The id of the manager's User resource. Kept as the custom attribute \"manager\"."},
			{name: "$ref", typ: tReference, refTypes: []string{"User"}, mutability: readOnly, desc: "The URI of the manager's User resource."},
			{name: "displayName", typ: tString, ignored: true},
		}},
	},
}

// groupSchema is the core Group schema; members are users.
var groupSchema = &schemaDef{
	id: GroupSchema, name: "Group", desc: "Group",
	attrs: []*attrDef{
		{name: "displayName", typ: tString, required: true, uniqueness: "server",
			desc: "The group's name, unique ignoring case; sign-in asserts groups by it."},
		{name: "members", typ: tComplex, multi: true, desc: "The members of the group: users only.", sub: []*attrDef{
			{name: "value", typ: tString, caseExact: true, mutability: immutable, desc: "The member's User id."},
			{name: "$ref", typ: tReference, refTypes: []string{"User"}, mutability: readOnly, desc: "The URI of the member's User resource."},
			{name: "type", typ: tString, mutability: immutable, canonical: []string{"User"}, desc: "Always User."},
			{name: "display", typ: tString, ignored: true},
		}},
	},
}

// resourceType is a SCIM resource type (RFC 7643 section 6).
type resourceType struct {
	name       string // "User"
	endpoint   string // "/Users"
	desc       string
	schema     *schemaDef
	extensions []*schemaDef
}

var (
	userType = &resourceType{name: "User", endpoint: "/Users", desc: "User Account",
		schema: userSchema, extensions: []*schemaDef{enterpriseSchema}}
	groupType = &resourceType{name: "Group", endpoint: "/Groups", desc: "Group",
		schema: groupSchema}
	resourceTypes = []*resourceType{userType, groupType}
	allSchemas    = []*schemaDef{userSchema, enterpriseSchema, groupSchema}
)

// extension returns the resource type's extension schema with this URN,
// ignoring case.
func (rt *resourceType) extension(urn string) *schemaDef {
	for _, s := range rt.extensions {
		if strings.EqualFold(s.id, urn) {
			return s
		}
	}
	return nil
}

// extAttr is the pseudo-attribute standing for a whole extension object
// (the top-level key named by the extension's URN).
func extAttr(s *schemaDef) *attrDef {
	for _, d := range extAttrs {
		if d.name == s.id {
			return d
		}
	}
	return &attrDef{name: s.id, typ: tComplex, sub: s.attrs}
}

// extAttrs are the pseudo-attributes of the extensions, made once.
var extAttrs = []*attrDef{{name: enterpriseSchema.id, typ: tComplex, sub: enterpriseSchema.attrs}}

// topAttr resolves a top-level attribute name of a resource: a core or
// common attribute, or the URN of one of its extensions.
func (rt *resourceType) topAttr(name string) *attrDef {
	if d := find(commonAttrs, name); d != nil {
		return d
	}
	if d := find(rt.schema.attrs, name); d != nil {
		return d
	}
	if s := rt.extension(name); s != nil {
		return extAttr(s)
	}
	return nil
}
