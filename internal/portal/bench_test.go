package portal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkPortalAccounts renders the portal page of a user with 10
// applications and the given number of accounts, two roles each (with
// console and command line links), as the gateway does after computing
// the entitlements (measured separately: BenchmarkEntitlementsSQLite).
//
//	go test -run '^$' -bench PortalAccounts ./internal/portal/
func BenchmarkPortalAccounts(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			accounts := make([]Account, n)
			for i := range accounts {
				id := fmt.Sprintf("%012d", 100000000000+i)
				acct := Account{ID: id, Name: "account " + id}
				for _, role := range []string{"ReadOnly", "PowerUser"} {
					console, creds := RoleLinks(id, role)
					acct.Roles = append(acct.Roles, AccountRole{Name: role, ConsoleURL: console, CredentialsURL: creds})
				}
				accounts[i] = acct
			}
			p, err := New(Config{Sessions: signedIn(), Apps: &fakeApps{apps: numberedApps(10)}, Accounts: &fakeAccounts{accounts: accounts},
				Now: func() time.Time { return testNow }})
			if err != nil {
				b.Fatal(err)
			}
			h := p.Handler()
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PortalPath, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
