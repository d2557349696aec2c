package scim

import (
	"net/http"
	"strings"
	"time"
)

// The discovery endpoints (RFC 7644 section 4). They take no filter: a
// request with one gets 403, as section 4 recommends, so that a client
// never takes the answer for a filtered one.

func (s *Server) refuseFilter(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Has("filter") {
		s.fail(w, r, &Error{Status: http.StatusForbidden, Detail: "the discovery endpoints do not support filters"})
		return true
	}
	return false
}

func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request, _ time.Time) {
	if s.refuseFilter(w, r) {
		return
	}
	s.write(w, r, http.StatusOK, s.spConfig())
}

// spConfig is the ServiceProviderConfig resource (RFC 7643 section 5).
func (s *Server) spConfig() object {
	return object{
		"schemas":          []any{ServiceProviderConfigSchema},
		"documentationUri": "https://github.com/gatehouse-dev/gatehouse",
		"patch":            object{"supported": true},
		"bulk":             object{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           object{"supported": true, "maxResults": s.maxResults},
		"changePassword":   object{"supported": false},
		"sort":             object{"supported": false},
		"etag":             object{"supported": true},
		"authenticationSchemes": []any{object{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "Authentication with a SCIM bearer token issued by the Gatehouse admin API " +
				"(POST /api/v1/admin/scim-tokens), sent as Authorization: Bearer <token>.",
			"specUri": "https://www.rfc-editor.org/rfc/rfc6750",
		}},
		"meta": object{"resourceType": "ServiceProviderConfig", "location": s.baseURL + "/ServiceProviderConfig"},
	}
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request, _ time.Time) {
	discoveryList(s, w, r, allSchemas, s.schemaResource)
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request, id string) {
	discoveryItem(s, w, r, allSchemas, func(sc *schemaDef) bool { return strings.EqualFold(sc.id, id) },
		s.schemaResource, "no schema has this id")
}

// discoveryList answers every discovery resource of a kind as a
// ListResponse.
func discoveryList[T any](s *Server, w http.ResponseWriter, r *http.Request, all []T, render func(T) object) {
	if s.refuseFilter(w, r) {
		return
	}
	var out []any
	for _, v := range all {
		out = append(out, render(v))
	}
	s.write(w, r, http.StatusOK, listResponse(len(out), 1, out))
}

// discoveryItem answers the first discovery resource that match
// selects, or 404 with notFound.
func discoveryItem[T any](s *Server, w http.ResponseWriter, r *http.Request, all []T, match func(T) bool,
	render func(T) object, notFound string) {
	if s.refuseFilter(w, r) {
		return
	}
	for _, v := range all {
		if match(v) {
			s.write(w, r, http.StatusOK, render(v))
			return
		}
	}
	s.fail(w, r, &Error{Status: http.StatusNotFound, Detail: notFound})
}

// schemaResource describes a schema (RFC 7643 section 7): the attributes
// Gatehouse keeps, with their properties.
func (s *Server) schemaResource(sc *schemaDef) object {
	return object{
		"schemas":     []any{SchemaSchema},
		"id":          sc.id,
		"name":        sc.name,
		"description": sc.desc,
		"attributes":  attrList(sc.attrs),
		"meta":        object{"resourceType": "Schema", "location": s.baseURL + "/Schemas/" + sc.id},
	}
}

func attrList(defs []*attrDef) []any {
	out := []any{}
	for _, d := range defs {
		if d.ignored {
			continue
		}
		out = append(out, attrResource(d))
	}
	return out
}

func attrResource(d *attrDef) object {
	o := object{
		"name":        d.name,
		"type":        string(d.typ),
		"multiValued": d.multi,
		"description": d.desc,
		"required":    d.required,
		"caseExact":   d.caseExact,
		"mutability":  or(d.mutability, readWrite),
		"returned":    or(d.returned, "default"),
		"uniqueness":  or(d.uniqueness, "none"),
	}
	if len(d.canonical) > 0 {
		o["canonicalValues"] = strs(d.canonical)
	}
	if len(d.refTypes) > 0 {
		o["referenceTypes"] = strs(d.refTypes)
	}
	if d.typ == tComplex {
		o["subAttributes"] = attrList(d.sub)
	}
	return o
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func strs(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request, _ time.Time) {
	discoveryList(s, w, r, resourceTypes, s.resourceTypeResource)
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request, name string) {
	discoveryItem(s, w, r, resourceTypes, func(rt *resourceType) bool { return rt.name == name },
		s.resourceTypeResource, "no resource type has this name")
}

// resourceTypeResource describes a resource type (RFC 7643 section 6).
func (s *Server) resourceTypeResource(rt *resourceType) object {
	o := object{
		"schemas":     []any{ResourceTypeSchema},
		"id":          rt.name,
		"name":        rt.name,
		"endpoint":    rt.endpoint,
		"description": rt.desc,
		"schema":      rt.schema.id,
		"meta":        object{"resourceType": "ResourceType", "location": s.baseURL + "/ResourceTypes/" + rt.name},
	}
	if len(rt.extensions) > 0 {
		var ext []any
		for _, e := range rt.extensions {
			ext = append(ext, object{"schema": e.id, "required": false})
		}
		o["schemaExtensions"] = ext
	}
	return o
}
