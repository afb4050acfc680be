// Package store is dealflow's one home for SQL: the connection pool every
// binary uses, the goose migrations embedded in the binary, and every query
// the worker and the API run — the writes of a deal's Change and its outbox
// (change.go, outbox.go), the read models the API lists and reports from
// (leads.go, timeline.go, pipeline.go), and the API's users and tokens
// (users.go). It returns domain values and typed errors (errors.go); what an
// error means to a client (an HTTP status, a Temporal retry) is the caller's
// to decide.
//
// The worker and the API both migrate at start-up; an advisory lock makes the
// one that comes second wait for the first.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Pool is a pool of connections to PostgreSQL; every function of the store
// takes one. Callers hold it without importing pgx.
type Pool = pgxpool.Pool

// pingTimeout bounds one readiness check, so /readyz answers quickly when
// PostgreSQL is down instead of waiting for a TCP timeout.
const pingTimeout = 3 * time.Second

// Options tune Open; the zero value suits the worker and the commands.
type Options struct {
	// Name is the application_name PostgreSQL shows for the pool's
	// connections, unless the URL sets one ("dealflow" when empty).
	Name string
	// Lazy skips the check that the server answers: the pool connects on
	// first use, so a server starts (and says it is not ready) while
	// PostgreSQL is down. Its connection attempts give up after 3 s rather
	// than 5 s, since a request waits on them.
	Lazy bool
}

// Open creates the connection pool for url and, unless o.Lazy, checks that
// the server answers.
func Open(ctx context.Context, url string, o Options) (*Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("store: invalid database URL")
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.MinConns = 0
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
		if o.Lazy {
			cfg.ConnConfig.ConnectTimeout = 3 * time.Second
		}
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = cmp.Or(o.Name, "dealflow")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	if o.Lazy {
		return pool, nil
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Ping checks, within a few seconds, that PostgreSQL answers a query: the
// readiness check of the API and the worker.
func Ping(ctx context.Context, pool *Pool) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var one int
	if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping %s:%d: %w", pool.Config().ConnConfig.Host, pool.Config().ConnConfig.Port, err)
	}
	return nil
}

// Migrate applies every pending migration. It is safe to call from several
// processes at once: they take turns under a PostgreSQL advisory lock, and
// the later ones find nothing left to do.
func Migrate(ctx context.Context, pool *Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return backfillDuplicateKeys(ctx, pool)
}

// SchemaVersion returns the version of the newest migration applied, and
// the newest one embedded in this binary.
func SchemaVersion(ctx context.Context, pool *Pool) (current, latest int64, err error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return 0, 0, err
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	return current, latest, nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	// Probe the lock every second (the default is every 5 s) for up to five
	// minutes: a second process starting at the same moment waits about as
	// long as the first one's migration takes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, nil
}
