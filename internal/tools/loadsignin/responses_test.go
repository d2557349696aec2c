package main

import (
	"context"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func TestPresignBuildsDistinctValidResponses(t *testing.T) {
	idp := testIdP(t)
	s := site{loadkit.Site{Port: 18443}}
	now := time.Now().UTC().Truncate(time.Second)
	plan := responsePlan{
		IdP: idp, Audience: s.EntityID(), Endpoints: s.Endpoints(), Users: 3, Count: 6,
		Now: now, Lifetime: 10 * time.Minute, Workers: 2,
	}
	reqs, err := presign(context.Background(), plan, nil)
	require.NoError(t, err)
	require.Len(t, reqs, 6)

	v, err := saml.NewVerifier(saml.VerifierConfig{
		IdPEntityID:  idp.EntityID(),
		Certificates: []*x509.Certificate{idp.Certificate()},
		Audience:     s.EntityID(),
	})
	require.NoError(t, err)

	ids := map[string]bool{}
	for i, r := range reqs {
		wantURL := s.Endpoints()[i%2].URL
		assert.Equal(t, wantURL, r.URL, "the regional endpoints alternate")
		form, err := url.ParseQuery(string(r.Body))
		require.NoError(t, err)
		require.Len(t, form, 1)

		a, err := v.VerifyResponse(form.Get("SAMLResponse"), saml.Expected{Destination: wantURL, Now: now.Add(time.Minute)})
		require.NoError(t, err, "response %d", i)
		assert.Empty(t, a.InResponseTo(), "IdP-initiated")
		wantNameID, wantAttrs := userAttributes(i % 3)
		assert.Equal(t, wantNameID, a.NameID())
		assert.Equal(t, wantAttrs, a.Attributes())
		assert.Len(t, a.Attributes(), 8)
		assert.Equal(t, now.Add(10*time.Minute), a.NotOnOrAfter())
		assert.False(t, ids[a.ID()], "assertion IDs are distinct")
		ids[a.ID()] = true

		// The same Response is refused at the other region's endpoint.
		_, err = v.VerifyResponse(form.Get("SAMLResponse"), saml.Expected{Destination: s.Endpoints()[(i+1)%2].URL, Now: now.Add(time.Minute)})
		assert.Error(t, err)
	}
}

func TestPresignSignModes(t *testing.T) {
	idp := testIdP(t)
	s := site{loadkit.Site{Port: 18443}}
	for _, mode := range []samltest.SignMode{samltest.SignAssertion, samltest.SignBoth} {
		plan := responsePlan{IdP: idp, Audience: s.EntityID(), Endpoints: s.Endpoints(), Users: 1, Count: 1,
			Now: time.Now(), Lifetime: time.Minute, Workers: 1, Sign: mode}
		reqs, err := presign(context.Background(), plan, nil)
		require.NoError(t, err)
		form, err := url.ParseQuery(string(reqs[0].Body))
		require.NoError(t, err)
		xml, err := saml.DecodePOST(form.Get("SAMLResponse"), saml.Limits{})
		require.NoError(t, err)
		want := 1
		if mode == samltest.SignBoth {
			want = 2
		}
		assert.Equal(t, want, strings.Count(string(xml), "<ds:SignatureValue>"))
	}
}

func TestPresignRejectsBadPlans(t *testing.T) {
	good := responsePlan{IdP: testIdP(t), Audience: "a", Endpoints: site{loadkit.Site{Port: 1}}.Endpoints(), Users: 1, Count: 1,
		Now: time.Now(), Lifetime: time.Minute}
	_, err := presign(context.Background(), good, nil)
	require.NoError(t, err, "positive control")

	for name, edit := range map[string]func(*responsePlan){
		"no IdP":       func(p *responsePlan) { p.IdP = nil },
		"no users":     func(p *responsePlan) { p.Users = 0 },
		"no endpoints": func(p *responsePlan) { p.Endpoints = nil },
		"no lifetime":  func(p *responsePlan) { p.Lifetime = 0 },
		"no audience":  func(p *responsePlan) { p.Audience = "" }, // samltest refuses
	} {
		t.Run(name, func(t *testing.T) {
			p := good
			edit(&p)
			_, err := presign(context.Background(), p, nil)
			assert.Error(t, err)
		})
	}
}
