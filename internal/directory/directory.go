package directory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
)

// Errors that Store implementations return, wrapped. Callers branch on
// them with errors.Is; any other error means the store is unavailable and
// the caller fails closed.
var (
	// ErrNotFound: no user or group has that ID.
	ErrNotFound = errors.New("directory: not found")
	// ErrConflict: a uniqueness rule was violated: a userName or a group
	// displayName equal, ignoring case (see Fold), to another one's, or
	// an ID already taken. externalId is not unique.
	ErrConflict = errors.New("directory: conflict")
	// ErrPreconditionFailed: the caller's ifVersion is not the stored
	// version (an If-Match that no longer matches).
	ErrPreconditionFailed = errors.New("directory: version mismatch")
	// ErrInvalid: the input is not acceptable (a value too long, a
	// member that is not a user, a second primary e-mail address, ...).
	// The error is a *ValidationError naming the attribute.
	ErrInvalid = errors.New("directory: invalid")
	// ErrInvalidFilter wraps ErrInvalid: the filter names an attribute or
	// uses an operator or value this package does not support (a SCIM
	// server answers 400 invalidFilter).
	ErrInvalidFilter = fmt.Errorf("%w filter", ErrInvalid)
)

// ValidationError says which attribute made an input invalid and why.
// Reason never quotes more than a short prefix of a value. It wraps
// ErrInvalidFilter when the filter is at fault, else ErrInvalid.
type ValidationError struct {
	// Attribute is the SCIM name of the attribute at fault ("userName",
	// "emails", "members", "filter", ...).
	Attribute string
	// Reason says what is wrong, for logs and SCIM error details.
	Reason string

	filter bool
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Unwrap(), e.Attribute, e.Reason)
}

// Unwrap returns ErrInvalidFilter or ErrInvalid.
func (e *ValidationError) Unwrap() error {
	if e.filter {
		return ErrInvalidFilter
	}
	return ErrInvalid
}

func invalid(attr, format string, args ...any) error {
	return &ValidationError{Attribute: attr, Reason: fmt.Sprintf(format, args...)}
}

func invalidFilter(format string, args ...any) error {
	return &ValidationError{Attribute: "filter", Reason: fmt.Sprintf(format, args...), filter: true}
}

// Limits every backend enforces (see ValidateUser, ValidateGroup and
// Query.Window). They bound the size of one resource and the work of one
// call.
const (
	// MaxIDLength bounds user and group IDs (bytes).
	MaxIDLength = 128
	// MaxNameLength bounds userName, externalId, displayName,
	// name.givenName, name.familyName and group displayName (bytes).
	MaxNameLength = 1024
	// MaxEmails bounds the e-mail addresses of one user.
	MaxEmails = 10
	// MaxEmailLength bounds an e-mail address (bytes).
	MaxEmailLength = 320
	// MaxEmailTypeLength bounds an e-mail type such as "work" (bytes).
	MaxEmailTypeLength = 64
	// MaxAttributes bounds the custom attributes of one user.
	MaxAttributes = 50
	// MaxAttributeKeyLength bounds a custom attribute's name (bytes).
	MaxAttributeKeyLength = 128
	// MaxAttributeValueLength bounds a custom attribute's value (bytes).
	MaxAttributeValueLength = 1024
	// MaxGroupMembers bounds the members a group may be given by
	// CreateGroup, ReplaceGroup, UpdateGroup and PatchGroupMembers.
	// Sign-in (the sp.UserDirectory methods) may add members beyond it.
	MaxGroupMembers = 100_000
	// MaxPatchMembers bounds the IDs of one PatchGroupMembers call (add
	// and remove together).
	MaxPatchMembers = 1000
	// MaxListCount bounds the items of one page; Query.Window cuts a
	// larger Count down to it.
	MaxListCount = 1000
)

