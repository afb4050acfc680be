package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Migrations apply on an empty database, a second run finds nothing to do,
// and the schema's key constraints are in place.
func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testenv.Database(t))
	for i := range 2 {
		if err := store.Migrate(ctx, pool); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	cur, latest, err := store.SchemaVersion(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if cur != latest || cur == 0 {
		t.Fatalf("schema version %d, latest %d", cur, latest)
	}

	var tables []string
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"accounts", "activities", "api_tokens", "api_users", "contacts", "deal_events", "import_jobs",
		"invoice_lines",
		"invoice_payments", "invoices", "leads", "messages", "opportunities", "opportunity_competitors",
		"opportunity_lines", "opportunity_stakeholders", "opportunity_team", "order_lines", "orders",
		"price_list_items", "price_lists", "products", "quote_lines", "quotes", "web_sessions"}
	if len(tables) != len(want) {
		t.Fatalf("tables %v, want %v", tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("tables %v, want %v", tables, want)
		}
	}
}

func TestConstraints(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	exec := func(sql string, args ...any) error {
		_, err := pool.Exec(ctx, sql, args...)
		return err
	}
	code := func(err error) string {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return pgErr.Code
		}
		return ""
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mustExec := func(sql string, args ...any) {
		t.Helper()
		if err := exec(sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	mustExec(`INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'Contoso', $1)`, now)
	mustExec(`INSERT INTO leads (id, owner, stage, status, currency, created_at, stage_entered_at, updated_at)
		VALUES ('l1', 'rep1', 'Qualify', 'open', 'EUR', $1, $1, $1)`, now)

	cases := []struct {
		name, sql, code string
	}{
		{"account name unique whatever the case", `INSERT INTO accounts (id, name, created_at) VALUES ('a2', 'CONTOSO', now())`, "23505"},
		{"unknown stage", `INSERT INTO leads (id, owner, stage, status, currency, created_at, stage_entered_at, updated_at)
			VALUES ('l2', 'rep1', 'Dream', 'open', 'EUR', now(), now(), now())`, "23514"},
		{"lowercase currency", `INSERT INTO leads (id, owner, stage, status, currency, created_at, stage_entered_at, updated_at)
			VALUES ('l2', 'rep1', 'Qualify', 'open', 'eur', now(), now(), now())`, "23514"},
		{"second order for a deal", `INSERT INTO orders (id, lead_id, currency, total, status, created_at)
			VALUES ('o1', 'l1', 'EUR', 1, 'Active', now()), ('o2', 'l1', 'EUR', 1, 'Active', now())`, "23505"},
		{"unknown quote status", `INSERT INTO quotes (id, lead_id, revision, status, currency, total, created_at)
			VALUES ('q1', 'l1', 1, 'Sent', 'EUR', 1, now())`, "23514"},
		{"unknown delivery", `INSERT INTO messages (key, lead_id, kind, recipient, subject, body, created_at, sent_at, delivery)
			VALUES ('k', 'l1', 'x', 'a@b', 's', 'b', now(), now(), 'pigeon')`, "23514"},
		{"bad api role", `INSERT INTO api_users (id, email, role) VALUES ('u1', 'a@b', 'admin')`, "23514"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(exec(tc.sql)); got != tc.code {
				t.Fatalf("SQLSTATE %q, want %q", got, tc.code)
			}
		})
	}

	// Contacts are unique by email, case-insensitively, but many may have none.
	mustExec(`INSERT INTO contacts (id, email, created_at) VALUES ('c1', 'Ann@Example.com', now()), ('c2', '', now()), ('c3', '', now())`)
	if got := code(exec(`INSERT INTO contacts (id, email, created_at) VALUES ('c4', 'ann@example.COM', now())`)); got != "23505" {
		t.Fatalf("duplicate email: SQLSTATE %q", got)
	}
	// Money is exact: no rounding of many decimals.
	mustExec(`UPDATE leads SET value = $1::numeric WHERE id = 'l1'`, "1234567890123.123456789")
	var v string
	if err := pool.QueryRow(ctx, `SELECT value::text FROM leads WHERE id = 'l1'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "1234567890123.123456789" {
		t.Fatalf("value %s", v)
	}
}

// The worker and the API migrate at the same moment on start-up.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := testenv.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		pool := open(t, url)
		wg.Go(func() { errs[i] = store.Migrate(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	pool := open(t, url)
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	cur, latest, err := store.SchemaVersion(ctx, pool)
	if err != nil || cur != latest || int64(n) != latest {
		t.Fatalf("applied %d migrations, version %d/%d, err %v", n, cur, latest, err)
	}
}

func TestOpenAndPing(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testenv.Database(t))
	if err := store.Ping(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", store.Options{}); err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if _, err := store.Open(ctx, "::not a url", store.Options{}); err == nil {
		t.Fatal("Open of garbage succeeded")
	}
}
