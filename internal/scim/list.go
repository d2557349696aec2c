package scim

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

// MaxProjectionAttributes bounds the names in attributes or
// excludedAttributes.
const MaxProjectionAttributes = 64

// projection is what the attributes and excludedAttributes parameters
// (RFC 7644 section 3.4.2.5) ask for. Each path is a list of keys from
// the top of the resource: ["userName"], ["name", "givenName"],
// [<extension URN>, "department"]. id and schemas are always returned.
type projection struct {
	include [][]string // nil: every attribute
	exclude [][]string
}

// parseProjection parses the two parameters of resource type rt (their
// comma-separated values, or lists from a SearchRequest).
func parseProjection(rt *resourceType, include, exclude []string) (projection, error) {
	var p projection
	var err error
	if p.include, err = projectionPaths(rt, "attributes", include); err != nil {
		return p, err
	}
	if p.exclude, err = projectionPaths(rt, "excludedAttributes", exclude); err != nil {
		return p, err
	}
	return p, nil
}

func projectionPaths(rt *resourceType, param string, names []string) ([][]string, error) {
	var out [][]string
	named := false
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		named = true
		if len(out) == MaxProjectionAttributes {
			return nil, errorf(TypeInvalidValue, "%s names more than %d attributes", param, MaxProjectionAttributes)
		}
		p, err := filter.ParsePath(n)
		if err != nil || p.Filter != nil {
			return nil, errorf(TypeInvalidValue, "%s: %s is not an attribute name", param, quote(n))
		}
		a := p.Attr
		var keys []string
		switch {
		case a.URN != "" && rt.extension(a.URN+":"+a.Name) != nil:
			keys = []string{rt.extension(a.URN + ":" + a.Name).id}
		case a.URN == "" || strings.EqualFold(a.URN, rt.schema.id):
			keys = []string{a.Name}
		case rt.extension(a.URN) != nil:
			keys = []string{rt.extension(a.URN).id, a.Name}
		default:
			continue // another schema's attribute: nothing to return
		}
		if a.Sub != "" {
			keys = append(keys, a.Sub)
		}
		out = append(out, keys)
	}
	if named && out == nil && param == "attributes" {
		// Only attributes of other schemas: nothing but id and schemas.
		out = [][]string{}
	}
	return out, nil
}

