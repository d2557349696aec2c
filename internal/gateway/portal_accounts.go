package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

// portalAccounts lists the signed-in user's accounts and roles on the
// portal, from their entitlements at each request.
type portalAccounts struct{ g *Gateway }

func (a portalAccounts) AccountsFor(ctx context.Context, u portal.User) ([]portal.Account, error) {
	rt := a.g.accessRT
	if rt == nil {
		return nil, nil
	}
	ents, err := rt.service.EntitlementsFor(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var out []portal.Account
	index := map[string]int{}
	for _, e := range ents {
		i, ok := index[e.AccountID]
		if !ok {
			acct, err := a.g.store.Account(ctx, e.AccountID)
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", e.AccountID, err)
			}
			i = len(out)
			index[e.AccountID] = i
			out = append(out, portal.Account{ID: acct.ID, Name: acct.Name})
		}
		console, creds := portal.RoleLinks(e.AccountID, e.PermissionSet)
		out[i].Roles = append(out[i].Roles, portal.AccountRole{Name: e.PermissionSet, ConsoleURL: console, CredentialsURL: creds})
	}
	return out, nil
}

// consoleSigner issues console sign-in assertions through the vendor.
type consoleSigner struct{ v *vend.Vendor }

func (c consoleSigner) ConsoleAssertion(ctx context.Context, userID, accountID, role string) ([]byte, string, error) {
	resp, ps, err := c.v.Assertion(ctx, userID, accountID, role)
	if err != nil {
		return nil, "", err
	}
	return resp, ps.RelayState, nil
}

// setupAccountPages builds the portal's console and command line access
// pages (multi-account access only).
func (g *Gateway) setupAccountPages() error {
	if g.accessRT == nil {
		return nil
	}
	h, err := g.portal.AccountsHandler(portal.AccountsConfig{
		Console:     consoleSigner{g.accessRT.vendor},
		Credentials: g.accessRT.vendor,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.accountPages = h
	return nil
}

// accountPageRoutes mounts the account role pages.
func (g *Gateway) accountPageRoutes(mux *http.ServeMux) {
	if g.accountPages == nil {
		return
	}
	mux.Handle(portal.AWSConsolePath, g.accountPages)
	mux.Handle(portal.AWSCredentialsPath, g.accountPages)
}
