package scimtoken_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// printAuditor stands in for *audit.Log.
type printAuditor struct{}

func (printAuditor) Record(_ context.Context, e audit.Event) error {
	fmt.Println("audit:", e.Type, e.Actor)
	return nil
}

func Example() {
	ctx := context.Background()
	svc, err := scimtoken.New(scimtoken.Config{Store: scimtoken.NewMemoryStore(), Auditor: printAuditor{}})
	if err != nil {
		panic(err)
	}
	// POST /api/v1/admin/scim-tokens: the value is shown this once.
	created, err := svc.Create(ctx, scimtoken.CreateRequest{Name: "Okta"})
	if err != nil {
		panic(err)
	}

	// /scim/v2 behind the middleware.
	scim := svc.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, scimtoken.Actor(r.Context()) == "scim:"+created.ID)
	}))
	call := func() {
		r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil)
		r.Header.Set("Authorization", "Bearer "+created.Token)
		w := httptest.NewRecorder()
		scim.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String() == "true")
	}
	call()
	if err := svc.Revoke(ctx, created.ID); err != nil {
		panic(err)
	}
	call()
	// Output:
	// audit: scim_token.created admin
	// 200 true
	// audit: scim_token.revoked admin
	// 401 false
}
