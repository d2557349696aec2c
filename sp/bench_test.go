package sp_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// benchAttributes are the 8 attributes of the benchmark response (about 6 KB
// once signed with RSA-2048).
var benchAttributes = map[string][]string{
	"email":       {"alice@example.com"},
	"displayName": {"Alice Example"},
	"givenName":   {"Alice"},
	"surname":     {"Example"},
	"groups":      {"engineering", "admins", "data"},
	"department":  {"Platform Engineering"},
	"employeeId":  {"E-0012345"},
	"costCenter":  {"CC-4711"},
}

type benchFixture struct {
	idp *samltest.IdP
	now time.Time
}

func newBenchFixture(b *testing.B) benchFixture {
	b.Helper()
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	if err != nil {
		b.Fatal(err)
	}
	return benchFixture{idp: idp, now: time.Now().UTC().Truncate(time.Second)}
}

func (f benchFixture) response(b *testing.B, inResponseTo string) string {
	b.Helper()
	enc, err := f.idp.EncodedResponse(samltest.ResponseOptions{
		Now: f.now, Destination: acsEast, Recipient: acsEast, Audience: spEntityID,
		InResponseTo: inResponseTo, NameID: "alice@example.com",
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Attributes:   benchAttributes, SessionIndex: "_s1",
	})
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

// BenchmarkSignIn compares, in one run and on the same kind of response,
// raw gosaml2 RetrieveAssertionInfo, Gatehouse's verification, and the full
// ACS handler on SQLite (pending-request consumption, replay record, user
// lookup, session write). Read the results as ratios.
func BenchmarkSignIn(b *testing.B) {
	f := newBenchFixture(b)
	enc := f.response(b, "_"+strings.Repeat("a", 32))

	b.Run("gosaml2-raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := &saml2.SAMLServiceProvider{
				IdentityProviderIssuer:      f.idp.EntityID(),
				AssertionConsumerServiceURL: acsEast,
				AudienceURI:                 spEntityID,
				IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{f.idp.Certificate()}},
				Clock:                       dsig.NewFakeClockAt(f.now),
			}
			info, err := s.RetrieveAssertionInfo(enc)
			if err != nil || info.WarningInfo.InvalidTime || info.WarningInfo.NotInAudience {
				b.Fatal(err)
			}
		}
	})

	b.Run("gatehouse-verify", func(b *testing.B) {
		v, err := saml.NewVerifier(saml.VerifierConfig{
			IdPEntityID: f.idp.EntityID(), Certificates: []*x509.Certificate{f.idp.Certificate()}, Audience: spEntityID,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifyResponse(enc, saml.Expected{Destination: acsEast, Now: f.now}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("acs-handler-sqlite", func(b *testing.B) {
		benchACS(b, f)
	})
}

func benchACS(b *testing.B, f benchFixture) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(b.TempDir(), "bench.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(4)
	st, err := sqlstore.Open(ctx, db, sqlstore.SQLite, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, sp.User{UserName: "alice@example.com", Active: true}); err != nil {
		b.Fatal(err)
	}
	s, err := sp.New(sp.Config{
		EntityID: spEntityID, Regions: regions,
		IdP:      sp.IdentityProvider{EntityID: f.idp.EntityID(), Certificates: []*x509.Certificate{f.idp.Certificate()}, SSOURLs: []string{idpSSO}},
		Requests: st, Replay: st, Sessions: st, Users: st,
		Health: fixedHealth{}, Now: func() time.Time { return f.now },
	})
	if err != nil {
		b.Fatal(err)
	}
	h := s.ACSHandler()
	state := &http.Cookie{Name: sp.StateCookie, Value: strings.Repeat("s", 43)}

	// Each iteration needs its own pending request and its own distinct,
	// pre-signed response (the replay cache rejects repeats). Prepare a pool
	// outside the timer, in rounds.
	type item struct{ body string }
	prepare := func(n int) []item {
		items := make([]item, n)
		for i := range items {
			id := saml.NewID()
			rs := fmt.Sprintf("rs%d", i)
			if err := st.SaveRequest(ctx, sp.PendingRequest{
				ID: id, RelayState: rs, BrowserBinding: sp.BrowserBindingForTest(state.Value),
				ReturnTo: "/portal", Region: "us-east-1", CreatedAt: f.now, ExpiresAt: f.now.Add(10 * time.Minute),
			}); err != nil {
				b.Fatal(err)
			}
			items[i] = item{body: url.Values{"SAMLResponse": {f.response(b, id)}, "RelayState": {rs}}.Encode()}
		}
		return items
	}
	// Preparation (pending requests, signing) stays outside the timer and
	// is finished, and its garbage collected, before the timed loop.
	items := prepare(b.N)
	reqs := make([]*http.Request, len(items))
	for i, it := range items {
		r := httptest.NewRequest(http.MethodPost, acsEast, strings.NewReader(it.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(state)
		reqs[i] = r
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, reqs[i])
		if w.Code != http.StatusSeeOther {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}
