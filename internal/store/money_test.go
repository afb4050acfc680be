package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// Migration 00003 gives the rows written before it the values their deal's
// exact rules gave them, and its Down section removes every column it added.
func TestMigrationMoney(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testenv.Database(t))
	if err := store.MigrateTo(ctx, pool, 2); err != nil {
		t.Fatal(err)
	}
	mustExec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	mustExec(`INSERT INTO leads (id, owner, stage, status, currency, created_at, stage_entered_at, updated_at)
		VALUES ('l1', 'rep', 'Invoice', 'won', 'EUR', now(), now(), now())`)
	mustExec(`INSERT INTO quotes (id, lead_id, revision, status, currency, total, created_at)
		VALUES ('q1', 'l1', 1, 'Won', 'EUR', 57.87875, now())`)
	// 2.125 × 19.99 - 1 + 0.4 and 3 × 5 + 3.5: the exact amounts of old deals.
	mustExec(`INSERT INTO quote_lines (quote_id, pos, line_id, product, quantity, unit_price, discount, tax, amount)
		VALUES ('q1', 1, 'l-1', 'a', 2.125, 19.99, 1, 0.4, 41.87875), ('q1', 2, 'l-2', 'b', 3, 5, 0, 3.5, 18.5)`)
	mustExec(`INSERT INTO orders (id, lead_id, quote_id, currency, total, status, created_at)
		VALUES ('o1', 'l1', 'q1', 'EUR', 57.87875, 'Invoiced', now())`)
	mustExec(`INSERT INTO invoices (id, lead_id, order_id, currency, total, due_date, status, created_at)
		VALUES ('i1', 'l1', 'o1', 'EUR', 57.87875, now(), 'Active', now())`)
	mustExec(`INSERT INTO invoice_lines (invoice_id, pos, line_id, product, quantity, unit_price, discount, tax, amount)
		VALUES ('i1', 1, 'l-1', 'a', 2.125, 19.99, 1, 0.4, 41.87875)`)
	if err := store.MigrateTo(ctx, pool, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, want string }{
		{`SELECT string_agg(base_amount::text || ' ' || product_id || unit || price_list_id || coalesce(discount_percent::text, 'null') ||
			coalesce(tax_percent::text, 'null'), ',' ORDER BY pos) FROM quote_lines`, "42.47875 nullnull,15 nullnull"},
		{`SELECT detail_amount || ' ' || discount_amount || ' ' || coalesce(discount_percent::text, 'null') || ' ' ||
			pre_freight_amount || ' ' || freight_amount || ' ' || total_tax || ' ' || price_list_id || '.' FROM quotes`,
			"56.47875 0 null 56.47875 0 3.9 ."},
		{`SELECT detail_amount || ' ' || total_tax FROM orders`, "0 0"}, // no order lines were kept
		{`SELECT detail_amount || ' ' || pre_freight_amount || ' ' || total_tax FROM invoices`, "41.47875 41.47875 0.4"},
		{`SELECT price_list_id || '.' FROM leads`, "."},
	} {
		var got string
		if err := pool.QueryRow(ctx, c.sql).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.sql, got, c.want)
		}
	}

	if err := store.MigrateTo(ctx, pool, 2); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND column_name IN
		('price_list_id', 'product_id', 'unit', 'discount_percent', 'tax_percent', 'base_amount', 'detail_amount',
		 'discount_amount', 'pre_freight_amount', 'freight_amount', 'total_tax')
		AND table_name NOT IN ('price_list_items', 'products')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d columns of 00003 left after its Down", n)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

func dp(s string) *decimal.Decimal { d := dec(s); return &d }

