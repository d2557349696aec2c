package sp_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

type fakeAuditor struct {
	mu   sync.Mutex
	got  []sp.SignInRecord
	fail error
}

func (f *fakeAuditor) RecordSignIn(_ context.Context, r sp.SignInRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	return f.fail
}

func TestSignInAudited(t *testing.T) {
	e := newEnv(t)
	aud := &fakeAuditor{}
	s := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true; c.Audit = aud })
	w := post(s, acsEast, e.response(acsEast, ""), "")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	require.Len(t, aud.got, 1)
	rec := aud.got[0]
	assert.True(t, rec.Success)
	assert.Equal(t, sp.ReasonOK, rec.Reason)
	assert.NotEmpty(t, rec.UserID)
	assert.Equal(t, e.idp.EntityID(), rec.Issuer)
	assert.Equal(t, "us-east-1", rec.Region)

	// A rejection (here: another audience) is recorded too.
	w = post(s, acsEast, e.response(acsEast, "", func(o *samltest.ResponseOptions) { o.Audience = "https://other.example.com" }), "")
	assertGenericRejection(t, w)
	require.Len(t, aud.got, 2)
	assert.False(t, aud.got[1].Success)
	assert.NotEqual(t, sp.ReasonOK, aud.got[1].Reason)
	assert.Empty(t, aud.got[1].UserID)
}

// TestSignInWithoutAuditRecordUndone: when the success cannot be recorded
// the sign-in is answered 503 without a cookie and its session is gone.
func TestSignInWithoutAuditRecordUndone(t *testing.T) {
	e := newEnv(t)
	aud := &fakeAuditor{fail: errors.New("audit store down")}
	sessions := &recordingSessions{SessionStore: e.store}
	s := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true; c.Audit = aud; c.Sessions = sessions })
	w := post(s, acsEast, e.response(acsEast, ""), "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Nil(t, sessionCookie(w), "no session cookie")
	require.Len(t, aud.got, 1)
	require.Len(t, sessions.created, 1)
	assert.Equal(t, sessions.created, sessions.deleted, "the session was deleted")
	_, err := e.store.GetSession(t.Context(), sessions.created[0], time.Now())
	assert.ErrorIs(t, err, sp.ErrNotFound)
}

// recordingSessions remembers the IDs of created and deleted sessions.
type recordingSessions struct {
	sp.SessionStore
	created, deleted []string
}

func (r *recordingSessions) CreateSession(ctx context.Context, s sp.Session) error {
	r.created = append(r.created, s.ID)
	return r.SessionStore.CreateSession(ctx, s)
}

func (r *recordingSessions) DeleteSession(ctx context.Context, id string) error {
	r.deleted = append(r.deleted, id)
	return r.SessionStore.DeleteSession(ctx, id)
}
