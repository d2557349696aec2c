package scim

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

// MaxPatchOperations bounds the operations of one PATCH request.
const MaxPatchOperations = 1000

// PATCH operation names, as this package spells them; requests may use
// any letter case ("Replace", as Microsoft Entra ID sends).
const (
	opAdd     = "add"
	opReplace = "replace"
	opRemove  = "remove"
)

// patchOp is one parsed PATCH operation with a resolved path. An
// operation without a path is expanded into one operation per attribute
// of its value, so every patchOp has a target.
type patchOp struct {
	op    string
	t     *target
	value any // canonical, except for an id check
	// hasValue says whether the request gave a value (remove may).
	hasValue bool
}

// target is a resolved PATCH path.
type target struct {
	raw string
	// chain lists the attributes from the top level down: [userName],
	// [name, givenName], [emails, value], [<extension>, manager, value].
	chain []*attrDef
	// fi is the index in chain of the multi-valued attribute the value
	// filter applies to, or -1.
	fi     int
	filter filter.Expr
	cond   directory.Cond
	// ignored: the path names an attribute Gatehouse does not keep; the
	// operation does nothing.
	ignored bool
	// idCheck: a no-path value named id; it must equal the resource's.
	idCheck bool
}

func (t *target) last() *attrDef { return t.chain[len(t.chain)-1] }

// parsePatch parses a PATCH body (RFC 7644 section 3.5.2) for resource
// type rt, resolving every path and canonicalizing every value, so that
// applying the result can only fail on the state of the resource.
//
// Operation names are case-insensitive. A remove needs a path (400
// noTarget); add and replace need a value. Paths are parsed by
// filter.ParsePath and must name attributes of rt's schemas (400
// invalidPath), read-only ones excepted (400 mutability); a path to an
// attribute Gatehouse does not keep (phoneNumbers[type eq "work"].value)
// is accepted and does nothing. The value of an operation without a path
// must be an object; each of its attributes is applied as if it were the
// path, under the body rule of canonResource: unknown names and read-only
// attributes are dropped, except that an id must equal the resource's.
func parsePatch(rt *resourceType, body any) ([]patchOp, error) {
	o, ok := body.(object)
	if !ok {
		return nil, errorf(TypeInvalidSyntax, "the body must be a JSON object, not %s", jsonType(body))
	}
	v, _, _ := lookup(o, "schemas")
	list, _ := v.([]any)
	if !containsFold(list, PatchOpSchema) {
		return nil, errorf(TypeInvalidSyntax, "schemas must be [%s]", quote(PatchOpSchema))
	}
	v, _, _ = lookup(o, "Operations")
	rawOps, ok := v.([]any)
	switch {
	case !ok:
		return nil, errorf(TypeInvalidSyntax, "Operations must be an array of operations, not %s", jsonType(v))
	case len(rawOps) == 0:
		return nil, errorf(TypeInvalidValue, "Operations is empty")
	case len(rawOps) > MaxPatchOperations:
		return nil, errorf(TypeTooMany, "more than %d operations in one request", MaxPatchOperations)
	}
	var ops []patchOp
	for i, raw := range rawOps {
		parsed, err := parseOp(rt, i, raw)
		if err != nil {
			return nil, err
		}
		ops = append(ops, parsed...)
		if len(ops) > MaxPatchOperations {
			// Operations without a path count once per attribute.
			return nil, errorf(TypeTooMany, "more than %d operations in one request", MaxPatchOperations)
		}
	}
	return ops, nil
}

