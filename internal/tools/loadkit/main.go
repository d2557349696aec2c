package loadkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Options are a tool's parsed command line; the shared Flags, embedded,
// provide Shared.
type Options interface {
	Shared() Flags
}

// Shared returns f.
func (f Flags) Shared() Flags { return f }

// A Parser parses a tool's command line (without the program name);
// usage and flag errors go to stderr.
type Parser[O Options] func(args []string, stderr io.Writer) (O, error)

// A Measurer writes a tool's run files into b's folder, prepares its
// requests, measures them with b.Measure and returns the report to print.
type Measurer[O Options] func(ctx context.Context, o O, b *Bench) (Reporter, error)

// Main is a tool's main function. With a context cancelled by SIGINT or
// SIGTERM it parses the command line with parse, prepares a bench (see
// Prepare), calls measure, prints its report (see Print) and closes the
// bench. On an error it prints the error, prefixed with the tool's name,
// to stderr and exits 1.
func Main[O Options](tool Tool, parse Parser[O], measure Measurer[O]) {
	os.Exit(mainCode(tool, parse, measure, os.Args[1:], os.Stdout, os.Stderr))
}

func mainCode[O Options](tool Tool, parse Parser[O], measure Measurer[O], args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, tool, parse, measure, args, stdout, stderr)
	stop()
	if err != nil {
		fmt.Fprintln(stderr, tool.Name+":", err)
		return 1
	}
	return 0
}

func run[O Options](ctx context.Context, tool Tool, parse Parser[O], measure Measurer[O], args []string, stdout, stderr io.Writer) (err error) {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	f := o.Shared()
	b, err := Prepare(ctx, tool, f, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	r, err := measure(ctx, o, b)
	if err != nil {
		return err
	}
	return Print(stdout, stderr, f.JSON, r)
}
