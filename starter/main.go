// Command starter is the operator's tool for leads arriving in bulk and the
// newcomer's tour of the process. It talks to Temporal directly:
//
//	starter import [flags] FILE   start one deal per row of a CSV or JSON Lines file
//	starter demo [flags]          drive a lead through every stage, leaving one deal per stage
//	starter generate [flags]      write a CSV of made-up leads, for load tests
//
// Both read TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE like the worker (flags
// -temporal and -namespace override them).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/internal/temporalx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage:
  starter import [flags] FILE   start one deal per row of FILE (.csv with a header row, or .jsonl)
  starter demo [flags]          create demo deals: one walked through every stage, one parked in each
  starter generate [flags]      write a CSV of made-up leads, for load tests of import

Run "starter COMMAND -h" for the flags.
`

// run is the program; it returns the exit code: 0 done, 1 failed, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "generate":
		return runGenerate(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// temporalFlags are the connection flags both commands take, defaulting to
// the environment the worker reads.
type temporalFlags struct {
	address, namespace string
}

func (t *temporalFlags) register(fs *flag.FlagSet) error {
	r := config.NewReader()
	addr := r.Addr(config.TemporalAddress, true)
	ns := r.String(config.TemporalNamespace, true)
	if err := r.Err(); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	fs.StringVar(&t.address, "temporal", addr, "Temporal frontend host:port ("+config.TemporalAddress.Name+")")
	fs.StringVar(&t.namespace, "namespace", ns, "Temporal namespace of the deals ("+config.TemporalNamespace.Name+")")
	return nil
}

// dial connects to Temporal; the SDK's own log goes to stderr at warn level
// so that it does not mix into the progress and the demo's story.
func (t *temporalFlags) dial(ctx context.Context, stderr io.Writer) (client.Client, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return temporalx.Dial(ctx, temporalx.Options{Address: t.address, Namespace: t.namespace, Logger: log})
}

// parseInterspersed parses flags that may come before and after the
// positional arguments ("import leads.csv -concurrency 8").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