func containsFold(list []any, s string) bool {
	for _, e := range list {
		if x, ok := e.(string); ok && strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func parseOp(rt *resourceType, i int, raw any) ([]patchOp, error) {
	o, ok := raw.(object)
	if !ok {
		return nil, errorf(TypeInvalidSyntax, "Operations[%d] must be an object, not %s", i, jsonType(raw))
	}
	v, _, _ := lookup(o, "op")
	name, _ := v.(string)
	op := strings.ToLower(name)
	if op != opAdd && op != opReplace && op != opRemove {
		return nil, errorf(TypeInvalidSyntax, "Operations[%d].op must be add, replace or remove, not %s", i, opDesc(v))
	}
	value, _, hasValue := lookup(o, "value")
	pv, _, hasPath := lookup(o, "path")
	path, isString := pv.(string)
	switch {
	case hasPath && pv != nil && !isString:
		return nil, errorf(TypeInvalidPath, "Operations[%d].path must be a string, not %s", i, jsonType(pv))
	case path == "" && op == opRemove:
		return nil, errorf(TypeNoTarget, "Operations[%d]: remove needs a path", i)
	case op != opRemove && !hasValue:
		return nil, errorf(TypeInvalidValue, "Operations[%d]: %s needs a value", i, op)
	case path == "":
		return expandNoPath(rt, i, op, value)
	}
	t, err := resolvePath(rt, path)
	if err != nil {
		return nil, err
	}
	return makeOp(i, op, t, value, hasValue)
}

func opDesc(v any) string {
	if s, ok := v.(string); ok {
		return quote(s)
	}
	return jsonType(v)
}

// makeOp checks op against its target and canonicalizes its value.
func makeOp(i int, op string, t *target, value any, hasValue bool) ([]patchOp, error) {
	if t.ignored {
		return nil, nil
	}
	d := t.last()
	p := "Operations[" + strconv.Itoa(i) + "] " + t.raw
	for _, c := range t.chain {
		if c.readOnly() {
			return nil, errorf(TypeMutability, "%s: %s is read-only", p, c.name)
		}
	}
	if d.mutability == immutable && len(t.chain) > 1 && op != opRemove {
		return nil, errorf(TypeMutability, "%s: %s cannot be changed; remove the value and add another", p, d.name)
	}
	if op == opRemove && d.name == "active" && len(t.chain) == 1 {
		return nil, errorf(TypeInvalidValue, "%s: active cannot be removed; replace it with false to deactivate", p)
	}
	out := patchOp{op: op, t: t, hasValue: hasValue}
	if !hasValue || value == nil {
		return []patchOp{out}, nil
	}
	var err error
	switch {
	case op == opRemove && d.multi && t.fi < 0:
		// remove of given values (Microsoft Entra ID removes members so).
		out.value, err = canonValue(d, p, value, true)
	case op == opRemove:
		// a value of any other remove is ignored, as RFC 7644 allows.
	case t.fi == len(t.chain)-1:
		// attr[filter]: the value is an object merged into the matches.
		out.value, err = canonComplex(d, p, value)
	default:
		out.value, err = canonValue(d, p, value, true)
	}
	if err != nil {
		return nil, err
	}
	return []patchOp{out}, nil
}

// expandNoPath turns an operation without a path into one operation per
// attribute of its value.
func expandNoPath(rt *resourceType, i int, op string, value any) ([]patchOp, error) {
	o, ok := value.(object)
	if !ok {
		return nil, errorf(TypeInvalidValue, "Operations[%d]: an operation without a path needs an object value, not %s", i, jsonType(value))
	}
	var out []patchOp
	for _, k := range sortedKeys(o) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if ext := rt.extension(k); ext != nil {
			t := &target{raw: ext.id, chain: []*attrDef{extAttr(ext)}, fi: -1}
			ops, err := makeOp(i, op, t, o[k], true)
			if err != nil {
				return nil, err
			}
			out = append(out, ops...)
			continue
		}
		t, err := resolvePath(rt, k)
		if err != nil {
			if e, ok := err.(*Error); ok && e.Type == TypeInvalidPath && unknownName(rt, k) {
				continue // a name no schema defines: dropped, as in a PUT
			}
			return nil, err
		}
		d := t.last()
		switch {
		case d == idAttr:
			out = append(out, patchOp{op: op, t: &target{raw: k, chain: t.chain, fi: -1, idCheck: true}, value: o[k], hasValue: true})
			continue
		case len(t.chain) == 1 && d.readOnly():
			continue // meta, groups: read-only, dropped as in a PUT
		}
		ops, err := makeOp(i, op, t, o[k], true)
		if err != nil {
			return nil, err
		}
		out = append(out, ops...)
	}
	return out, nil
}

// unknownName reports whether k is a plain name (no URN, no filter) of
// no attribute of rt.
func unknownName(rt *resourceType, k string) bool {
	if hasURN(k) || strings.ContainsAny(k, "[]") {
		return false
	}
	name, _, _ := strings.Cut(k, ".")
	return rt.topAttr(name) == nil
}

// resolvePath parses and resolves a PATCH path of resource type rt.
func resolvePath(rt *resourceType, s string) (*target, error) {
	p, err := filter.ParsePath(s)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return errorf(TypeInvalidPath, "path %s: "+format, append([]any{quote(s)}, args...)...)
	}
	t := &target{raw: s, fi: -1}
	a := p.Attr
	var top *attrDef
	switch {
	case a.URN != "" && rt.extension(a.URN+":"+a.Name) != nil:
		if a.Sub != "" || p.Filter != nil {
			return nil, bad("an extension is not multi-valued and has no sub-attribute %s", quote(a.Sub))
		}
		t.chain = []*attrDef{extAttr(rt.extension(a.URN + ":" + a.Name))}
		return t, nil
	case a.URN == "" || strings.EqualFold(a.URN, rt.schema.id):
		top = find(commonAttrs, a.Name)
		if top == nil {
			top = find(rt.schema.attrs, a.Name)
		}
		if top == nil {
			return nil, bad("a %s has no attribute %s", rt.name, quote(a.Name))
		}
		t.chain = []*attrDef{top}
	case rt.extension(a.URN) != nil:
		ext := rt.extension(a.URN)
		top = find(ext.attrs, a.Name)
		if top == nil {
			return nil, bad("the extension %s has no attribute %s", quote(ext.id), quote(a.Name))
		}
		t.chain = []*attrDef{extAttr(ext), top}
	default:
		return nil, bad("%s is not a schema of a %s", quote(a.URN), rt.name)
	}
	if a.Sub != "" {
		if err := t.descend(a.Sub, bad); err != nil {
			return nil, err
		}
	}
	if p.Filter != nil {
		d := t.last()
		if !d.multi {
			return nil, bad("a value filter needs a multi-valued attribute; %s is not one", d.name)
		}
		t.fi = len(t.chain) - 1
		t.filter = p.Filter
		if !d.ignored {
			if err := t.compile(rt); err != nil {
				return nil, err
			}
		}
	}
	if p.SubAttr != "" {
		if err := t.descend(p.SubAttr, bad); err != nil {
			return nil, err
		}
	}
	for _, c := range t.chain {
		if c.ignored {
			t.ignored = true
		}
	}
	return t, nil
}

