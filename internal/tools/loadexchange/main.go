package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// tokenLifetime is exp - iat of every subject token; the run stops
// expiryMargin before they expire.
const (
	tokenLifetime = 30 * time.Minute
	expiryMargin  = 30 * time.Second
)

// toolName and noun name this tool and what it measures in its log lines,
// run folder and flag texts.
const (
	toolName = "loadexchange"
	noun     = "exchanges"
)

// signingAlgs are the oauth.signing_alg values -alg accepts.
var signingAlgs = []string{"ES256", "RS256", "EdDSA"}

func main() { loadkit.Main(loadkit.Tool{Name: toolName, Noun: noun}, parseFlags, measure) }

// options are the command-line flags.
type options struct {
	loadkit.Flags
	Duration time.Duration
	Tokens   int
	Alg      string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(toolName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Register(fs, loadkit.FlagDefaults{
		Noun: noun, NUsage: "measured exchanges (a counted run)", Warmup: 1000,
		Users: 1000, UsersUsage: "users in the store; subject token i names user i mod -users by email", GOMAXPROCS: true,
	})
	fs.DurationVar(&o.Duration, "duration", 0, "run for this long instead of -n exchanges (a timed run; subject tokens are reused in turn)")
	fs.IntVar(&o.Tokens, "tokens", 0, "distinct pre-signed subject tokens, used in turn (default: -warmup + -n, one per exchange)")
	fs.StringVar(&o.Alg, "alg", "ES256", "oauth.signing_alg of the issued access tokens: "+strings.Join(signingAlgs, ", "))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.Validate(fs); err != nil {
		return o, err
	}
	switch {
	case o.Tokens < 0 || o.Duration < 0:
		return o, errors.New("-tokens and -duration must not be negative")
	case o.Duration > o.Timeout:
		return o, fmt.Errorf("-duration %s is longer than -timeout %s", o.Duration, o.Timeout)
	case o.Timeout > tokenLifetime-expiryMargin:
		return o, fmt.Errorf("-timeout must be at most %s, before the subject tokens expire", tokenLifetime-expiryMargin)
	case !slices.Contains(signingAlgs, o.Alg):
		return o, fmt.Errorf("-alg %q is not one of %s", o.Alg, strings.Join(signingAlgs, ", "))
	}
	if o.Tokens == 0 {
		o.Tokens = o.Warmup + o.N
	}
	return o, nil
}

// splitBodies returns the requests of the warmup (the first warmup, used
// in turn) and of the measured run (those after the warmup's, or all of
// them when there are no others).
func splitBodies[T any](bodies []T, warmup int) (warm, measured []T) {
	if warmup > 0 {
		warm = bodies[:min(warmup, len(bodies))]
	}
	if warmup < len(bodies) {
		return warm, bodies[warmup:]
	}
	return warm, bodies
}

// measure writes the run files, creates the users, pre-signs the subject
// tokens and measures the gateway's token exchanges.
func measure(ctx context.Context, o options, b *loadkit.Bench) (loadkit.Reporter, error) {
	s := site{b.Site()}
	if err := loadkit.CheckLoopback(s.TokenURL()); err != nil {
		return nil, err
	}
	idp, err := samltest.NewIdP(idpEntityID)
	if err != nil {
		return nil, err
	}
	issuerKey, issuerPub, err := newIssuerKey()
	if err != nil {
		return nil, err
	}
	jwks, err := jwksJSON(issuerPub)
	if err != nil {
		return nil, err
	}
	cfgPath, err := writeRunFiles(b.Dir(), s, o.Alg, idp.Metadata(idpSSOURL), jwks)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}

	// Users and subject tokens before the gateway starts.
	t0 := time.Now()
	b.Logf("creating %d users", o.Users)
	if err := createUsers(ctx, b.Dir(), b.Store(), o.Users); err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	plan := tokenPlan{Key: issuerKey, Users: o.Users, Count: o.Tokens, Now: now, Lifetime: tokenLifetime, Workers: runtime.NumCPU()}
	b.Logf("pre-signing %d subject tokens on %d cores", plan.Count, plan.Workers)
	bodies, err := presign(ctx, plan, b.SignProgress)
	if err != nil {
		return nil, err
	}
	setupTime := time.Since(t0)

	warm, measured := splitBodies(exchanges(s.TokenURL(), basicAuth(clientID, secret), bodies), o.Warmup)
	m, err := b.Measure(ctx, loadkit.Plan{
		Config: cfgPath, Env: map[string]string{secretEnv: secret}, Deadline: now.Add(tokenLifetime - expiryMargin),
		Duration: o.Duration, Warmup: warm, Measured: measured, Classify: classifyResponse, OK: outcomeOK,
	})
	if err != nil {
		return nil, err
	}
	r := report{
		Environment: m.Environment, SigningAlg: o.Alg, Users: o.Users, Tokens: o.Tokens, Concurrency: o.Concurrency,
		Rate: o.Rate, Timed: o.Duration.Seconds(), Warmup: o.Warmup, WarmupErrors: m.WarmupErrors, Sent: m.Result.Sent,
		Counts: m.Result.Counts(), SetupSeconds: setupTime.Seconds(), DurationSeconds: m.Result.Duration.Seconds(),
		ExchangesPerSecond: loadkit.PerSecond(m.Result.Completed(), m.Result.Duration), Answers: m.Result.Answers(),
		Resources: m.Resources, LoadGenCPUSeconds: m.LoadGenCPU.Seconds(), Exit: m.Exit,
	}
	if o.Duration == 0 {
		r.Requested = o.N
	}
	r.setCPU(m.GatewayCPU)
	return r, nil
}
