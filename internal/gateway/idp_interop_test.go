package gateway_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/speers"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// requirePeer skips t when the named third-party program is not installed,
// or fails it when GATEHOUSE_REQUIRE_PEERS is set, as internal/speers does.
func requirePeer(t *testing.T, name string) {
	t.Helper()
	ok, hint := speers.Available(name)
	testpeer.Require(t, "SP "+name, ok, hint)
}

// interopPeer is a third-party SP and the application entry it gets.
type interopPeer struct {
	name  string
	start func(testing.TB, speers.SPOptions) speers.SP
	opts  speers.SPOptions // IdPMetadata is filled in
	app   application      // metadata is filled in
}

// interopPeers: every SP accepts IdP-initiated responses (AllowUnsolicited)
// so one instance serves both flows; the SP-initiated flow then checks
// InResponseTo itself. node-saml refuses a plaintext assertion when it
// expects encryption (see internal/speers), so it proves the assertion was
// encrypted to it; its Response is signed too, which is the signature
// xmlsec1 can check without its decryption key.
var interopPeers = []interopPeer{
	{
		name: speers.NameShibboleth, start: speers.StartShibboleth,
		opts: speers.SPOptions{AllowUnsolicited: true},
		app:  application{id: "shibboleth", nameIDFormat: "emailAddress", sign: "both"},
	},
	{
		name: speers.NameNodeSAML, start: speers.StartNodeSAML,
		opts: speers.SPOptions{AllowUnsolicited: true, EncryptAssertions: true},
		app:  application{id: "node-saml", nameIDFormat: "persistent", sign: "both", encrypt: true},
	},
	{
		name: speers.NamePySAML2, start: speers.StartPySAML2,
		opts: speers.SPOptions{AllowUnsolicited: true},
		app:  application{id: "pysaml2", nameIDFormat: "persistent", defaultRelayState: "/whoami?launched=portal"},
	},
}

