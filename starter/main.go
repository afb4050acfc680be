// Command starter is the operator's tool for leads arriving in bulk and the
// newcomer's tour of the process. It talks to Temporal directly:
//
//	starter import [flags] FILE   start one deal per row of a CSV or JSON Lines file
//	starter demo [flags]          drive a lead through every stage, leaving one deal per stage
//	starter generate [flags]      write a CSV of made-up leads, for load tests
//	starter catalog FILE.csv      import products and prices into the catalog
//
// catalog writes to PostgreSQL (DATABASE_URL) only. import and demo connect
// to Temporal like the worker: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, the TLS and API key variables and the temporal CLI's
// profile file (flags -temporal and -namespace override the address and the
// namespace).
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
  starter catalog FILE.csv      import products and price list prices into the catalog (PostgreSQL only)

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
	case "catalog":
		return runCatalog(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// temporalFlags are the connection flags both commands take, defaulting to
// the environment the worker reads; TLS and credentials come from the
// environment only.
type temporalFlags struct {
	conn               config.Temporal
	address, namespace string
}

func (t *temporalFlags) register(fs *flag.FlagSet) error {
	r := config.NewReader()
	t.conn = r.Temporal()
	if err := r.Err(); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	fs.StringVar(&t.address, "temporal", t.conn.Address, "Temporal frontend host:port ("+config.TemporalAddress.Name+")")
	fs.StringVar(&t.namespace, "namespace", t.conn.Namespace, "Temporal namespace of the deals ("+config.TemporalNamespace.Name+")")
	return nil
}

// dial connects to Temporal; the SDK's own log goes to stderr at warn level
// so that it does not mix into the progress and the demo's story. A refused
// credential or an unknown namespace is one line (temporalx.Dial).
func (t *temporalFlags) dial(ctx context.Context, stderr io.Writer) (client.Client, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := temporalx.Dial(ctx, temporalx.Options{Conn: t.conn, Address: t.address, Namespace: t.namespace, Logger: log})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
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
