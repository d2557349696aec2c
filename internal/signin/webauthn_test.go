package signin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

var b64u = base64.RawURLEncoding

// softKey is a software WebAuthn authenticator: an ECDSA P-256 key with
// attestation "none" and a signature counter.
type softKey struct {
	priv   *ecdsa.PrivateKey
	credID []byte
	count  uint32
}

func newSoftKey(t testing.TB) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	id := make([]byte, 32)
	_, err = rand.Read(id)
	require.NoError(t, err)
	return &softKey{priv: priv, credID: id}
}

// ceremony describes one response of the authenticator and the browser;
// the zero value is a valid one, each field changes one thing.
type ceremony struct {
	origin     string // clientDataJSON origin
	rpID       string // hashed into the authenticator data
	typ        string // clientDataJSON type
	challenge  string // instead of the one in the options
	count      *uint32
	flags      byte
	signWith   *ecdsa.PrivateKey
	crossOrig  bool
	userHandle []byte
}

func (k *softKey) coseKey(t testing.TB) []byte {
	t.Helper()
	pub, err := k.priv.PublicKey.Bytes() // 0x04 || X || Y
	require.NoError(t, err)
	b, err := cborEnc(t).Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	require.NoError(t, err)
	return b
}

func cborEnc(t testing.TB) cbor.EncMode {
	t.Helper()
	em, err := cbor.CTAP2EncOptions().EncMode()
	require.NoError(t, err)
	return em
}

// optionsChallenge returns the challenge of options JSON from Begin*.
func optionsChallenge(t testing.TB, options []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(options, &o))
	require.NotEmpty(t, o.PublicKey.Challenge)
	return o.PublicKey.Challenge
}

func (c ceremony) clientData(t testing.TB, typ, challenge string) []byte {
	t.Helper()
	if c.typ != "" {
		typ = c.typ
	}
	if c.challenge != "" {
		challenge = c.challenge
	}
	o := origin
	if c.origin != "" {
		o = c.origin
	}
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": o, "crossOrigin": c.crossOrig})
	require.NoError(t, err)
	return b
}

func (k *softKey) authData(c ceremony, flags byte, count uint32, attested []byte) []byte {
	rp := rpID
	if c.rpID != "" {
		rp = c.rpID
	}
	if c.flags != 0 {
		flags = c.flags
	}
	h := sha256.Sum256([]byte(rp))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// create answers navigator.credentials.create options (a registration).
func (k *softKey) create(t testing.TB, options []byte, c ceremony) []byte {
	t.Helper()
	count := k.count
	if c.count != nil {
		count = *c.count
	}
	att := make([]byte, 16) // AAGUID
	att = binary.BigEndian.AppendUint16(att, uint16(len(k.credID)))
	att = append(att, k.credID...)
	att = append(att, k.coseKey(t)...)
	authData := k.authData(c, flagUP|flagUV|flagAT, count, att)
	clientData := c.clientData(t, "webauthn.create", optionsChallenge(t, options))
	attObj, err := cborEnc(t).Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	require.NoError(t, err)
	return k.credentialJSON(t, map[string]any{
		"clientDataJSON":    b64u.EncodeToString(clientData),
		"attestationObject": b64u.EncodeToString(attObj),
		"transports":        []string{"usb"},
	})
}

// get answers navigator.credentials.get options (an assertion); the
// counter advances unless c sets it.
func (k *softKey) get(t testing.TB, options []byte, c ceremony) []byte {
	t.Helper()
	k.count++
	count := k.count
	if c.count != nil {
		count = *c.count
	}
	authData := k.authData(c, flagUP|flagUV, count, nil)
	clientData := c.clientData(t, "webauthn.get", optionsChallenge(t, options))
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	signer := k.priv
	if c.signWith != nil {
		signer = c.signWith
	}
	sig, err := ecdsa.SignASN1(rand.Reader, signer, digest[:])
	require.NoError(t, err)
	resp := map[string]any{
		"clientDataJSON":    b64u.EncodeToString(clientData),
		"authenticatorData": b64u.EncodeToString(authData),
		"signature":         b64u.EncodeToString(sig),
	}
	if c.userHandle != nil {
		resp["userHandle"] = b64u.EncodeToString(c.userHandle)
	}
	return k.credentialJSON(t, resp)
}

func (k *softKey) credentialJSON(t testing.TB, response map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id":                      b64u.EncodeToString(k.credID),
		"rawId":                   b64u.EncodeToString(k.credID),
		"type":                    "public-key",
		"response":                response,
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": "cross-platform",
	})
	require.NoError(t, err)
	return b
}

