package access

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchScale is the size of a benchmark world. Accounts sit in leaf OUs
// (TopOUs × ChildOUs of them, AccountsPerOU each), so that scaling the
// world keeps the size of each OU, and hence the work per user, the same.
type benchScale struct {
	Name           string
	TopOUs         int
	ChildOUs       int // per top-level OU
	AccountsPerOU  int // per leaf OU
	PermissionSets int
	Users          int
	Groups         int
	GroupsPerUser  int
	Assignments    int
}

// issueScale is the scale of issue 7: 1,000 accounts in 10 × 10 OUs, 200
// permission sets, 10,000 users in 2,000 groups (3 each), 50,000
// assignments.
var issueScale = benchScale{Name: "full", TopOUs: 10, ChildOUs: 10, AccountsPerOU: 10,
	PermissionSets: 200, Users: 10000, Groups: 2000, GroupsPerUser: 3, Assignments: 50000}

// tenthScale is issueScale / 10: the same OU sizes and assignments per
// principal, a tenth of everything in total.
var tenthScale = benchScale{Name: "tenth", TopOUs: 1, ChildOUs: 10, AccountsPerOU: 10,
	PermissionSets: 20, Users: 1000, Groups: 200, GroupsPerUser: 3, Assignments: 5000}

// benchWorld is a populated store and the group memberships.
type benchWorld struct {
	store  Store
	groups *fakeGroups
	users  []string
}

// buildWorld fills store through the Store interface (so any store can
// be measured): 80% group → account, 10% group → OU (nine in ten a leaf
// OU, one in ten a top-level one), 10% user → account.
func buildWorld(tb testing.TB, store Store, sc benchScale) *benchWorld {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, uint64(sc.Assignments)))
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var accounts, tops, leaves []string
	for t := range sc.TopOUs {
		top := fmt.Sprintf("/ou%02d", t)
		tops = append(tops, top)
		for c := range sc.ChildOUs {
			leaf := fmt.Sprintf("%s/ou%02d", top, c)
			leaves = append(leaves, leaf)
			for range sc.AccountsPerOU {
				id := fmt.Sprintf("%012d", 100000000000+len(accounts))
				if _, err := store.PutAccount(ctx, account(id, leaf), now); err != nil {
					tb.Fatal(err)
				}
				accounts = append(accounts, id)
			}
		}
	}
	var sets []string
	for i := range sc.PermissionSets {
		ps := permissionSet(fmt.Sprintf("PermissionSet%03d", i))
		ps.InlinePolicy = validInline
		ps.Tags = map[string]string{"team": fmt.Sprint(i % 7)}
		if _, err := store.CreatePermissionSet(ctx, ps, now); err != nil {
			tb.Fatal(err)
		}
		sets = append(sets, ps.Name)
	}
	w := &benchWorld{store: store, groups: &fakeGroups{groups: make(map[string][]string, sc.Users)}}
	for u := range sc.Users {
		user := fmt.Sprintf("user-%05d", u)
		w.users = append(w.users, user)
		var gs []string
		for len(gs) < sc.GroupsPerUser {
			g := fmt.Sprintf("group-%04d", rng.IntN(sc.Groups))
			if !slices.Contains(gs, g) {
				gs = append(gs, g)
			}
		}
		w.groups.groups[user] = gs
	}
	for created := 0; created < sc.Assignments; {
		a := Assignment{PrincipalType: PrincipalGroup, PrincipalID: fmt.Sprintf("group-%04d", rng.IntN(sc.Groups)),
			PermissionSet: sets[rng.IntN(len(sets))], TargetType: TargetAccount, TargetID: accounts[rng.IntN(len(accounts))]}
		switch r := rng.IntN(10); {
		case r == 0:
			a.PrincipalType, a.PrincipalID = PrincipalUser, w.users[rng.IntN(len(w.users))]
		case r == 1:
			a.TargetType, a.TargetID = TargetOU, leaves[rng.IntN(len(leaves))]
			if rng.IntN(10) == 0 {
				a.TargetID = tops[rng.IntN(len(tops))]
			}
		}
		_, ok, err := store.CreateAssignment(ctx, a, now)
		if err != nil {
			tb.Fatal(err)
		}
		if ok {
			created++
		}
	}
	return w
}

// benchEntitlements measures EntitlementsFor for random users of w and
// reports p50 and p99 latency and the mean entitlements per call.
func benchEntitlements(b *testing.B, w *benchWorld) {
	svc, err := New(Config{Store: w.store, Groups: w.groups})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 13))
	users := make([]string, b.N)
	for i := range users {
		users[i] = w.users[rng.IntN(len(w.users))]
	}
	times := make([]time.Duration, b.N)
	entitlements := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		es, err := svc.EntitlementsFor(ctx, users[i])
		times[i] = time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		entitlements += len(es)
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(entitlements)/float64(b.N), "entitlements/op")
}

// benchStores are the stores measured; the SQL stores join when they
// exist (a constructor returning an empty store).
var benchStores = []struct {
	name string
	new  func(testing.TB) Store
}{
	{"fake", func(testing.TB) Store { return newFakeStore() }},
}

// BenchmarkEntitlements measures EntitlementsFor at the scale of issue 7
// and at a tenth of it: the two should cost about the same, the work
// depending on the assignments of one user, not on the total.
func BenchmarkEntitlements(b *testing.B) {
	for _, st := range benchStores {
		for _, sc := range []benchScale{issueScale, tenthScale} {
			w := buildWorld(b, st.new(b), sc)
			b.Run(fmt.Sprintf("store=%s/scale=%s/assignments=%d", st.name, sc.Name, sc.Assignments), func(b *testing.B) {
				benchEntitlements(b, w)
			})
		}
	}
}

// TestBenchWorld checks the benchmark world at a tenth of the scale: the
// counts it promises and that users get entitlements.
func TestBenchWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 5,000-assignment world")
	}
	st := newFakeStore()
	w := buildWorld(t, st, tenthScale)
	sc := tenthScale
	assert := func(want, got int, what string) {
		t.Helper()
		if want != got {
			t.Errorf("%s: want %d, got %d", what, want, got)
		}
	}
	assert(sc.TopOUs*sc.ChildOUs*sc.AccountsPerOU, len(st.accounts), "accounts")
	assert(sc.PermissionSets, len(st.sets), "permission sets")
	assert(sc.Assignments, len(st.assignments), "assignments")
	assert(sc.Users, len(w.users), "users")
	kinds := map[string]int{}
	for _, a := range st.assignments {
		kinds[string(a.PrincipalType)+"→"+string(a.TargetType)]++
	}
	if kinds["GROUP→AWS_ACCOUNT"] < kinds["GROUP→OU"] || kinds["GROUP→OU"] == 0 || kinds["USER→AWS_ACCOUNT"] == 0 || kinds["USER→OU"] != 0 {
		t.Errorf("assignment mix %v", kinds)
	}
	svc, err := New(Config{Store: st, Groups: w.groups})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, u := range w.users[:50] {
		es, err := svc.EntitlementsFor(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		total += len(es)
	}
	if total == 0 {
		t.Error("no entitlements")
	}
}