// TestIdPInterop signs alice in to three independent third-party SPs
// through the gateway's app-facing IdP, whose identity source is an
// upstream SAML IdP: SP-initiated and IdP-initiated, each SP reading the
// mapped attributes, xmlsec1 verifying every issued response with the
// published certificate; and bob, who is not assigned, gets the error page
// and nothing is sent to any SP.
func TestIdPInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	h := newIdPHarness(t)

	// The SPs start first, trusting the IdP metadata built from the key
	// ring created above; the gateway then starts with their metadata.
	sps := map[string]speers.SP{}
	var apps []application
	for _, p := range interopPeers {
		if ok, _ := speers.Available(p.name); !ok {
			continue // its subtest skips or fails
		}
		o := p.opts
		o.IdPMetadata = h.idpMetadata
		began := time.Now()
		sp := p.start(t, o)
		t.Logf("%s started in %s", p.name, time.Since(began).Round(time.Millisecond))
		sps[p.name] = sp
		a := p.app
		a.metadata = sp.Metadata()
		apps = append(apps, a)
	}
	if len(apps) > 0 {
		h.startGateway(t, apps, gatewayOptions{})
		// The SPs were given exactly what the gateway serves.
		served, err := h.servedIdPMetadata(http.DefaultClient)
		require.NoError(t, err)
		require.Equal(t, string(h.idpMetadata), string(served))
	}

	alice := upstreamUsers[aliceName]
	for _, p := range interopPeers {
		t.Run(p.name, func(t *testing.T) {
			requirePeer(t, p.name)
			sp := sps[p.name]
			require.NotNil(t, sp)

			// want is what the SP must report for alice.
			want := func(t *testing.T, c *http.Client) speers.Result {
				t.Helper()
				status, body := getSession(t, c, h.base)
				require.Equal(t, http.StatusOK, status)
				userID, _ := body["user"].(map[string]any)["id"].(string)
				require.NotEmpty(t, userID)
				r := speers.Result{Attributes: map[string][]string{
					"uid":         {aliceName},
					"email":       {alice.Email},
					"displayName": {alice.DisplayName},
					"groups":      alice.Groups,
				}}
				switch p.app.nameIDFormat {
				case "emailAddress":
					r.NameID, r.NameIDFormat = alice.Email, speers.NameIDFormatEmail
				case "persistent":
					r.NameID = idp.PersistentNameID(h.persistentSecret(t), sp.EntityID(), userID)
					r.NameIDFormat = speers.NameIDFormatPersistent
					require.NotEqual(t, userID, r.NameID)
				}
				return r
			}
			checkResult := func(t *testing.T, want, got speers.Result) {
				t.Helper()
				assert.Equal(t, want.NameID, got.NameID)
				if got.NameIDFormat != "" {
					assert.Equal(t, want.NameIDFormat, got.NameIDFormat)
				}
				require.ElementsMatch(t, slices.Collect(maps.Keys(want.Attributes)), slices.Collect(maps.Keys(got.Attributes)))
				for k, v := range want.Attributes {
					assert.ElementsMatch(t, v, got.Attributes[k], k)
				}
				assert.Len(t, got.Attributes["groups"], len(alice.Groups), "groups is multi-valued")
			}
			issued := func(inResponseTo string) issuedResponse {
				return issuedResponse{acs: sp.ACSURL(), inResponseTo: inResponseTo, sign: p.app.sign, encrypted: p.app.encrypt}
			}

			t.Run("SP-initiated", func(t *testing.T) {
				c := newRecorder(t)
				// The SP's protected page sends the browser to the gateway's
				// SSO endpoint; without a session the gateway sends it to the
				// upstream IdP's login page.
				p0 := getPage(t, c.Client, sp.LoginURL())
				sso := c.visitedPath("/saml/idp/sso")
				require.NotNil(t, sso, "the SP did not redirect to the gateway's SSO endpoint")
				req, relayState, err := samltest.ParseAuthnRequestFromRedirect(sso)
				require.NoError(t, err)
				require.Equal(t, sp.EntityID(), req.Issuer)
				require.NotNil(t, c.visitedPath("/saml/sp/login"))

				end := h.signInUpstream(t, c.Client, p0, aliceName)
				require.Equal(t, http.StatusOK, end.status, end.body)
				require.Equal(t, idp.DefaultResumePath, end.url.Path)
				form, err := parseForm(end.body)
				require.NoError(t, err)
				require.Equal(t, sp.ACSURL(), form.action)
				require.Equal(t, relayState, form.hidden.Get("RelayState"))
				samlResponse := form.hidden.Get("SAMLResponse")
				checkResponse(t, samlResponse, h.currentCertPEM(), issued(req.ID))

				got, err := sp.Complete(ctx, c.Client, form.action, samlResponse, form.hidden.Get("RelayState"))
				require.NoError(t, err)
				checkResult(t, want(t, c.Client), got)
			})

			t.Run("IdP-initiated", func(t *testing.T) {
				c := newRecorder(t)
				h.signIn(t, c.Client, aliceName)
				launch := getPage(t, c.Client, h.base+"/saml/idp/launch/"+p.app.id)
				require.Equal(t, http.StatusOK, launch.status, launch.body)
				form, err := parseForm(launch.body)
				require.NoError(t, err)
				require.Equal(t, sp.ACSURL(), form.action)
				require.Equal(t, p.app.defaultRelayState, form.hidden.Get("RelayState"))
				if p.app.defaultRelayState == "" {
					require.NotContains(t, form.hidden, "RelayState")
				}
				samlResponse := form.hidden.Get("SAMLResponse")
				checkResponse(t, samlResponse, h.currentCertPEM(), issued(""))

				got, err := sp.Complete(ctx, c.Client, form.action, samlResponse, form.hidden.Get("RelayState"))
				require.NoError(t, err)
				checkResult(t, want(t, c.Client), got)
			})

			t.Run("unassigned user", func(t *testing.T) {
				c := newRecorder(t)
				p0 := getPage(t, c.Client, sp.LoginURL())
				end := h.signInUpstream(t, c.Client, p0, bobName)
				assertUnassignedPage(t, h, end, idp.DefaultResumePath)

				// Signed in at the gateway now: the launch link and a second
				// SP-initiated attempt get the same page, straight away.
				launch := getPage(t, c.Client, h.base+"/saml/idp/launch/"+p.app.id)
				assertUnassignedPage(t, h, launch, "/saml/idp/launch/"+p.app.id)
				again := getPage(t, c.Client, sp.LoginURL())
				assertUnassignedPage(t, h, again, "/saml/idp/sso")
			})
		})
	}
}

// assertUnassignedPage: the gateway's 403 error page at path, with no form
// and no SAMLResponse for anyone.
func assertUnassignedPage(t *testing.T, h *idpHarness, p page, path string) {
	t.Helper()
	assert.Equal(t, http.StatusForbidden, p.status)
	assert.Equal(t, h.base+path, p.at())
	assert.Truef(t, strings.Contains(p.body, "No access to this application"), "not the unassigned page at %s", p.at())
	assert.Falsef(t, strings.Contains(p.body, "SAMLResponse") || strings.Contains(p.body, "<form"),
		"the page at %s sends something to an application", p.at())
}

