package dealrows

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// The defects issue 14 was filed for, at the state machine (Deal.Apply),
// every step written to PostgreSQL and checked as TestMoneyProperties does.

// invoicedDeal takes a deal in cur with lines from lead to invoice on terms.
func invoicedDeal(t *testing.T, pool *pgxpool.Pool, id, cur, terms string, lines ...workflows.LineInput) *moneyDeal {
	t.Helper()
	m := newMoneyDeal(t, pool, id, cur, "")
	m.do(time.Minute, &workflows.Qualify{})
	m.do(time.Minute, &workflows.EditOpportunity{CustomerNeed: strp("need"), ProposedSolution: strp("solution")})
	m.do(time.Minute, &workflows.AddStakeholder{Name: "Charles Babbage", Role: "Decision Maker"})
	for _, l := range lines {
		m.do(time.Minute, &workflows.AddLine{LineInput: l})
	}
	m.do(time.Minute, &workflows.Propose{PaymentTerms: terms})
	m.do(time.Minute, &workflows.ActivateQuote{Revision: 1})
	m.do(time.Minute, &workflows.Close{Outcome: "won"})
	m.do(time.Minute, &workflows.FulfillOrder{})
	return m
}

func writeIn(qty, price string) workflows.LineInput {
	return workflows.LineInput{Product: "Widget", Quantity: dec(qty), UnitPrice: decp(price)}
}

// wantPaid checks the deal is paid, its last payment (if any) with discount.
func (m *moneyDeal) wantPaid(discount string) {
	m.t.Helper()
	inv := m.d.Invoice
	var last workflows.Payment
	if n := len(inv.Payments); n > 0 {
		last = inv.Payments[n-1]
	}
	if m.d.Stage != workflows.StagePaid || inv.Status != workflows.InvoicePaid || !m.d.Balance().IsZero() || !last.Discount.Equal(dec(discount)) {
		m.fail("stage %s, invoice %s, balance %s, last payment %+v: want paid with a discount of %s",
			m.d.Stage, inv.Status, m.d.Balance(), last, discount)
	}
}

// wantRefused checks a payment is refused as invalid input (the API's 422)
// for its amount, with reason.
func (m *moneyDeal) wantRefused(amount, reason string) {
	m.t.Helper()
	_, rej := m.try(time.Minute, &workflows.RecordPayment{Amount: dec(amount)})
	if rej == nil || rej.Code != workflows.RejectInvalid || len(rej.Fields) != 1 ||
		rej.Fields[0] != (workflows.FieldError{Field: "amount", Reason: reason}) {
		m.fail("payment of %s in %s: %+v, want refused: amount %s", amount, m.d.Currency, rej, reason)
	}
}

// Defect 1: 2.125 × 19.99 made a total of 42.47875, and paying the 42.48
// asked for was refused. The line is 42.48, and 42.48 pays it.
func TestIssue14RoundedLineSettles(t *testing.T) {
	m := invoicedDeal(t, testenv.Pool(t), "i14-round", "USD", "Net 30", writeIn("2.125", "19.99"))
	l := m.d.Invoice.Lines[0]
	if !l.Amount.Equal(dec("42.48")) || !l.ExtendedAmount.Equal(dec("42.48")) || !m.d.Invoice.Total.Equal(dec("42.48")) {
		m.fail("line amount %s, extended %s, invoice total %s: want 42.48", l.Amount, l.ExtendedAmount, m.d.Invoice.Total)
	}
	if got := m.d.NextStep(); got != "collect 42.48 USD" {
		m.fail("next step %q", got)
	}
	m.do(time.Minute, &workflows.RecordPayment{Amount: dec("42.48")})
	m.wantPaid("0")
}

