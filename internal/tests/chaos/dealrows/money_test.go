package dealrows

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"dealflow/internal/money"
	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// Issue 14 part 4: the money rules on random deals, driven through the
// state machine (Deal.Apply) and written to PostgreSQL as the worker writes
// them (store.ApplyChange).

var (
	moneySeed  = flag.Int64("money.seed", 0, "seed of TestMoneyProperties (0: from the clock)")
	moneyDeals = flag.Int("money.deals", 200, "number of random deals TestMoneyProperties runs")
)

// moneyCurrencies are the currencies the random deals are priced in: two,
// none and three decimals.
var moneyCurrencies = []string{"EUR", "USD", "JPY", "BHD", "KWD"}

// moneyDeal drives one deal through Deal.Apply, writes every accepted step
// to PostgreSQL (when pool is set) and checks the money invariants after
// each. steps logs what it did, for the report of a failure.
type moneyDeal struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	d     *workflows.Deal
	now   time.Time
	steps []string
}

func newMoneyDeal(t testing.TB, pool *pgxpool.Pool, id, cur, priceList string) *moneyDeal {
	m := &moneyDeal{t: t, ctx: context.Background(), pool: pool, now: t0}
	m.d = workflows.NewDeal(workflows.NewLead{ID: id, Owner: "rep@example.com", Currency: cur, PriceListID: priceList, Lead: lead}, t0)
	m.log("new deal %s in %s, price list %q", id, cur, priceList)
	m.write(m.d.Created("rep@example.com", t0))
	return m
}

func (m *moneyDeal) log(format string, args ...any) {
	m.steps = append(m.steps, fmt.Sprintf(format, args...))
}

// fail reports a broken invariant with the steps that led to it.
func (m *moneyDeal) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%s\nsteps of deal %s:\n  %s", fmt.Sprintf(format, args...), m.d.ID, strings.Join(m.steps, "\n  "))
}

// write persists a Change and links what a qualification linked.
func (m *moneyDeal) write(ch workflows.Change) {
	m.t.Helper()
	if m.pool == nil {
		if ch.Qualify != nil {
			m.d.AccountID, m.d.ContactID = ch.Qualify.NewAccountID, ch.Qualify.NewContactID
		}
		return
	}
	res, err := store.ApplyChange(m.ctx, m.pool, ch)
	if err != nil {
		m.fail("write %s: %v", ch.Event.Action, err)
	}
	if ch.Qualify != nil {
		m.d.AccountID, m.d.ContactID = res.AccountID, res.ContactID
	}
}

// try applies cmd after wait; an accepted step is written and checked. A
// refusal leaves the deal as it was and is returned.
func (m *moneyDeal) try(wait time.Duration, cmd workflows.Command) (workflows.Result, *workflows.Rejection) {
	m.t.Helper()
	m.now = m.now.Add(wait)
	raw, _ := json.Marshal(cmd)
	before := m.snapshot()
	ch, res, err := m.d.Apply(cmd, m.now)
	if err != nil {
		var rej *workflows.Rejection
		if !errors.As(err, &rej) {
			m.fail("%s %s: %v", cmd.Action(), raw, err)
		}
		m.log("%s %s at %s: refused: %s", cmd.Action(), raw, m.now.Format(time.DateTime), rej.Message)
		if after := m.snapshot(); after != before {
			m.fail("the refused %s changed the deal", cmd.Action())
		}
		return res, rej
	}
	m.log("%s %s at %s: %s", cmd.Action(), raw, m.now.Format(time.DateTime), res.Message)
	m.write(ch)
	m.check()
	return res, nil
}

// do applies cmd, which must be accepted.
func (m *moneyDeal) do(wait time.Duration, cmd workflows.Command) workflows.Result {
	m.t.Helper()
	res, rej := m.try(wait, cmd)
	if rej != nil {
		m.fail("%s refused: %s %v", cmd.Action(), rej.Message, rej.Fields)
	}
	return res
}