// registerKey signs user in (MFA required, no device yet) and registers
// key; it returns the device.
func (e *env) registerKey(user sp.User, key *softKey, name string) signin.MFADevice {
	e.t.Helper()
	step := e.mustStart(user.UserName, goodPW, signin.StageRegister)
	options, err := e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
	require.NoError(e.t, err)
	done, err := e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(e.t, options, ceremony{}), name, addr)
	require.NoError(e.t, err)
	require.Equal(e.t, signin.StageDone, done.Stage)
	for _, d := range e.devices(user.ID) {
		if string(d.CredentialID) == string(key.credID) {
			return d
		}
	}
	require.FailNow(e.t, "registered key missing")
	return signin.MFADevice{}
}

// beginAssertion starts a sign-in at StageMFA and a WebAuthn assertion.
func (e *env) beginAssertion(name string) (flowID string, options []byte) {
	e.t.Helper()
	step := e.mustStart(name, goodPW, signin.StageMFA)
	options, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.NoError(e.t, err)
	return step.FlowID, options
}

func TestWebAuthnRegistration(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	step := e.mustStart("alice", goodPW, signin.StageRegister)

	options, err := e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	var o struct {
		PublicKey struct {
			RP struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"rp"`
			User struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"user"`
			Attestation string `json:"attestation"`
		} `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(options, &o))
	assert.Equal(t, rpID, o.PublicKey.RP.ID)
	assert.Equal(t, "Gatehouse", o.PublicKey.RP.Name)
	assert.Equal(t, "alice", o.PublicKey.User.Name)
	assert.NotContains(t, o.PublicKey.User.ID, b64u.EncodeToString([]byte(alice.ID)), "the user handle does not reveal the ID")
	assert.Equal(t, "none", o.PublicKey.Attestation)

	n := e.audit.count()
	done, err := e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(t, options, ceremony{}), "YubiKey", addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
	devices := e.devices(alice.ID)
	require.Len(t, devices, 1)
	d := devices[0]
	assert.Equal(t, signin.KindWebAuthn, d.Kind)
	assert.Equal(t, "YubiKey", d.Name)
	assert.Equal(t, key.credID, d.CredentialID)
	assert.Equal(t, uint32(0), d.SignCount)
	assert.Empty(t, d.Secret)
	var cred struct {
		ID        []byte `json:"id"`
		PublicKey []byte `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(d.Credential, &cred))
	assert.Equal(t, key.credID, cred.ID)
	assert.Equal(t, key.coseKey(t), cred.PublicKey)
	got := e.requireAttempts(n, "ok", "ok")
	assert.Equal(t, signin.Attempt{Event: "mfa.register", Success: true, UserID: alice.ID, Credential: "webauthn", DeviceID: d.ID, Address: addr}, got[0])
	assert.Equal(t, signin.Attempt{
		Event: "signin", Success: true, UserID: alice.ID, Credential: "webauthn",
		Factors: []string{"password", "webauthn"}, DeviceID: d.ID, Address: addr,
	}, got[1])

	// Single use.
	_, err = e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(t, options, ceremony{}), "", addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)

	// The key now signs in.
	flowID, options := e.beginAssertion("alice")
	done, err = e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
}

