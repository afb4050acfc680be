package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/internal/store"
)

// catalog runs `starter catalog FILE` on the stack's PostgreSQL.
func catalog(t *testing.T, ctx context.Context, file string) (int, string, string) {
	t.Helper()
	t.Setenv("DATABASE_URL", stack.DatabaseURL)
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"catalog", file}, &stdout, &stderr)
	t.Logf("starter catalog %s: exit %d\nstdout:\n%s\nstderr:\n%s", file, code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A catalog file goes in once: the second run changes nothing, rejects
// are named by line and reason, and the prices are what deals are priced
// with.
func TestCatalogImport(t *testing.T) {
	ctx := context.Background()
	file := writeFile(t, "catalog.csv", `Product ID,Name,Unit,Description,Status,Price List,Currency,Price,Default
CT-1,Widget,,a blue widget,,CT EU 2026,EUR,19.99,true
CT-1,Widget,,a blue widget,,CT US,USD,22,
CT-2,Consulting,day,,active,CT EU 2026,,800.00,
CT-3,Old widget,,,retired,,,,
CT-4,Too precise,,,,CT EU 2026,EUR,1.999,
bad id,Nope,,,,,,,
CT-5,Yen thing,,,,CT Japan,JPY,2500,yes
CT-6,Short row
CT-7,No list,,,,,,5,
CT-8,Wrong currency,,,,CT EU 2026,USD,5,
,,,,,,,,
CT-9,Hourly,,,,CT EU 2026,EUR,95,
`)
	wantRejects := []string{
		":6: price has more than 2 decimal places, the most EUR allows",
		":7: product_id must be 1-64 letters",
		":9: has 2 fields, the header row has 9",
		":10: price_list is empty",
		`:11: price list "CT EU 2026" is in EUR, the row says USD`,
	}
	for run := 1; run <= 2; run++ {
		code, stdout, stderr := catalog(t, ctx, file)
		if code != 0 {
			t.Fatalf("run %d: exit %d", run, code)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != len(wantRejects) {
			t.Fatalf("run %d: rejects\n%s\nwant %d", run, stderr, len(wantRejects))
		}
		for i, want := range wantRejects {
			if !strings.HasPrefix(lines[i], file) || !strings.Contains(lines[i], want) {
				t.Errorf("run %d: reject %q, want %q", run, lines[i], want)
			}
		}
		want := "11 rows: 5 products (5 new, 0 updated, 0 unchanged), 3 price lists (3 new, 0 updated), " +
			"5 prices (5 new, 0 changed, 0 unchanged), 5 rejected"
		if run == 2 {
			want = "11 rows: 5 products (0 new, 0 updated, 5 unchanged), 3 price lists (0 new, 0 updated), " +
				"5 prices (0 new, 0 changed, 5 unchanged), 5 rejected"
		}
		if got := strings.TrimSpace(stdout); got != file+": "+want {
			t.Fatalf("run %d: summary\n%s\nwant\n%s: %s", run, got, file, want)
		}
	}

	p := pool(t, ctx)
	var lists, items int
	if err := p.QueryRow(ctx, `SELECT (SELECT count(*) FROM price_lists WHERE id LIKE 'CT-%'),
		(SELECT count(*) FROM price_list_items WHERE product_id LIKE 'CT-%')`).Scan(&lists, &items); err != nil {
		t.Fatal(err)
	}
	if lists != 3 || items != 5 {
		t.Fatalf("%d price lists, %d prices", lists, items)
	}
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ currency, product, price, unit string }{
		{"EUR", "CT-1", "19.99", "each"}, {"EUR", "CT-2", "800", "day"}, {"JPY", "CT-5", "2500", "each"},
	} {
		pr, err := store.PriceOf(ctx, p, "", tc.currency, tc.product, "", day)
		if err != nil || !pr.UnitPrice.Equal(decimal.RequireFromString(tc.price)) || pr.Unit != tc.unit {
			t.Errorf("price of %s in %s: %+v %v", tc.product, tc.currency, pr, err)
		}
	}
	if pr, err := store.PriceOf(ctx, p, "CT-US", "USD", "CT-1", "", day); err != nil || !pr.UnitPrice.Equal(decimal.NewFromInt(22)) {
		t.Errorf("price on CT US: %+v %v", pr, err)
	}
	if prod, err := store.GetProduct(ctx, p, "CT-3"); err != nil || prod.Status != store.ProductRetired {
		t.Errorf("retired product: %+v %v", prod, err)
	}

	// A changed price is one change on the next run.
	changed := writeFile(t, "changed.csv", "product_id,name,price_list,price\nCT-1,Widget,ct eu 2026,21.00\n")
	if code, stdout, _ := catalog(t, ctx, changed); code != 0 ||
		!strings.Contains(stdout, "1 products (0 new, 0 updated, 1 unchanged)") ||
		!strings.Contains(stdout, "1 prices (0 new, 1 changed, 0 unchanged), 0 rejected") {
		t.Fatalf("changed price: exit %d: %s", code, stdout)
	}
	if prod, err := store.GetProduct(ctx, p, "CT-1"); err != nil || prod.Description != "a blue widget" {
		t.Errorf("a file without a description column reset it: %+v %v", prod, err)
	}
}

// A file that cannot be read fails the command; so does one with no row
// that could be imported.
func TestCatalogImportFails(t *testing.T) {
	ctx := context.Background()
	for name, content := range map[string]string{
		"unknown column": "product_id,name,colour\nCT-X,x,red\n",
		"no name column": "product_id,unit\nCT-X,each\n",
		"empty":          "",
		"every row bad":  "product_id,name\nbad id,x\n,\n",
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := catalog(t, ctx, writeFile(t, "c.csv", content)); code != 1 || stderr == "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
	if code, _, _ := catalog(t, ctx, filepath.Join(t.TempDir(), "missing.csv")); code != 1 {
		t.Fatalf("missing file: exit %d", code)
	}
	if code, _, _ := catalog(t, ctx, ""); code != 1 {
		t.Fatalf("no file name: exit %d", code)
	}
}
