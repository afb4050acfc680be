package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dealflow/internal/config"
	"dealflow/internal/leadimport"
	"dealflow/internal/store"
)

type importFlags struct {
	temporal             temporalFlags
	format               string
	concurrency          int
	owner, manager       string
	currency             string
	rejects              string
	ignoreUnknownColumns bool
	progress             string
	every                time.Duration
	wait                 bool
	allowDuplicates      bool
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f importFlags
	fs := flag.NewFlagSet("starter import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := f.temporal.register(fs); err != nil {
		fmt.Fprintf(stderr, "starter import: %v\n", err)
		return 2
	}
	fs.StringVar(&f.format, "format", "", "input format, csv or jsonl (default: from the file's extension)")
	fs.IntVar(&f.concurrency, "concurrency", 32, "starts in flight at once")
	fs.StringVar(&f.owner, "owner", "rep@example.com", "owner of rows without an owner column value")
	fs.StringVar(&f.manager, "manager", "manager@example.com", "manager of rows without a manager value (follow-ups escalate to them); empty: the owner")
	fs.StringVar(&f.currency, "currency", "", "currency of rows without a currency value (default USD)")
	fs.StringVar(&f.rejects, "rejects", "", "CSV file for the rejected rows with line and reason (default FILE's name with .rejects.csv)")
	fs.BoolVar(&f.ignoreUnknownColumns, "ignore-unknown-columns", false, "skip CSV columns that are not lead fields instead of refusing the file")
	fs.StringVar(&f.progress, "progress", "auto", "progress on stderr: bar, lines, none, or auto (a bar on a terminal, else lines)")
	fs.DurationVar(&f.every, "progress-every", 5*time.Second, "how often a progress line is printed when not drawing a bar")
	fs.BoolVar(&f.allowDuplicates, "allow-duplicates", false, "import rows that may duplicate records on file or earlier rows (same email, phone or company), each lead recording it; without it they are rejected, and PostgreSQL (DATABASE_URL) is read to find them")
	fs.BoolVar(&f.wait, "wait", false, "after the starts, wait until the worker has caught up (the deal task queue's backlog is empty), so every new lead is in PostgreSQL")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: starter import [flags] FILE

Starts one deal (workflow lead/<id>) per row of FILE: CSV with a header row
naming the columns, or JSON Lines (one lead object per line; FILE "-" reads
standard input, with -format). Columns: %s
(any case, spaces or underscores: "First Name" is firstName). A row's lead id
is its id column, else derived from its content, so importing a file again
creates nothing twice. A row that may duplicate a lead, contact or account
on file (PostgreSQL at DATABASE_URL) or an earlier row of FILE — the same
email, phone or company name, folded — is rejected unless -allow-duplicates.
Rejected rows go to the rejects file with their line and reason; they never
stop the import.

Flags:
`, strings.Join(leadimport.ColumnNames(), ", "))
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "starter import: want exactly one FILE, got %d\n", len(pos))
		fs.Usage()
		return 2
	}
	if f.concurrency < 1 {
		fmt.Fprintf(stderr, "starter import: -concurrency must be 1 or more\n")
		return 2
	}
	switch f.progress {
	case "auto", "bar", "lines", "none":
	default:
		fmt.Fprintf(stderr, "starter import: -progress must be auto, bar, lines or none, not %q\n", f.progress)
		return 2
	}
	if err := importFile(ctx, pos[0], f, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "starter import: %v\n", err)
		return 1
	}
	return 0
}

// importFile runs one import and prints its summary on stdout.
func importFile(ctx context.Context, path string, f importFlags, stdout, stderr io.Writer) error {
	format, err := leadimport.FormatOf(path, f.format)
	if err != nil {
		return err
	}
	in, size, err := openInput(path)
	if err != nil {
		return err
	}
	defer in.Close()
	name := filepath.Base(path)
	if path == "-" {
		name = "stdin"
	}
	src, err := leadimport.NewSource(in, format, leadimport.Options{
		Defaults: leadimport.Defaults{
			Owner: f.owner, Manager: f.manager, Currency: strings.ToUpper(f.currency),
			CreatedBy: "import:" + name,
		},
		IgnoreUnknownColumns: f.ignoreUnknownColumns,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	rejectsPath := f.rejects
	if rejectsPath == "" {
		rejectsPath = defaultRejectsPath(path)
	}
	rf, err := os.Create(rejectsPath)
	if err != nil {
		return fmt.Errorf("create the rejects file: %w", err)
	}
	rejects := leadimport.NewRejectWriter(rf, src.Header())

	var dups leadimport.DuplicateFinder
	if !f.allowDuplicates {
		pool, err := openDuplicates(ctx)
		if err != nil {
			_ = rf.Close()
			_ = os.Remove(rejectsPath)
			return err
		}
		defer pool.Close()
		dups = store.LeadDuplicates{Pool: pool}
	}
	c, err := f.temporal.dial(ctx, stderr)
	if err != nil {
		_ = rf.Close()
		_ = os.Remove(rejectsPath)
		return err
	}
	defer c.Close()

	var st leadimport.Stats
	start := time.Now()
	prog := startProgress(stderr, f.progress, f.every, &st, size, start)
	_, runErr := leadimport.Run(ctx, src, leadimport.Config{
		Temporal: c, Concurrency: f.concurrency, Rejects: rejects, Stats: &st,
		Duplicates: dups, AllowDuplicates: f.allowDuplicates,
	})
	prog.stop()
	elapsed := time.Since(start)

	if err := rf.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("write the rejects file: %w", err)
	}
	if rejects.Count() == 0 {
		_ = os.Remove(rejectsPath) // none: no stale file to mislead the next reader
	}
	fmt.Fprintln(stdout, summary(name, &st, elapsed, rejects.Count(), rejectsPath))
	if runErr != nil {
		return fmt.Errorf("%w\nthe rows done so far are kept; run the same command again to resume (started rows count as already present)", runErr)
	}
	if !f.wait {
		return nil
	}
	// Each started deal writes its lead row in its first activity, on the
	// worker, which may be well behind the starts (see README: Throughput).
	if err := waitDrained(ctx, c, f.temporal.namespace, stderr, f.progress, f.every); err != nil {
		return err
	}
	total := time.Since(start)
	fmt.Fprintf(stdout, "%s: the worker caught up %s after the start (%.1f new leads/s end to end)\n",
		name, total.Round(100*time.Millisecond), float64(st.New.Load())/max(total.Seconds(), 1e-3))
	return nil
}

// openDuplicates opens the store the duplicate check reads (DATABASE_URL).
func openDuplicates(ctx context.Context) (*store.Pool, error) {
	r := config.NewReader()
	url := r.PostgresURL(config.DatabaseURL)
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	pool, err := store.Open(ctx, url, store.Options{Name: "dealflow-import"})
	if err != nil {
		return nil, fmt.Errorf("the check for possible duplicates reads PostgreSQL (DATABASE_URL; -allow-duplicates skips it): %w", err)
	}
	return pool, nil
}

// openInput opens FILE ("-" is standard input) and returns its size when it
// is a regular file (else 0: no percentage or ETA).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), 0, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open the input: %w", err)
	}
	var size int64
	if fi, err := fh.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return fh, size, nil
}

// defaultRejectsPath is FILE's path with .rejects.csv for its extension.
func defaultRejectsPath(path string) string {
	if path == "-" {
		return "stdin.rejects.csv"
	}
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".rejects.csv"
}

func summary(name string, st *leadimport.Stats, elapsed time.Duration, rejected int, rejectsPath string) string {
	done := st.Done()
	rate := float64(done) / max(elapsed.Seconds(), 1e-3)
	s := fmt.Sprintf("%s: %d rows in %s (%.0f rows/s): %d new, %d already present",
		name, done, elapsed.Round(100*time.Millisecond), rate, st.New.Load(), st.Present.Load())
	if d := st.Duplicates.Load(); d > 0 {
		s += fmt.Sprintf(" (%d repeated in the file)", d)
	}
	s += fmt.Sprintf(", %d rejected", st.Rejected.Load())
	if rejected > 0 {
		s += " (see " + rejectsPath + ")"
	}
	return s
}
