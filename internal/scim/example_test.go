package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// printAuditor stands in for *audit.Log.
type printAuditor struct{}

// quietAuditor records nothing (the token service's events).
type quietAuditor struct{}

func (quietAuditor) Record(context.Context, audit.Event) error { return nil }

func (printAuditor) Record(_ context.Context, e audit.Event) error {
	fmt.Println("audit:", e.Type, e.Details["attributes"])
	return nil
}

// Example mounts the SCIM server behind scimtoken's middleware, as the
// gateway does, and provisions a user the way Microsoft Entra ID does.
func Example() {
	ctx := context.Background()
	tokens, err := scimtoken.New(scimtoken.Config{Store: scimtoken.NewMemoryStore(), Auditor: quietAuditor{}})
	if err != nil {
		panic(err)
	}
	created, err := tokens.Create(ctx, scimtoken.CreateRequest{Name: "Entra ID"})
	if err != nil {
		panic(err)
	}
	srv, err := scim.New(scim.Config{Store: memory.New(), Auditor: printAuditor{}, BaseURL: "https://gw.example.com/scim/v2"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(scim.PathPrefix+"/", tokens.Require(srv.Handler()))

	call := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+created.Token)
		r.Header.Set("Content-Type", "application/scim+json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	w := call(http.MethodPost, "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"alice@example.com","active":true,
		"emails":[{"primary":true,"type":"work","value":"alice@example.com"}]}`)
	fmt.Println(w.Code, w.Header().Get("ETag"))
	id := strings.TrimPrefix(w.Header().Get("Location"), "https://gw.example.com/scim/v2/Users/")

	w = call(http.MethodPatch, "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
	fmt.Println(w.Code, w.Header().Get("ETag"))
	// Output:
	// audit: scim.user.created active,emails,userName
	// 201 W/"1"
	// audit: scim.user.patched active
	// 200 W/"2"
}