// moneyChange is a Change writing a quote, an order and an invoice made
// from one catalog line with percentages and one write-in line, under a
// quote discount and freight, priced by workflows.Price.
func moneyChange(at time.Time) workflows.Change {
	round := func(v decimal.Decimal) decimal.Decimal { return v.Round(2) }
	lines := []workflows.Line{
		{ID: "line-1", ProductID: "SKU-1", Product: "Widget", Unit: "each", PriceListID: "EU-2026",
			Quantity: dec("2.125"), UnitPrice: dec("19.99"), DiscountPercent: dp("10"), TaxPercent: dp("19")},
		{ID: "line-2", Product: "Installation", Quantity: dec("1"), UnitPrice: dec("100"), Discount: dec("5"), Tax: dec("0.5")},
	}
	sum, total := workflows.Price(lines, workflows.QuoteSummary{DiscountPercent: dp("2.5"), Freight: dec("7.5")}, round)
	h := workflows.DealHeader{ID: "m1", Owner: "rep@example.com", Stage: workflows.StageInvoice, Status: workflows.StatusWon,
		Currency: "EUR", PriceListID: "EU-2026", Customer: "Contoso", Value: total, CreatedAt: at, StageEnteredAt: at}
	q := workflows.Quote{ID: "QUO-m1-1", Revision: 1, Name: "offer", Status: workflows.QuoteWon, Lines: lines,
		PriceListID: "EU-2026", QuoteSummary: sum, Total: total, PaymentTerms: "Net 30", CreatedAt: at}
	o := workflows.Order{ID: "ORD-m1", QuoteID: q.ID, Lines: lines, PriceListID: "EU-2026", QuoteSummary: sum, Total: total,
		PaymentTerms: "Net 30", Status: workflows.OrderInvoiced, CreatedAt: at}
	inv := workflows.Invoice{ID: "INV-m1", OrderID: o.ID, Lines: lines, PriceListID: "EU-2026", QuoteSummary: sum, Total: total,
		PaymentTerms: "Net 30", DueDate: at.Add(30 * 24 * time.Hour), Status: workflows.InvoiceActive, CreatedAt: at}
	return workflows.Change{Deal: h, Lead: workflows.Lead{Topic: "t", Status: "Qualified"},
		Event:  workflows.Event{Seq: 1, At: at, Action: "fulfill_order", Accepted: true},
		Quotes: []workflows.Quote{q}, Order: &o, Invoice: &inv}
}

