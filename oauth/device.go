package oauth

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Device flow defaults (RFC 8628).
const (
	// DefaultDeviceCodeLifetime is the lifetime of a device authorization
	// when DeviceConfig.Lifetime is zero.
	DefaultDeviceCodeLifetime = 10 * time.Minute
	// DefaultDeviceInterval is the minimum polling interval when
	// DeviceConfig.Interval is zero (RFC 8628 section 3.2).
	DefaultDeviceInterval = 5 * time.Second
	// deviceSlowDownStep is added to the interval on every slow_down
	// (RFC 8628 section 3.5).
	deviceSlowDownStep = 5 * time.Second
	// deviceCreateAttempts bounds the retries when a generated code
	// collides with one in use.
	deviceCreateAttempts = 5
)

// User codes (RFC 8628 section 6.1): 8 characters from 20 consonants, no
// vowels (no words) and no look-alike digits, shown as XXXX-XXXX. That is
// 20^8 ≈ 2.6e10 values; with the default 10 minute lifetime the caller
// must rate-limit the verification page (per source and per signed-in
// user) so that guessing a live code stays out of reach.
const (
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	UserCodeLength   = 8
	// maxUserCodeInput bounds what normalizeUserCode reads.
	maxUserCodeInput = 64
)

// ErrInvalidUserCode is returned for a user code that is not 8 characters
// from UserCodeAlphabet (ignoring case, dashes and spaces).
var ErrInvalidUserCode = errors.New("oauth: invalid user code")

// DeviceConfig configures NewDeviceAuthorizationHandler.
type DeviceConfig struct {
	// TokenEndpoint is the aud required in private_key_jwt client
	// assertions, as at the token endpoint; required.
	TokenEndpoint string
	Clients       ClientStore // required
	JTIs          JTIStore    // client assertion replay; required
	Devices       DeviceStore // required
	// DataServices are the token endpoint's data services: audience and
	// scope are narrowed here exactly as there.
	DataServices []DataService
	// VerificationURI is where the user enters the code, e.g.
	// https://gw.example.com/device: an absolute http(s) URL without
	// query or fragment; required.
	VerificationURI string
	Lifetime        time.Duration // zero: DefaultDeviceCodeLifetime
	Interval        time.Duration // zero: DefaultDeviceInterval
	MaxTokenSize    int           // client assertions; zero: DefaultMaxTokenSize
	MaxBody         int64         // zero: DefaultMaxTokenBody
	Now             func() time.Time
	Logger          *slog.Logger
	Audit           AuditSink // nil: no audit
	// Rand is the source of device and user codes; nil means
	// crypto/rand.Reader. Only tests set it.
	Rand io.Reader
}

type deviceHandler struct {
	auth     clientAuthenticator
	devices  DeviceStore
	services dataServices
	verify   string
	lifetime time.Duration
	interval time.Duration
	maxBody  int64
	now      func() time.Time
	log      *slog.Logger
	audit    AuditSink
	rand     io.Reader
}