func (m *moneyDeal) snapshot() string {
	b, err := json.Marshal(m.d)
	if err != nil {
		m.fail("state: %v", err)
	}
	return string(b)
}

// clone is an independent copy of the deal (the state as continue-as-new
// carries it), to try a step without taking it.
func (m *moneyDeal) clone() *workflows.Deal {
	var d workflows.Deal
	if err := json.Unmarshal([]byte(m.snapshot()), &d); err != nil {
		m.fail("clone: %v", err)
	}
	return &d
}

// openBalance is the invoice's balance as the state holds it, unclamped:
// the total less what was paid and the discounts granted.
func openBalance(inv *workflows.Invoice) decimal.Decimal {
	b := inv.Total.Sub(inv.PaidAmount)
	for _, p := range inv.Payments {
		b = b.Sub(p.Discount)
	}
	return b
}

// check asserts the money invariants of the state, and that PostgreSQL
// holds it to the cent.
func (m *moneyDeal) check() {
	m.t.Helper()
	d, cur := m.d, m.d.Currency
	rounded := func(what string, v decimal.Decimal) {
		m.t.Helper()
		if money.Decimals(v) > money.Places(cur) {
			m.fail("%s is %s: more decimals than %s has (%d)", what, v, cur, money.Places(cur))
		}
	}
	lines := func(what string, ls []workflows.Line) {
		m.t.Helper()
		for _, l := range ls {
			for name, v := range map[string]decimal.Decimal{"unit price": l.UnitPrice, "amount": l.Amount,
				"discount": l.Discount, "tax": l.Tax, "extended amount": l.ExtendedAmount} {
				rounded(fmt.Sprintf("%s line %s %s", what, l.ID, name), v)
			}
			if l.Amount.IsNegative() || l.Discount.IsNegative() || l.Tax.IsNegative() || l.Discount.GreaterThan(l.Amount) {
				m.fail("%s line %s: amount %s, discount %s, tax %s", what, l.ID, l.Amount, l.Discount, l.Tax)
			}
		}
	}
	record := func(what string, ls []workflows.Line, s workflows.QuoteSummary, total decimal.Decimal) {
		m.t.Helper()
		lines(what, ls)
		for name, v := range map[string]decimal.Decimal{"detail amount": s.DetailAmount, "discount": s.Discount,
			"pre-freight amount": s.PreFreightAmount, "freight": s.Freight, "total tax": s.TotalTax, "total": total} {
			rounded(what+" "+name, v)
		}
		if sum := s.PreFreightAmount.Add(s.Freight).Add(s.TotalTax); !total.Equal(sum) {
			m.fail("%s total %s, but pre-freight %s + freight %s + tax %s = %s", what, total, s.PreFreightAmount, s.Freight, s.TotalTax, sum)
		}
		// The one function computed it: pricing the inputs again gives the
		// same amounts.
		again := slices.Clone(ls)
		for i := range again {
			again[i].Amount, again[i].ExtendedAmount = decimal.Zero, decimal.Zero
		}
		charges := workflows.QuoteSummary{DiscountPercent: s.DiscountPercent, Discount: s.Discount, Freight: s.Freight}
		s2, total2 := workflows.Price(again, charges, func(v decimal.Decimal) decimal.Decimal { return money.Round(v, cur) })
		if fmt.Sprint(s2) != fmt.Sprint(s) || !total2.Equal(total) || fmt.Sprint(again) != fmt.Sprint(ls) {
			m.fail("%s: priced again %+v total %s lines %+v, the state has %+v total %s lines %+v", what, s2, total2, again, s, total, ls)
		}
		if total.IsNegative() || s.Discount.GreaterThan(s.DetailAmount) {
			m.fail("%s: total %s, discount %s of detail %s", what, total, s.Discount, s.DetailAmount)
		}
	}
	if o := d.Opportunity; o != nil {
		lines("opportunity", o.Lines)
		if o.ActualRevenue != nil {
			rounded("actual revenue", *o.ActualRevenue)
		}
	}
	for _, q := range d.Quotes {
		record("quote "+q.ID, q.Lines, q.QuoteSummary, q.Total)
	}
	if o := d.Order; o != nil {
		record("order", o.Lines, o.QuoteSummary, o.Total)
	}
	if inv := d.Invoice; inv != nil {
		record("invoice", inv.Lines, inv.QuoteSummary, inv.Total)
		rounded("paid amount", inv.PaidAmount)
		for _, p := range inv.Payments {
			rounded(fmt.Sprintf("payment %d", p.Seq), p.Amount)
			rounded(fmt.Sprintf("payment %d discount", p.Seq), p.Discount)
		}
		b := openBalance(inv)
		switch {
		case b.IsNegative():
			m.fail("balance %s is negative (total %s, paid %s)", b, inv.Total, inv.PaidAmount)
		case money.Decimals(b) > money.Places(cur):
			m.fail("balance %s holds less than a minor unit of %s", b, cur)
		case !d.Balance().Equal(b):
			m.fail("Balance() %s, the state holds %s", d.Balance(), b)
		case (d.Stage == workflows.StagePaid) != b.IsZero() || (inv.Status == workflows.InvoicePaid) != b.IsZero():
			m.fail("stage %s, invoice %s with a balance of %s", d.Stage, inv.Status, b)
		}
	}
	if m.pool == nil {
		return
	}
	got, err := Load(m.ctx, m.pool, m.d.ID)
	if err != nil {
		m.fail("load: %v", err)
	}
	if diffs := Diff(Want(m.d), got); len(diffs) > 0 {
		m.fail("PostgreSQL differs from the state:\n  %s", joinDiffs(diffs))
	}
}

