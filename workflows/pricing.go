package workflows

import (
	"fmt"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
)

// Versions of the money rules (Deal.Pricing).
const (
	// PricingExact: the rules of deals started before version 1 of
	// "currency-pricing": amounts exact, never rounded; a payment may not
	// exceed the amount due. Kept so that those runs replay as they ran.
	PricingExact = 0
	// PricingCurrency: every amount rounded to the deal's currency, percentage
	// discounts and tax, the quote summary, payments that always settle.
	PricingCurrency = 1
)

var hundred = decimal.New(100, 0)

// Price computes every amount of lines and the summary over them: the one
// place the money rules live (README "Money"). In order:
//
//  1. a line's Amount = quantity × unit price, rounded;
//  2. its Discount = the amount given, or Amount × DiscountPercent / 100, rounded;
//  3. its Tax = the amount given, or (Amount - Discount) × TaxPercent / 100, rounded;
//  4. its ExtendedAmount = Amount - Discount + Tax;
//  5. DetailAmount = the sum of (Amount - Discount) over the lines;
//  6. the quote Discount = the amount given, or DetailAmount × DiscountPercent / 100, rounded;
//  7. PreFreightAmount = DetailAmount - Discount;
//  8. TotalTax = the sum of the lines' Tax;
//  9. total = PreFreightAmount + Freight + TotalTax.
//
// Rounding is round (money.Round to the deal's currency, half away from
// zero), applied to each product or share as it is computed (steps 1, 2, 3
// and 6); sums and differences of rounded amounts are exact. Under
// PricingExact round is the identity. lines are changed in place.
func Price(lines []Line, s QuoteSummary, round func(decimal.Decimal) decimal.Decimal) (QuoteSummary, decimal.Decimal) {
	s.DetailAmount, s.TotalTax = decimal.Zero, decimal.Zero
	for i := range lines {
		l := &lines[i]
		l.Amount = round(l.Quantity.Mul(l.UnitPrice))
		if l.DiscountPercent != nil {
			l.Discount = round(l.Amount.Mul(*l.DiscountPercent).Div(hundred))
		}
		net := l.Amount.Sub(l.Discount)
		if l.TaxPercent != nil {
			l.Tax = round(net.Mul(*l.TaxPercent).Div(hundred))
		}
		l.ExtendedAmount = net.Add(l.Tax)
		s.DetailAmount = s.DetailAmount.Add(net)
		s.TotalTax = s.TotalTax.Add(l.Tax)
	}
	if s.DiscountPercent != nil {
		s.Discount = round(s.DetailAmount.Mul(*s.DiscountPercent).Div(hundred))
	}
	s.PreFreightAmount = s.DetailAmount.Sub(s.Discount)
	return s, s.PreFreightAmount.Add(s.Freight).Add(s.TotalTax)
}

// round is the deal's rounding rule (see Price).
func (d *Deal) round(v decimal.Decimal) decimal.Decimal {
	if d.Pricing == PricingExact {
		return v
	}
	return money.Round(v, d.Currency)
}

// price prices lines and a summary under the deal's rules.
func (d *Deal) price(lines []Line, s QuoteSummary) (QuoteSummary, decimal.Decimal) {
	return Price(lines, s, d.round)
}

// formatMoney writes an amount in the deal's currency.
func (d *Deal) formatMoney(v decimal.Decimal) string {
	if d.Pricing == PricingExact {
		return v.StringFixed(2)
	}
	return money.Format(v, d.Currency)
}

// Kinds of amount a command carries.
const (
	kindMoney = iota
	kindQuantity
	kindPercent
)

// amount is one number of a command whose allowed decimals depend on the
// deal (its currency, its rules).
type amount struct {
	field string
	v     decimal.Decimal
	kind  int
}

// withAmounts is a command carrying amounts.
type withAmounts interface{ amounts() []amount }

// checkAmounts checks the decimals of a command's amounts: money to the
// deal's currency ("1.00000" is 1: trailing zeros are fine), quantities to
// money.QuantityPlaces, percentages to money.PercentPlaces. Deals under
// PricingExact keep their rule: at most 4 decimals, trailing zeros counted.
func checkAmounts(pricing int, cur string, as []amount) []FieldError {
	var c checker
	for _, a := range as {
		if pricing == PricingExact {
			if a.v.Exponent() < -4 {
				c.add(a.field, "has more than 4 decimal places")
			}
			continue
		}
		switch a.kind {
		case kindMoney:
			if why := money.CheckAmount(a.v, cur); why != "" {
				c.add(a.field, "%s", why)
			}
		case kindQuantity:
			if money.Decimals(a.v) > money.QuantityPlaces {
				c.add(a.field, "has more than %d decimal places", money.QuantityPlaces)
			}
		case kindPercent:
			if money.Decimals(a.v) > money.PercentPlaces {
				c.add(a.field, "has more than %d decimal places", money.PercentPlaces)
			}
		}
	}
	return c.errs
}

