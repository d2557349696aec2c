package apps_test

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// Example builds a registry from a config-file application, adds one as
// the admin API would, and lists what a user may launch.
func Example() {
	ctx := context.Background()
	wikiSP, _ := samltest.NewSP("https://wiki.example.com/sp", "https://wiki.example.com/acs")
	wikiMD, _ := wikiSP.Metadata(false, false)
	crmSP, _ := samltest.NewSP("https://crm.example.com/sp", "https://crm.example.com/acs")
	crmMD, _ := crmSP.Metadata(false, true)

	reg, err := apps.New(apps.Config{
		Static: []config.ApplicationConfig{{
			ID: "wiki", Name: "Team wiki", MetadataXML: string(wikiMD), NameIDFormat: "emailAddress",
			Attributes:  map[string]string{"email": "email"},
			Assignments: config.ApplicationAssignments{Groups: []string{"engineering"}},
		}},
		Store: memory.New(),
	})
	if err != nil {
		panic(err)
	}
	if err := reg.Load(ctx); err != nil {
		panic(err)
	}
	_, err = reg.Create(ctx, "crm", "CRM", apps.Spec{
		MetadataXML:       string(crmMD),
		EncryptAssertions: true,
		Attributes:        []apps.Attribute{{Name: "phone", Field: "phone"}},
		Assignments:       apps.Assignments{Users: []string{"alice"}},
	})
	fmt.Println(err)

	_, err = reg.Create(ctx, "crm", "CRM", apps.Spec{
		MetadataXML:       string(crmMD),
		EncryptAssertions: true,
		Attributes:        []apps.Attribute{{Name: "https://aws.amazon.com/SAML/Attributes/AccessControl:Dept", Field: "attributes.department"}},
		Assignments:       apps.Assignments{Users: []string{"alice"}},
	})
	fmt.Println(err)

	alice := idp.Principal{UserID: "u-1", UserName: "alice", Groups: []string{"engineering"}}
	for _, a := range reg.ApplicationsFor(ctx, alice) {
		fmt.Println(a.ID, a.Name)
	}
	// Output:
	// attributes[0].field: "phone" is not one of id, user_name, email, display_name, given_name, family_name, external_id, groups or attributes.<key>
	// <nil>
	// crm CRM
	// wiki Team wiki
}