// settles checks on a copy of the deal that one payment of amount at now
// pays the invoice in full, with discount the early-payment discount it
// records.
func (m *moneyDeal) settles(amount, discount decimal.Decimal, why string) {
	m.t.Helper()
	d := m.clone()
	_, _, err := d.Apply(&workflows.RecordPayment{Amount: amount}, m.now)
	if err != nil {
		m.fail("at %s, paying %s (%s) is refused: %v", m.now.Format(time.DateTime), amount, why, err)
	}
	inv := d.Invoice
	last := inv.Payments[len(inv.Payments)-1]
	if d.Stage != workflows.StagePaid || !openBalance(inv).IsZero() || !last.Discount.Equal(discount) {
		m.fail("at %s, paying %s (%s) leaves stage %s, balance %s, discount %s (want %s)",
			m.now.Format(time.DateTime), amount, why, d.Stage, openBalance(inv), last.Discount, discount)
	}
}

// canSettle checks that the invoice can be paid in full from here by one
// payment: its balance, and within the early-payment window the amount due.
func (m *moneyDeal) canSettle() {
	m.t.Helper()
	balance, due := m.d.Balance(), m.d.AmountDue(m.now)
	m.settles(balance, decimal.Zero, "the balance")
	if !due.Equal(balance) {
		m.settles(due, balance.Sub(due), "the amount due")
	}
}

// gen makes random inputs in a deal's currency.
type gen struct {
	r   *rand.Rand
	cur string
}

// digits is a random number of up to n digits (1 to 10^n - 1), with more
// weight on short ones.
func (g gen) digits(n int) int64 {
	k := 1 + g.r.Intn(n)
	max := int64(1)
	for range k {
		max *= 10
	}
	return 1 + g.r.Int63n(max-1)
}

// money is a random amount in the currency: up to n digits before the
// decimal point, and the currency's decimals.
func (g gen) money(n int) decimal.Decimal {
	p := money.Places(g.cur)
	return decimal.New(g.digits(n+int(p)), -p)
}

// below is a random amount in the currency from 0 to max.
func (g gen) below(max decimal.Decimal) decimal.Decimal {
	p := money.Places(g.cur)
	units := max.Shift(p).Floor().IntPart()
	if units <= 0 {
		return decimal.Zero
	}
	return decimal.New(g.r.Int63n(units+1), -p)
}