// TestWebAuthnRegistrationRefused starts from a valid registration and
// changes one thing.
func TestWebAuthnRegistrationRefused(t *testing.T) {
	cases := []struct {
		name   string
		c      ceremony
		body   func(k *softKey, body []byte) []byte
		begin  bool // call BeginWebAuthnRegistration first
		reason string
		err    error
	}{
		{name: "valid", begin: true},
		{name: "wrong origin", c: ceremony{origin: "https://evil.example.com"}, begin: true, reason: "invalid_webauthn"},
		{name: "wrong rpId hash", c: ceremony{rpID: "example.com"}, begin: true, reason: "invalid_webauthn"},
		{name: "wrong type", c: ceremony{typ: "webauthn.get"}, begin: true, reason: "invalid_webauthn"},
		{name: "wrong challenge", c: ceremony{challenge: b64u.EncodeToString(make([]byte, 32))}, begin: true, reason: "invalid_webauthn"},
		{name: "no user presence", c: ceremony{flags: flagUV | flagAT}, begin: true, reason: "invalid_webauthn"},
		{name: "not begun", begin: false, reason: "invalid_webauthn"},
		{name: "malformed", begin: true, body: func(_ *softKey, b []byte) []byte { return b[:len(b)/2] }, reason: "webauthn_malformed"},
		{name: "oversized", begin: true, body: func(_ *softKey, b []byte) []byte {
			return append(b[:len(b)-1], []byte(`,"pad":"`+strings.Repeat("x", 64<<10)+`"}`)...)
		}, reason: "invalid_webauthn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRealTimeEnv(t, nil)
			alice := e.user("alice", goodPW)
			key := newSoftKey(t)
			step := e.mustStart("alice", goodPW, signin.StageRegister)
			options := []byte(`{"publicKey":{"challenge":"` + b64u.EncodeToString(make([]byte, 32)) + `"}}`)
			var err error
			if tc.begin {
				options, err = e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
				require.NoError(t, err)
			}
			body := key.create(t, options, tc.c)
			if tc.body != nil {
				body = tc.body(key, body)
			}
			n, ns := e.audit.count(), e.sessions.count()
			done, err := e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, body, "", addr)
			if tc.reason == "" {
				require.NoError(t, err)
				e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
				assert.Equal(t, "Security key", e.devices(alice.ID)[0].Name, "the default name")
				return
			}
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			got := e.requireAttempts(n, tc.reason)
			assert.Equal(t, "mfa.register", got[0].Event)
			assert.Equal(t, "webauthn", got[0].Credential)
			e.requireNoSessionSince(ns)
			assert.Empty(t, e.devices(alice.ID))
			assert.Equal(t, 1, e.lockout(alice.ID).Failures)
		})
	}
}

func TestWebAuthnRegistrationDuplicateKey(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	bob := e.user("bob", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")

	step := e.mustStart("bob", goodPW, signin.StageRegister)
	options, err := e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	n, ns := e.audit.count(), e.sessions.count()
	_, err = e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(t, options, ceremony{}), "", addr)
	require.ErrorIs(t, err, signin.ErrBadRequest)
	e.requireAttempts(n, "duplicate_credential")
	e.requireNoSessionSince(ns)
	assert.Empty(t, e.devices(bob.ID))
}