// descend appends sub-attribute name of the last attribute to the chain.
func (t *target) descend(name string, bad func(string, ...any) error) error {
	d := t.last()
	if d.typ != tComplex {
		return bad("%s has no sub-attributes", d.name)
	}
	if d.ignored {
		t.chain = append(t.chain, &attrDef{name: name, typ: tString, ignored: true})
		return nil
	}
	sub := find(d.sub, name)
	if sub == nil {
		return bad("%s has no sub-attribute %s", d.name, quote(name))
	}
	t.chain = append(t.chain, sub)
	return nil
}

// compile resolves the value filter with the directory's filter compiler,
// so that a PATCH selects values by exactly the rules a list filter does.
func (t *target) compile(rt *resourceType) error {
	d := t.chain[t.fi]
	vp := filter.ValuePath{Attr: filter.AttrPath{Name: d.name}, Filter: t.filter}
	var err error
	switch {
	case rt == userType && d.name == "emails":
		t.cond, err = directory.CompileUserFilter(vp)
	case rt == groupType && d.name == "members":
		t.cond, err = directory.CompileGroupFilter(vp)
	default:
		return errorf(TypeInvalidPath, "path %s: value filters on %s are not supported", quote(t.raw), d.name)
	}
	return err
}

// matches reports whether one value of the filtered attribute matches.
func (t *target) matches(e any) bool {
	o, _ := e.(object)
	switch t.chain[t.fi].name {
	case "emails":
		p, _ := o["primary"].(bool)
		email := directory.Email{Value: getString(o, "value"), Type: getString(o, "type"), Primary: p}
		return directory.MatchUser(t.cond, directory.User{Emails: []directory.Email{email}})
	case "members":
		if c, ok := t.cond.(directory.CondAny); ok {
			if cmp, ok := c.X.(directory.CondCompare); ok && cmp.Op == directory.OpEq && cmp.Attr == directory.AttrMemberValue {
				// members[value eq "id"], the common case: no allocation.
				return getString(o, "value") == cmp.Value
			}
		}
		return directory.MatchGroup(t.cond, directory.Group{Members: []string{getString(o, "value")}})
	}
	return false
}

// fromFilter returns the value a filter of equalities describes
// (`type eq "work"`, `type eq "work" and primary eq true`), for an add or
// replace whose filter matches nothing: like the scim-patch library and
// what Microsoft Entra ID expects, the value is created. Any other filter
// gives 400 noTarget.
func (t *target) fromFilter() (object, error) {
	d := t.chain[t.fi]
	out := object{}
	var walk func(e filter.Expr) bool
	walk = func(e filter.Expr) bool {
		switch x := e.(type) {
		case filter.And:
			return walk(x.L) && walk(x.R)
		case filter.Compare:
			sub := find(d.sub, x.Path.Name)
			if x.Op != "eq" || sub == nil || x.Path.URN != "" || x.Path.Sub != "" || sub.readOnly() || sub.ignored {
				return false
			}
			v, err := canonSingle(sub, sub.name, x.Value)
			if err != nil {
				return false
			}
			if v != nil {
				out[sub.name] = v
			}
			return true
		}
		return false
	}
	if !walk(t.filter) {
		return nil, errorf(TypeNoTarget, "path %s: no value matches the filter", quote(t.raw))
	}
	return out, nil
}