// quantity is a random quantity with up to 5 decimals; sometimes so small
// that its amount rounds to nothing.
func (g gen) quantity() decimal.Decimal {
	if g.r.Intn(20) == 0 {
		return decimal.New(1+g.r.Int63n(9), -money.QuantityPlaces)
	}
	return decimal.New(g.digits(7), -int32(g.r.Intn(money.QuantityPlaces+1)))
}

// percent is a random percentage from 0 to max, with up to 2 decimals.
func (g gen) percent(max int64) *decimal.Decimal {
	v := decimal.New(g.r.Int63n(max*100+1), -money.PercentPlaces)
	return &v
}

func ptr(v decimal.Decimal) *decimal.Decimal { return &v }

// line is a random line: a write-in or a catalog product of priceList, a
// discount as an amount or a percentage (or none), tax as an amount or a
// percentage (or none).
func (g gen) line(priceList string) workflows.LineInput {
	in := workflows.LineInput{Quantity: g.quantity()}
	price := g.money(4)
	if g.r.Intn(10) == 0 {
		price = decimal.Zero
	}
	if g.r.Intn(4) == 0 {
		id := fmt.Sprintf("SKU-%d", g.r.Intn(100))
		in.ProductID = id
		in.Catalog = &workflows.CatalogPrice{PriceListID: priceList, Currency: g.cur, ProductID: id,
			Product: "Product " + id, Unit: []string{"each", "hour", "month"}[g.r.Intn(3)], UnitPrice: price}
	} else {
		in.Product, in.UnitPrice = fmt.Sprintf("Write-in %d", g.r.Intn(100)), &price
		if g.r.Intn(2) == 0 {
			in.Unit = "day"
		}
	}
	switch g.r.Intn(3) {
	case 1:
		// No more than quantity × unit price, exact or rounded.
		exact := in.Quantity.Mul(price)
		in.Discount = ptr(g.below(decimal.Min(exact, money.Round(exact, g.cur))))
	case 2:
		in.DiscountPercent = g.percent(100)
	}
	switch g.r.Intn(3) {
	case 1:
		in.Tax = ptr(g.money(3))
	case 2:
		in.TaxPercent = g.percent(30)
	}
	return in
}

// charges are a random quote discount (none, an amount up to detail, or a
// percentage) and freight (none or an amount).
func (g gen) charges(detail decimal.Decimal) workflows.Charges {
	var c workflows.Charges
	switch g.r.Intn(3) {
	case 1:
		c.Discount = ptr(g.below(detail))
	case 2:
		c.DiscountPercent = g.percent(100)
	}
	if g.r.Intn(2) == 0 {
		c.Freight = ptr(g.money(3))
	}
	return c
}

// detail is the detail amount of lines: what a quote discount may not exceed.
func detail(lines []workflows.Line) decimal.Decimal {
	sum := decimal.Zero
	for _, l := range lines {
		sum = sum.Add(l.Amount.Sub(l.Discount))
	}
	return sum
}

// wait is a random time to the next step: minutes, days within the
// early-payment window, or weeks past it.
func (g gen) wait() time.Duration {
	switch g.r.Intn(3) {
	case 0:
		return time.Duration(1+g.r.Intn(600)) * time.Minute
	case 1:
		return time.Duration(1+g.r.Intn(4*24)) * time.Hour
	}
	return time.Duration(1+g.r.Intn(25)) * 24 * time.Hour
}

// inputLines are lines as a rep entered them, priced as the deal prices
// them: to know a quote's total before the deal does.
func inputLines(ins []workflows.LineInput, cur string) []workflows.Line {
	out := make([]workflows.Line, len(ins))
	for i, in := range ins {
		l := workflows.Line{Quantity: in.Quantity, DiscountPercent: in.DiscountPercent, TaxPercent: in.TaxPercent}
		if in.Catalog != nil {
			l.UnitPrice = in.Catalog.UnitPrice
		} else {
			l.UnitPrice = *in.UnitPrice
		}
		if in.Discount != nil {
			l.Discount = *in.Discount
		}
		if in.Tax != nil {
			l.Tax = *in.Tax
		}
		out[i] = l
	}
	workflows.Price(out, workflows.QuoteSummary{}, func(v decimal.Decimal) decimal.Decimal { return money.Round(v, cur) })
	return out
}

