package devstack

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServer starts a headless, in-memory Temporal dev server for a test
// (building the CLI first when it is missing: a cold build takes ~13
// minutes) and kills it when the test ends.
func TestServer(tb testing.TB) *Temporal {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	cli := TemporalCLIPath(root)
	if err := EnsureTemporalCLI(ctx, root, cli, os.Stderr); err != nil {
		tb.Fatal(err)
	}
	srv, err := StartTemporal(ctx, TemporalOptions{CLI: cli, Headless: true, LogFile: filepath.Join(tb.TempDir(), "temporal.log")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Kill() })
	return srv
}
