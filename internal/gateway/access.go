package gateway

// Multi-account access (issue 7): the access service, the provisioner,
// the credential vendor, the sync of the config's accounts, permission
// sets and assignments into the store, the provisioning worker and the
// built-in CLI client.
//
// Multi-account access is on when the config has accounts or an aws
// section (aws.region): with only aws.region, accounts and permission sets
// are created through the admin API. Otherwise accessRT is nil and the
// admin endpoints answer 404 not_configured.
//
// Several instances may run the provisioning worker at once on a shared
// store: each works through its own queue, and every job converges the
// account to the permission set as stored (provision.Provisioner is
// idempotent), so two instances provisioning the same (account,
// permission set) reach the same role; the last one to finish writes the
// provisioning record, with the version it read.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// The built-in OAuth client of the `gatehouse` CLI's device flow,
// registered when multi-account access is on.
const (
	CLIClientID = "gatehouse-cli"
	CLIScope    = "credentials"
	// cliAudiencePath is the CLI's audience under external_url.
	cliAudiencePath = "/api"
	// roleNameSecret names the keys.dir secret that keys role names.
	roleNameSecret = "aws-role-names"
	// defaultAssumeRole is the role assumed in an account of the config
	// without assume_role_arn: the one AWS Organizations creates.
	defaultAssumeRole = "OrganizationAccountAccessRole"
	// accountEmailDomain completes the placeholder e-mail of a config
	// account (the config has no e-mail for accounts).
	accountEmailDomain = "accounts.gatehouse.invalid"
)

// Provisioning retry bounds: a failed job runs again after 1s, 2s, 4s, ...
// up to 5 minutes, until it succeeds.
const (
	provisionMinBackoff = time.Second
	provisionMaxBackoff = 5 * time.Minute
)

// accessEnabled reports whether multi-account access is configured.
func accessEnabled(cfg *config.Config) bool {
	return len(cfg.Accounts) > 0 || cfg.AWS.Region != ""
}

// CLIAudience is the audience of the CLI's access tokens.
func CLIAudience(externalURLValue string) string {
	return externalURL(externalURLValue, cliAudiencePath)
}

// accessRuntime is the assembled multi-account access.
type accessRuntime struct {
	service     *access.Service
	provisioner *provision.Provisioner
	vendor      *vend.Vendor
	worker      *provisionWorker
	// roleName names a permission set's role in an account.
	roleName func(ps access.PermissionSet, accountID string) string
}

// AccessService returns the access service, nil when multi-account access
// is not configured.
func (g *Gateway) AccessService() *access.Service {
	if g.accessRT == nil {
		return nil
	}
	return g.accessRT.service
}

// Vendor returns the credential vendor, nil when multi-account access is
// not configured.
func (g *Gateway) Vendor() *vend.Vendor {
	if g.accessRT == nil {
		return nil
	}
	return g.accessRT.vendor
}

// storeGroups adapts the identity store to access.GroupResolver.
type storeGroups struct{ users directory.Store }

