package workflows

import (
	"testing"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
)

// TestPriceWorkedExample pins Price on the worked example of README
// "Money": every figure of both deals, to the cent (to the yen).
func TestPriceWorkedExample(t *testing.T) {
	eur := []Line{
		{Product: "Rugged tablet", Quantity: dec("12"), UnitPrice: dec("649.90"), DiscountPercent: dptr("7.5"), TaxPercent: dptr("19")},
		{Product: "Support", Unit: "hour", Quantity: dec("10.5"), UnitPrice: dec("85.50"), Discount: dec("25.00"), TaxPercent: dptr("19")},
		{Product: "Site survey", Quantity: dec("1"), UnitPrice: dec("333.33"), Tax: dec("63.33")},
	}
	jpy := []Line{
		{Product: "Rugged tablet", Quantity: dec("3"), UnitPrice: dec("98500"), DiscountPercent: dptr("5"), TaxPercent: dptr("10")},
		{Product: "Support", Unit: "hour", Quantity: dec("2.5"), UnitPrice: dec("12800"), TaxPercent: dptr("10")},
	}
	round := func(cur string) func(decimal.Decimal) decimal.Decimal {
		return func(v decimal.Decimal) decimal.Decimal { return money.Round(v, cur) }
	}
	se, te := Price(eur, QuoteSummary{DiscountPercent: dptr("3"), Freight: dec("45.00")}, round("EUR"))
	sj, tj := Price(jpy, QuoteSummary{Discount: dec("2725"), Freight: dec("1500")}, round("JPY"))
	check := func(what string, got decimal.Decimal, want string) {
		t.Helper()
		if !got.Equal(dec(want)) {
			t.Errorf("%s = %s, want %s", what, got, want)
		}
	}
	for i, want := range [][4]string{{"7798.80", "584.91", "1370.64", "8584.53"}, {"897.75", "25.00", "165.82", "1038.57"}, {"333.33", "0", "63.33", "396.66"}} {
		l := eur[i]
		check("EUR line amount", l.Amount, want[0])
		check("EUR line discount", l.Discount, want[1])
		check("EUR line tax", l.Tax, want[2])
		check("EUR line extended amount", l.ExtendedAmount, want[3])
	}
	for i, want := range [][4]string{{"295500", "14775", "28073", "308798"}, {"32000", "0", "3200", "35200"}} {
		l := jpy[i]
		check("JPY line amount", l.Amount, want[0])
		check("JPY line discount", l.Discount, want[1])
		check("JPY line tax", l.Tax, want[2])
		check("JPY line extended amount", l.ExtendedAmount, want[3])
	}
	check("EUR detail amount", se.DetailAmount, "8419.97")
	check("EUR quote discount", se.Discount, "252.60")
	check("EUR pre-freight amount", se.PreFreightAmount, "8167.37")
	check("EUR total tax", se.TotalTax, "1599.79")
	check("EUR total", te, "9812.16")
	check("JPY detail amount", sj.DetailAmount, "312725")
	check("JPY pre-freight amount", sj.PreFreightAmount, "310000")
	check("JPY total tax", sj.TotalTax, "31273")
	check("JPY total", tj, "342773")
}

// TestPriceExactLeavesAmountsAlone: under PricingExact nothing is rounded,
// as deals started before the money rules computed it.
func TestPriceExactLeavesAmountsAlone(t *testing.T) {
	lines := []Line{{Quantity: dec("2.125"), UnitPrice: dec("19.99"), Discount: dec("0.00001"), Tax: dec("0.5")}}
	s, total := Price(lines, QuoteSummary{}, func(v decimal.Decimal) decimal.Decimal { return v })
	if !lines[0].Amount.Equal(dec("42.47875")) || !total.Equal(dec("42.97874")) || !s.DetailAmount.Equal(dec("42.47874")) {
		t.Fatalf("amount %s total %s detail %s", lines[0].Amount, total, s.DetailAmount)
	}
}

// TestExactRulesStay: a deal under PricingExact (started before the money
// rules had versions) keeps deciding as it did, so its history replays: a
// payment may not exceed the amount due, and amounts carry at most 4
// decimals, trailing zeros counted.
func TestExactRulesStay(t *testing.T) {
	d := invoiced(t, "2% 10, Net 30")
	d.Pricing = PricingExact
	now := d.Invoice.CreatedAt.Add(day)
	refusedWith(t, d, &RecordPayment{Amount: dec("55860.01")}, now, RejectInvalid, "exceeds the amount due of 55860.00 EUR")
	refusedWith(t, d, &RecordPayment{Amount: dec("1.00000")}, now, RejectInvalid, "amount has more than 4 decimal places")
	mustApply(t, d, &RecordPayment{Amount: dec("0.0001")}, now)
	if !d.Balance().Equal(dec("56999.9999")) {
		t.Fatalf("an exact deal's balance is not rounded: %s", d.Balance())
	}
}

