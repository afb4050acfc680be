// Package security tests the API's defences end to end, against the real
// api and worker binaries: authentication on every route, reps kept to their
// own deals, revocation, hashed tokens, body and rate limits, secrets kept
// out of every log, and malformed signals sent past the API.
package security

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/internal/config"
	"dealflow/internal/dev/pgcluster"
	"dealflow/internal/tests/e2e"
)

var (
	stack *e2e.Stack
	// password is the app role's PostgreSQL password: it is in the
	// DATABASE_URL every process gets, and must be in none of their logs.
	password string
	// pgLog is the PostgreSQL server log, when the cluster is ours.
	pgLog string
	// secrets are every token issued during the run, and the password.
	secrets = newSecretList()
	// cluster is our PostgreSQL cluster (nil on DATABASE_URL's server).
	cluster *pgcluster.Cluster
)

func pgCluster() *pgcluster.Cluster { return cluster }

// appRole is the PostgreSQL role the worker and API log in as.
const appRole = "dealflow_app"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	dbURL, cleanup, err := appDatabase(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer cleanup()
	secrets.add(password)
	s, err := e2e.Start(ctx, e2e.Options{DatabaseURL: dbURL,
		// Everything the processes can log (debug is the e2e default).
		Env: map[string]string{config.LogLevel.Name: "debug"}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		if s != nil {
			fmt.Fprint(os.Stderr, s.Logs(40))
		}
		return 1
	}
	stack = s
	secrets.add(s.RepToken)
	secrets.add(s.ManagerToken)
	code := m.Run()
	// Whatever the tests did, no log holds a secret (TestLogsHoldNoSecrets
	// says where; this catches what later tests logged).
	if leaks := scanLogs(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: secrets in the logs:\n  %s\n", strings.Join(leaks, "\n  "))
		code = 1
	}
	if code != 0 {
		fmt.Fprint(os.Stderr, s.Logs(40))
	}
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "security: stop the stack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// appDatabase makes a database owned by a role that logs in with a
// password — in a throwaway cluster whose pg_hba.conf demands it
// (scram-sha-256), or on the server of DATABASE_URL when that is set — and
// returns its URL.
func appDatabase(ctx context.Context) (string, func(), error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	password = "pw-" + hex.EncodeToString(b[:])
	cleanup := func() {}

	admin := os.Getenv(config.DatabaseURL.Name)
	var host string
	db := "dealflow_sec"
	role := appRole
	if admin == "" {
		dir, err := os.MkdirTemp("", "dealflow-security-pg-")
		if err != nil {
			return "", nil, err
		}
		cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Ephemeral: true})
		if err != nil {
			return "", nil, err
		}
		keep := dir
		if os.Getenv("DEALFLOW_E2E_KEEP") != "" {
			keep = ""
		}
		if err := cluster.StopOnExit(keep); err != nil {
			return "", nil, err
		}
		cleanup = func() {
			_ = cluster.Stop()
			if keep != "" {
				_ = os.RemoveAll(dir)
			}
		}
		admin = cluster.URL("postgres")
		host = "127.0.0.1:" + strconv.Itoa(cluster.Port)
		pgLog = filepath.Join(cluster.Dir, "log")
	} else {
		u, err := url.Parse(admin)
		if err != nil {
			return "", nil, fmt.Errorf("DATABASE_URL is not a URL")
		}
		host = u.Host
		db += "_" + hex.EncodeToString(b[:4])
		role += "_" + hex.EncodeToString(b[:4])
	}

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("connect to PostgreSQL as admin: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{
		// The password is not a parameter in DDL; it is hex, safe to quote.
		"CREATE ROLE " + pgx.Identifier{role}.Sanitize() + " LOGIN PASSWORD '" + password + "'",
		"CREATE DATABASE " + pgx.Identifier{db}.Sanitize() + " OWNER " + pgx.Identifier{role}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("%s: %w", strings.SplitN(sql, " PASSWORD", 2)[0], err)
		}
	}
	if cluster != nil {
		// Our cluster trusts every local login; make this role's need its
		// password, so the URL's password is really used.
		if err := requirePassword(ctx, conn, cluster.Dir, role); err != nil {
			cleanup()
			return "", nil, err
		}
	} else {
		cleanup = func() {
			c, err := pgx.Connect(context.Background(), admin)
			if err != nil {
				return
			}
			defer c.Close(context.Background())
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
		}
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, password), Host: host, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String(), cleanup, nil
}

// requirePassword puts a scram-sha-256 line for role first in the cluster's
// pg_hba.conf and reloads the configuration.
func requirePassword(ctx context.Context, conn *pgx.Conn, dir, role string) error {
	hba := filepath.Join(dir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("host all %s 127.0.0.1/32 scram-sha-256\nhost all %s ::1/128 scram-sha-256\n", role, role)
	if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	// The reload is asynchronous: wait until a login without the password fails.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", role, conn.Config().Port))
		if err != nil && strings.Contains(err.Error(), "password") {
			return nil
		}
		if err == nil {
			c.Close(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pg_hba.conf: %s still logs in without a password", role)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