func (s storeGroups) GroupIDs(ctx context.Context, userID string) ([]string, error) {
	u, err := s.users.DirectoryUser(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil // an unknown user has no groups (and no assignments)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(u.Groups))
	for _, gr := range u.Groups {
		ids = append(ids, gr.ID)
	}
	return ids, nil
}

// idpMetadata is the document served at /saml/idp/metadata (see
// idpMetadataHandler), which the provisioner installs in each account as
// the SAML provider's metadata.
func (g *Gateway) idpMetadata(ctx context.Context) ([]byte, error) {
	certs, err := g.ring.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	return metadata.BuildIdP(metadata.IdPConfig{
		EntityID:            g.idp.EntityID(),
		SigningCertificates: certs,
		SSOURL:              g.idp.SSOURL(),
		SLOURL:              g.idp.SLOURL(),
		NameIDFormats: []string{
			idp.NameIDFormatEmailURI, idp.NameIDFormatPersistentURI,
			idp.NameIDFormatTransientURI, idp.NameIDFormatUnspecifiedURI,
		},
	})
}

// setupAccess builds multi-account access when it is configured, and
// applies the config's accounts, permission sets and assignments to the
// store. It runs after setupIdP (the vendor signs with the IdP).
func (g *Gateway) setupAccess(ctx context.Context, cfg *config.Config) error {
	if !accessEnabled(cfg) {
		return nil
	}
	secret, err := keys.LoadOrCreateSecret(cfg.Keys.Dir, roleNameSecret, 32)
	if err != nil {
		return fmt.Errorf("gateway: keys.dir: %w", err)
	}
	roleName := func(ps access.PermissionSet, accountID string) string {
		return access.RoleName(ps, accountID, secret)
	}
	svc, err := access.New(access.Config{Store: g.store, Groups: storeGroups{users: g.store}, Now: g.now, Logger: g.log})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	prov, err := provision.New(provision.Config{
		Region:      cfg.AWS.Region,
		EndpointURL: cfg.AWS.EndpointURL,
		IdPMetadata: g.idpMetadata,
		RoleNameFor: roleName,
		Now:         g.now,
		Logger:      g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: aws: %w", err)
	}
	stsCfg := aws.Config{Region: cfg.AWS.Region, Credentials: aws.AnonymousCredentials{}}
	if stsCfg.Region == "" {
		stsCfg.Region = "us-east-1"
	}
	if cfg.AWS.EndpointURL != "" {
		stsCfg.BaseEndpoint = aws.String(cfg.AWS.EndpointURL)
	}
	vendor, err := vend.New(vend.Config{
		Entitlements:  svc,
		Catalog:       g.store,
		Users:         g.store,
		IdP:           g.idp,
		STS:           sts.NewFromConfig(stsCfg),
		RoleName:      roleName,
		TagAttributes: slices.Clone(cfg.AWS.SessionTags),
		Now:           g.now,
		Logger:        g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: aws.session_tags: %w", err)
	}
	if err := syncAccessConfig(ctx, cfg, svc, g.store); err != nil {
		return err
	}
	g.accessRT = &accessRuntime{
		service: svc, provisioner: prov, vendor: vendor, roleName: roleName,
		worker: newProvisionWorker(g.store, prov, g.now, g.log),
	}
	return nil
}

// startAccess launches the provisioning worker until ctx ends.
func (g *Gateway) startAccess(ctx context.Context) {
	if g.accessRT != nil {
		go g.accessRT.worker.run(ctx)
	}
}

// --- config sync ---

// syncStore is what the config sync reads besides the service.
type syncStore interface {
	access.Store
	ListDirectoryUsers(ctx context.Context, q directory.Query) (directory.Page[directory.User], error)
	ListGroups(ctx context.Context, q directory.Query) (directory.Page[directory.Group], error)
}

// syncAccessConfig applies the config's accounts, permission sets and
// assignments to the store: each is created, or updated when it differs
// (a permission set keeps what the config cannot express: description,
// tags, boundary, ...). Nothing created through the admin API is
// deleted. Group and user names are resolved to IDs; an unknown one is an
// error naming its config path.
func syncAccessConfig(ctx context.Context, cfg *config.Config, svc *access.Service, st syncStore) error {
	for i, ac := range cfg.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		want := access.Account{ID: ac.ID, Name: ac.Name, OU: ac.OU, AssumeRoleARN: ac.AssumeRoleARN}
		if want.Name == "" {
			want.Name = ac.ID
		}
		if want.OU == "" {
			want.OU = "/"
		}
		if want.AssumeRoleARN == "" {
			want.AssumeRoleARN = "arn:aws:iam::" + ac.ID + ":role/" + defaultAssumeRole
		}
		have, err := st.Account(ctx, ac.ID)
		switch {
		case errors.Is(err, access.ErrNotFound):
			want.Email = "aws-" + ac.ID + "@" + accountEmailDomain
			_, err = svc.CreateAccount(ctx, want)
		case err == nil:
			want.Email = have.Email
			if have.Name != want.Name || have.OU != want.OU || have.AssumeRoleARN != want.AssumeRoleARN {
				_, err = svc.UpdateAccount(ctx, want)
			}
		}
		if err != nil {
			return fmt.Errorf("gateway: %s (%s): %w", path, ac.ID, err)
		}
	}
	for i, pc := range cfg.PermissionSets {
		path := fmt.Sprintf("permission_sets[%d]", i)
		inline := ""
		if pc.InlinePolicyFile != "" {
			b, err := os.ReadFile(pc.InlinePolicyFile)
			if err != nil {
				return fmt.Errorf("gateway: %s.inline_policy_file: %w", path, err)
			}
			inline = strings.TrimSpace(string(b))
		}
		have, err := st.PermissionSet(ctx, pc.Name)
		switch {
		case errors.Is(err, access.ErrNotFound):
			_, err = svc.CreatePermissionSet(ctx, access.PermissionSet{
				Name: pc.Name, SessionDuration: pc.SessionDuration.Std(),
				ManagedPolicies: slices.Clone(pc.ManagedPolicies), InlinePolicy: inline,
			})
		case err == nil:
			want := have
			want.SessionDuration = pc.SessionDuration.Std()
			want.ManagedPolicies = slices.Clone(pc.ManagedPolicies)
			want.InlinePolicy = inline
			if have.SessionDuration != want.SessionDuration || !slices.Equal(have.ManagedPolicies, want.ManagedPolicies) ||
				have.InlinePolicy != want.InlinePolicy {
				_, err = svc.UpdatePermissionSet(ctx, want, have.Version)
			}
		}
		if err != nil {
			return fmt.Errorf("gateway: %s (%s): %w", path, pc.Name, configFieldError(err, path))
		}
	}
	for i, aa := range cfg.AccountAssignments {
		path := fmt.Sprintf("account_assignments[%d]", i)
		type principal struct {
			typ access.PrincipalType
			id  string
		}
		var principals []principal
		for j, name := range aa.Groups {
			id, err := groupIDByName(ctx, st, name)
			if err != nil {
				return fmt.Errorf("gateway: %s.groups[%d]: %w", path, j, err)
			}
			principals = append(principals, principal{access.PrincipalGroup, id})
		}
		for j, name := range aa.Users {
			id, err := userIDByName(ctx, st, name)
			if err != nil {
				return fmt.Errorf("gateway: %s.users[%d]: %w", path, j, err)
			}
			principals = append(principals, principal{access.PrincipalUser, id})
		}
		type target struct {
			typ access.TargetType
			id  string
		}
		var targets []target
		for _, id := range aa.Accounts {
			targets = append(targets, target{access.TargetAccount, id})
		}
		for _, ou := range aa.OUs {
			targets = append(targets, target{access.TargetOU, ou})
		}
		for _, p := range principals {
			for _, t := range targets {
				_, _, err := svc.CreateAssignment(ctx, access.Assignment{
					PrincipalType: p.typ, PrincipalID: p.id, PermissionSet: aa.PermissionSet, TargetType: t.typ, TargetID: t.id,
				})
				if err != nil {
					return fmt.Errorf("gateway: %s (%s on %s): %w", path, aa.PermissionSet, t.id, err)
				}
			}
		}
	}
	return nil
}

// configFieldError keeps err (so errors.Is still works) and points its
// fields at the config: "inline_policy" is the file's content.
func configFieldError(err error, path string) error {
	var v *access.ValidationError
	if !errors.As(err, &v) {
		return err
	}
	fields := v.Fields()
	for i, f := range fields {
		if strings.HasPrefix(f, "inline_policy") {
			fields[i] = path + ".inline_policy_file (" + f + ")"
		} else {
			fields[i] = path + "." + f
		}
	}
	return fmt.Errorf("%w (config: %s)", err, strings.Join(slices.Compact(fields), ", "))
}

// quoteFilter quotes a value for a SCIM filter (a JSON string).
func quoteFilter(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func groupIDByName(ctx context.Context, st syncStore, name string) (string, error) {
	f, err := filter.Parse("displayName eq " + quoteFilter(name))
	if err != nil {
		return "", fmt.Errorf("group %q: %w", name, err)
	}
	page, err := st.ListGroups(ctx, directory.Query{Filter: f, Count: 2, WithoutMembers: true})
	if err != nil {
		return "", fmt.Errorf("group %q: %w", name, err)
	}
	if len(page.Items) == 0 {
		return "", fmt.Errorf("no group has the display name %q in the identity store", name)
	}
	return page.Items[0].ID, nil
}

func userIDByName(ctx context.Context, st syncStore, name string) (string, error) {
	f, err := filter.Parse("userName eq " + quoteFilter(name))
	if err != nil {
		return "", fmt.Errorf("user %q: %w", name, err)
	}
	page, err := st.ListDirectoryUsers(ctx, directory.Query{Filter: f, Count: 2})
	if err != nil {
		return "", fmt.Errorf("user %q: %w", name, err)
	}
	if len(page.Items) == 0 {
		return "", fmt.Errorf("no user has the user_name %q in the identity store", name)
	}
	return page.Items[0].ID, nil
}

// --- the built-in CLI client ---

// cliOAuth returns oauth.clients and oauth.data_services with the
// built-in CLI client and its data service added when multi-account access
// is on: a public client gatehouse-cli (device code and refresh token
// grants, audience {external_url}/api, scope credentials) unless the
// config defines a client with that ID, and the data service
// {external_url}/api with scope credentials unless one with that audience
// is configured.
func cliOAuth(cfg *config.Config) ([]config.OAuthClientConfig, []config.DataServiceConfig) {
	clients, services := cfg.OAuth.Clients, cfg.OAuth.DataServices
	if !accessEnabled(cfg) {
		return clients, services
	}
	aud := CLIAudience(cfg.ExternalURL)
	if !slices.ContainsFunc(clients, func(c config.OAuthClientConfig) bool { return c.ID == CLIClientID }) {
		clients = append(slices.Clone(clients), config.OAuthClientConfig{
			ID:         CLIClientID,
			GrantTypes: []string{config.GrantDeviceCode, config.GrantRefreshToken},
			Audiences:  []string{aud},
			Scopes:     []string{CLIScope},
		})
	}
	if !slices.ContainsFunc(services, func(d config.DataServiceConfig) bool { return d.Audience == aud }) {
		services = append(slices.Clone(services), config.DataServiceConfig{Audience: aud, Scopes: []string{CLIScope}})
	}
	return clients, services
}

// --- the provisioning worker ---

// provisionerAPI is the part of provision.Provisioner the worker calls.
type provisionerAPI interface {
	Provision(ctx context.Context, acct access.Account, ps access.PermissionSet) (access.Provisioning, error)
	Deprovision(ctx context.Context, acct access.Account, ps access.PermissionSet) error
}

// workKey is one job: a permission set in an account.
type workKey struct{ account, ps string }

type workItem struct {
	force   bool // provision even when that version is provisioned already
	attempt int  // failures so far
	due     time.Time
}

// provisionWorker converges (account, permission set) pairs one at a
// time: it provisions the permission set where an assignment needs it
// and deprovisions it where none does any more, records the result and
// the status of the assignments concerned, and retries failures with
// backoff. Jobs for the same pair are merged while queued.
type provisionWorker struct {
	store access.Store
	prov  provisionerAPI
	now   func() time.Time
	log   *slog.Logger

	minBackoff, maxBackoff time.Duration

	mu    sync.Mutex
	queue map[workKey]*workItem
	wake  chan struct{}
}

func newProvisionWorker(st access.Store, prov provisionerAPI, now func() time.Time, log *slog.Logger) *provisionWorker {
	return &provisionWorker{
		store: st, prov: prov, now: now, log: log,
		minBackoff: provisionMinBackoff, maxBackoff: provisionMaxBackoff,
		queue: map[workKey]*workItem{}, wake: make(chan struct{}, 1),
	}
}

func (w *provisionWorker) enqueue(accountID, ps string, force bool) {
	k := workKey{accountID, ps}
	w.mu.Lock()
	if it, ok := w.queue[k]; ok {
		it.force = it.force || force
		it.due = w.now() // a new request runs now, even during a backoff
	} else {
		w.queue[k] = &workItem{force: force, due: w.now()}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Enqueue implements admin.ProvisioningRequester.
func (w *provisionWorker) Enqueue(accountID, permissionSet string) {
	w.enqueue(accountID, permissionSet, false)
}

// accountsOf returns the IDs of the accounts an assignment covers.
func (w *provisionWorker) accountsOf(ctx context.Context, a access.Assignment) ([]string, error) {
	if a.TargetType == access.TargetAccount {
		return []string{a.TargetID}, nil
	}
	accts, err := w.store.ListAccounts(ctx, a.TargetID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(accts))
	for i, acct := range accts {
		ids[i] = acct.ID
	}
	return ids, nil
}

// Assigned implements admin.ProvisioningRequester.
func (w *provisionWorker) Assigned(ctx context.Context, a access.Assignment) error {
	ids, err := w.accountsOf(ctx, a)
	if err != nil {
		return err
	}
	if len(ids) == 0 { // an empty OU: nothing to provision yet
		return w.store.SetAssignmentStatus(ctx, a.ID, access.StatusSucceeded, "", w.now())
	}
	for _, id := range ids {
		w.Enqueue(id, a.PermissionSet)
	}
	return nil
}

// Unassigned implements admin.ProvisioningRequester: each job finds that
// no assignment needs the role any more (or that another still does).
func (w *provisionWorker) Unassigned(ctx context.Context, a access.Assignment) error {
	ids, err := w.accountsOf(ctx, a)
	if err != nil {
		return err
	}
	for _, id := range ids {
		w.Enqueue(id, a.PermissionSet)
	}
	return nil
}

// Reprovision implements admin.ProvisioningRequester.
func (w *provisionWorker) Reprovision(ctx context.Context, permissionSet, accountID string) ([]string, error) {
	if accountID != "" {
		w.enqueue(accountID, permissionSet, true)
		return []string{accountID}, nil
	}
	ids := map[string]bool{}
	as, err := w.store.AssignmentsForPermissionSet(ctx, permissionSet)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		acc, err := w.accountsOf(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, id := range acc {
			ids[id] = true
		}
	}
	provs, err := w.store.ProvisioningsForPermissionSet(ctx, permissionSet)
	if err != nil {
		return nil, err
	}
	for _, p := range provs {
		ids[p.AccountID] = true
	}
	out := slices.Sorted(maps.Keys(ids))
	for _, id := range out {
		w.enqueue(id, permissionSet, true)
	}
	return out, nil
}

// AccountChanged implements admin.ProvisioningRequester: every permission
// set assigned to the account (directly or through its OU and the OUs
// above it) or provisioned there is enqueued; jobs provision or
// deprovision as the assignments now say.
func (w *provisionWorker) AccountChanged(ctx context.Context, accountID string) error {
	sets, err := w.store.ListPermissionSets(ctx)
	if err != nil {
		return err
	}
	acct, err := w.store.Account(ctx, accountID)
	if err != nil {
		return err
	}
	for _, ps := range sets {
		as, err := w.store.AssignmentsForPermissionSet(ctx, ps.Name)
		if err != nil {
			return err
		}
		needed := slices.ContainsFunc(as, func(a access.Assignment) bool { return a.Covers(acct) })
		if !needed {
			_, err := w.store.Provisioning(ctx, accountID, ps.Name)
			if errors.Is(err, access.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
		}
		w.Enqueue(accountID, ps.Name)
	}
	return nil
}

// catchUp enqueues, at start, every pair that an assignment needs and is
// not provisioned at the current version (assignments not SUCCEEDED
// included), and every provisioned pair no assignment needs any more.
func (w *provisionWorker) catchUp(ctx context.Context) error {
	sets, err := w.store.ListPermissionSets(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, ps := range sets {
		provs, err := w.store.ProvisioningsForPermissionSet(ctx, ps.Name)
		if err != nil {
			return err
		}
		current := map[string]bool{}
		for _, p := range provs {
			current[p.AccountID] = p.Status == access.StatusSucceeded && p.Version == ps.Version
		}
		as, err := w.store.AssignmentsForPermissionSet(ctx, ps.Name)
		if err != nil {
			return err
		}
		needed := map[string]bool{}
		for _, a := range as {
			ids, err := w.accountsOf(ctx, a)
			if err != nil {
				return err
			}
			for _, id := range ids {
				needed[id] = true
				if a.Status != access.StatusSucceeded || !current[id] {
					w.Enqueue(id, ps.Name)
					n++
				}
			}
			if len(ids) == 0 && a.Status != access.StatusSucceeded {
				if err := w.store.SetAssignmentStatus(ctx, a.ID, access.StatusSucceeded, "", w.now()); err != nil {
					return err
				}
			}
		}
		for _, p := range provs {
			if !needed[p.AccountID] {
				w.Enqueue(p.AccountID, ps.Name)
				n++
			}
		}
	}
	if n > 0 {
		w.log.Info("access: provisioning jobs queued at start", "jobs", n)
	}
	return nil
}

// run works through the queue until ctx ends.
func (w *provisionWorker) run(ctx context.Context) {
	if err := w.catchUp(ctx); err != nil && ctx.Err() == nil {
		w.log.Error("access: could not list the provisioning work at start; new requests are still served", "err", err)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		k, it, wait := w.next()
		if it != nil {
			w.process(ctx, k, it)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// next takes the job due first when it is due, or says how long to wait.
func (w *provisionWorker) next() (workKey, *workItem, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var bestKey workKey
	var best *workItem
	for k, it := range w.queue {
		if best == nil || it.due.Before(best.due) {
			bestKey, best = k, it
		}
	}
	if best == nil {
		return workKey{}, nil, time.Hour
	}
	if wait := best.due.Sub(w.now()); wait > 0 {
		return workKey{}, nil, wait
	}
	delete(w.queue, bestKey)
	return bestKey, best, 0
}

// backoff is the wait after the attempt-th failure in a row.
func (w *provisionWorker) backoff(attempt int) time.Duration {
	d := w.minBackoff
	for i := 1; i < attempt && d < w.maxBackoff; i++ {
		d *= 2
	}
	return min(d, w.maxBackoff)
}

func (w *provisionWorker) process(ctx context.Context, k workKey, it *workItem) {
	err := w.reconcile(ctx, k, it.force)
	if err == nil || ctx.Err() != nil {
		return
	}
	attempt := it.attempt + 1
	delay := w.backoff(attempt)
	w.log.Warn("access: provisioning failed; retrying", "account", k.account, "permission_set", k.ps,
		"attempt", attempt, "retry_in", delay, "err", err)
	w.mu.Lock()
	defer w.mu.Unlock()
	if queued, ok := w.queue[k]; ok { // requested again meanwhile: runs now
		queued.attempt = attempt
		queued.force = queued.force || it.force
		return
	}
	w.queue[k] = &workItem{force: it.force, attempt: attempt, due: w.now().Add(delay)}
}

// reconcile converges one pair and records the outcome.
func (w *provisionWorker) reconcile(ctx context.Context, k workKey, force bool) error {
	acct, err := w.store.Account(ctx, k.account)
	if errors.Is(err, access.ErrNotFound) {
		return nil // deleted (with its provisioning records)
	}
	if err != nil {
		return err
	}
	ps, err := w.store.PermissionSet(ctx, k.ps)
	if errors.Is(err, access.ErrNotFound) {
		// Deleted after its last assignment: only the role name is
		// needed to remove what was provisioned.
		return w.deprovision(ctx, acct, access.PermissionSet{Name: k.ps})
	}
	if err != nil {
		return err
	}
	all, err := w.store.AssignmentsForPermissionSet(ctx, ps.Name)
	if err != nil {
		return err
	}
	covering := slices.DeleteFunc(all, func(a access.Assignment) bool { return !a.Covers(acct) })
	if len(covering) == 0 {
		return w.deprovision(ctx, acct, ps)
	}
	prev, err := w.store.Provisioning(ctx, acct.ID, ps.Name)
	switch {
	case errors.Is(err, access.ErrNotFound):
	case err != nil:
		return err
	}
	var perr error
	if force || err != nil || prev.Status != access.StatusSucceeded || prev.Version != ps.Version {
		var res access.Provisioning
		res, perr = w.prov.Provision(ctx, acct, ps)
		if perr != nil && ctx.Err() != nil {
			return perr // shutting down: the next start catches up
		}
		if err := w.store.PutProvisioning(ctx, res); err != nil {
			return fmt.Errorf("access: record provisioning of %s in %s: %w", ps.Name, acct.ID, err)
		}
	}
	if err := w.updateStatuses(ctx, ps, covering); err != nil {
		return err
	}
	return perr
}

// deprovision removes the permission set's role from the account when
// Gatehouse provisioned it, then its record.
func (w *provisionWorker) deprovision(ctx context.Context, acct access.Account, ps access.PermissionSet) error {
	prev, err := w.store.Provisioning(ctx, acct.ID, ps.Name)
	if errors.Is(err, access.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if derr := w.prov.Deprovision(ctx, acct, ps); derr != nil {
		if ctx.Err() == nil {
			prev.Status, prev.Reason, prev.UpdatedAt = access.StatusFailed, "deprovision: "+derr.Error(), w.now()
			if err := w.store.PutProvisioning(ctx, prev); err != nil {
				w.log.Warn("access: could not record a failed deprovisioning", "account", acct.ID, "permission_set", ps.Name, "err", err)
			}
		}
		return derr
	}
	return w.store.DeleteProvisioning(ctx, acct.ID, ps.Name)
}

// updateStatuses sets the status of each assignment from the provisioning
// of every account it covers: SUCCEEDED when all hold the current version,
// FAILED (with the first failure) when one failed, IN_PROGRESS otherwise.
func (w *provisionWorker) updateStatuses(ctx context.Context, ps access.PermissionSet, as []access.Assignment) error {
	provs, err := w.store.ProvisioningsForPermissionSet(ctx, ps.Name)
	if err != nil {
		return err
	}
	byAccount := make(map[string]access.Provisioning, len(provs))
	for _, p := range provs {
		byAccount[p.AccountID] = p
	}
	for _, a := range as {
		ids, err := w.accountsOf(ctx, a)
		if err != nil {
			return err
		}
		status, reason := access.StatusSucceeded, ""
		failed := 0
		for _, id := range ids {
			p, ok := byAccount[id]
			switch {
			case ok && p.Status == access.StatusFailed:
				if failed == 0 {
					reason = "account " + id + ": " + p.Reason
				}
				failed++
				status = access.StatusFailed
			case ok && p.Status == access.StatusSucceeded && p.Version == ps.Version:
			default:
				if status != access.StatusFailed {
					status = access.StatusInProgress
				}
			}
		}
		if failed > 1 {
			reason += fmt.Sprintf(" (and %d more accounts)", failed-1)
		}
		if status == a.Status && reason == a.Reason {
			continue
		}
		if err := w.store.SetAssignmentStatus(ctx, a.ID, status, reason, w.now()); err != nil && !errors.Is(err, access.ErrNotFound) {
			return err
		}
	}
	return nil
}

// --- the CLI's API (package awsapi) ---

// cliTokens verifies the access tokens the CLI presents to the API:
// Gatehouse's own (the OAuth signing ring), for the audience
// {external_url}/api, with a jti that is not revoked, with the credentials
// scope, of a user who is still active.
type cliTokens struct {
	validator   *oauth.Validator
	revocations oauth.RevocationStore
	users       oauth.UserLookup
	now         func() time.Time
}

func (c cliTokens) UserID(ctx context.Context, bearer string) (string, error) {
	tok, err := c.validator.Validate(ctx, bearer)
	if err != nil {
		var ve *oauth.ValidationError
		if errors.As(err, &ve) && ve.Reason() == oauth.ReasonKeysUnavailable {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", awsapi.ErrUnauthorized, err)
	}
	// The validator requires a jti, so every token can be checked.
	revoked, err := c.revocations.IsRevoked(ctx, tok.JwtID(), c.now())
	if err != nil {
		return "", err
	}
	if revoked {
		return "", fmt.Errorf("%w: revoked", awsapi.ErrUnauthorized)
	}
	scope, _ := tok.Get("scope")
	s, _ := scope.(string)
	if !slices.Contains(strings.Fields(s), CLIScope) {
		return "", fmt.Errorf("%w: the token lacks the %s scope", awsapi.ErrInsufficientScope, CLIScope)
	}
	if tok.Subject() == "" {
		return "", fmt.Errorf("%w: no subject", awsapi.ErrUnauthorized)
	}
	u, err := c.users.UserByID(ctx, tok.Subject())
	switch {
	case errors.Is(err, oauth.ErrUnknownUser):
		return "", fmt.Errorf("%w: unknown user", awsapi.ErrUnauthorized)
	case err != nil:
		return "", err
	case !u.Active:
		return "", fmt.Errorf("%w: user is disabled", awsapi.ErrUnauthorized)
	}
	return tok.Subject(), nil
}

// setupAccessAPI builds the CLI's API (GET /api/v1/accounts, POST
// /api/v1/credentials) when multi-account access is on. It runs after
// setupOAuth: the tokens are the OAuth signing ring's, for the CLI's
// audience only.
func (g *Gateway) setupAccessAPI() error {
	if g.accessRT == nil || g.oauth == nil {
		return nil
	}
	v, err := oauth.NewValidator(oauth.ValidatorConfig{
		Issuer:      g.cfg.ExternalURL,
		Audiences:   []string{CLIAudience(g.cfg.ExternalURL)},
		Keys:        ringKeys{ring: g.oauth.ring},
		Typ:         oauth.AccessTokenType,
		RequireJTI:  true,
		MaxLifetime: max(g.cfg.OAuth.AccessTokenLifetime.Std(), oauth.DefaultMaxLifetime),
		Now:         g.now,
	})
	if err != nil {
		return fmt.Errorf("gateway: the CLI API: %w", err)
	}
	g.accessAPI, err = awsapi.New(awsapi.Config{
		Tokens:       cliTokens{validator: v, revocations: g.store, users: storeUsers{users: g.store}, now: g.now},
		Entitlements: g.accessRT.service,
		Accounts:     g.store,
		Vendor:       g.accessRT.vendor,
		Now:          g.now,
		Logger:       g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: the CLI API: %w", err)
	}
	return nil
}

// accessAPIRoutes mounts the CLI's API when it is built.
func (g *Gateway) accessAPIRoutes(mux *http.ServeMux) {
	if g.accessAPI != nil {
		g.accessAPI.Routes(mux)
	}
}
