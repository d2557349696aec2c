package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// benchACSStoreOps runs the store work of one SAML sign-in at the ACS per
// iteration: save the pending request (at login), consume it, mark the
// assertion used and create the session.
func benchACSStoreOps(b *testing.B, s *Store) {
	ctx := b.Context()
	now := testNow
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("_req-%d", i)
		if err := s.SaveRequest(ctx, sp.PendingRequest{ID: id, RelayState: "rs", BrowserBinding: "bb", ReturnTo: "/", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ConsumeRequest(ctx, id, now); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkAssertionUsed(ctx, "https://idp.example.com", "_assertion-"+id, now.Add(5*time.Minute), now); err != nil {
			b.Fatal(err)
		}
		if err := s.CreateSession(ctx, sp.Session{ID: "session-" + id, UserID: "u", CreatedAt: now, ExpiresAt: now.Add(8 * time.Hour), Method: "saml"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkACSStoreOpsPostgres is BenchmarkACSStoreOps on PostgreSQL.
func BenchmarkACSStoreOpsPostgres(b *testing.B) {
	s, _ := newPostgres(b, testOptions())
	benchACSStoreOps(b, s)
}

// BenchmarkProvisionExisting measures the transactional path of a returning
// user's sign-in: ProvisionExternal finds the link, updates the attributes
// and group memberships and reads the user back, in one transaction.
func BenchmarkProvisionExisting(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.open(b, testOptions())
			ctx := b.Context()
			ext := sp.ExternalIdentity{Issuer: "https://idp.example.com", NameID: "alice"}
			attrs := sp.UserAttributes{Email: "alice@example.com", DisplayName: "Alice", Groups: []string{"admins", "staff"}}
			if _, err := s.ProvisionExternal(ctx, ext, attrs, testNow); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.ProvisionExternal(ctx, ext, attrs, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