// splitParam splits a comma-separated query parameter; nil when absent.
func splitParam(r *http.Request, name string) []string {
	v, ok := r.URL.Query()[name]
	if !ok {
		return nil
	}
	var out []string
	for _, s := range v {
		out = append(out, strings.Split(s, ",")...)
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// wants reports whether the projection returns the top-level attribute
// name (so that a list can skip reading group members).
func (p projection) wants(name string) bool {
	for _, e := range p.exclude {
		if len(e) == 1 && strings.EqualFold(e[0], name) {
			return false
		}
	}
	if p.include == nil {
		return true
	}
	for _, i := range p.include {
		if strings.EqualFold(i[0], name) {
			return true
		}
	}
	return false
}

// apply returns o cut down to the projection.
func (p projection) apply(o object) object {
	if p.include == nil && len(p.exclude) == 0 {
		return o
	}
	out := o
	if p.include != nil {
		out = object{}
		for _, k := range []string{"schemas", "id"} {
			if v, ok := o[k]; ok {
				out[k] = v
			}
		}
		for _, keys := range p.include {
			pick(o, out, keys)
		}
		prune(out)
	}
	for _, keys := range p.exclude {
		if len(keys) == 1 && (strings.EqualFold(keys[0], "id") || strings.EqualFold(keys[0], "schemas")) {
			continue
		}
		drop(out, keys)
	}
	prune(out)
	return out
}

// pick copies the value at keys from src to dst; under a multi-valued
// attribute, the sub-attribute of each value.
func pick(src, dst object, keys []string) {
	v, k, ok := lookup(src, keys[0])
	if !ok {
		return
	}
	if len(keys) == 1 {
		dst[k] = v
		return
	}
	switch x := v.(type) {
	case object:
		child, _ := dst[k].(object)
		if child == nil {
			child = object{}
			dst[k] = child
		}
		pick(x, child, keys[1:])
	case []any:
		list, _ := dst[k].([]any)
		if len(list) != len(x) {
			list = make([]any, len(x))
			for i := range list {
				list[i] = object{}
			}
			dst[k] = list
		}
		for i, e := range x {
			if eo, ok := e.(object); ok {
				pick(eo, list[i].(object), keys[1:])
			}
		}
	}
}

// drop removes the value at keys from o.
func drop(o object, keys []string) {
	_, k, ok := lookup(o, keys[0])
	if !ok {
		return
	}
	if len(keys) == 1 {
		delete(o, k)
		return
	}
	switch x := o[k].(type) {
	case object:
		drop(x, keys[1:])
	case []any:
		for _, e := range x {
			if eo, ok := e.(object); ok {
				drop(eo, keys[1:])
			}
		}
	}
}

// prune removes empty objects and arrays of objects left by pick and drop.
func prune(o object) {
	for k, v := range o {
		switch x := v.(type) {
		case object:
			prune(x)
			if len(x) == 0 {
				delete(o, k)
			}
		case []any:
			keep := x[:0:0]
			for _, e := range x {
				if eo, ok := e.(object); ok {
					prune(eo)
					if len(eo) == 0 {
						continue
					}
				}
				keep = append(keep, e)
			}
			if len(keep) == 0 && len(x) > 0 {
				delete(o, k)
			} else {
				o[k] = keep
			}
		}
	}
}

// listRequest is a list query: from the URL of a GET, or a SearchRequest
// body (RFC 7644 section 3.4.3).
type listRequest struct {
	filter     string
	startIndex int
	count      int
	proj       projection
}

// parseListQuery reads a list request from the URL. startIndex below 1
// means 1; count below 0 means 0 and above the maximum the maximum; an
// absent count is the maximum.
func (s *Server) parseListQuery(rt *resourceType, r *http.Request) (listRequest, error) {
	q := r.URL.Query()
	lr := listRequest{filter: q.Get("filter"), startIndex: 1, count: s.maxResults}
	var err error
	if v, ok := q["startIndex"]; ok {
		if lr.startIndex, err = parseInt("startIndex", v[0]); err != nil {
			return lr, err
		}
	}
	if v, ok := q["count"]; ok {
		if lr.count, err = parseInt("count", v[0]); err != nil {
			return lr, err
		}
	}
	lr.proj, err = parseProjection(rt, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
	return s.clamp(lr), err
}

func (s *Server) clamp(lr listRequest) listRequest {
	lr.startIndex = max(lr.startIndex, 1)
	lr.count = min(max(lr.count, 0), s.maxResults)
	return lr
}

// parseInt parses a paging parameter; values beyond the int32 range are
// cut to it.
func parseInt(name, v string) (int, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(v, "-"):
		return -1, nil
	case errors.Is(err, strconv.ErrRange):
		return math.MaxInt32, nil
	case err != nil:
		return 0, errorf(TypeInvalidValue, "%s must be an integer, not %s", name, quote(v))
	}
	return int(min(max(n, -1), math.MaxInt32)), nil
}

// parseSearch reads a SearchRequest body.
func (s *Server) parseSearch(rt *resourceType, w http.ResponseWriter, r *http.Request) (listRequest, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return listRequest{}, err
	}
	o, ok := body.(object)
	if !ok {
		return listRequest{}, errorf(TypeInvalidSyntax, "the body must be a JSON object, not %s", jsonType(body))
	}
	v, _, _ := lookup(o, "schemas")
	list, _ := v.([]any)
	if !containsFold(list, SearchRequestSchema) {
		return listRequest{}, errorf(TypeInvalidSyntax, "schemas must be [%s]", quote(SearchRequestSchema))
	}
	lr := listRequest{startIndex: 1, count: s.maxResults}
	if v, _, ok := lookup(o, "filter"); ok && v != nil {
		f, ok := v.(string)
		if !ok {
			return lr, errorf(TypeInvalidFilter, "filter must be a string, not %s", jsonType(v))
		}
		lr.filter = f
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"startIndex", &lr.startIndex}, {"count", &lr.count}} {
		v, _, ok := lookup(o, p.name)
		if !ok || v == nil {
			continue
		}
		n, isNum := v.(json.Number)
		if !isNum {
			return lr, errorf(TypeInvalidValue, "%s must be an integer, not %s", p.name, jsonType(v))
		}
		if *p.dst, err = parseInt(p.name, n.String()); err != nil {
			return lr, err
		}
	}
	names := func(key string) ([]string, error) {
		v, _, ok := lookup(o, key)
		if !ok || v == nil {
			return nil, nil
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, errorf(TypeInvalidValue, "%s must be an array of attribute names, not %s", key, jsonType(v))
		}
		out := []string{}
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, errorf(TypeInvalidValue, "%s must be an array of attribute names", key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	include, err := names("attributes")
	if err != nil {
		return lr, err
	}
	exclude, err := names("excludedAttributes")
	if err != nil {
		return lr, err
	}
	lr.proj, err = parseProjection(rt, include, exclude)
	return s.clamp(lr), err
}

// query returns the store query of a list request.
func (lr listRequest) query() (directory.Query, error) {
	q := directory.Query{StartIndex: lr.startIndex, Count: lr.count}
	if strings.TrimSpace(lr.filter) != "" {
		e, err := filter.Parse(lr.filter)
		if err != nil {
			return q, err
		}
		q.Filter = e
	}
	return q, nil
}

// listResponse returns the ListResponse message of a page.
func listResponse(total, startIndex int, resources []any) object {
	if resources == nil {
		resources = []any{}
	}
	return object{
		"schemas":      []any{ListResponseSchema},
		"totalResults": total,
		"itemsPerPage": len(resources),
		"startIndex":   startIndex,
		"Resources":    resources,
	}
}
