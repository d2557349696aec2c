package access

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns; callers branch on them with errors.Is. Any other
// error means the store is unavailable.
var (
	// ErrNotFound: no such account, permission set or assignment.
	ErrNotFound = errors.New("access: not found")
	// ErrConflict: the ID or name is taken, or the expected version no
	// longer matches.
	ErrConflict = errors.New("access: conflict")
	// ErrInUse: a permission set or account still has assignments.
	ErrInUse = errors.New("access: still assigned")
	// ErrInvalid wraps a validation failure; the message names the field.
	ErrInvalid = errors.New("access: invalid")
)

// Account is a target account (an AWS account).
type Account struct {
	// ID is the 12-digit AWS account ID.
	ID    string
	Name  string
	Email string
	// OU is the organizational unit path, "/" or "/a/b" (no trailing
	// slash); an OU contains every account whose path starts with it.
	OU string
	// AssumeRoleARN is the role Gatehouse assumes from its management
	// credentials to provision this account.
	AssumeRoleARN string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CustomerPolicyRef names a customer managed policy that must exist in
// each target account.
type CustomerPolicyRef struct {
	Name string
	Path string // default "/"
}

// Boundary is a permissions boundary: an AWS managed policy ARN or a
// customer managed policy reference (exactly one).
type Boundary struct {
	ManagedPolicyARN string
	CustomerPolicy   *CustomerPolicyRef
}

// PermissionSet is a job function: the template of the role created in
// each account it is assigned in.
type PermissionSet struct {
	// Name is 1 to 32 characters of [A-Za-z0-9+=,.@_-]; it is the key.
	Name        string
	Description string
	// SessionDuration is 1h to 12h.
	SessionDuration time.Duration
	// RelayState is where the console lands (an https URL), or empty.
	RelayState       string
	ManagedPolicies  []string
	CustomerPolicies []CustomerPolicyRef
	// InlinePolicy is an IAM policy document (JSON), or empty.
	InlinePolicy string
	Boundary     *Boundary
	Tags         map[string]string
	// Version increases with every change; a change marks the accounts
	// it is provisioned to as out of date.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PrincipalType says whether an assignment names a user or a group.
type PrincipalType string

// TargetType says whether an assignment names an account or an OU.
type TargetType string

// Principal and target types.
const (
	PrincipalUser  PrincipalType = "USER"
	PrincipalGroup PrincipalType = "GROUP"
	TargetAccount  TargetType    = "AWS_ACCOUNT"
	TargetOU       TargetType    = "OU"
)

// Status is the state of an asynchronous request or a provisioning.
type Status string

// Statuses.
const (
	StatusInProgress Status = "IN_PROGRESS"
	StatusSucceeded  Status = "SUCCEEDED"
	StatusFailed     Status = "FAILED"
)

// Assignment grants a permission set to a principal on an account or on
// every account of an OU (its descendants included). (PrincipalType,
// PrincipalID, PermissionSet, TargetType, TargetID) is unique: creating it
// again returns the existing one.
type Assignment struct {
	ID            string
	PrincipalType PrincipalType
	PrincipalID   string
	PermissionSet string
	TargetType    TargetType
	// TargetID is an account ID or an OU path.
	TargetID string
	// Status and Reason report the last provisioning request for it.
	Status    Status
	Reason    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Provisioning is the state of one permission set in one account: which
// version the role there reflects.
type Provisioning struct {
	AccountID     string
	PermissionSet string
	// Version is the permission set version last provisioned (0: never).
	Version int64
	// RoleName is the role created, AWSReservedSSO_<name>_<16 hex>.
	RoleName  string
	Status    Status
	Reason    string
	UpdatedAt time.Time
}

// Entitlement is one (account, permission set) a user may use, with how
// it was granted.
type Entitlement struct {
	AccountID     string
	PermissionSet string
	// Via lists the assignment IDs that grant it.
	Via []string
}

// Store keeps accounts, permission sets, assignments and provisioning
// state. Every method is atomic; returned values are the caller's copies.
type Store interface {
	PutAccount(ctx context.Context, a Account, now time.Time) (Account, error)
	Account(ctx context.Context, id string) (Account, error)
	// ListAccounts returns the accounts in the OU and its descendants
	// ("" or "/": all), ordered by ID.
	ListAccounts(ctx context.Context, ou string) ([]Account, error)
	// DeleteAccount deletes an account with no assignment targeting it
	// directly (ErrInUse otherwise) and its provisioning records.
	DeleteAccount(ctx context.Context, id string) error

	// CreatePermissionSet stores ps at Version 1; a taken name is
	// ErrConflict.
	CreatePermissionSet(ctx context.Context, ps PermissionSet, now time.Time) (PermissionSet, error)
	PermissionSet(ctx context.Context, name string) (PermissionSet, error)
	ListPermissionSets(ctx context.Context) ([]PermissionSet, error)
	// UpdatePermissionSet replaces the permission set when its Version
	// is ifVersion (ErrConflict otherwise) and increments it.
	UpdatePermissionSet(ctx context.Context, ps PermissionSet, ifVersion int64, now time.Time) (PermissionSet, error)
	// DeletePermissionSet deletes a permission set with no assignment
	// (ErrInUse otherwise).
	DeletePermissionSet(ctx context.Context, name string) error

	// CreateAssignment stores a (with a new ID and StatusInProgress) and
	// returns it, or returns the existing assignment with the same
	// principal, permission set and target (created false). An unknown
	// permission set or account is ErrNotFound.
	CreateAssignment(ctx context.Context, a Assignment, now time.Time) (_ Assignment, created bool, _ error)
	Assignment(ctx context.Context, id string) (Assignment, error)
	SetAssignmentStatus(ctx context.Context, id string, status Status, reason string, now time.Time) error
	DeleteAssignment(ctx context.Context, id string) error
	// AssignmentsForTarget lists the assignments on an account (direct)
	// or OU, ordered by ID.
	AssignmentsForTarget(ctx context.Context, t TargetType, id string) ([]Assignment, error)
	// AssignmentsForPrincipals lists the assignments of any of the
	// principals, ordered by ID; the query uses an index on the
	// principal, so its cost does not grow with the total count.
	AssignmentsForPrincipals(ctx context.Context, userID string, groupIDs []string) ([]Assignment, error)
	// AssignmentsForPermissionSet lists a permission set's assignments.
	AssignmentsForPermissionSet(ctx context.Context, name string) ([]Assignment, error)

	PutProvisioning(ctx context.Context, p Provisioning) error
	Provisioning(ctx context.Context, accountID, permissionSet string) (Provisioning, error)
	// ProvisioningsForPermissionSet lists where a permission set is
	// provisioned.
	ProvisioningsForPermissionSet(ctx context.Context, name string) ([]Provisioning, error)
	DeleteProvisioning(ctx context.Context, accountID, permissionSet string) error
}