// NewDeviceAuthorizationHandler returns the RFC 8628 device authorization
// endpoint (POST PathDeviceAuthorization). The client authenticates as at
// the token endpoint (public clients included: a CLI is one) and must be
// allowed GrantDeviceCode; audience, resource and scope are narrowed as at
// the token endpoint (a client with one audience may name none). The
// device code (256 random bits) and the user code are handed out once;
// the store keeps only the device code's SHA-256.
func NewDeviceAuthorizationHandler(cfg DeviceConfig) (http.Handler, error) {
	u, err := url.Parse(cfg.TokenEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oauth: device authorization: token endpoint %q must be an absolute URL", cfg.TokenEndpoint)
	}
	v, err := url.Parse(cfg.VerificationURI)
	if err != nil || (v.Scheme != "https" && v.Scheme != "http") || v.Host == "" || v.RawQuery != "" || v.ForceQuery || v.Fragment != "" {
		return nil, fmt.Errorf("oauth: device authorization: verification URI %q must be an absolute http(s) URL without query or fragment", cfg.VerificationURI)
	}
	if cfg.Clients == nil || cfg.JTIs == nil || cfg.Devices == nil {
		return nil, errors.New("oauth: device authorization: clients, JTI store and device store are required")
	}
	if cfg.Lifetime < 0 || cfg.Interval < 0 || cfg.MaxTokenSize < 0 || cfg.MaxBody < 0 {
		return nil, errors.New("oauth: device authorization: negative lifetime, interval or size limit")
	}
	services, err := newDataServices("device authorization", cfg.DataServices)
	if err != nil {
		return nil, err
	}
	h := &deviceHandler{
		auth: clientAuthenticator{
			clients:       cfg.Clients,
			jtis:          cfg.JTIs,
			tokenEndpoint: cfg.TokenEndpoint,
			maxTokenSize:  cmp.Or(cfg.MaxTokenSize, DefaultMaxTokenSize),
		},
		devices:  cfg.Devices,
		services: services,
		verify:   cfg.VerificationURI,
		lifetime: cmp.Or(cfg.Lifetime, DefaultDeviceCodeLifetime),
		interval: cmp.Or(cfg.Interval, DefaultDeviceInterval),
		maxBody:  cmp.Or(cfg.MaxBody, DefaultMaxTokenBody),
		now:      cfg.Now,
		log:      cfg.Logger,
		audit:    cfg.Audit,
		rand:     cfg.Rand,
	}
	if h.interval < time.Second || h.lifetime <= h.interval {
		return nil, errors.New("oauth: device authorization: the interval must be at least 1s and shorter than the lifetime")
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	return h, nil
}

// deviceResponse is the RFC 8628 section 3.2 response.
type deviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

func (h *deviceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ctx := r.Context()
	ev := AuditEvent{Action: AuditActionDeviceAuthorization, Outcome: AuditRefused, GrantType: GrantDeviceCode}
	resp, err := h.serve(w, r, now, &ev)
	if err != nil {
		oe := AsError(err)
		ev.Reason = string(oe.Code)
		if oe.Description != "" {
			ev.Reason += ": " + oe.Description
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "device authorization refused",
			slog.String("client_id", ev.ClientID), slog.Any("error", oe))
		recordLogged(ctx, h.audit, h.log, ev)
		WriteError(w, oe)
		return
	}
	ev.Outcome = AuditIssued
	if h.audit != nil {
		if aErr := h.audit.Record(ctx, ev); aErr != nil {
			// Fail closed: the stored authorization is never handed out
			// and expires unused.
			h.log.LogAttrs(ctx, slog.LevelError, "audit of a device authorization failed; the codes are withheld",
				slog.String("client_id", ev.ClientID), slog.Any("error", aErr))
			WriteError(w, unavailable().Wrap(aErr))
			return
		}
	}
	writeJSON(w, resp)
}

func (h *deviceHandler) serve(w http.ResponseWriter, r *http.Request, now time.Time, ev *AuditEvent) (*deviceResponse, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, NewError(ErrInvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed)
	}
	form, oe := parseForm(w, r, h.maxBody)
	if oe != nil {
		return nil, oe
	}
	ctx := r.Context()
	client, _, oe := h.auth.authenticate(ctx, r, form, now)
	if oe != nil {
		return nil, oe
	}
	ev.ClientID = client.ID
	if !slices.Contains(client.GrantTypes, GrantDeviceCode) {
		return nil, NewError(ErrUnauthorizedClient, "grant type not allowed for this client")
	}
	ds, oe := h.services.target(client, form, true)
	if oe != nil {
		return nil, oe
	}
	ev.Audience = []string{ds.Audience}
	scopes, oe := grantScopes(client, ds, form)
	if oe != nil {
		return nil, oe
	}
	ev.Scopes = scopes
	for attempt := 1; ; attempt++ {
		deviceCode, hash, err := newOpaqueToken(h.rand)
		if err != nil {
			return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
		}
		userCode, err := newUserCode(h.rand)
		if err != nil {
			return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
		}
		err = h.devices.CreateDevice(ctx, DeviceAuthorization{
			DeviceCodeHash: hash,
			UserCode:       userCode,
			ClientID:       client.ID,
			Audience:       ds.Audience,
			Scopes:         slices.Clone(scopes),
			Status:         DevicePending,
			CreatedAt:      now,
			ExpiresAt:      now.Add(h.lifetime),
			Interval:       h.interval,
		})
		if errors.Is(err, ErrConflict) && attempt < deviceCreateAttempts {
			continue
		}
		if errors.Is(err, ErrConflict) {
			// Every attempt collided: not an outage, a fault.
			return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(fmt.Errorf("oauth: create device authorization (attempt %d): %w", attempt, err))
		}
		if err != nil {
			return nil, unavailable().Wrap(fmt.Errorf("oauth: create device authorization (attempt %d): %w", attempt, err))
		}
		shown := FormatUserCode(userCode)
		return &deviceResponse{
			DeviceCode:              deviceCode,
			UserCode:                shown,
			VerificationURI:         h.verify,
			VerificationURIComplete: h.verify + "?" + url.Values{"user_code": {shown}}.Encode(),
			ExpiresIn:               int64(h.lifetime / time.Second),
			Interval:                int64((h.interval + time.Second - 1) / time.Second),
		}, nil
	}
}

