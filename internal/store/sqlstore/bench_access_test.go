package sqlstore

// Entitlements at issue 7's scale on SQLite:
//
//	go test -run '^$' -bench EntitlementsSQLite -benchtime 2000x -timeout 30m ./internal/store/sqlstore/
//
// 1,000 accounts in 10 × 10 OUs, 200 permission sets, 10,000 users in
// 2,000 groups (three each) and 50,000 assignments (groups on accounts and
// OUs, some users on accounts), at full and at a tenth of the assignment
// count with everything per user unchanged, so that the ratio shows
// whether a lookup's cost grows with the total.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// storeGroups resolves a user's group IDs from the store, as the gateway
// does.
type storeGroups struct{ s *Store }

func (g storeGroups) GroupIDs(ctx context.Context, userID string) ([]string, error) {
	u, err := g.s.DirectoryUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(u.Groups))
	for i, gr := range u.Groups {
		ids[i] = gr.ID
	}
	return ids, nil
}

func BenchmarkEntitlementsSQLite(b *testing.B) {
	for _, total := range []int{5_000, 50_000} {
		b.Run(fmt.Sprintf("assignments=%d", total), func(b *testing.B) {
			s, _, _ := newSQLite(b, testOptions())
			users := populateAccess(b, s, total)
			svc, err := access.New(access.Config{Store: s, Groups: storeGroups{s}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			durations := make([]time.Duration, 0, b.N)
			var found int
			b.ResetTimer()
			for range b.N {
				u := users[rng.IntN(len(users))]
				start := time.Now()
				ents, err := svc.EntitlementsFor(ctx, u)
				durations = append(durations, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				found += len(ents)
			}
			b.StopTimer()
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(found)/float64(b.N), "entitlements/op")
		})
	}
}

// populateAccess builds the world and returns the user IDs. Users and
// groups scale with the assignment total (10,000 users and 2,000 groups at
// 50,000 assignments), so that every user is in three groups of 25
// assignments each at every total: a user's own work stays the same and
// only the totals change. Accounts and permission sets stay at full size.
func populateAccess(b *testing.B, s *Store, totalAssignments int) []string {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	const (
		nAccounts = 1000
		nSets     = 200
		perGroup  = 25
	)
	nGroups := totalAssignments / perGroup
	nUsers := nGroups * 5
	var accounts []string
	for i := range nAccounts {
		id := fmt.Sprintf("%012d", 100000000000+i)
		ou := fmt.Sprintf("/ou%d/ou%d-%d", i%10, i%10, (i/10)%10)
		if _, err := s.PutAccount(ctx, access.Account{ID: id, Name: "acct" + id, Email: "a@example.com", OU: ou,
			AssumeRoleARN: "arn:aws:iam::" + id + ":role/OrganizationAccountAccessRole"}, now); err != nil {
			b.Fatal(err)
		}
		accounts = append(accounts, id)
	}
	for i := range nSets {
		if _, err := s.CreatePermissionSet(ctx, access.PermissionSet{Name: fmt.Sprintf("ps%03d", i), SessionDuration: time.Hour}, now); err != nil {
			b.Fatal(err)
		}
	}
	groups := make([]string, nGroups)
	members := make([][]string, nGroups)
	users := make([]string, nUsers)
	for i := range nUsers {
		u, err := s.CreateDirectoryUser(ctx, directory.User{UserName: fmt.Sprintf("user%05d", i), Active: true}, now)
		if err != nil {
			b.Fatal(err)
		}
		users[i] = u.ID
		for k := range 3 {
			g := (i*3 + k) % nGroups
			members[g] = append(members[g], u.ID)
		}
	}
	for g := range nGroups {
		gr, err := s.CreateGroup(ctx, directory.Group{DisplayName: fmt.Sprintf("group%04d", g)}, now)
		if err != nil {
			b.Fatal(err)
		}
		groups[g] = gr.ID
		if _, err := s.PatchGroupMembers(ctx, gr.ID, members[g], nil, 0, now); err != nil {
			b.Fatal(err)
		}
	}
	// 25 assignments per group: 20 on accounts, 4 on OUs, and one user
	// assignment (on an account).
	rng := rand.New(rand.NewPCG(3, 4))
	for g := range nGroups {
		for k := range perGroup {
			a := access.Assignment{PermissionSet: fmt.Sprintf("ps%03d", rng.IntN(nSets))}
			switch {
			case k < 20:
				a.PrincipalType, a.PrincipalID = access.PrincipalGroup, groups[g]
				a.TargetType, a.TargetID = access.TargetAccount, accounts[rng.IntN(nAccounts)]
			case k < 24:
				a.PrincipalType, a.PrincipalID = access.PrincipalGroup, groups[g]
				a.TargetType, a.TargetID = access.TargetOU, fmt.Sprintf("/ou%d/ou%d-%d", g%10, g%10, rng.IntN(10))
			default:
				a.PrincipalType, a.PrincipalID = access.PrincipalUser, users[rng.IntN(nUsers)]
				a.TargetType, a.TargetID = access.TargetAccount, accounts[rng.IntN(nAccounts)]
			}
			if _, _, err := s.CreateAssignment(ctx, a, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	return users
}