func TestWebAuthnSignIn(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	dev := e.registerKey(alice, key, "key")

	step := e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, []signin.DeviceKind{signin.KindWebAuthn}, step.Methods)
	options, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.NoError(t, err)
	var o struct {
		PublicKey struct {
			RPID  string `json:"rpId"`
			Allow []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(options, &o))
	assert.Equal(t, rpID, o.PublicKey.RPID)
	require.Len(t, o.PublicKey.Allow, 1)
	assert.Equal(t, b64u.EncodeToString(key.credID), o.PublicKey.Allow[0].ID)

	n := e.audit.count()
	body := key.get(t, options, ceremony{})
	done, err := e.svc.FinishWebAuthn(e.ctx, step.FlowID, body, addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
	got := e.requireAttempts(n, "ok")
	assert.Equal(t, signin.Attempt{
		Event: "signin", Success: true, UserID: alice.ID, Credential: "webauthn",
		Factors: []string{"password", "webauthn"}, DeviceID: dev.ID, Address: addr,
	}, got[0])
	d := e.devices(alice.ID)[0]
	assert.Equal(t, key.count, d.SignCount, "the counter is stored")
	assert.True(t, d.LastUsedAt.Equal(e.clock.Now()))

	// The same response posted twice: the flow is gone.
	ns := e.sessions.count()
	_, err = e.svc.FinishWebAuthn(e.ctx, step.FlowID, body, addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	// Replayed into a new flow (another challenge): refused.
	flowID, _ := e.beginAssertion("alice")
	n = e.audit.count()
	_, err = e.svc.FinishWebAuthn(e.ctx, flowID, body, addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	e.requireAttempts(n, "invalid_webauthn")
	e.requireNoSessionSince(ns)
	// The failure used up the challenge: a valid answer to it is refused
	// too, until BeginWebAuthn again.
	_, options = e.beginAssertion("alice")
	_, err = e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	options, err = e.svc.BeginWebAuthn(e.ctx, flowID)
	require.NoError(t, err)
	done, err = e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
}

// TestWebAuthnAssertionRefused starts from a valid assertion and changes
// one thing; every refusal is audited and counted.
func TestWebAuthnAssertionRefused(t *testing.T) {
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	same := func(k *softKey) *uint32 { c := k.count; return &c }      // the last used value
	lower := func(k *softKey) *uint32 { c := k.count - 1; return &c } // below it
	cases := []struct {
		name   string
		c      func(k *softKey) ceremony
		body   func(k *softKey, options, body []byte) []byte
		begin  bool
		reason string
	}{
		{name: "valid", begin: true},
		{name: "wrong origin", c: func(*softKey) ceremony { return ceremony{origin: "https://gw.example.com.evil.test"} }, begin: true, reason: "invalid_webauthn"},
		{name: "http origin", c: func(*softKey) ceremony { return ceremony{origin: "http://gw.example.com"} }, begin: true, reason: "invalid_webauthn"},
		{name: "wrong rpId hash", c: func(*softKey) ceremony { return ceremony{rpID: "example.com"} }, begin: true, reason: "invalid_webauthn"},
		{name: "wrong type", c: func(*softKey) ceremony { return ceremony{typ: "webauthn.create"} }, begin: true, reason: "invalid_webauthn"},
		{name: "wrong challenge", c: func(*softKey) ceremony { return ceremony{challenge: b64u.EncodeToString(make([]byte, 32))} }, begin: true, reason: "invalid_webauthn"},
		{name: "no user presence", c: func(*softKey) ceremony { return ceremony{flags: flagUV} }, begin: true, reason: "invalid_webauthn"},
		{name: "bad signature", c: func(*softKey) ceremony { return ceremony{signWith: other} }, begin: true, reason: "invalid_webauthn"},
		{name: "user handle of another user", c: func(*softKey) ceremony { return ceremony{userHandle: make([]byte, 32)} }, begin: true, reason: "invalid_webauthn"},
		{name: "counter did not advance", c: func(k *softKey) ceremony { return ceremony{count: same(k)} }, begin: true, reason: "webauthn_clone_warning"},
		{name: "counter went back", c: func(k *softKey) ceremony { return ceremony{count: lower(k)} }, begin: true, reason: "webauthn_clone_warning"},
		{name: "not begun", begin: false, reason: "webauthn_not_started"},
		{name: "malformed", begin: true, body: func(_ *softKey, _, b []byte) []byte { return b[:len(b)-1] }, reason: "webauthn_malformed"},
		{name: "not JSON", begin: true, body: func(_ *softKey, _, _ []byte) []byte { return []byte("\x00\xff") }, reason: "webauthn_malformed"},
		{name: "unknown credential", begin: true, body: func(k *softKey, options, _ []byte) []byte {
			k2 := newSoftKey(t)
			return k2.get(t, options, ceremony{})
		}, reason: "invalid_webauthn"},
		{name: "oversized", begin: true, body: func(_ *softKey, _, b []byte) []byte {
			return append(b[:len(b)-1], []byte(`,"pad":"`+strings.Repeat("x", 64<<10)+`"}`)...)
		}, reason: "invalid_webauthn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newRealTimeEnv(t, nil)
			alice := e.user("alice", goodPW)
			key := newSoftKey(t)
			e.registerKey(alice, key, "")
			// One sign-in so the counter is not zero.
			flowID, options := e.beginAssertion("alice")
			_, err := e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
			require.NoError(t, err)
			stored := e.devices(alice.ID)[0]

			step := e.mustStart("alice", goodPW, signin.StageMFA)
			options = []byte(`{"publicKey":{"challenge":"` + b64u.EncodeToString(make([]byte, 32)) + `"}}`)
			if tc.begin {
				options, err = e.svc.BeginWebAuthn(e.ctx, step.FlowID)
				require.NoError(t, err)
			}
			var c ceremony
			if tc.c != nil {
				c = tc.c(key)
			}
			body := key.get(t, options, c)
			if tc.body != nil {
				body = tc.body(key, options, body)
			}
			n, ns := e.audit.count(), e.sessions.count()
			done, err := e.svc.FinishWebAuthn(e.ctx, step.FlowID, body, otherAddr)
			if tc.reason == "" {
				require.NoError(t, err)
				e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
				return
			}
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			got := e.requireAttempts(n, tc.reason)
			assert.Equal(t, "signin", got[0].Event)
			assert.Equal(t, "webauthn", got[0].Credential)
			assert.Equal(t, alice.ID, got[0].UserID)
			assert.Equal(t, otherAddr, got[0].Address)
			e.requireNoSessionSince(ns)
			assert.Equal(t, 1, e.lockout(alice.ID).Failures, "counted against the account")
			assert.Equal(t, stored, e.devices(alice.ID)[0], "the device is unchanged")
		})
	}
}

// TestWebAuthnCounterless: an authenticator without a counter (always 0)
// signs in repeatedly; the challenge is what stops replays.
func TestWebAuthnCounterless(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	zero := uint32(0)
	for range 2 {
		flowID, options := e.beginAssertion("alice")
		done, err := e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{count: &zero}), addr)
		require.NoError(t, err)
		e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
	}
}