// ApplyChange writes the lines' catalog fields, percentages and amounts and
// each record's quote summary and price list, and writing the same Change
// again (or one with a percentage gone) leaves the snapshot's values.
func TestApplyChangeWritesMoney(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ch := moneyChange(at)
	// Line 1: 2.125 × 19.99 = 42.47875 → 42.48, less 10 % (4.248 → 4.25), 19 % tax on 38.23 (7.2637 → 7.26).
	// Detail 38.23 + 95 = 133.23, less 2.5 % (3.33075 → 3.33) = 129.9, freight 7.50, tax 7.76: 145.16.
	const (
		wantLines = "1 SKU-1 each EU-2026 2.125 19.99 10 4.25 19 7.26 42.48 45.49|" +
			"2 - - - 1 100 null 5 null 0.5 100 95.5"
		wantSummary = "EU-2026 133.23 2.5 3.33 129.9 7.5 7.76 145.16"
	)
	lines := func(table, key, id string) string {
		var s string
		if err := pool.QueryRow(ctx, `SELECT string_agg(concat_ws(' ', pos, coalesce(nullif(product_id, ''), '-'),
			coalesce(nullif(unit, ''), '-'), coalesce(nullif(price_list_id, ''), '-'), quantity, unit_price,
			coalesce(discount_percent::text, 'null'), discount, coalesce(tax_percent::text, 'null'), tax, base_amount, amount), '|' ORDER BY pos)
			FROM `+table+` WHERE `+key+` = $1`, id).Scan(&s); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		return s
	}
	summary := func(table, id string) string {
		var s string
		if err := pool.QueryRow(ctx, `SELECT concat_ws(' ', price_list_id, detail_amount, coalesce(discount_percent::text, 'null'),
			discount_amount, pre_freight_amount, freight_amount, total_tax, total) FROM `+table+` WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		return s
	}
	for i := range 2 {
		if _, err := store.ApplyChange(ctx, pool, ch); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
		for _, l := range []struct{ table, key, id string }{
			{"quote_lines", "quote_id", "QUO-m1-1"}, {"order_lines", "order_id", "ORD-m1"}, {"invoice_lines", "invoice_id", "INV-m1"},
		} {
			if got := lines(l.table, l.key, l.id); got != wantLines {
				t.Errorf("write %d: %s %q, want %q", i+1, l.table, got, wantLines)
			}
		}
		for _, r := range []struct{ table, id string }{{"quotes", "QUO-m1-1"}, {"orders", "ORD-m1"}, {"invoices", "INV-m1"}} {
			if got := summary(r.table, r.id); got != wantSummary {
				t.Errorf("write %d: %s %q, want %q", i+1, r.table, got, wantSummary)
			}
		}
		var pl string
		if err := pool.QueryRow(ctx, `SELECT price_list_id FROM leads WHERE id = 'm1'`).Scan(&pl); err != nil || pl != "EU-2026" {
			t.Errorf("write %d: lead's price list %q (%v)", i+1, pl, err)
		}
	}

	// The rep gives the quote discount as an amount instead: the percentage goes.
	inv := ch.Invoice
	inv.QuoteSummary, inv.Total = workflows.Price(inv.Lines,
		workflows.QuoteSummary{Discount: dec("3"), Freight: inv.Freight}, func(v decimal.Decimal) decimal.Decimal { return v.Round(2) })
	if _, err := store.ApplyChange(ctx, pool, ch); err != nil {
		t.Fatal(err)
	}
	if got, want := summary("invoices", "INV-m1"), "EU-2026 133.23 null 3 130.23 7.5 7.76 145.49"; got != want {
		t.Errorf("after the percentage went: %q, want %q", got, want)
	}
}

// The pipeline sums each stage's value in each currency apart: never EUR
// with USD, whatever their decimals; closed deals count in no stage.
func TestPipelineSumsPerCurrency(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	deals := []struct {
		id, owner, cur, value string
		stage                 workflows.Stage
		status                workflows.Status
	}{
		{"e1", "a@example.com", "EUR", "10.50", workflows.StageDevelop, workflows.StatusOpen},
		{"e2", "b@example.com", "EUR", "20.25", workflows.StageDevelop, workflows.StatusOpen},
		{"u1", "a@example.com", "USD", "7", workflows.StageDevelop, workflows.StatusOpen},
		{"k1", "a@example.com", "KWD", "1.234", workflows.StageDevelop, workflows.StatusOpen},
		{"j1", "b@example.com", "JPY", "1000", workflows.StageOrder, workflows.StatusWon},
		{"j2", "b@example.com", "JPY", "5", workflows.StageOrder, workflows.StatusWon},
		{"e3", "a@example.com", "EUR", "99", workflows.StageDevelop, workflows.StatusLost},
	}
	for _, d := range deals {
		ch := workflows.Change{Deal: workflows.DealHeader{ID: d.id, Owner: d.owner, Stage: d.stage, Status: d.status,
			Currency: d.cur, Value: dec(d.value), CreatedAt: at, StageEnteredAt: at}, Lead: workflows.Lead{Topic: d.id, Status: "Open"}}
		if _, err := store.ApplyChange(ctx, pool, ch); err != nil {
			t.Fatal(err)
		}
	}
	values := func(f store.PipelineFigures, stage workflows.Stage) string {
		var s string
		for _, st := range f.Stages {
			if st.Stage == stage {
				for _, v := range st.Value {
					s += v.Currency + " " + v.Amount.String() + ";"
				}
			}
		}
		return s
	}
	r, err := store.Pipeline(ctx, pool, store.User{Email: "boss@example.com", Role: workflows.RoleManager})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := values(r.PipelineFigures, workflows.StageDevelop), "EUR 30.75;KWD 1.234;USD 7;"; got != want {
		t.Errorf("Develop: %s, want %s", got, want)
	}
	if got, want := values(r.PipelineFigures, workflows.StageOrder), "JPY 1005;"; got != want {
		t.Errorf("Order: %s, want %s", got, want)
	}
	if len(r.Owners) != 2 || values(r.Owners[0].PipelineFigures, workflows.StageDevelop) != "EUR 10.5;KWD 1.234;USD 7;" ||
		values(r.Owners[1].PipelineFigures, workflows.StageDevelop) != "EUR 20.25;" {
		t.Errorf("owners: %+v", r.Owners)
	}
	rep, err := store.Pipeline(ctx, pool, store.User{Email: "b@example.com", Role: workflows.RoleRep})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := values(rep.PipelineFigures, workflows.StageDevelop), "EUR 20.25;"; got != want {
		t.Errorf("rep b's Develop: %s, want %s", got, want)
	}
}