// rotationLog is what the launches during a key rotation saw.
type rotationLog struct {
	mu        sync.Mutex
	failures  []string
	successes int
	byKey     map[string]int // launches per signing certificate fingerprint
	inWindow  int            // successes started while the next key was published, not active
}

func (l *rotationLog) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

func (l *rotationLog) read() (successes, inWindow int, byKey map[string]int, failures []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byKey = map[string]int{}
	for k, v := range l.byKey {
		byKey[k] = v
	}
	return l.successes, l.inWindow, byKey, slices.Clone(l.failures)
}

// waitUntil polls cond until it holds, failing t after a generous bound
// (a wait, not a timing assertion: it only turns a hang into a failure).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdPKeyRotation rotates the IdP signing key (`keys rotate`, then
// `keys activate`, from another process's handle on keys.dir) while an
// application keeps receiving IdP-initiated sign-ins, and refreshes its copy
// of the IdP metadata every 200 ms as a real SP would: no sign-in fails,
// the next key is never used before activation, and both keys sign.
func TestIdPKeyRotation(t *testing.T) {
	useXMLSec := true
	if ok, _ := speers.Available("xmlsec1"); !ok {
		if os.Getenv(speers.RequirePeersEnv) != "" {
			requirePeer(t, "xmlsec1")
		}
		useXMLSec = false
		t.Log("xmlsec1 not installed: responses are checked by the SP only")
	}
	h := newIdPHarness(t)
	app, err := samltest.NewSP("https://app.example.test/saml/metadata", "https://app.example.test/saml/acs")
	require.NoError(t, err)
	appMD, err := app.Metadata(false, false)
	require.NoError(t, err)
	const appID = "rotating-app"
	h.startGateway(t, []application{{id: appID, metadata: appMD, nameIDFormat: "emailAddress"}},
		gatewayOptions{keyReloadInterval: 200 * time.Millisecond})

	c := newRecorder(t)
	h.signIn(t, c.Client, aliceName)
	_, oldCert := h.ring.Current()

	// The application's copy of the IdP metadata: the signing certificates
	// it trusts.
	var trusted atomic.Pointer[[]*x509.Certificate]
	var refreshes atomic.Int64
	fetchMetadata := func() ([]*x509.Certificate, error) {
		b, err := h.servedIdPMetadata(http.DefaultClient)
		if err != nil {
			return nil, err
		}
		md, err := metadata.ParseIdP(b, time.Now())
		if err != nil {
			return nil, err
		}
		if md.EntityID != h.entityID {
			return nil, fmt.Errorf("metadata of %q", md.EntityID)
		}
		return md.SigningCertificates, nil
	}
	certs, err := fetchMetadata()
	require.NoError(t, err)
	require.Len(t, certs, 1)
	trusted.Store(&certs)

	log := &rotationLog{byKey: map[string]int{}}
	var rotated, activated atomic.Bool
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			certs, err := fetchMetadata()
			if err != nil {
				if ctx.Err() == nil {
					log.fail("metadata refresh: %v", err)
				}
				continue
			}
			trusted.Store(&certs)
			refreshes.Add(1)
		}
	})
	launchURL := h.base + "/saml/idp/launch/" + appID
	launchOnce := func() {
		// The SP's metadata copy as the sign-in starts (see the report on
		// responses in flight across an activation).
		certs := *trusted.Load()
		wasRotated, wasActivated := rotated.Load(), activated.Load()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, launchURL, nil)
		if err != nil {
			log.fail("request: %v", err)
			return
		}
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				log.fail("launch: %v", err)
			}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			if ctx.Err() == nil {
				log.fail("launch: HTTP %d, %v: %.200s", resp.StatusCode, err, body)
			}
			return
		}
		form, err := parseForm(string(body))
		if err != nil || form.action != app.ACSURL() {
			log.fail("auto-submit page: %v, action %q", err, form.action)
			return
		}
		samlResponse := form.hidden.Get("SAMLResponse")
		now := time.Now()
		a, err := app.Verify(h.entityID, certs, samlResponse, now)
		if err != nil {
			log.fail("the SP rejected the response (trusting %d certificates): %v", len(certs), err)
			return
		}
		if a.NameID() != upstreamUsers[aliceName].Email || !slices.Equal(a.Attribute("uid"), []string{aliceName}) {
			log.fail("wrong subject %q or uid %q", a.NameID(), a.Attribute("uid"))
			return
		}
		xml, err := saml.DecodePOST(samlResponse, saml.Limits{})
		if err != nil {
			log.fail("decode: %v", err)
			return
		}
		signers, err := inspectResponse(xml, issuedResponse{acs: app.ACSURL()})
		if err != nil || len(signers) != 1 {
			log.fail("response: %v, %d KeyInfo certificates", err, len(signers))
			return
		}
		signer := signers[0]
		// Which key signed: the KeyInfo certificate, one the SP trusts,
		// and the signature verifies with it alone.
		if !slices.ContainsFunc(certs, func(c *x509.Certificate) bool { return sameCert(c, signer) }) {
			log.fail("signed with a certificate the SP does not trust")
			return
		}
		if _, err := app.Verify(h.entityID, []*x509.Certificate{signer}, samlResponse, now); err != nil {
			log.fail("the KeyInfo certificate does not verify the response: %v", err)
			return
		}
		if useXMLSec {
			if err := speers.XMLSecVerify(t, xml, certPEM(signer)); err != nil {
				log.fail("xmlsec1: %v", err)
				return
			}
		}
		if !wasActivated && !sameCert(signer, oldCert) {
			log.fail("signed with the next key before it was activated")
			return
		}
		log.mu.Lock()
		log.successes++
		log.byKey[keys.Fingerprint(signer)]++
		if wasRotated && !wasActivated {
			log.inWindow++
		}
		log.mu.Unlock()
	}
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				launchOnce()
			}
		})
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			stop()
			wg.Wait()
		}
	}
	defer stopLoad()

	successes := func() int { n, _, _, _ := log.read(); return n }
	noFailures := func() bool { _, _, _, f := log.read(); return len(f) == 0 }
	waitUntil(t, "5 sign-ins with the first key", func() bool { return successes() >= 5 || !noFailures() })

	// `gatehouse keys rotate`, from another handle on keys.dir.
	rot, err := keys.OpenRing(h.keysDir, keys.IdPSigningRing, keys.RingOptions{CommonName: keys.IdPSigningCommonName})
	require.NoError(t, err)
	rotated.Store(true)
	nextCert, err := rot.Rotate()
	require.NoError(t, err)
	require.False(t, sameCert(oldCert, nextCert))

	both := string(h.buildIdPMetadata(t, []*x509.Certificate{oldCert, nextCert}))
	waitUntil(t, "the gateway publishes both certificates", func() bool {
		b, err := h.servedIdPMetadata(http.DefaultClient)
		return err == nil && string(b) == both
	})
	since := refreshes.Load()
	waitUntil(t, "the SP refreshes its metadata", func() bool {
		certs := *trusted.Load()
		return refreshes.Load() > since+1 && len(certs) == 2 && sameCert(certs[1], nextCert)
	})
	waitUntil(t, "3 sign-ins while the next key is published", func() bool {
		_, inWindow, _, _ := log.read()
		return inWindow >= 3 || !noFailures()
	})

	// `gatehouse keys activate`.
	activated.Store(true)
	require.NoError(t, rot.Activate())
	nextFP := keys.Fingerprint(nextCert)
	waitUntil(t, "the gateway signs with the new key", func() bool {
		_, _, byKey, _ := log.read()
		return byKey[nextFP] > 0 || !noFailures()
	})
	n := successes()
	waitUntil(t, "10 more sign-ins", func() bool { return successes() >= n+10 || !noFailures() })
	stopLoad()

	total, inWindow, byKey, failures := log.read()
	t.Logf("%d sign-ins: %d with the first key (%d of them while the next was published), %d with the next",
		total, byKey[keys.Fingerprint(oldCert)], inWindow, byKey[nextFP])
	require.Empty(t, failures)
	assert.Positive(t, byKey[keys.Fingerprint(oldCert)], "the first key signed")
	assert.Positive(t, byKey[nextFP], "the next key signed")
	assert.Len(t, byKey, 2)

	// The old key stays published, after the new one, for the grace period.
	served, err := h.servedIdPMetadata(http.DefaultClient)
	require.NoError(t, err)
	assert.Equal(t, string(h.buildIdPMetadata(t, []*x509.Certificate{nextCert, oldCert})), string(served))
}
