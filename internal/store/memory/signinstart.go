package memory

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// StartSignIn implements sp.SignInStarter with the three single calls,
// each atomic under the store's lock as on its own (memory has no round
// trips to save).
func (s *Store) StartSignIn(ctx context.Context, st sp.SignInStart) (sp.SignInStarted, error) {
	if st.Issuer == "" || st.AssertionID == "" {
		return sp.SignInStarted{}, errors.New("memory: start sign-in: empty issuer or assertion ID")
	}
	return sp.StartSignInSteps(ctx, st, s, s, s)
}