// User is an identity store user: the SCIM 2.0 User resource (RFC 7643
// section 4.1) as Gatehouse keeps it. It is the same user the SAML
// sign-in sees as an sp.User (see SPUser).
type User struct {
	// ID is assigned by the store (random 128-bit hex) when empty at
	// creation; it never changes.
	ID string
	// UserName is required and unique ignoring case (see Fold).
	UserName string
	// ExternalID is the provisioning client's identifier; not unique.
	ExternalID string
	// GivenName and FamilyName are name.givenName and name.familyName.
	GivenName  string
	FamilyName string
	// DisplayName is the name shown to people.
	DisplayName string
	// Email is derived, never stored on its own: the value of the primary
	// entry of Emails, or of the first when none is primary, or "". On
	// creation and replacement an Email with empty Emails becomes Emails
	// = [{Email, primary}]; with non-empty Emails it is ignored (see
	// NormalizeUser). An UpdateDirectoryUser function edits Emails (or
	// calls SetPrimaryEmail); see ApplyUserUpdate.
	Email string
	// Emails are the user's addresses in the order given; at most one is
	// Primary.
	Emails []Email
	// Active is false for a deactivated user, who cannot sign in.
	Active bool
	// Attributes are custom attributes for attribute-based access
	// control; nil when there are none.
	Attributes map[string]string
	// Groups is read-only: the groups the user is a member of, filled by
	// reads, sorted by DisplayName then ID, nil when there are none.
	// Writes ignore it; memberships change through the group methods
	// (and through sign-in, which asserts groups).
	Groups []GroupRef
	// Version is the resource version (the SCIM meta.version ETag): 1 at
	// creation, incremented by every change of the user, its e-mail
	// addresses, attributes or group memberships, and by nothing else.
	Version int64
	// CreatedAt and UpdatedAt are meta.created and meta.lastModified, in
	// UTC, at microsecond precision.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Email is one of a user's e-mail addresses.
type Email struct {
	Value   string
	Type    string
	Primary bool
}

// GroupRef names a group a user is a member of.
type GroupRef struct {
	ID          string
	DisplayName string
}

// Group is a SCIM 2.0 Group resource (RFC 7643 section 4.2) whose
// members are users.
type Group struct {
	// ID is assigned by the store (random 128-bit hex) when empty at
	// creation; it never changes.
	ID string
	// DisplayName is required and unique ignoring case (see Fold). Sign-in
	// names groups by it.
	DisplayName string
	// ExternalID is the provisioning client's identifier; not unique.
	ExternalID string
	// Members are user IDs, sorted and distinct; nil when there are none
	// (and in list results when Query.WithoutMembers is set).
	Members []string
	// Version is the resource version: 1 at creation, incremented by
	// every change of the group or of its members.
	Version int64
	// CreatedAt and UpdatedAt are meta.created and meta.lastModified, in
	// UTC, at microsecond precision.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Query selects a page of users or groups.
type Query struct {
	// Filter selects the resources; nil selects all. See
	// CompileUserFilter and CompileGroupFilter for what is supported.
	Filter filter.Expr
	// StartIndex is the 1-based index of the first item (RFC 7644
	// section 3.4.2.4); values below 1 mean 1.
	StartIndex int
	// Count is the most items to return; 0 (or negative) returns only the
	// total, and values above MaxListCount mean MaxListCount.
	Count int
	// WithoutMembers, for ListGroups, leaves Group.Members nil (SCIM
	// excludedAttributes=members), which saves reading them.
	WithoutMembers bool
}

// Window returns the number of items to skip and the most to return, as
// every backend applies them: items are ordered by CreatedAt, then ID
// (byte order).
func (q Query) Window() (offset, limit int) {
	offset = max(q.StartIndex, 1) - 1
	limit = min(max(q.Count, 0), MaxListCount)
	return offset, limit
}

// Page is one page of a list.
type Page[T any] struct {
	// Total is the number of resources the filter selects (SCIM
	// totalResults), whatever the window.
	Total int
	// Items are the resources in the window, in order; nil when empty.
	Items []T
}

// Store is the identity store as the SCIM server and the admin API use
// it. memory.Store and sqlstore.Store implement it (and internal/store's
// Store includes it); internal/store/storetest is its conformance suite.
//
// Every method is atomic: it changes everything it says or, when it
// returns an error, nothing at all. Inputs are normalized and validated
// (NormalizeUser, ValidateUser, NormalizeGroup, ValidateGroup) before
// anything is written; invalid input returns a *ValidationError wrapping
// ErrInvalid. Every write that changes a resource sets its Version to the
// previous one plus one and its UpdatedAt to now; a write that changes
// nothing changes neither. A membership change is a change of the group
// and of each user who joins or leaves it. ifVersion 0 means "any
// version"; any other value that is not the stored version returns
// ErrPreconditionFailed and changes nothing.
//
// The user methods are named Directory... so that they do not clash with
// the sp.UserDirectory methods the same stores implement.
type Store interface {
	// CreateDirectoryUser adds u (its Version, times and Groups are
	// ignored; an empty ID gets a random one) and returns it as stored.
	// A userName equal to another one's ignoring case, or a taken ID,
	// returns ErrConflict.
	CreateDirectoryUser(ctx context.Context, u User, now time.Time) (User, error)
	// DirectoryUser returns the user, or ErrNotFound.
	DirectoryUser(ctx context.Context, id string) (User, error)
	// ReplaceDirectoryUser replaces every writable field of the user
	// u.ID with u's (Groups, Version and times are ignored) and returns
	// the result. When Active goes from true to false, the same
	// transaction deletes the user's sessions and revokes their refresh
	// tokens.
	ReplaceDirectoryUser(ctx context.Context, u User, ifVersion int64, now time.Time) (User, error)
	// UpdateDirectoryUser reads the user, calls fn with a copy, and
	// writes what fn left, as ReplaceDirectoryUser does, all in one
	// transaction (the user's row is locked meanwhile, so concurrent
	// updates run one after the other and none is lost). fn returning an
	// error aborts the update with nothing changed and that error,
	// wrapped. fn may change any writable field; changing ID is an
	// error; changes to Groups, Version and the times are ignored. fn
	// must not call the store and may be called more than once (when
	// the database asks for a retry); only its last call counts.
	UpdateDirectoryUser(ctx context.Context, id string, ifVersion int64, fn func(*User) error, now time.Time) (User, error)
	// DeleteDirectoryUser deletes the user, its group memberships (a
	// change of each group), its linked upstream identities and its
	// sessions, and revokes its refresh tokens, in one transaction. A
	// non-zero ifVersion other than the user's version is
	// ErrPreconditionFailed, and nothing is deleted.
	DeleteDirectoryUser(ctx context.Context, id string, ifVersion int64, now time.Time) error
	// ListDirectoryUsers returns the users q selects.
	ListDirectoryUsers(ctx context.Context, q Query) (Page[User], error)

	// CreateGroup adds g (its Version and times are ignored; an empty ID
	// gets a random one) and returns it as stored. A displayName equal to
	// another group's ignoring case, or a taken ID, returns ErrConflict;
	// a member that is not a user returns ErrInvalid.
	CreateGroup(ctx context.Context, g Group, now time.Time) (Group, error)
	// Group returns the group, or ErrNotFound.
	Group(ctx context.Context, id string) (Group, error)
	// ReplaceGroup replaces the displayName, externalId and members of
	// the group g.ID and returns the result. A member that is not a user
	// returns ErrInvalid.
	ReplaceGroup(ctx context.Context, g Group, ifVersion int64, now time.Time) (Group, error)
	// UpdateGroup is UpdateDirectoryUser for groups: fn gets a copy of
	// the group, members included, and what it leaves is written as
	// ReplaceGroup writes, in one transaction.
	UpdateGroup(ctx context.Context, id string, ifVersion int64, fn func(*Group) error, now time.Time) (Group, error)
	// DeleteGroup deletes the group and its memberships (a change of each
	// member); ifVersion as for DeleteDirectoryUser.
	DeleteGroup(ctx context.Context, id string, ifVersion int64, now time.Time) error
	// ListGroups returns the groups q selects.
	ListGroups(ctx context.Context, q Query) (Page[Group], error)
	// PatchGroupMembers removes the users in remove from the group, then
	// adds those in add, in one transaction, and returns the group. At
	// most MaxPatchMembers IDs in all; an ID in add that is not a user
	// returns ErrInvalid and changes nothing; removing a non-member or
	// adding a member is a no-op; a group left unchanged keeps its
	// version.
	PatchGroupMembers(ctx context.Context, groupID string, add, remove []string, ifVersion int64, now time.Time) (Group, error)
}