// newUserCode draws UserCodeLength characters uniformly from
// UserCodeAlphabet (rejection sampling: bytes 240-255 are discarded so
// that every character has the same chance).
func newUserCode(r io.Reader) (string, error) {
	const n = byte(len(UserCodeAlphabet))
	const limit = 256 / int(n) * int(n)
	out := make([]byte, 0, UserCodeLength)
	var buf [2 * UserCodeLength]byte
	for range 8 {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("oauth: user code: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, UserCodeAlphabet[b%n])
			if len(out) == UserCodeLength {
				return string(out), nil
			}
		}
	}
	return "", errors.New("oauth: user code: the random source keeps returning rejected bytes")
}

// FormatUserCode shows a normalized user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:UserCodeLength/2] + "-" + code[UserCodeLength/2:]
}

// NormalizeUserCode returns the stored form of a user code as a person
// typed it: ASCII letters in either case, dashes and spaces ignored. It
// returns ErrInvalidUserCode unless exactly UserCodeLength characters of
// UserCodeAlphabet remain. Only ASCII is case-folded, so no Unicode
// character maps onto the alphabet.
func NormalizeUserCode(s string) (string, error) {
	if len(s) > maxUserCodeInput {
		return "", ErrInvalidUserCode
	}
	out := make([]byte, 0, UserCodeLength)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if len(out) == UserCodeLength || strings.IndexByte(UserCodeAlphabet, c) < 0 {
			return "", ErrInvalidUserCode
		}
		out = append(out, c)
	}
	if len(out) != UserCodeLength {
		return "", ErrInvalidUserCode
	}
	return string(out), nil
}

// deviceGrant implements the RFC 8628 section 3.4 token request and the
// section 3.5 responses. The device code is bound to the client it was
// issued to and is consumed exactly once.
func (h *tokenHandler) deviceGrant(ctx context.Context, client *Client, form map[string]string, now time.Time, ev *AuditEvent) (*tokenResponse, error) {
	code := form["device_code"]
	if code == "" {
		return nil, NewError(ErrInvalidRequest, "device_code is required")
	}
	if len(code) > maxOpaqueToken {
		return nil, NewError(ErrInvalidRequest, "device_code is too large")
	}
	hash := hashToken(code)
	d, err := h.devices.DeviceByCode(ctx, hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, NewError(ErrInvalidGrant, "device_code is invalid").Wrap(err)
		}
		return nil, unavailable().Wrap(err)
	}
	if d.ClientID != client.ID {
		return nil, NewError(ErrInvalidGrant, "device_code was issued to another client")
	}
	ev.Subject = d.UserID
	ev.Audience = []string{d.Audience}
	ev.Scopes = slices.Clone(d.Scopes)
	if !now.Before(d.ExpiresAt) {
		return nil, NewError(ErrExpiredToken, "device_code is expired")
	}
	switch d.Status {
	case DeviceDenied:
		return nil, NewError(ErrAccessDenied, "the user denied the request")
	case DeviceConsumed:
		return nil, NewError(ErrInvalidGrant, "device_code was already used")
	case DevicePending, DeviceApproved:
	default:
		return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(fmt.Errorf("oauth: device authorization in unknown state %q", d.Status))
	}
	interval := d.Interval
	if interval <= 0 {
		interval = DefaultDeviceInterval
	}
	if !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < interval {
		if err := h.devices.TouchDevice(ctx, hash, now, interval+deviceSlowDownStep); err != nil {
			return nil, unavailable().Wrap(err)
		}
		return nil, NewError(ErrSlowDown, "polling too fast")
	}
	if d.Status == DevicePending {
		if err := h.devices.TouchDevice(ctx, hash, now, interval); err != nil {
			return nil, unavailable().Wrap(err)
		}
		return nil, NewError(ErrAuthorizationPending, "the user has not decided yet")
	}
	if d.UserID == "" {
		return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(errors.New("oauth: approved device authorization without a user"))
	}
	if err := h.devices.ConsumeDevice(ctx, hash); err != nil {
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			return nil, NewError(ErrInvalidGrant, "device_code was already used").Wrap(err)
		}
		return nil, unavailable().Wrap(err)
	}
	subj, oe := h.activeUser(ctx, d.UserID)
	if oe != nil {
		return nil, oe
	}
	ds, oe := h.services.granted(client, d.Audience)
	if oe != nil {
		return nil, oe
	}
	scopes := grantedScopes(client, ds, d.Scopes)
	ev.Scopes = scopes
	resp, err := h.mint(ctx, client, subj, nil, ds, scopes, now)
	if err != nil {
		return nil, err
	}
	if h.refresh != nil && slices.Contains(client.GrantTypes, GrantRefreshToken) {
		raw, family, err := h.startRefreshFamily(ctx, client.ID, d.UserID, ds.Audience, scopes, now)
		if err != nil {
			return nil, err
		}
		resp.RefreshToken = raw
		ev.RefreshFamily = family
	}
	return resp, nil
}