// patcher applies parsed operations to a doc.
type patcher struct {
	id string // the resource's id, for id checks
}

// apply applies op to doc, changing it in place.
func (pt patcher) apply(doc object, op patchOp) error {
	if op.t.idCheck {
		if s, ok := op.value.(string); !ok || s != pt.id {
			return errorf(TypeMutability, "id is read-only and cannot be changed")
		}
		return nil
	}
	// The operation's value is copied: the doc may change what it holds
	// later (a merge, a primary flag), and an update function must be
	// able to run again with the same operations.
	op.value = deepCopy(op.value)
	return pt.at(doc, op, 0)
}

// deepCopy copies the objects and arrays of a canonical value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case object:
		out := make(object, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func (pt patcher) at(c object, op patchOp, i int) error {
	t := op.t
	d := t.chain[i]
	last := i == len(t.chain)-1
	if d.multi {
		return pt.multi(c, op, i, last)
	}
	if last {
		switch {
		case op.op == opRemove:
			delete(c, d.name)
		case op.value == nil:
			delete(c, d.name)
		case d.typ == tComplex:
			cur, _ := c[d.name].(object)
			if cur == nil {
				cur = object{}
			}
			merge(cur, op.value.(object))
			setOrDelete(c, d.name, cur)
		default:
			c[d.name] = op.value
		}
		return nil
	}
	child, _ := c[d.name].(object)
	if child == nil {
		if op.op == opRemove {
			return nil
		}
		child = object{}
	}
	if err := pt.at(child, op, i+1); err != nil {
		return err
	}
	setOrDelete(c, d.name, child)
	return nil
}

// merge sets each attribute of v in cur; a nil unassigns.
func merge(cur, v object) {
	for k, x := range v {
		if x == nil {
			delete(cur, k)
		} else {
			cur[k] = x
		}
	}
}

func setOrDelete(c object, k string, o object) {
	if len(o) == 0 {
		delete(c, k)
	} else {
		c[k] = o
	}
}

// multi applies op at the multi-valued attribute t.chain[i] of c.
func (pt patcher) multi(c object, op patchOp, i int, last bool) error {
	t := op.t
	d := t.chain[i]
	list, _ := c[d.name].([]any)
	before := primaries(list)
	switch {
	case i == t.fi:
		var matched []int
		for j, e := range list {
			if t.matches(e) {
				matched = append(matched, j)
			}
		}
		if len(matched) == 0 {
			if op.op == opRemove {
				return nil
			}
			e, err := t.fromFilter()
			if err != nil {
				return err
			}
			list = append(list, e)
			matched = []int{len(list) - 1}
		}
		switch {
		case last && op.op == opRemove:
			keep := list[:0:0]
			for j, e := range list {
				if !containsInt(matched, j) {
					keep = append(keep, e)
				}
			}
			list = keep
		case last:
			v, _ := op.value.(object)
			for _, j := range matched {
				if err := checkImmutable(d, list[j].(object), v); err != nil {
					return err
				}
				merge(list[j].(object), v)
			}
		default:
			for _, j := range matched {
				if err := pt.at(list[j].(object), op, i+1); err != nil {
					return err
				}
			}
		}
	case !last:
		// a sub-attribute of every value (emails.type)
		for _, e := range list {
			if err := pt.at(e.(object), op, i+1); err != nil {
				return err
			}
		}
	case op.op == opAdd && d.name == "members":
		// Duplicate members are merged by directory.NormalizeGroup; not
		// searching for them keeps an add linear in a large group.
		add, _ := op.value.([]any)
		list = append(list, add...)
	case op.op == opAdd:
		add, _ := op.value.([]any)
		for _, v := range add {
			if !containsValue(list, v) {
				list = append(list, v)
			}
		}
	case op.op == opReplace:
		list, _ = op.value.([]any)
	case op.op == opRemove && op.hasValue && op.value != nil:
		rm, _ := op.value.([]any)
		m := newValueMatcher(d, rm)
		keep := list[:0:0]
		for _, e := range list {
			if !m.matches(e) {
				keep = append(keep, e)
			}
		}
		list = keep
	default: // remove of every value
		list = nil
	}
	onePrimary(list, before)
	if len(list) == 0 {
		delete(c, d.name)
	} else {
		c[d.name] = list
	}
	return nil
}

// checkImmutable refuses a merge of v into the value cur that changes an
// immutable sub-attribute (a member's value).
func checkImmutable(d *attrDef, cur, v object) error {
	for k, x := range v {
		sub := find(d.sub, k)
		if sub != nil && sub.mutability == immutable && cur[k] != nil && !reflect.DeepEqual(cur[k], x) {
			return errorf(TypeMutability, "%s.%s cannot be changed; remove the value and add another", d.name, sub.name)
		}
	}
	return nil
}

func containsInt(list []int, x int) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

// valueMatcher tells whether a value is one of the values a remove
// names: the same "value" sub-attribute (compared as the attribute's
// caseExact says) when the removed value has one, else equal. It indexes
// the removed values, so a remove is linear in the size of the attribute.
type valueMatcher struct {
	exact bool
	keys  map[string]bool // "value" sub-attributes, folded unless exact
	whole []any           // removed values without one
}

func newValueMatcher(d *attrDef, rm []any) valueMatcher {
	m := valueMatcher{exact: true, keys: map[string]bool{}}
	if sub := find(d.sub, "value"); sub != nil {
		m.exact = sub.caseExact
	}
	for _, r := range rm {
		ro, _ := r.(object)
		if want, ok := ro["value"].(string); ok {
			m.keys[m.key(want)] = true
		} else {
			m.whole = append(m.whole, r)
		}
	}
	return m
}

func (m valueMatcher) key(s string) string {
	if m.exact {
		return s
	}
	return directory.Fold(s)
}

func (m valueMatcher) matches(e any) bool {
	eo, _ := e.(object)
	if have, ok := eo["value"].(string); ok && m.keys[m.key(have)] {
		return true
	}
	return containsValue(m.whole, e)
}

// primaries returns the values of list whose primary is true.
func primaries(list []any) []object {
	var out []object
	for _, e := range list {
		if o, ok := e.(object); ok && o["primary"] == true {
			out = append(out, o)
		}
	}
	return out
}

// onePrimary implements RFC 7644 section 3.5.2: an operation that makes
// a value primary makes the value that was primary before it not primary.
// Two new primaries stay, and validation refuses them.
func onePrimary(list []any, before []object) {
	now := primaries(list)
	if len(now) < 2 {
		return
	}
	for _, o := range now {
		for _, b := range before {
			if sameObject(o, b) {
				delete(o, "primary")
			}
		}
	}
}

func sameObject(a, b object) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// memberDelta returns the members a PATCH of a group adds and removes
// when it consists only of adds of members, removes of given members and
// removes by `members[value eq "id"]`, with no ID both added and removed
// (so that the order of the operations does not matter) and at most
// directory.MaxPatchMembers IDs: such a PATCH runs as one
// PatchGroupMembers call, which does not read the group's members. ok is
// false for any other PATCH, which runs through UpdateGroup.
func memberDelta(ops []patchOp) (add, remove []string, ok bool, err error) {
	adding, removing := map[string]bool{}, map[string]bool{}
	for _, op := range ops {
		t := op.t
		if t.idCheck || len(t.chain) != 1 || t.chain[0].name != "members" {
			return nil, nil, false, nil
		}
		switch {
		case op.op == opAdd && t.fi < 0:
			list, _ := op.value.([]any)
			for _, e := range list {
				id, err := memberID(e)
				if err != nil {
					return nil, nil, false, err
				}
				adding[id] = true
			}
		case op.op == opRemove && t.fi < 0 && op.hasValue && op.value != nil:
			list, _ := op.value.([]any)
			for _, e := range list {
				id, _ := e.(object)["value"].(string)
				if id == "" {
					return nil, nil, false, nil
				}
				removing[id] = true
			}
		case op.op == opRemove && t.fi == 0:
			c, isCompare := t.filter.(filter.Compare)
			id, isString := c.Value.(string)
			if !isCompare || c.Op != "eq" || !strings.EqualFold(c.Path.Name, "value") || c.Path.URN != "" || c.Path.Sub != "" || !isString {
				return nil, nil, false, nil
			}
			removing[id] = true
		default:
			return nil, nil, false, nil
		}
	}
	if len(adding)+len(removing) > directory.MaxPatchMembers {
		return nil, nil, false, nil
	}
	for id := range adding {
		if removing[id] {
			return nil, nil, false, nil
		}
		add = append(add, id)
	}
	for id := range removing {
		remove = append(remove, id)
	}
	return add, remove, true, nil
}
