package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// The CLI API accepts a token only while it is unrevoked, carries the
// credentials scope and belongs to an active user: each case starts from
// a token that is accepted and changes one thing.
func TestCLITokens(t *testing.T) {
	const issuer = "https://gw.example.com"
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ring, err := keys.OpenRing(t.TempDir(), OAuthSigningRing, keys.RingOptions{Algorithm: keys.AlgorithmECDSAP256, Now: clock})
	require.NoError(t, err)
	minter, err := oauth.NewMinter(oauth.MinterConfig{Issuer: issuer, Signer: ringSigner{ring: ring}, Now: clock})
	require.NoError(t, err)
	v, err := oauth.NewValidator(oauth.ValidatorConfig{
		Issuer: issuer, Audiences: []string{CLIAudience(issuer)}, Keys: ringKeys{ring: ring},
		Typ: oauth.AccessTokenType, RequireJTI: true, Now: clock,
	})
	require.NoError(t, err)
	st := memory.New()
	ctx := t.Context()
	alice, err := st.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
	require.NoError(t, err)
	tokens := cliTokens{validator: v, revocations: st, users: storeUsers{users: st}, now: clock}

	mint := func(sub string, scope ...string) string {
		t.Helper()
		tok, _, err := minter.Mint(ctx, oauth.AccessTokenClaims{Subject: sub, Audience: []string{CLIAudience(issuer)}, ClientID: CLIClientID, Scope: scope})
		require.NoError(t, err)
		return tok
	}
	good := mint(alice.ID, CLIScope)
	id, err := tokens.UserID(ctx, good)
	require.NoError(t, err)
	assert.Equal(t, alice.ID, id)

	_, err = tokens.UserID(ctx, mint(alice.ID, "openid"))
	require.ErrorIs(t, err, awsapi.ErrInsufficientScope, "without the credentials scope")
	_, err = tokens.UserID(ctx, mint("no-such-user", CLIScope))
	require.ErrorIs(t, err, awsapi.ErrUnauthorized, "an unknown user")

	other := mint(alice.ID, CLIScope)
	tok, err := v.Validate(ctx, other)
	require.NoError(t, err)
	require.NoError(t, st.Revoke(ctx, tok.JwtID(), now.Add(time.Hour)))
	_, err = tokens.UserID(ctx, other)
	require.ErrorIs(t, err, awsapi.ErrUnauthorized, "a revoked token")

	_, err = st.UpdateDirectoryUser(ctx, alice.ID, 0, func(u *directory.User) error { u.Active = false; return nil }, now)
	require.NoError(t, err)
	_, err = tokens.UserID(ctx, good)
	require.ErrorIs(t, err, awsapi.ErrUnauthorized, "a deactivated user")
}
