// Package testenv gives tests a real PostgreSQL database.
//
// With DATABASE_URL set, each database is created on that server (and dropped
// after the test). Otherwise one throwaway cluster is started per test
// process, in a temporary folder, the first time a test asks for a database.
// A package whose tests use it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main stops the cluster and deletes its folder when the tests end, and a
// detached watchdog does the same if the test binary dies first (timeout,
// signal), so no postgres outlives `go test`.
//
// When PostgreSQL cannot be started the tests fail; they never skip.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealflow/internal/dev/pgcluster"
	"dealflow/internal/store"
)

var (
	mainCalled bool

	once       sync.Once
	cluster    *pgcluster.Cluster
	clusterDir string
	clusterErr error
)

// Main runs the tests, then stops the cluster if one was started, and exits
// with the tests' status.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
		_ = os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

// Database returns the URL of a new, empty database: no migrations applied
// (see Pool for a migrated one). It fails the test when PostgreSQL is out of
// reach.
func Database(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := adminURL(ctx)
	if err != nil {
		tb.Fatalf("testenv: PostgreSQL for tests: %v", err)
	}
	name := dbName(tb)
	if err := pgcluster.CreateDatabase(ctx, admin, name); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { drop(tb, admin, name) })
	return dbURL
}

// Pool returns a pool on a new database with every migration applied. The
// pool is closed when the test ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := store.Open(ctx, Database(tb), store.Options{})
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	// Registered after Database's cleanup, so it runs before the drop.
	tb.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return pool
}

// adminURL is a URL on the server to create databases from: DATABASE_URL's
// server, or the test process' own cluster.
func adminURL(ctx context.Context) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	if !mainCalled {
		return "", fmt.Errorf("DATABASE_URL is not set and the package has no TestMain calling testenv.Main, " +
			"which stops the throwaway cluster after the tests: add `func TestMain(m *testing.M) { testenv.Main(m) }`")
	}
	once.Do(func() {
		clusterDir, clusterErr = os.MkdirTemp("", "dealflow-pg-")
		if clusterErr != nil {
			return
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{
			Dir:       clusterDir + "/data",
			Ephemeral: true,
			// Every test gets its own database; leave room for their pools.
			Settings: map[string]string{"max_connections": "300"},
		})
		if err != nil {
			clusterErr = err
			_ = os.RemoveAll(clusterDir)
			return
		}
		cluster = c
		clusterErr = c.StopOnExit(clusterDir)
	})
	if clusterErr != nil {
		return "", clusterErr
	}
	return cluster.URL("postgres"), nil
}

// dbName is unique per test and process: the test's name (for whoever looks
// at the server) plus random bytes, within PostgreSQL's 63-byte limit.
func dbName(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, tb.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "test_" + name + "_" + hex.EncodeToString(b[:])
}

func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: not a URL")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// drop removes a test's database from a shared server; the throwaway
// cluster is deleted whole at the end instead.
func drop(tb testing.TB, admin, name string) {
	if os.Getenv("DATABASE_URL") == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Logf("testenv: drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Logf("testenv: drop %s: %v", name, err)
	}
}