func TestWebAuthnFlowFailures(t *testing.T) {
	e := newRealTimeEnv(t, func(c *signin.Config) { c.Lockout.MaxFailures = 100 })
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	for i := range 5 {
		options, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
		require.NoError(t, err)
		_, err = e.svc.FinishWebAuthn(e.ctx, step.FlowID, key.get(t, options, ceremony{origin: "https://evil.test"}), addr)
		if i < 4 {
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
		} else {
			require.ErrorIs(t, err, signin.ErrNoFlow, "the fifth failure ends the flow")
		}
	}
	_, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	assert.Equal(t, 5, e.lockout(alice.ID).Failures)
}

// TestWebAuthnStoreFailure: a store outage while recording the key's use
// grants nothing.
func TestWebAuthnStoreFailure(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	flowID, options := e.beginAssertion("alice")
	e.store.setFail("UseWebAuthn", true)
	ns := e.sessions.count()
	_, err := e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.ErrorIs(t, err, signin.ErrUnavailable)
	e.requireNoSessionSince(ns)
	assert.Equal(t, uint32(0), e.devices(alice.ID)[0].SignCount)
}

func TestWebAuthnMixedDevices(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	// A TOTP device added through a second registration flow.
	secret, _ := e.registerTOTPNamed(alice, "phone")
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, []signin.DeviceKind{signin.KindTOTP, signin.KindWebAuthn}, step.Methods)
	// A started WebAuthn ceremony does not stop a TOTP code.
	_, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.NoError(t, err)
	e.clock.Advance(step30)
	done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
}

// FuzzFinishWebAuthn feeds arbitrary bodies to FinishWebAuthn after a
// BeginWebAuthn: it must never panic nor complete a sign-in.
func FuzzFinishWebAuthn(f *testing.F) {
	e := newRealTimeEnv(f, func(c *signin.Config) {
		c.Lockout.MaxFailures = 1 << 30
		c.AddressFailures = 1 << 30
	})
	alice := e.user("alice", goodPW)
	key := newSoftKey(f)
	e.registerKey(alice, key, "")
	// Seeds: a valid answer to another ceremony, and its parts.
	_, options := e.beginAssertion("alice")
	valid := key.get(f, options, ceremony{})
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"id":"","rawId":"","type":"public-key","response":{}}`))
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(strings.Replace(string(valid), `"type":"public-key"`, `"type":"public-key","type":"x"`, 1)))

	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t // the env's helpers report to this run
		flowID, _ := e.beginAssertion("alice")
		step, err := e.svc.FinishWebAuthn(e.ctx, flowID, body, addr)
		if err == nil || step.Stage == signin.StageDone || step.Session.ID != "" {
			t.Fatalf("an arbitrary body completed the sign-in: %v %+v", err, step)
		}
		if !errors.Is(err, signin.ErrInvalidCredentials) {
			t.Fatalf("want ErrInvalidCredentials, got %v", err)
		}
	})
}