// Defect 2: on "2% 10, Net 30" the invoice's face value paid inside the
// discount window was refused as exceeding the amount due. It settles the
// invoice, with no discount; the discounted amount settles it too, with
// the discount recorded.
func TestIssue14FaceValueInDiscountWindow(t *testing.T) {
	pool := testenv.Pool(t)
	face := invoicedDeal(t, pool, "i14-face", "EUR", "2% 10, Net 30", writeIn("3", "333.33"))
	if !face.d.Invoice.Total.Equal(dec("999.99")) || !face.d.AmountDue(face.now.Add(24*time.Hour)).Equal(dec("979.99")) {
		face.fail("total %s, due within the window %s: want 999.99 and 979.99", face.d.Invoice.Total, face.d.AmountDue(face.now.Add(24*time.Hour)))
	}
	face.do(24*time.Hour, &workflows.RecordPayment{Amount: dec("999.99")})
	face.wantPaid("0")

	early := invoicedDeal(t, pool, "i14-early", "EUR", "2% 10, Net 30", writeIn("3", "333.33"))
	early.do(24*time.Hour, &workflows.RecordPayment{Amount: dec("979.99")})
	early.wantPaid("20") // 2 % of 999.99 = 19.9998
}

// Defect 3: "1.00000" was refused for its decimals. Trailing zeros are
// fine; more decimals than the currency has are refused with a field error
// saying how many it allows.
func TestIssue14AmountDecimals(t *testing.T) {
	pool := testenv.Pool(t)
	eur := invoicedDeal(t, pool, "i14-eur", "EUR", "Net 30", writeIn("2.00000", "10.50000"))
	if !eur.d.Invoice.Total.Equal(dec("21")) {
		eur.fail("total %s, want 21", eur.d.Invoice.Total)
	}
	eur.wantRefused("1.001", "has more than 2 decimal places, the most EUR allows")
	eur.do(time.Minute, &workflows.RecordPayment{Amount: dec("1.00000")})
	eur.do(time.Minute, &workflows.RecordPayment{Amount: dec("20.000")})
	eur.wantPaid("0")

	jpy := invoicedDeal(t, pool, "i14-jpy", "JPY", "Net 30", writeIn("1", "4248"))
	jpy.wantRefused("1.5", "has decimals, and JPY amounts have none")
	_, rej := jpy.try(time.Minute, &workflows.AddLine{LineInput: writeIn("1", "0.5")})
	if rej == nil || len(rej.Fields) != 1 || rej.Fields[0].Field != "unitPrice" || !strings.Contains(rej.Fields[0].Reason, "JPY") {
		jpy.fail("a JPY unit price of 0.5: %+v, want refused for its decimals", rej)
	}
	jpy.do(time.Minute, &workflows.RecordPayment{Amount: dec("4248.000")})
	jpy.wantPaid("0")
}

// A deal that costs nothing (a free pilot: its one line discounted 100 %)
// must not leave an invoice that no payment can settle: a payment must be
// positive, so an invoice of 0 must be paid when it is made, unless the
// quote is refused before. Found by TestMoneyProperties.
func TestFreeDealIsPaid(t *testing.T) {
	m := newMoneyDeal(t, testenv.Pool(t), "free", "EUR", "")
	m.do(time.Minute, &workflows.Qualify{})
	m.do(time.Minute, &workflows.EditOpportunity{CustomerNeed: strp("need"), ProposedSolution: strp("solution")})
	m.do(time.Minute, &workflows.AddStakeholder{Name: "Charles Babbage", Role: "Decision Maker"})
	pilot := writeIn("1", "500")
	pilot.DiscountPercent = decp("100")
	m.do(time.Minute, &workflows.AddLine{LineInput: pilot})
	for _, cmd := range []workflows.Command{&workflows.Propose{}, &workflows.ActivateQuote{Revision: 1},
		&workflows.Close{Outcome: "won"}, &workflows.FulfillOrder{}} {
		if _, rej := m.try(time.Minute, cmd); rej != nil {
			return // refused: nothing to invoice
		}
	}
	m.wantPaid("0") // check() after FulfillOrder has failed first if the invoice was left open
}
