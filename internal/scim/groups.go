package scim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

func (s *Server) groupsCollection(w http.ResponseWriter, r *http.Request, now time.Time) {
	if r.Method == http.MethodPost {
		s.createGroup(w, r, now)
		return
	}
	lr, err := s.parseListQuery(groupType, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listGroups(w, r, lr)
}

func (s *Server) searchGroups(w http.ResponseWriter, r *http.Request, _ time.Time) {
	lr, err := s.parseSearch(groupType, w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listGroups(w, r, lr)
}

// listGroups lists groups; members are not read when the projection
// leaves them out (excludedAttributes=members, as Okta and Microsoft
// Entra ID ask).
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, lr listRequest) {
	q, err := lr.query()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q.WithoutMembers = !lr.proj.wants("members")
	page, err := s.store.ListGroups(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []any
	for _, g := range page.Items {
		out = append(out, lr.proj.apply(s.renderGroup(g)))
	}
	s.write(w, r, http.StatusOK, listResponse(page.Total, lr.startIndex, out))
}

// group serves /Groups/{id}.
func (s *Server) group(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	proj, err := parseProjection(groupType, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !directory.ValidID(id) {
		s.fail(w, r, errNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		g, err := s.store.Group(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if notModified(r, g.Version) {
			w.Header().Set("ETag", etag(g.Version))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.writeGroup(w, r, http.StatusOK, g, proj)
	case http.MethodPut:
		s.replaceGroup(w, r, id, proj, now)
	case http.MethodPatch:
		s.patchGroup(w, r, id, proj, now)
	case http.MethodDelete:
		s.deleteGroup(w, r, id, now)
	}
}

func (s *Server) writeGroup(w http.ResponseWriter, r *http.Request, status int, g directory.Group, proj projection) {
	w.Header().Set("ETag", etag(g.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", s.location("Groups", g.ID))
	}
	s.write(w, r, status, proj.apply(s.renderGroup(g)))
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, now time.Time) {
	proj, err := parseProjection(groupType, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := canonResource(groupType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g, err := groupFromDoc(doc, directory.Group{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	g, err = s.store.CreateGroup(r.Context(), g, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := groupDetails(g)
	details["members_added"] = strconv.Itoa(len(g.Members))
	if err := s.record(r.Context(), EventGroupCreated, "", now, details); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeGroup(w, r, http.StatusCreated, g, proj)
}

func (s *Server) currentGroupVersion(r *http.Request, id string) func() (int64, error) {
	return func() (int64, error) {
		g, err := s.store.Group(r.Context(), id)
		return g.Version, err
	}
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := canonResource(groupType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	next, err := groupFromDoc(doc, directory.Group{ID: id})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.updateGroup(w, r, id, proj, now, EventGroupReplaced, func(g *directory.Group) error {
		*g = next
		return nil
	})
}

func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ops, err := parsePatch(groupType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	add, remove, fast, err := memberDelta(ops)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !fast {
		s.updateGroup(w, r, id, proj, now, EventGroupPatched, func(g *directory.Group) error {
			return patchGroup(g, ops)
		})
		return
	}
	ifVersion, err := ifMatch(r, s.currentGroupVersion(r, id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	slices.Sort(add)
	slices.Sort(remove)
	g, err := s.store.PatchGroupMembers(r.Context(), id, add, remove, ifVersion, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := groupDetails(g)
	details["members_add_requested"] = strconv.Itoa(len(add))
	details["members_remove_requested"] = strconv.Itoa(len(remove))
	if err := s.record(r.Context(), EventGroupPatched, "", now, details); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeGroup(w, r, http.StatusOK, g, proj)
}

// patchGroup applies ops to a copy of g's doc and, when all succeed,
// sets *g to the result.
func patchGroup(g *directory.Group, ops []patchOp) error {
	doc := groupDoc(*g)
	pt := patcher{id: g.ID}
	for _, op := range ops {
		if err := pt.apply(doc, op); err != nil {
			return err
		}
	}
	next, err := groupFromDoc(doc, *g)
	if err != nil {
		return err
	}
	*g = next
	return nil
}

// updateGroup runs edit inside UpdateGroup (edit may run more than once
// and must not call the store), then audits and answers.
func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time,
	event string, edit func(*directory.Group) error) {
	ifVersion, err := ifMatch(r, s.currentGroupVersion(r, id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var before directory.Group
	g, err := s.store.UpdateGroup(r.Context(), id, ifVersion, func(g *directory.Group) error {
		before = *g
		before.Members = slices.Clone(g.Members)
		return edit(g)
	}, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := groupDetails(g)
	added, removed := directory.MemberDiff(before.Members, g.Members)
	details["members_added"] = strconv.Itoa(len(added))
	details["members_removed"] = strconv.Itoa(len(removed))
	var changed []string
	if before.DisplayName != g.DisplayName {
		changed = append(changed, "displayName")
	}
	if before.ExternalID != g.ExternalID {
		changed = append(changed, "externalId")
	}
	if len(added)+len(removed) > 0 {
		changed = append(changed, "members")
	}
	details["attributes"] = strings.Join(changed, ",")
	if err := s.record(r.Context(), event, "", now, details); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeGroup(w, r, http.StatusOK, g, proj)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	ctx := r.Context()
	if r.Header.Get("If-Match") != "" {
		// DeleteGroup takes no version: the check is a read before the
		// delete (a change between the two is not detected).
		g, err := s.store.Group(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		want, err := ifMatch(r, func() (int64, error) { return g.Version, nil })
		if err == nil {
			err = directory.CheckVersion(want, g.Version)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.store.DeleteGroup(ctx, id, now); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(ctx, EventGroupDeleted, "", now, map[string]string{"group_id": id}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func groupDetails(g directory.Group) map[string]string {
	return map[string]string{
		"group_id": g.ID, "display_name": g.DisplayName, "version": strconv.FormatInt(g.Version, 10),
		"members": strconv.Itoa(len(g.Members)),
	}
}
