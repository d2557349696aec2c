package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// nameIDFormatEmail is the NameID format of the generated assertions.
const nameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"

// responsePlan describes the Responses to pre-sign.
type responsePlan struct {
	IdP       *samltest.IdP
	Audience  string
	Endpoints []loadkit.Endpoint
	Users     int
	Count     int
	// Now is the issue instant of every Response.
	Now time.Time
	// Lifetime is NotOnOrAfter - Now.
	Lifetime time.Duration
	// Sign says which elements are signed.
	Sign samltest.SignMode
	// Workers is the signing parallelism.
	Workers int
}

// userAttributes are the 8 attributes of user u (the size of a typical
// enterprise IdP's assertion, as in sp's BenchmarkSignIn).
func userAttributes(u int) (nameID string, attrs map[string][]string) {
	nameID = fmt.Sprintf("user%04d@example.com", u)
	attrs = map[string][]string{
		"email":       {nameID},
		"displayName": {fmt.Sprintf("Load User %04d", u)},
		"givenName":   {"Load"},
		"surname":     {fmt.Sprintf("User%04d", u)},
		"groups":      {"engineering", fmt.Sprintf("team-%02d", u%10), "all-staff"},
		"department":  {"Platform Engineering"},
		"employeeId":  {fmt.Sprintf("E-%07d", u)},
		"costCenter":  {fmt.Sprintf("CC-%04d", 4700+u%20)},
	}
	return nameID, attrs
}

// options returns the samltest options of Response i: user i mod Users, ACS
// endpoint i mod len(Endpoints), fresh Response, assertion and session IDs.
func (p responsePlan) options(i int) samltest.ResponseOptions {
	ep := p.Endpoints[i%len(p.Endpoints)]
	nameID, attrs := userAttributes(i % p.Users)
	return samltest.ResponseOptions{
		Now:          p.Now,
		Destination:  ep.URL,
		Recipient:    ep.URL,
		Audience:     p.Audience,
		NameID:       nameID,
		NameIDFormat: nameIDFormatEmail,
		Attributes:   attrs,
		NotOnOrAfter: p.Now.Add(p.Lifetime),
		Sign:         p.Sign,
	}
}

// presign builds and signs p.Count Responses with p.Workers goroutines
// (see loadkit.Presign).
func presign(ctx context.Context, p responsePlan, progress func(done int)) ([]loadkit.Request, error) {
	if p.IdP == nil || p.Users <= 0 || p.Count < 0 || len(p.Endpoints) == 0 || p.Lifetime <= 0 {
		return nil, errors.New("presign: IdP, users, endpoints and lifetime are required")
	}
	return loadkit.Presign(ctx, p.Count, p.Workers, func(i int) (loadkit.Request, error) {
		o := p.options(i)
		enc, err := p.IdP.EncodedResponse(o)
		if err != nil {
			return loadkit.Request{}, fmt.Errorf("presign response %d: %w", i, err)
		}
		return loadkit.Request{URL: o.Destination, Body: []byte("SAMLResponse=" + url.QueryEscape(enc))}, nil
	}, progress)
}
