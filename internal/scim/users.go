package scim

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// newUsers returns the /Users endpoint of s.
func newUsers(s *Server) *endpoint[directory.User] {
	return &endpoint[directory.User]{
		s: s, rt: userType,
		ident:  func(u directory.User) (string, int64) { return u.ID, u.Version },
		render: s.renderUser,
		get:    s.store.DirectoryUser,
		list: func(ctx context.Context, q directory.Query, _ projection) (directory.Page[directory.User], error) {
			return s.store.ListDirectoryUsers(ctx, q)
		},
		create: s.store.CreateDirectoryUser,
		update: s.store.UpdateDirectoryUser,
		delete: s.store.DeleteDirectoryUser,
		fromDoc: func(doc object) (directory.User, error) {
			return userFromDoc(doc, directory.User{Active: true}), nil
		},
		replace: func(doc object, _ string) (func(*directory.User) error, error) {
			return func(u *directory.User) error {
				*u = userFromDoc(doc, *u)
				return nil
			}, nil
		},
		patch: patchUser,
		clone: func(u directory.User) directory.User {
			u.Emails = slices.Clone(u.Emails)
			u.Attributes = maps.Clone(u.Attributes)
			return u
		},
		events: events{created: EventUserCreated, replaced: EventUserReplaced, patched: EventUserPatched, deleted: EventUserDeleted},
		createdDetails: func(u directory.User) map[string]string {
			details := userDetails(u)
			details["attributes"] = strings.Join(changedUserAttributes(directory.User{}, u), ",")
			return details
		},
		updatedDetails: updatedUserDetails,
		deletedKey:     "id",
		idIsSubject:    true,
	}
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

func userDetails(u directory.User) map[string]string {
	return map[string]string{
		"id": u.ID, "user_name": u.UserName, "version": strconv.FormatInt(u.Version, 10),
		"active": strconv.FormatBool(u.Active),
	}
}

// updatedUserDetails are the audit details of a change from before to u.
func updatedUserDetails(before, u directory.User) map[string]string {
	details := userDetails(u)
	details["attributes"] = strings.Join(changedUserAttributes(before, u), ",")
	switch {
	case before.Active && !u.Active:
		details["deactivated"] = "true"
	case !before.Active && u.Active:
		details["reactivated"] = "true"
	}
	return details
}

// scimFieldNames are the SCIM names of the directory's user fields.
var scimFieldNames = map[directory.UserField]string{
	directory.FieldUserName:    "userName",
	directory.FieldExternalID:  "externalId",
	directory.FieldGivenName:   "name.givenName",
	directory.FieldFamilyName:  "name.familyName",
	directory.FieldDisplayName: "displayName",
	directory.FieldEmails:      "emails",
	directory.FieldActive:      "active",
}

// changedUserAttributes names the attributes that differ between two
// users, sorted: SCIM names for fields, the custom attribute's name for
// custom attributes. Never values.
func changedUserAttributes(a, b directory.User) []string {
	fields, attrs := directory.ChangedFields(a, b)
	out := make([]string, 0, len(fields)+len(attrs))
	for _, f := range fields {
		out = append(out, scimFieldNames[f])
	}
	out = append(out, attrs...)
	slices.Sort(out)
	return out
}
