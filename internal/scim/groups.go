package scim

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// newGroups returns the /Groups endpoint of s. Audit events of groups
// have no subject: the group's id is in their details.
func newGroups(s *Server) *endpoint[directory.Group] {
	return &endpoint[directory.Group]{
		s: s, rt: groupType,
		ident:  func(g directory.Group) (string, int64) { return g.ID, g.Version },
		render: s.renderGroup,
		get:    s.store.Group,
		list:   listGroups(s.store),
		create: s.store.CreateGroup,
		update: s.store.UpdateGroup,
		delete: s.store.DeleteGroup,
		fromDoc: func(doc object) (directory.Group, error) {
			return groupFromDoc(doc, directory.Group{})
		},
		replace: func(doc object, id string) (func(*directory.Group) error, error) {
			next, err := groupFromDoc(doc, directory.Group{ID: id})
			if err != nil {
				return nil, err
			}
			return func(g *directory.Group) error {
				*g = next
				return nil
			}, nil
		},
		patch: patchGroup,
		fastPatch: func(id string, ops []patchOp) (changeFunc[directory.Group], bool, error) {
			return patchMembers(s.store, id, ops)
		},
		clone: func(g directory.Group) directory.Group {
			g.Members = slices.Clone(g.Members)
			return g
		},
		events: events{created: EventGroupCreated, replaced: EventGroupReplaced, patched: EventGroupPatched, deleted: EventGroupDeleted},
		createdDetails: func(g directory.Group) map[string]string {
			details := groupDetails(g)
			details["members_added"] = strconv.Itoa(len(g.Members))
			return details
		},
		updatedDetails: updatedGroupDetails,
		deletedKey:     "group_id",
	}
}

// listGroups lists groups; members are not read when the projection
// leaves them out (excludedAttributes=members, as Okta and Microsoft
// Entra ID ask).
func listGroups(store directory.Store) func(context.Context, directory.Query, projection) (directory.Page[directory.Group], error) {
	return func(ctx context.Context, q directory.Query, proj projection) (directory.Page[directory.Group], error) {
		q.WithoutMembers = !proj.wants("members")
		return store.ListGroups(ctx, q)
	}
}

// patchMembers serves a PATCH of group id that only adds and removes members with
// PatchGroupMembers, which does not read the group's members; ok is
// false for any other PATCH.
func patchMembers(store directory.Store, id string, ops []patchOp) (changeFunc[directory.Group], bool, error) {
	add, remove, fast, err := memberDelta(ops)
	if err != nil || !fast {
		return nil, false, err
	}
	return func(ctx context.Context, ifVersion int64, now time.Time) (directory.Group, map[string]string, error) {
		slices.Sort(add)
		slices.Sort(remove)
		g, err := store.PatchGroupMembers(ctx, id, add, remove, ifVersion, now)
		if err != nil {
			return g, nil, err
		}
		details := groupDetails(g)
		details["members_add_requested"] = strconv.Itoa(len(add))
		details["members_remove_requested"] = strconv.Itoa(len(remove))
		return g, details, nil
	}, true, nil
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

// updatedGroupDetails are the audit details of a change from before to g.
func updatedGroupDetails(before, g directory.Group) map[string]string {
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
	return details
}

func groupDetails(g directory.Group) map[string]string {
	return map[string]string{
		"group_id": g.ID, "display_name": g.DisplayName, "version": strconv.FormatInt(g.Version, 10),
		"members": strconv.Itoa(len(g.Members)),
	}
}
