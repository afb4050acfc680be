package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// TestAPIMoneyWorkedExample takes the two deals of README "Money" (EUR and
// JPY, priced from a catalog and a price list, with percentage and amount
// line discounts, tax, a quote discount and freight) from lead to paid
// invoice through the API, and checks every figure of the README's worked
// example table against the deal the API shows and the rows in PostgreSQL.
func TestAPIMoneyWorkedExample(t *testing.T) {
	want := workedExample(t)
	rep := apiClient{t, stack.RepToken}
	mgr := apiClient{t, stack.ManagerToken}
	run := apiNewID("money")
	tab, sup, old := "SKU-TAB-"+run, "SKU-SUP-"+run, "SKU-OLD-"+run

	// The catalog: three products, one retired; a price list per currency.
	mgr.do(http.MethodPost, "/v1/products", map[string]any{"id": tab, "name": "Rugged tablet", "unit": "each"}).must(t, 201, "create tablet")
	mgr.do(http.MethodPost, "/v1/products", map[string]any{"id": sup, "name": "Support", "unit": "hour"}).must(t, 201, "create support")
	mgr.do(http.MethodPost, "/v1/products", map[string]any{"id": old, "name": "Old tablet"}).must(t, 201, "create old tablet")
	rep.do(http.MethodPost, "/v1/products", map[string]any{"id": "SKU-REP-" + run, "name": "Rep's product"}).must(t, 403, "a rep creates a product")
	prices := map[string]map[string]string{
		"EUR": {tab: "649.90", sup: "85.50", old: "500"},
		"JPY": {tab: "98500", sup: "12800"},
	}
	lists := map[string]string{}
	for cur, items := range prices {
		id := "PL-" + cur + "-" + run
		lists[cur] = id
		mgr.do(http.MethodPost, "/v1/price-lists", map[string]any{"id": id, "name": map[string]string{"EUR": "Europe ", "JPY": "Japan "}[cur] + run, "currency": cur}).
			must(t, 201, "create price list "+cur)
		for product, price := range items {
			mgr.do(http.MethodPut, "/v1/price-lists/"+id+"/items/"+product, map[string]any{"price": price}).must(t, 201, "price "+product)
		}
	}
	mgr.do(http.MethodPut, "/v1/price-lists/"+lists["JPY"]+"/items/"+tab, map[string]any{"price": "98500.5"}).must(t, 422, "a JPY price with decimals")
	mgr.do(http.MethodPatch, "/v1/products/"+old, map[string]any{"status": "Retired"}).must(t, 200, "retire the old tablet")

	deal := func(cur string, lines []map[string]any, quote map[string]any) string {
		id := "money-" + strings.ToLower(cur) + "-" + run
		lead := qualifiedLead(id, "Worked example "+cur)
		lead["currency"], lead["priceListId"] = cur, lists[cur]
		if cur == "JPY" {
			lead["budget"], lead["estimatedValue"] = "4000000", "3500000"
		}
		rep.do(http.MethodPost, "/v1/leads", lead).must(t, 201, "create "+cur+" lead")
		base := "/v1/leads/" + id
		rep.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
		rep.do(http.MethodPatch, base, map[string]any{"customerNeed": "field tablets", "proposedSolution": "tablets and support"}).must(t, 200, "edit opportunity")
		rep.do(http.MethodPost, base+"/stakeholders", map[string]any{"name": "Grace Hopper", "role": "Decision Maker"}).must(t, 200, "add stakeholder")
		for _, l := range lines {
			rep.do(http.MethodPost, base+"/lines", l).must(t, 200, "add line")
		}
		rep.do(http.MethodPost, base+"/quotes", quote).must(t, 200, "propose")
		rep.do(http.MethodPost, base+"/quotes/1/activate", nil).must(t, 200, "activate")
		rep.do(http.MethodPost, base+"/close", map[string]any{"outcome": "won"}).must(t, 200, "close won")
		rep.do(http.MethodPost, base+"/order/fulfill", nil).must(t, 200, "fulfill")
		return id
	}

	eur := deal("EUR", []map[string]any{
		{"productId": tab, "quantity": "12", "discountPercent": "7.5", "taxPercent": "19"},
		{"productId": sup, "quantity": "10.50000", "discount": "25.00", "taxPercent": "19"},
		{"product": "Site survey", "quantity": "1", "unitPrice": "333.33", "tax": "63.33"},
	}, map[string]any{"discountPercent": "3", "freight": "45.00", "paymentTerms": "2% 10, Net 30"})
	// A price change after the lines were made changes none of them.
	mgr.do(http.MethodPut, "/v1/price-lists/"+lists["EUR"]+"/items/"+tab, map[string]any{"price": "699.00"}).must(t, 200, "raise the tablet's price")
	ebase := "/v1/leads/" + eur
	d := rep.do(http.MethodGet, ebase, nil).must(t, 200, "EUR deal")
	if next := d.str("nextStep"); next != "collect 9812.16 EUR" {
		t.Errorf("next step %q", next)
	}
	// Within the window the discounted amount settles the invoice.
	paid := rep.do(http.MethodPost, ebase+"/invoice/payments", map[string]any{"amount": want["paid"][0]}).must(t, 200, "EUR payment")
	if paid.str("stage") != "Paid" {
		t.Fatalf("EUR payment: %s", paid.Raw)
	}

	jpy := deal("JPY", []map[string]any{
		{"productId": tab, "quantity": "3", "discountPercent": "5", "taxPercent": "10"},
		{"productId": sup, "quantity": "2.5", "taxPercent": "10"},
	}, map[string]any{"discount": "2725", "freight": "1500", "paymentTerms": "Net 30"})
	jbase := "/v1/leads/" + jpy
	rep.do(http.MethodPost, jbase+"/invoice/payments", map[string]any{"amount": "200000.5"}).must(t, 422, "a JPY payment with decimals")
	rep.do(http.MethodPost, jbase+"/invoice/payments", map[string]any{"amount": "342774"}).must(t, 422, "a JPY payment over the balance")
	rep.do(http.MethodPost, jbase+"/invoice/payments", map[string]any{"amount": "200000"}).must(t, 200, "first JPY payment")
	rest := rep.do(http.MethodPost, jbase+"/invoice/payments", map[string]any{"amount": "142773.000"}).must(t, 200, "second JPY payment")
	if rest.str("stage") != "Paid" {
		t.Fatalf("JPY payments: %s", rest.Raw)
	}

	// Every figure of the README's table, from the deals the API shows.
	col := map[string]int{"EUR": 0, "JPY": 1}
	line := map[string]int{"tablets": 0, "support": 1, "survey": 2}
	field := map[string]string{"amount": "amount", "discount": "discount", "tax": "tax", "extended amount": "extendedAmount"}
	summary := map[string]string{"detail amount": "detailAmount", "quote discount": "discount", "pre-freight amount": "preFreightAmount",
		"freight": "freight", "total tax": "totalTax", "total amount": "total", "paid": "paidAmount"}
	for cur, id := range map[string]string{"EUR": eur, "JPY": jpy} {
		v := rep.do(http.MethodGet, "/v1/leads/"+id, nil).must(t, 200, cur+" deal")
		if v.str("stage") != "Paid" || v.str("invoice.status") != "Paid" {
			t.Fatalf("%s deal not paid: %s", cur, v.Raw)
		}
		for figure, vals := range want {
			w := vals[col[cur]]
			if w == "" {
				continue
			}
			var path string
			if name, f, ok := strings.Cut(figure, ": "); ok {
				path = "invoice.lines." + itoa(line[name]) + "." + field[f]
			} else if figure == "early-payment discount" {
				path = "invoice.payments.0.discount"
			} else {
				path = "invoice." + summary[figure]
			}
			checkAmount(t, cur+" "+figure+" ("+path+")", v.str(path), w)
		}
		if v.str("invoice.lines.0.product") != "Rugged tablet" || v.str("invoice.lines.0.priceListId") != lists[cur] ||
			v.str("invoice.lines.1.unit") != "hour" || v.str("invoice.priceListId") != lists[cur] {
			t.Errorf("%s catalog lines: %s", cur, v.Raw)
		}
		if cur == "EUR" {
			checkAmount(t, "EUR tablet's unit price after the catalog's change", v.str("opportunity.lines.0.unitPrice"), "649.90")
		}
	}

	// PostgreSQL holds the same figures.
	pool, err := pgxpool.New(context.Background(), stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for cur, id := range map[string]string{"EUR": eur, "JPY": jpy} {
		var detail, disc, pre, freight, tax, total, paidAmt string
		if err := pool.QueryRow(context.Background(), `SELECT detail_amount::text, discount_amount::text, pre_freight_amount::text,
			freight_amount::text, total_tax::text, total::text, paid_amount::text FROM invoices WHERE lead_id = $1`, id).
			Scan(&detail, &disc, &pre, &freight, &tax, &total, &paidAmt); err != nil {
			t.Fatalf("%s invoice row: %v", cur, err)
		}
		for figure, got := range map[string]string{"detail amount": detail, "quote discount": disc, "pre-freight amount": pre,
			"freight": freight, "total tax": tax, "total amount": total, "paid": paidAmt} {
			checkAmount(t, cur+" "+figure+" in PostgreSQL", got, want[figure][col[cur]])
		}
	}
}

// TestAPICatalogRefusals: a retired product, one missing from the price
// list, and amounts with more decimals than the currency are 422s that name
// the field and the reason, and write nothing.
func TestAPICatalogRefusals(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	mgr := apiClient{t, stack.ManagerToken}
	run := apiNewID("catref")
	mgr.do(http.MethodPost, "/v1/products", map[string]any{"id": "OLD-" + run, "name": "Old widget"}).must(t, 201, "create product")
	mgr.do(http.MethodPost, "/v1/products", map[string]any{"id": "NEW-" + run, "name": "New widget"}).must(t, 201, "create product")
	pl := "PL-" + run
	mgr.do(http.MethodPost, "/v1/price-lists", map[string]any{"id": pl, "name": "Refusals " + run, "currency": "EUR"}).must(t, 201, "create price list")
	mgr.do(http.MethodPut, "/v1/price-lists/"+pl+"/items/OLD-"+run, map[string]any{"price": "10"}).must(t, 201, "price")
	mgr.do(http.MethodPatch, "/v1/products/OLD-"+run, map[string]any{"status": "Retired"}).must(t, 200, "retire")

	id := "catref-" + run
	lead := qualifiedLead(id, "Catalog refusals")
	lead["currency"], lead["priceListId"] = "EUR", pl
	rep.do(http.MethodPost, "/v1/leads", lead).must(t, 201, "create lead")
	bad := qualifiedLead("catref-usd-"+run, "USD lead on an EUR price list")
	bad["currency"], bad["priceListId"] = "USD", pl
	if r := rep.do(http.MethodPost, "/v1/leads", bad).must(t, 422, "USD lead, EUR price list"); !strings.Contains(string(r.Raw), "is in EUR, the deal is in USD") {
		t.Errorf("price list of another currency: %s", r.Raw)
	}
	base := "/v1/leads/" + id
	rep.do(http.MethodPost, base+"/qualify", nil).must(t, 200, "qualify")
	before := rep.do(http.MethodGet, base, nil).must(t, 200, "deal")
	for _, c := range []struct {
		line map[string]any
		want string
	}{
		{map[string]any{"productId": "OLD-" + run, "quantity": "1"}, "product OLD-" + run + " (Old widget) is retired"},
		{map[string]any{"productId": "NEW-" + run, "quantity": "1"}, "product NEW-" + run + " has no price on price list"},
		{map[string]any{"productId": "NONE-" + run, "quantity": "1"}, "product NONE-" + run + " is not in the catalog"},
		{map[string]any{"product": "Widget", "quantity": "1", "unitPrice": "1.001"}, "unitPrice has more than 2 decimal places, the most EUR allows"},
		{map[string]any{"product": "Widget", "quantity": "1.000001", "unitPrice": "1"}, "quantity has more than 5 decimal places"},
		{map[string]any{"product": "Widget", "quantity": "1"}, "unitPrice is required for a write-in product"},
	} {
		r := rep.do(http.MethodPost, base+"/lines", c.line).must(t, 422, "refused line")
		if !strings.Contains(string(r.Raw), c.want) {
			t.Errorf("line %v: %s, want %q", c.line, r.Raw, c.want)
		}
	}
	after := rep.do(http.MethodGet, base, nil).must(t, 200, "deal")
	if after.len("opportunity.lines") != before.len("opportunity.lines") || after.len("timeline") != before.len("timeline") {
		t.Fatalf("refused lines changed the deal:\n%s\n%s", before.Raw, after.Raw)
	}
	// Trailing zeros are fine.
	rep.do(http.MethodPost, base+"/lines", map[string]any{"product": "Widget", "quantity": "1.00000", "unitPrice": "1.00000"}).must(t, 200, "1.00000")
}

// workedExample reads README "Money"'s worked example: figure → {EUR, JPY}.
func workedExample(t *testing.T) map[string][2]string {
	t.Helper()
	f, err := os.Open(filepath.Join(stack.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "<!-- money: worked example -->":
			in = true
		case in && !strings.HasPrefix(line, "|"):
			in = false
		case in:
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 3 || strings.TrimSpace(cells[0]) == "figure" || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
				continue
			}
			out[strings.TrimSpace(cells[0])] = [2]string{strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])}
		}
	}
	if len(out) < 15 {
		t.Fatalf("README's worked example has %d figures", len(out))
	}
	return out
}

// checkAmount compares an amount the API or the database gave with the
// README's, as decimals ("7798.8" is "7798.80").
func checkAmount(t *testing.T, what, got, want string) {
	t.Helper()
	g, err1 := decimal.NewFromString(got)
	w, err2 := decimal.NewFromString(want)
	if err1 != nil || err2 != nil || !g.Equal(w) {
		t.Errorf("%s = %q, README says %q", what, got, want)
	}
}

func itoa(i int) string { return decimal.NewFromInt(int64(i)).String() }
