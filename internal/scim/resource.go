package scim

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// A resource travels between the store and the wire as a "doc": an
// object holding the writable attributes Gatehouse keeps, under their
// canonical names (the enterprise extension under its URN), with
// canonical values: strings, booleans, objects for complex attributes,
// []any of objects for multi-valued ones; unassigned attributes absent;
// "primary" present only when true. PUT and POST bodies are canonicalized
// into a doc (canonResource), PATCH operations edit the doc of the stored
// resource, and userFromDoc and groupFromDoc turn the result back into
// the directory's types, which validate it.

// canonValue converts the client value v of attribute d (named p in
// errors) into its canonical form. nil (JSON null) stays nil: it
// unassigns. A multi-valued attribute takes an array, or one value when
// single is set (PATCH add and replace); an empty array is nil. Unknown,
// ignored and read-only sub-attributes are dropped; a null sub-attribute
// is kept as nil so that a merge unassigns it.
func canonValue(d *attrDef, p string, v any, single bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	if d.multi {
		list, ok := v.([]any)
		if !ok {
			if !single {
				return nil, errorf(TypeInvalidValue, "%s must be an array, not %s", p, jsonType(v))
			}
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			c, err := canonElement(d, p, e)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return canonSingle(d, p, v)
}

// canonElement converts one value of a multi-valued attribute; nil
// sub-attributes are dropped (a new value has nothing to unassign). A
// value without its "value" sub-attribute (an e-mail address, a member's
// id) is refused.
func canonElement(d *attrDef, p string, v any) (object, error) {
	if v == nil {
		return nil, nil
	}
	c, err := canonComplex(d, p, v)
	if err != nil {
		return nil, err
	}
	maps.DeleteFunc(c, func(_ string, x any) bool { return x == nil })
	if _, ok := c["value"]; !ok && find(d.sub, "value") != nil {
		return nil, errorf(TypeInvalidValue, "%s: every value needs a value sub-attribute", p)
	}
	return c, nil
}

func canonSingle(d *attrDef, p string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch d.typ {
	case tComplex:
		if s, ok := v.(string); ok && !d.multi && find(d.sub, "value") != nil {
			// A reference given by its value alone: Microsoft Entra ID
			// sends the enterprise manager so.
			v = object{"value": s}
		}
		return canonComplex(d, p, v)
	case tBoolean:
		switch x := v.(type) {
		case bool:
			if !x && d.name == "primary" {
				return nil, nil
			}
			return x, nil
		case string:
			// Microsoft Entra ID sends booleans as "True" and "False".
			switch {
			case strings.EqualFold(x, "true"):
				return true, nil
			case strings.EqualFold(x, "false"):
				if d.name == "primary" {
					return nil, nil
				}
				return false, nil
			}
		}
		return nil, errorf(TypeInvalidValue, "%s must be true or false, not %s", p, jsonType(v))
	default:
		s, ok := v.(string)
		if !ok {
			return nil, errorf(TypeInvalidValue, "%s must be a string, not %s", p, jsonType(v))
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
}

func canonComplex(d *attrDef, p string, v any) (object, error) {
	o, ok := v.(object)
	if !ok {
		return nil, errorf(TypeInvalidValue, "%s must be an object, not %s", p, jsonType(v))
	}
	out := object{}
	for _, k := range sortedKeys(o) {
		sub := find(d.sub, k)
		if sub == nil || sub.ignored || sub.readOnly() {
			continue
		}
		c, err := canonSingle(sub, p+"."+sub.name, o[k])
		if err != nil {
			return nil, err
		}
		out[sub.name] = c
	}
	return out, nil
}

// canonResource turns a POST or PUT body into a doc of resource type rt.
//
// The rule for what a body may hold: it must be a JSON object whose
// "schemas" lists rt's core schema; other listed schemas must be
// extensions (of any name: unknown ones are accepted and their attributes
// dropped). Attributes of the core schema and of known extensions are
// checked against their type (400 invalidValue); read-only ones (id,
// meta, groups) and attributes of RFC 7643 that Gatehouse does not keep
// (phoneNumbers, addresses, roles, ...) are dropped, and so are names no
// schema defines. An extension object, or a name qualified by a schema
// URN, must belong to a schema listed in "schemas" (400 invalidSyntax).
// A password is dropped too: Okta sends a placeholder with every
// creation, and Gatehouse keeps no SCIM passwords.
func canonResource(rt *resourceType, body any) (object, error) {
	o, ok := body.(object)
	if !ok {
		return nil, errorf(TypeInvalidSyntax, "the body must be a JSON object, not %s", jsonType(body))
	}
	declared, err := checkSchemas(rt, o)
	if err != nil {
		return nil, err
	}
	doc := object{}
	for _, k := range sortedKeys(o) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if hasURN(k) {
			if err := canonQualified(rt, declared, doc, k, o[k]); err != nil {
				return nil, err
			}
			continue
		}
		d := find(commonAttrs, k)
		if d == nil {
			d = find(rt.schema.attrs, k)
		}
		if err := putAttr(doc, d, d.nameOr(k), o[k]); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func (a *attrDef) nameOr(k string) string {
	if a == nil {
		return k
	}
	return a.name
}

// putAttr canonicalizes v for d into doc, dropping what the body rule
// drops.
func putAttr(doc object, d *attrDef, p string, v any) error {
	if d == nil || d.ignored || d.readOnly() {
		return nil
	}
	c, err := canonValue(d, p, v, false)
	if err != nil {
		return err
	}
	if o, ok := c.(object); ok {
		maps.DeleteFunc(o, func(_ string, x any) bool { return x == nil })
		if len(o) == 0 {
			c = nil
		}
	}
	if c != nil {
		doc[d.name] = c
	}
	return nil
}

func hasURN(k string) bool { return len(k) > 4 && strings.EqualFold(k[:4], "urn:") }

// canonQualified handles a top-level key that starts with a URN: an
// extension object, or an attribute qualified by its schema's URN.
func canonQualified(rt *resourceType, declared []string, doc object, k string, v any) error {
	isDeclared := func(urn string) bool {
		return slices.ContainsFunc(declared, func(s string) bool { return strings.EqualFold(s, urn) })
	}
	if ext := rt.extension(k); ext != nil {
		if !isDeclared(ext.id) {
			return errorf(TypeInvalidSyntax, "the body holds the extension %s without listing it in schemas", quote(ext.id))
		}
		c, err := canonValue(extAttr(ext), ext.id, v, false)
		if err != nil {
			return err
		}
		if o, ok := c.(object); ok {
			maps.DeleteFunc(o, func(_ string, x any) bool { return x == nil })
			if len(o) > 0 {
				mergeInto(doc, ext.id, o)
			}
		}
		return nil
	}
	if isDeclared(k) {
		return nil // an extension Gatehouse does not know: dropped
	}
	i := strings.LastIndexByte(k, ':')
	urn, name := k[:i], k[i+1:]
	switch {
	case strings.EqualFold(urn, rt.schema.id):
		d := find(rt.schema.attrs, name)
		return putAttr(doc, d, d.nameOr(name), v)
	case rt.extension(urn) != nil:
		ext := rt.extension(urn)
		if !isDeclared(ext.id) {
			return errorf(TypeInvalidSyntax, "the body names %s without listing its schema in schemas", quote(k))
		}
		d := find(ext.attrs, name)
		if d == nil || d.ignored || d.readOnly() {
			return nil
		}
		c, err := canonValue(d, k, v, false)
		if err != nil || c == nil {
			return err
		}
		mergeInto(doc, ext.id, object{d.name: c})
		return nil
	case isDeclared(urn):
		return nil
	}
	return errorf(TypeInvalidSyntax, "the body names %s, which belongs to no schema listed in schemas", quote(k))
}

// mergeInto merges the attributes of o into the object doc[k].
func mergeInto(doc object, k string, o object) {
	cur, _ := doc[k].(object)
	if cur == nil {
		cur = object{}
	}
	maps.Copy(cur, o)
	doc[k] = cur
}

// checkSchemas checks the "schemas" of a body and returns it.
func checkSchemas(rt *resourceType, o object) ([]string, error) {
	v, _, ok := lookup(o, "schemas")
	if !ok {
		return nil, errorf(TypeInvalidSyntax, "the body must list its schemas (%s)", quote(rt.schema.id))
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errorf(TypeInvalidSyntax, "schemas must be an array of schema URNs, not %s", jsonType(v))
	}
	var out []string
	core := false
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			// Not only URNs: Microsoft Entra ID lists
			// http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group.
			return nil, errorf(TypeInvalidSyntax, "schemas must hold schema URIs, not %s", jsonType(e))
		}
		switch {
		case strings.EqualFold(s, rt.schema.id):
			core = true
		case slices.ContainsFunc(resourceTypes, func(t *resourceType) bool { return strings.EqualFold(t.schema.id, s) }):
			return nil, errorf(TypeInvalidSyntax, "schemas lists %s, which is not a schema of a %s", quote(s), rt.name)
		case strings.Contains(strings.ToLower(s), ":api:messages:"):
			return nil, errorf(TypeInvalidSyntax, "schemas lists the message schema %s, which is not a schema of a %s", quote(s), rt.name)
		}
		out = append(out, s)
	}
	if !core {
		return nil, errorf(TypeInvalidSyntax, "schemas must list %s", quote(rt.schema.id))
	}
	return out, nil
}

// managedKeys are the custom attributes SCIM attributes are kept in; the
// others (set by the admin API or sign-in) are not SCIM's and survive a
// PUT.
var managedKeys = func() map[string]bool {
	out := map[string]bool{}
	var walk func(defs []*attrDef)
	walk = func(defs []*attrDef) {
		for _, d := range defs {
			if d.key != "" {
				out[d.key] = true
			}
			walk(d.sub)
		}
	}
	walk(userSchema.attrs)
	walk(enterpriseSchema.attrs)
	return out
}()

// putKeyed copies the custom attributes that defs keep (recursively,
// through singular complex attributes) from attrs into o.
func putKeyed(o object, defs []*attrDef, attrs map[string]string) {
	for _, d := range defs {
		switch {
		case d.key != "":
			if v := attrs[d.key]; v != "" {
				o[d.name] = v
			}
		case d.typ == tComplex && !d.multi && !d.readOnly():
			child, _ := o[d.name].(object)
			if child == nil {
				child = object{}
			}
			putKeyed(child, d.sub, attrs)
			if len(child) > 0 {
				o[d.name] = child
			}
		}
	}
}

// getKeyed is the inverse of putKeyed.
func getKeyed(o object, defs []*attrDef, attrs map[string]string) {
	for _, d := range defs {
		switch {
		case d.key != "":
			if v, _ := o[d.name].(string); v != "" {
				attrs[d.key] = v
			}
		case d.typ == tComplex && !d.multi:
			if child, ok := o[d.name].(object); ok {
				getKeyed(child, d.sub, attrs)
			}
		}
	}
}

func putString(o object, k, v string) {
	if v != "" {
		o[k] = v
	}
}

func getString(o object, k string) string {
	s, _ := o[k].(string)
	return s
}

// userDoc returns the doc of u.
func userDoc(u directory.User) object {
	doc := object{}
	putString(doc, "userName", u.UserName)
	putString(doc, "externalId", u.ExternalID)
	putString(doc, "displayName", u.DisplayName)
	name := object{}
	putString(name, "givenName", u.GivenName)
	putString(name, "familyName", u.FamilyName)
	if len(name) > 0 {
		doc["name"] = name
	}
	doc["active"] = u.Active
	if len(u.Emails) > 0 {
		emails := make([]any, 0, len(u.Emails))
		for _, e := range u.Emails {
			o := object{"value": e.Value}
			putString(o, "type", e.Type)
			if e.Primary {
				o["primary"] = true
			}
			emails = append(emails, o)
		}
		doc["emails"] = emails
	}
	putKeyed(doc, userSchema.attrs, u.Attributes)
	ext := object{}
	putKeyed(ext, enterpriseSchema.attrs, u.Attributes)
	if len(ext) > 0 {
		doc[EnterpriseUserSchema] = ext
	}
	return doc
}

// userFromDoc returns the user doc describes: base's ID, and base's
// custom attributes that no SCIM attribute is kept in. A doc without
// active keeps base.Active.
func userFromDoc(doc object, base directory.User) directory.User {
	u := directory.User{ID: base.ID, Active: base.Active}
	u.UserName = getString(doc, "userName")
	u.ExternalID = getString(doc, "externalId")
	u.DisplayName = getString(doc, "displayName")
	if name, ok := doc["name"].(object); ok {
		u.GivenName = getString(name, "givenName")
		u.FamilyName = getString(name, "familyName")
	}
	if a, ok := doc["active"].(bool); ok {
		u.Active = a
	}
	if list, ok := doc["emails"].([]any); ok {
		for _, e := range list {
			o, _ := e.(object)
			p, _ := o["primary"].(bool)
			u.Emails = append(u.Emails, directory.Email{Value: getString(o, "value"), Type: getString(o, "type"), Primary: p})
		}
	}
	attrs := map[string]string{}
	for k, v := range base.Attributes {
		if !managedKeys[k] {
			attrs[k] = v
		}
	}
	getKeyed(doc, userSchema.attrs, attrs)
	if ext, ok := doc[EnterpriseUserSchema].(object); ok {
		getKeyed(ext, enterpriseSchema.attrs, attrs)
	}
	if len(attrs) > 0 {
		u.Attributes = attrs
	}
	return u
}

// groupDoc returns the doc of g.
func groupDoc(g directory.Group) object {
	doc := object{}
	putString(doc, "displayName", g.DisplayName)
	putString(doc, "externalId", g.ExternalID)
	if len(g.Members) > 0 {
		members := make([]any, len(g.Members))
		for i, id := range g.Members {
			members[i] = object{"value": id}
		}
		doc["members"] = members
	}
	return doc
}

// groupFromDoc returns the group doc describes, with base's ID. Every
// member must have a value and be of type User.
func groupFromDoc(doc object, base directory.Group) (directory.Group, error) {
	g := directory.Group{ID: base.ID, DisplayName: getString(doc, "displayName"), ExternalID: getString(doc, "externalId")}
	if list, ok := doc["members"].([]any); ok {
		g.Members = make([]string, 0, len(list))
		for _, e := range list {
			id, err := memberID(e)
			if err != nil {
				return directory.Group{}, err
			}
			g.Members = append(g.Members, id)
		}
	}
	return g, nil
}

// memberID returns the user ID of a canonical member value.
func memberID(e any) (string, error) {
	o, _ := e.(object)
	if t, ok := o["type"].(string); ok && !strings.EqualFold(t, "User") {
		return "", errorf(TypeInvalidValue, "members: a member of type %s is not supported: members are users", quote(t))
	}
	id, _ := o["value"].(string)
	if id == "" {
		return "", errorf(TypeInvalidValue, "members: every member needs a value (the user's id)")
	}
	return id, nil
}

// rank orders the attributes of responses.
var rank = func() map[string]int {
	out := map[string]int{}
	for i, k := range []string{"schemas", "totalResults", "itemsPerPage", "startIndex", "Resources", "id", "externalId", "userName", "displayName", "name", "active", "emails",
		"members", "groups", "value", "type", "primary", "display", "$ref"} {
		out[k] = i - 1000
	}
	out["meta"] = 1000
	return out
}()

// meta returns the meta attribute of a resource.
func meta(resourceType, location string, version int64, created, modified time.Time) object {
	return object{
		"resourceType": resourceType,
		"created":      formatTime(created),
		"lastModified": formatTime(modified),
		"location":     location,
		"version":      etag(version),
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// etag returns the weak entity tag of a version: W/"<n>".
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// renderUser returns the User resource of u as served.
func (s *Server) renderUser(u directory.User) object {
	doc := userDoc(u)
	schemas := []any{UserSchema}
	if ext, ok := doc[EnterpriseUserSchema].(object); ok {
		schemas = append(schemas, EnterpriseUserSchema)
		if m, ok := ext["manager"].(object); ok {
			if v := getString(m, "value"); v != "" {
				m["$ref"] = s.location("Users", v)
			}
		}
	}
	doc["schemas"] = schemas
	doc["id"] = u.ID
	if len(u.Groups) > 0 {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = object{"value": g.ID, "display": g.DisplayName, "$ref": s.location("Groups", g.ID), "type": "direct"}
		}
		doc["groups"] = groups
	}
	doc["meta"] = meta("User", s.location("Users", u.ID), u.Version, u.CreatedAt, u.UpdatedAt)
	return doc
}

// renderGroup returns the Group resource of g as served.
func (s *Server) renderGroup(g directory.Group) object {
	doc := groupDoc(g)
	if list, ok := doc["members"].([]any); ok {
		for _, e := range list {
			o := e.(object)
			id := o["value"].(string)
			o["$ref"] = s.location("Users", id)
			o["type"] = "User"
		}
	}
	doc["schemas"] = []any{GroupSchema}
	doc["id"] = g.ID
	doc["meta"] = meta("Group", s.location("Groups", g.ID), g.Version, g.CreatedAt, g.UpdatedAt)
	return doc
}

// location returns the URI of a resource.
func (s *Server) location(endpoint, id string) string {
	return s.baseURL + "/" + endpoint + "/" + id
}

// marshal encodes a response object with its keys in order.
func marshal(o object) ([]byte, error) {
	var b bytes.Buffer
	if err := encode(&b, ordered{o, rank}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