// quoteTotal is the total of a quote of lines with charges c over summary s.
func quoteTotal(lines []workflows.Line, s workflows.QuoteSummary, c workflows.Charges, cur string) decimal.Decimal {
	switch {
	case c.ClearDiscount:
		s.Discount, s.DiscountPercent = decimal.Zero, nil
	case c.Discount != nil:
		s.Discount, s.DiscountPercent = *c.Discount, nil
	case c.DiscountPercent != nil:
		s.DiscountPercent = c.DiscountPercent
	}
	if c.Freight != nil {
		s.Freight = *c.Freight
	}
	_, total := workflows.Price(slices.Clone(lines), s, func(v decimal.Decimal) decimal.Decimal { return money.Round(v, cur) })
	return total
}

// doQuote applies a step that makes, shows or bills a quote of total: it
// must be accepted, unless the total is zero (a deal that costs nothing may
// be refused). It reports whether it was accepted.
func (m *moneyDeal) doQuote(cmd workflows.Command, total decimal.Decimal) bool {
	m.t.Helper()
	_, rej := m.try(time.Minute, cmd)
	switch {
	case rej == nil:
		return true
	case total.IsZero():
		return false
	}
	m.fail("%s refused: %s %v", cmd.Action(), rej.Message, rej.Fields)
	return false
}

// runMoneyDeal takes one random deal from lead to paid invoice.
func runMoneyDeal(m *moneyDeal, g gen) {
	m.t.Helper()
	d, cur := m.d, m.d.Currency
	m.do(time.Minute, &workflows.Qualify{})
	m.do(time.Minute, &workflows.EditOpportunity{CustomerNeed: strp("need"), ProposedSolution: strp("solution")})
	m.do(time.Minute, &workflows.AddStakeholder{Name: "Charles Babbage", Role: "Decision Maker"})
	priceList := d.PriceListID
	if priceList == "" {
		priceList = "DEFAULT-" + cur
	}
	for range 1 + g.r.Intn(4) {
		m.do(time.Minute, &workflows.AddLine{LineInput: g.line(priceList)})
	}
	terms := workflows.PaymentTermsOptions[g.r.Intn(len(workflows.PaymentTermsOptions))]
	c := g.charges(detail(d.Opportunity.Lines))
	if !m.doQuote(&workflows.Propose{PaymentTerms: terms, Charges: c}, quoteTotal(d.Opportunity.Lines, workflows.QuoteSummary{}, c, cur)) {
		return
	}
	switch q := d.CurrentQuote(); g.r.Intn(4) {
	case 0: // new lines and charges
		ins := make([]workflows.LineInput, 1+g.r.Intn(3))
		for i := range ins {
			ins[i] = g.line(priceList)
		}
		lines := inputLines(ins, cur)
		c := g.charges(detail(lines))
		if c.Discount == nil && c.DiscountPercent == nil && q.DiscountPercent == nil && q.Discount.GreaterThan(detail(lines)) {
			c.ClearDiscount = true // the quote's discount amount is more than the new lines' detail
		}
		if !m.doQuote(&workflows.EditQuote{Revision: 1, Lines: &ins, Charges: c}, quoteTotal(lines, q.QuoteSummary, c, cur)) {
			return
		}
	case 1: // the quote discount removed
		c := workflows.Charges{ClearDiscount: true}
		if !m.doQuote(&workflows.EditQuote{Revision: 1, Charges: c}, quoteTotal(q.Lines, q.QuoteSummary, c, cur)) {
			return
		}
	}
	total := d.CurrentQuote().Total
	if !m.doQuote(&workflows.ActivateQuote{Revision: 1}, total) || !m.doQuote(&workflows.Close{Outcome: "won"}, total) ||
		!m.doQuote(&workflows.FulfillOrder{}, total) {
		return
	}

	places := money.Places(d.Currency)
	unit := decimal.New(1, -places)
	for range 8 {
		if d.Stage == workflows.StagePaid {
			break
		}
		m.now = m.now.Add(g.wait())
		m.canSettle()
		balance, due := d.Balance(), d.AmountDue(m.now)
		switch k := g.r.Intn(20); {
		case k < 10 && balance.GreaterThan(unit): // a part
			m.do(0, &workflows.RecordPayment{Amount: unit.Add(g.below(balance.Sub(unit).Sub(unit)))})
		case k < 13:
			m.do(0, &workflows.RecordPayment{Amount: due})
		case k < 16:
			m.do(0, &workflows.RecordPayment{Amount: balance})
		case k < 18: // more than the balance
			if _, rej := m.try(0, &workflows.RecordPayment{Amount: balance.Add(unit)}); rej == nil || len(rej.Fields) != 1 || rej.Fields[0].Field != "amount" {
				m.fail("a payment over the balance of %s was not refused for its amount: %+v", balance, rej)
			}
		default: // a fraction of the minor unit
			over := balance.Add(decimal.New(5, -places-1))
			if balance.LessThanOrEqual(unit) {
				over = decimal.New(5, -places-1)
			}
			if _, rej := m.try(0, &workflows.RecordPayment{Amount: over}); rej == nil || rej.Code != workflows.RejectInvalid ||
				len(rej.Fields) != 1 || rej.Fields[0].Field != "amount" {
				m.fail("a payment of %s in %s was not refused for its decimals: %+v", over, d.Currency, rej)
			}
		}
	}
	if d.Stage != workflows.StagePaid {
		m.now = m.now.Add(g.wait())
		m.canSettle()
		m.do(0, &workflows.RecordPayment{Amount: d.Balance()})
	}
	inv := d.Invoice
	paid := decimal.Zero
	for _, p := range inv.Payments {
		paid = paid.Add(p.Amount).Add(p.Discount)
	}
	if d.Stage != workflows.StagePaid || !paid.Equal(inv.Total) {
		m.fail("stage %s; payments and discounts %s of a total of %s", d.Stage, paid, inv.Total)
	}
}

