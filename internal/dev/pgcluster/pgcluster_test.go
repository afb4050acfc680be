package pgcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/internal/dev/pgcluster"
)

// start starts a cluster in a fresh folder and makes sure it is stopped after
// the test, even if the test binary dies first.
func start(t *testing.T, dir string) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := c.StopOnExit(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir)

	if c.Port == 0 || !c.Running() {
		t.Fatalf("port %d running %v", c.Port, c.Running())
	}
	for range 2 { // idempotent
		if err := c.CreateDatabase(ctx, "app-db"); err != nil {
			t.Fatal(err)
		}
	}
	url := c.URL("app-db")
	exec(t, url, `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)`)

	// A crash-like stop and restart on the same port keeps committed data.
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, url, `SELECT count(*) FROM t`); n != 2 {
		t.Fatalf("after restart: %d rows, want 2", n)
	}

	// Stopped, then started again on the same folder: the data is reused.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("still running after Stop")
	}
	if err := c.Stop(); err != nil { // stopping twice is fine
		t.Fatal(err)
	}
	c2 := start(t, dir)
	if n := count(t, c2.URL("app-db"), `SELECT count(*) FROM t`); n != 2 {
		t.Fatalf("reused folder: %d rows, want 2", n)
	}
}

// A server left running by a killed process is adopted; a postmaster.pid
// whose process is gone (or is some other program) is cleared.
func TestLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir)
	if err := c.CreateDatabase(ctx, "keep"); err != nil {
		t.Fatal(err)
	}

	again := start(t, dir)
	if again.Port != c.Port {
		t.Fatalf("adopted server on port %d, want %d", again.Port, c.Port)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// Fake a stale pid file: the pid of this test process (not postgres),
	// as after a killed run whose pid was reused.
	stale := strconv.Itoa(os.Getpid()) + "\n" + dir + "\n1700000000\n" + strconv.Itoa(c.Port) + "\n" + dir + "\n127.0.0.1\n  1  1\nready   \n"
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	c3 := start(t, dir)
	if n := count(t, c3.URL("keep"), `SELECT 1`); n != 1 {
		t.Fatal("query after stale pid recovery")
	}
}

func TestURL(t *testing.T) {
	c := &pgcluster.Cluster{Port: 5433}
	got := c.URL("deals")
	if want := "postgres://postgres@127.0.0.1:5433/deals?sslmode=disable"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

func TestFindBinaries(t *testing.T) {
	dir, err := pgcluster.FindBinaries()
	if err != nil {
		// No skip: the tests need a server, and the message must say what
		// to install.
		if !strings.Contains(err.Error(), `"postgresql"`) {
			t.Fatalf("error does not name the package: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err != nil {
		t.Fatal(err)
	}
}