// TestCurrencyDecimals: amounts are refused with more decimals than the
// deal's currency has, naming how many it allows; trailing zeros are fine;
// quantities take up to 5 decimals whatever the currency.
func TestCurrencyDecimals(t *testing.T) {
	d := developed(t) // EUR
	refusedWith(t, d, &AddLine{LineInput: LineInput{Product: "x", Quantity: dec("1"), UnitPrice: dptr("1.001")}}, at, RejectInvalid,
		"unitPrice has more than 2 decimal places, the most EUR allows")
	refusedWith(t, d, &AddLine{LineInput: LineInput{Product: "x", Quantity: dec("1.000001"), UnitPrice: dptr("1")}}, at, RejectInvalid,
		"quantity has more than 5 decimal places")
	refusedWith(t, d, &AddLine{LineInput: LineInput{Product: "x", Quantity: dec("1"), UnitPrice: dptr("1"), DiscountPercent: dptr("2.125")}}, at, RejectInvalid,
		"discountPercent has more than 2 decimal places")
	refusedWith(t, d, &AddLine{LineInput: LineInput{Product: "x", Quantity: dec("1")}}, at, RejectInvalid,
		"unitPrice is required for a write-in product")
	mustApply(t, d, &AddLine{LineInput: LineInput{Product: "x", Quantity: dec("1.00001"), UnitPrice: dptr("1.00000")}}, at)

	in := readyLead("jpy")
	in.Currency = "JPY"
	in.Lead.Budget = dptr("1000.5")
	if errs := in.Validate(); len(errs) != 1 || errs[0].Field != "budget" || errs[0].Reason != "has decimals, and JPY amounts have none" {
		t.Fatalf("JPY budget 1000.5: %+v", errs)
	}
	in.Lead.Budget = dptr("1000.000")
	if errs := in.Validate(); len(errs) != 0 {
		t.Fatalf("JPY budget 1000.000: %+v", errs)
	}
	kwd := readyLead("kwd")
	kwd.Currency, kwd.Lead.Budget = "KWD", dptr("10.125")
	if errs := kwd.Validate(); len(errs) != 0 {
		t.Fatalf("KWD has 3 decimals: %+v", errs)
	}
}

// TestCatalogLines: a catalog line takes its name, unit and price from the
// price the API found, and keeps them; one the API did not price, or priced
// for another currency or price list, is refused.
func TestCatalogLines(t *testing.T) {
	d := developed(t)
	price := &CatalogPrice{PriceListID: "EU-2026", Currency: "EUR", ProductID: "SKU-1", Product: "Rugged tablet", Unit: "each", UnitPrice: dec("649.90")}
	refusedWith(t, d, &AddLine{LineInput: LineInput{ProductID: "SKU-1", Quantity: dec("1")}}, at, RejectInvalid,
		"productId was not priced from the catalog")
	usd := *price
	usd.Currency = "USD"
	refusedWith(t, d, &AddLine{LineInput: LineInput{ProductID: "SKU-1", Quantity: dec("1"), Catalog: &usd}}, at, RejectInvalid,
		"productId was priced for another currency or price list")
	other := *price
	other.ProductID = "SKU-2"
	refusedWith(t, d, &AddLine{LineInput: LineInput{ProductID: "SKU-1", Quantity: dec("1"), Catalog: &other}}, at, RejectInvalid,
		"productId was priced for another currency or price list")
	mustApply(t, d, &AddLine{LineInput: LineInput{ProductID: "SKU-1", Quantity: dec("2"), DiscountPercent: dptr("10"), Catalog: price}}, at)
	l := d.Opportunity.Lines[len(d.Opportunity.Lines)-1]
	if l.ProductID != "SKU-1" || l.Product != "Rugged tablet" || l.Unit != "each" || l.PriceListID != "EU-2026" ||
		!l.UnitPrice.Equal(dec("649.90")) || !l.Amount.Equal(dec("1299.80")) || !l.Discount.Equal(dec("129.98")) {
		t.Fatalf("catalog line %+v", l)
	}
	d.PriceListID = "EU-2027"
	refusedWith(t, d, &AddLine{LineInput: LineInput{ProductID: "SKU-1", Quantity: dec("1"), Catalog: price}}, at, RejectInvalid,
		"productId was priced for another currency or price list")
}
