package idp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func FuzzParseServiceProviderMetadata(f *testing.F) {
	f.Add([]byte(spMetadataXML(f)))
	f.Add(appMD(f, testApp(), true, true, appACS2))
	f.Add([]byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>`))
	f.Add([]byte(`<!DOCTYPE x><x/>`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseServiceProviderMetadata(b, now)
		if err != nil {
			return
		}
		if len(m.ACS) == 0 || m.EntityID == "" {
			t.Fatalf("accepted metadata without ACS or entity ID")
		}
		for _, e := range m.ACS {
			if checkEndpointURL(e.Location) != nil || e.Binding != string(saml.BindingHTTPPost) {
				t.Fatalf("accepted ACS %q", e.Location)
			}
		}
	})
}

// FuzzSSORequest feeds arbitrary SAMLRequest and RelayState values through
// both bindings of the SSO handler, with a session: whatever it answers, an
// assertion may only go to the registered ACS.
func FuzzSSORequest(f *testing.F) {
	fx := newFixture(f, idpECKey())
	app := testApp()
	fx.register("wiki", app, ServiceProviderOptions{}, false, appACS2)
	p := alice()
	fx.sessions.set(&p)
	req := fx.authnRequest(app)
	xml, err := req.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	enc, err := saml.EncodeRedirect(xml)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, "rs", false)
	f.Add(saml.EncodePOST(xml), "", true)
	f.Add("", "", false)
	f.Add("!!!", "<script>", true)
	f.Fuzz(func(t *testing.T, samlRequest, relayState string, post bool) {
		var r *http.Request
		if post {
			r = postForm(samlRequest, relayState)
		} else {
			q := url.Values{"SAMLRequest": {samlRequest}}
			if relayState != "" {
				q.Set("RelayState", relayState)
			}
			r = httptest.NewRequest(http.MethodGet, testSSOURL+"?"+q.Encode(), nil)
		}
		w := fx.do(r)
		if w.Code != http.StatusOK {
			return
		}
		action := reAction.FindStringSubmatch(w.Body.String())
		if action == nil || (action[1] != appACS && action[1] != appACS2) {
			t.Fatalf("form posts to %v", action)
		}
	})
}
