package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// assertionLifetime is NotOnOrAfter - IssueInstant of every Response; the
// run stops expiryMargin before the Responses expire.
const (
	assertionLifetime = 10 * time.Minute
	expiryMargin      = 10 * time.Second
)

// toolName and noun name this tool and what it measures in its log lines,
// run folder and flag texts.
const (
	toolName = "loadsignin"
	noun     = "sign-ins"
)

func main() { loadkit.Main(loadkit.Tool{Name: toolName, Noun: noun}, parseFlags, measure) }

// options are the command-line flags.
type options struct {
	loadkit.Flags
	Sign string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(toolName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.Register(fs, loadkit.FlagDefaults{
		Noun: noun, NUsage: "measured sign-ins", Warmup: 500,
		Users: 200, UsersUsage: "distinct NameIDs (JIT-provisioned during warmup)",
	})
	fs.StringVar(&o.Sign, "sign", "assertion", "what the IdP signs: assertion, response or both")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.Validate(fs); err != nil {
		return o, err
	}
	if _, err := signMode(o.Sign); err != nil {
		return o, err
	}
	return o, nil
}

func signMode(s string) (samltest.SignMode, error) {
	switch s {
	case "assertion":
		return samltest.SignAssertion, nil
	case "response":
		return samltest.SignResponse, nil
	case "both":
		return samltest.SignBoth, nil
	}
	return 0, fmt.Errorf("-sign %q is not one of assertion, response, both", s)
}

// measure writes the run files, pre-signs the Responses and measures the
// gateway's sign-ins.
func measure(ctx context.Context, o options, b *loadkit.Bench) (loadkit.Reporter, error) {
	s := site{b.Site()}
	if err := loadkit.CheckLoopback(s.Endpoints()[0].URL, s.Endpoints()[1].URL); err != nil {
		return nil, err
	}
	idp, err := samltest.NewIdP("https://idp.loadsignin.test/metadata")
	if err != nil {
		return nil, err
	}
	cfgPath, err := writeRunFiles(b.Dir(), s, idp.Metadata("https://idp.loadsignin.test/sso"))
	if err != nil {
		return nil, err
	}

	// Pre-sign every Response before the gateway starts.
	mode, _ := signMode(o.Sign) // checked by parseFlags
	now := time.Now().UTC().Truncate(time.Second)
	plan := responsePlan{
		IdP: idp, Audience: s.EntityID(), Endpoints: s.Endpoints(), Users: o.Users,
		Count: o.Warmup + o.N, Now: now, Lifetime: assertionLifetime, Sign: mode,
		Workers: runtime.NumCPU(),
	}
	b.Logf("pre-signing %d responses on %d cores", plan.Count, plan.Workers)
	t0 := time.Now()
	reqs, err := presign(ctx, plan, b.SignProgress)
	if err != nil {
		return nil, err
	}
	presignTime := time.Since(t0)

	m, err := b.Measure(ctx, loadkit.Plan{
		Config: cfgPath, Deadline: now.Add(assertionLifetime - expiryMargin),
		Warmup: reqs[:o.Warmup], Measured: reqs[o.Warmup:], Classify: classifyResponse, OK: outcomeOK,
	})
	if err != nil {
		return nil, err
	}
	r := report{
		Environment: m.Environment, Users: o.Users, Concurrency: o.Concurrency, Rate: o.Rate, SignMode: o.Sign,
		Warmup: o.Warmup, WarmupErrors: m.WarmupErrors, Requested: o.N, Counts: m.Result.Counts(),
		PresignSeconds: presignTime.Seconds(), DurationSeconds: m.Result.Duration.Seconds(),
		SignInsPerSecond: loadkit.PerSecond(m.Result.Completed(), m.Result.Duration), Answers: m.Result.Answers(),
		Resources: m.Resources, LoadGenCPUSeconds: m.LoadGenCPU.Seconds(),
		SignInsPerCPUSec: loadkit.PerSecond(m.Result.Completed(), m.GatewayCPU), Exit: m.Exit,
	}
	return r, nil
}