// optional adds an amount that may be absent.
func optional(as []amount, field string, v *decimal.Decimal, kind int) []amount {
	if v == nil {
		return as
	}
	return append(as, amount{field, *v, kind})
}

// CatalogPrice is a catalog product's price on a price list, as the API found
// it when the rep named the product on a line.
type CatalogPrice struct {
	PriceListID string          `json:"priceListId"`
	Currency    string          `json:"currency"`
	ProductID   string          `json:"productId"`
	Product     string          `json:"product"`
	Unit        string          `json:"unit"`
	UnitPrice   decimal.Decimal `json:"unitPrice"`
}

// CatalogLines is a command whose lines may name catalog products: the API
// prices them (SetCatalog) before it sends the command.
type CatalogLines interface {
	Command
	// LineInputs are the command's lines, to price in place.
	LineInputs() []*LineInput
}

// line makes the line a rep entered, priced by the catalog when it names a
// product; field prefixes errors ("lines[2].").
func (d *Deal) line(in LineInput, id, prefix string) (Line, []FieldError) {
	var c checker
	l := in.line(id)
	if d.Pricing != PricingExact {
		switch {
		case in.ProductID == "" && in.UnitPrice == nil:
			c.add(prefix+"unitPrice", "is required for a write-in product")
		case in.ProductID != "" && in.Catalog == nil:
			c.add(prefix+"productId", "was not priced from the catalog: add catalog lines through the API")
		case in.ProductID != "" && (in.Catalog.ProductID != in.ProductID || in.Catalog.Currency != d.Currency ||
			d.PriceListID != "" && in.Catalog.PriceListID != d.PriceListID):
			// The API read the deal's currency and price list as they were a
			// moment ago; they changed since.
			c.add(prefix+"productId", "was priced for another currency or price list than the deal's: send it again")
		case in.ProductID != "":
			p := in.Catalog
			l.ProductID, l.Product, l.Unit, l.PriceListID, l.UnitPrice = p.ProductID, p.Product, p.Unit, p.PriceListID, p.UnitPrice
		}
	}
	if len(c.errs) > 0 {
		return Line{}, c.errs
	}
	lines := []Line{l}
	d.price(lines, QuoteSummary{})
	l = lines[0]
	if l.Discount.GreaterThan(l.Amount) {
		c.add(prefix+"discount", "must not exceed quantity × unit price (%s)", d.formatMoney(l.Amount))
	}
	return l, c.errs
}

// lines makes the lines a rep entered (see line).
func (d *Deal) lines(ins []LineInput, id func(i int) string, prefix func(i int) string) ([]Line, []FieldError) {
	out := make([]Line, 0, len(ins))
	var errs []FieldError
	for i, in := range ins {
		l, e := d.line(in, id(i), prefix(i))
		out = append(out, l)
		errs = append(errs, e...)
	}
	return out, errs
}

// summaryOf checks the quote charges a rep entered against the lines they
// apply to, and prices them.
func (d *Deal) summaryOf(lines []Line, s QuoteSummary) (QuoteSummary, decimal.Decimal, []FieldError) {
	s, total := d.price(lines, s)
	var c checker
	if s.Discount.GreaterThan(s.DetailAmount) {
		c.add("discount", "must not exceed the detail amount (%s)", d.formatMoney(s.DetailAmount))
	}
	return s, total, c.errs
}

// describeAmount says an amount in the deal's currency, for messages.
func (d *Deal) describeAmount(v decimal.Decimal) string {
	return fmt.Sprintf("%s %s", d.formatMoney(v), d.Currency)
}

// fillAmounts computes the amounts of lines and records kept by a deal
// started before lines carried them (their exact amounts, as then; the
// records' totals stay as they were made).
func (d *Deal) fillAmounts() {
	exact := func(v decimal.Decimal) decimal.Decimal { return v }
	if o := d.Opportunity; o != nil {
		Price(o.Lines, QuoteSummary{}, exact)
	}
	for i := range d.Quotes {
		q := &d.Quotes[i]
		q.QuoteSummary, _ = Price(q.Lines, q.QuoteSummary, exact)
	}
	if o := d.Order; o != nil {
		o.QuoteSummary, _ = Price(o.Lines, o.QuoteSummary, exact)
	}
	if inv := d.Invoice; inv != nil {
		inv.QuoteSummary, _ = Price(inv.Lines, inv.QuoteSummary, exact)
	}
}

// quotePriceList is the price list a quote is priced from: the deal's, or
// (a deal priced from its currency's default) its first catalog line's.
func (d *Deal) quotePriceList(lines []Line) string {
	if d.PriceListID != "" {
		return d.PriceListID
	}
	for _, l := range lines {
		if l.PriceListID != "" {
			return l.PriceListID
		}
	}
	return ""
}
