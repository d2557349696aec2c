package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// RetryPolicy says how often a failed AWS call is tried again. Only
// transient failures are retried: throttling, 5xx answers and connection
// errors (the SDK's own classification, retry.DefaultRetryables).
type RetryPolicy struct {
	// Attempts is the total number of tries per call (default 5).
	Attempts int
	// BaseDelay is the wait after the first failure; it doubles after
	// each further one (default 200ms).
	BaseDelay time.Duration
	// MaxDelay caps the wait (default 10s).
	MaxDelay time.Duration
	// Sleep waits d or until ctx ends (default a timer); tests inject
	// one that records the waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r RetryPolicy) withDefaults() (RetryPolicy, error) {
	if r.Attempts < 0 || r.BaseDelay < 0 || r.MaxDelay < 0 {
		return r, errors.New("provision: negative retry setting")
	}
	if r.Attempts == 0 {
		r.Attempts = 5
	}
	if r.BaseDelay == 0 {
		r.BaseDelay = 200 * time.Millisecond
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = 10 * time.Second
	}
	if r.MaxDelay < r.BaseDelay {
		return r, errors.New("provision: retry MaxDelay below BaseDelay")
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	return r, nil
}

// Backoff is the wait after the given failed attempt (1-based).
func (r RetryPolicy) Backoff(attempt int) time.Duration {
	d := r.BaseDelay
	for i := 1; i < attempt && d < r.MaxDelay; i++ {
		d *= 2
	}
	return min(d, r.MaxDelay)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryable reports whether err is transient.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// StepError reports a failed step of provisioning one account.
type StepError struct {
	AccountID string
	// Step names what failed: "assume-role", "create-role", ...
	Step string
	// Attempts is how many times it was tried.
	Attempts int
	Err      error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("provision: account %s: %s failed after %d attempt(s): %v", e.AccountID, e.Step, e.Attempts, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// do runs fn, retrying transient failures per the policy, and wraps the
// final failure in a StepError naming the account and step.
func do[T any](ctx context.Context, p *Provisioner, accountID, step string, fn func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		if !retryable(err) || attempt >= p.retry.Attempts {
			return v, &StepError{AccountID: accountID, Step: step, Attempts: attempt, Err: err}
		}
		d := p.retry.Backoff(attempt)
		p.log.WarnContext(ctx, "provision: transient failure, retrying",
			"account", accountID, "step", step, "attempt", attempt, "backoff", d, "err", err)
		if serr := p.retry.Sleep(ctx, d); serr != nil {
			return v, &StepError{AccountID: accountID, Step: step, Attempts: attempt, Err: errors.Join(err, serr)}
		}
	}
}

// do0 is do for calls without a result.
func do0(ctx context.Context, p *Provisioner, accountID, step string, fn func(context.Context) error) error {
	_, err := do(ctx, p, accountID, step, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}
