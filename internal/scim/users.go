package scim

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

func (s *Server) usersCollection(w http.ResponseWriter, r *http.Request, now time.Time) {
	if r.Method == http.MethodPost {
		s.createUser(w, r, now)
		return
	}
	lr, err := s.parseListQuery(userType, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listUsers(w, r, lr)
}

func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request, _ time.Time) {
	lr, err := s.parseSearch(userType, w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listUsers(w, r, lr)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, lr listRequest) {
	q, err := lr.query()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListDirectoryUsers(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []any
	for _, u := range page.Items {
		out = append(out, lr.proj.apply(s.renderUser(u)))
	}
	s.write(w, r, http.StatusOK, listResponse(page.Total, lr.startIndex, out))
}

// user serves /Users/{id}.
func (s *Server) user(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	proj, err := parseProjection(userType, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
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
		u, err := s.store.DirectoryUser(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if notModified(r, u.Version) {
			w.Header().Set("ETag", etag(u.Version))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.writeUser(w, r, http.StatusOK, u, proj)
	case http.MethodPut:
		s.replaceUser(w, r, id, proj, now)
	case http.MethodPatch:
		s.patchUser(w, r, id, proj, now)
	case http.MethodDelete:
		s.deleteUser(w, r, id, now)
	}
}

func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, status int, u directory.User, proj projection) {
	w.Header().Set("ETag", etag(u.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", s.location("Users", u.ID))
	}
	s.write(w, r, status, proj.apply(s.renderUser(u)))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, now time.Time) {
	proj, err := parseProjection(userType, splitParam(r, "attributes"), splitParam(r, "excludedAttributes"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := canonResource(userType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.store.CreateDirectoryUser(r.Context(), userFromDoc(doc, directory.User{Active: true}), now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := userDetails(u)
	details["attributes"] = strings.Join(changedUserAttributes(directory.User{}, u), ",")
	if err := s.record(r.Context(), EventUserCreated, u.ID, now, details); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeUser(w, r, http.StatusCreated, u, proj)
}

// currentUserVersion reads the user's version, for If-Match lists.
func (s *Server) currentUserVersion(r *http.Request, id string) func() (int64, error) {
	return func() (int64, error) {
		u, err := s.store.DirectoryUser(r.Context(), id)
		return u.Version, err
	}
}

func (s *Server) replaceUser(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := canonResource(userType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.updateUser(w, r, id, proj, now, EventUserReplaced, func(u *directory.User) error {
		*u = userFromDoc(doc, *u)
		return nil
	})
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ops, err := parsePatch(userType, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.updateUser(w, r, id, proj, now, EventUserPatched, func(u *directory.User) error {
		return patchUser(u, ops)
	})
}

// patchUser applies ops to a copy of u's doc and, when all succeed, sets
// *u to the result: the first failing operation fails them all.
func patchUser(u *directory.User, ops []patchOp) error {
	doc := userDoc(*u)
	pt := patcher{id: u.ID}
	for _, op := range ops {
		if err := pt.apply(doc, op); err != nil {
			return err
		}
	}
	*u = userFromDoc(doc, *u)
	return nil
}

// updateUser runs edit inside UpdateDirectoryUser (edit may run more than
// once and must not call the store), then audits and answers.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, id string, proj projection, now time.Time,
	event string, edit func(*directory.User) error) {
	ifVersion, err := ifMatch(r, s.currentUserVersion(r, id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var before directory.User
	u, err := s.store.UpdateDirectoryUser(r.Context(), id, ifVersion, func(u *directory.User) error {
		before = *u
		before.Emails = slices.Clone(u.Emails)
		before.Attributes = maps.Clone(u.Attributes)
		return edit(u)
	}, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	details := userDetails(u)
	details["attributes"] = strings.Join(changedUserAttributes(before, u), ",")
	switch {
	case before.Active && !u.Active:
		details["deactivated"] = "true"
	case !before.Active && u.Active:
		details["reactivated"] = "true"
	}
	if err := s.record(r.Context(), event, u.ID, now, details); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeUser(w, r, http.StatusOK, u, proj)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	ctx := r.Context()
	if r.Header.Get("If-Match") != "" {
		// DeleteDirectoryUser takes no version: the check is a read
		// before the delete (a change between the two is not detected).
		u, err := s.store.DirectoryUser(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		want, err := ifMatch(r, func() (int64, error) { return u.Version, nil })
		if err == nil {
			err = directory.CheckVersion(want, u.Version)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.store.DeleteDirectoryUser(ctx, id, now); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.record(ctx, EventUserDeleted, id, now, map[string]string{"id": id}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func userDetails(u directory.User) map[string]string {
	return map[string]string{
		"id": u.ID, "user_name": u.UserName, "version": strconv.FormatInt(u.Version, 10),
		"active": strconv.FormatBool(u.Active),
	}
}

// changedUserAttributes names the attributes that differ between two
// users, sorted: SCIM names for fields, the custom attribute's name for
// custom attributes. Never values.
func changedUserAttributes(a, b directory.User) []string {
	var out []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{"userName", a.UserName == b.UserName},
		{"externalId", a.ExternalID == b.ExternalID},
		{"displayName", a.DisplayName == b.DisplayName},
		{"name.givenName", a.GivenName == b.GivenName},
		{"name.familyName", a.FamilyName == b.FamilyName},
		{"active", a.Active == b.Active},
		{"emails", slices.Equal(a.Emails, b.Emails)},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	keys := map[string]bool{}
	for k := range a.Attributes {
		keys[k] = true
	}
	for k := range b.Attributes {
		keys[k] = true
	}
	for k := range keys {
		av, aok := a.Attributes[k]
		bv, bok := b.Attributes[k]
		if av != bv || aok != bok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