// TestMoneyProperties runs random deals (currencies of 0, 2 and 3 decimals,
// random lines, discounts, tax, quote discounts and freight, payment terms,
// and payments at random times) from lead to paid invoice. After every step:
// every amount is rounded to the currency, every total is its summary's
// sum, the balance is never negative nor below a minor unit, the balance
// (and within the early-payment window the amount due) settles the invoice
// in one payment, and PostgreSQL holds the state to the cent.
func TestMoneyProperties(t *testing.T) {
	seed := *moneySeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	pool := testenv.Pool(t)
	n := *moneyDeals
	if testing.Short() {
		n = min(n, 20)
	}
	start := time.Now()
	for i := range n {
		// Deal i is seeded with seed+i: -money.seed=<that> -money.deals=1 runs it alone.
		r := rand.New(rand.NewSource(seed + int64(i)))
		cur := moneyCurrencies[r.Intn(len(moneyCurrencies))]
		priceList := ""
		if r.Intn(2) == 0 {
			priceList = "PL-" + cur
		}
		ok := t.Run(fmt.Sprintf("deal-%d", i), func(t *testing.T) {
			m := newMoneyDeal(t, pool, fmt.Sprintf("m%d", seed+int64(i)), cur, priceList)
			runMoneyDeal(m, gen{r: r, cur: cur})
		})
		if !ok {
			t.Fatalf("deal %d failed: rerun it with go test ./internal/tests/chaos/dealrows/ -run TestMoneyProperties -money.seed=%d -money.deals=1",
				i, seed+int64(i))
		}
	}
	t.Logf("%d deals from seed %d in %s", n, seed, time.Since(start).Round(time.Millisecond))
}
