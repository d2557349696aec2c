package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
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

// benchAppendAudit appends batches of size events per iteration, each
// event shaped like a token issuance record.
func benchAppendAudit(b *testing.B, s *Store, size int) {
	ctx := b.Context()
	batch := make([]audit.Event, size)
	for i := range batch {
		batch[i] = audit.Event{
			Time: testNow, Type: "token.issued", Outcome: audit.Success,
			Actor: "client:bi-tool", Subject: "user-0123456789abcdef", ClientID: "bi-tool",
			Audience: []string{"https://warehouse.example.com"}, Scopes: []string{"warehouse:read"},
			Source: "203.0.113.7", RequestID: fmt.Sprintf("req-%d", i),
			Details: map[string]string{"jti": "0123456789abcdef0123456789abcdef", "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"},
		}
	}
	for b.Loop() {
		if err := s.AppendAudit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendAudit measures AppendAudit on SQLite in WAL mode with one
// event per transaction and with a group-commit batch of 64.
func BenchmarkAppendAudit(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _, _ := newSQLite(b, testOptions())
			benchAppendAudit(b, s, size)
		})
	}
}

// BenchmarkAppendAuditPostgres is BenchmarkAppendAudit on PostgreSQL.
func BenchmarkAppendAuditPostgres(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := newPostgres(b, testOptions())
			benchAppendAudit(b, s, size)
		})
	}
}
