package workflows

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestInvariantsOnRandomPaths walks many deals through random actions and
// follow-ups (a fixed seed: the same walks every run) and checks, after
// every step, what must hold in every reachable state. The rules' code leans
// on some of these (see the "mutate:equivalent" notes): a change that breaks
// one fails here.
func TestInvariantsOnRandomPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 2026))
	const deals, steps = 150, 80
	reached := map[string]bool{}
	for i := 0; i < deals; i++ {
		in := readyLead(fmt.Sprintf("w%d", i))
		if i%4 == 0 {
			in.Lead.Budget = nil // must be edited before it qualifies
		}
		if i%3 == 0 {
			in.Lead.Email, in.Lead.Phone = "", "+1 555 0100"
		}
		d := NewDeal(in, t0)
		now := t0
		for s := 0; s < steps; s++ {
			what, ended := walkStep(rng, d, &now)
			if ended {
				break
			}
			if msg := invariantBroken(d); msg != "" {
				t.Fatalf("deal %s after step %d (%s): %s", d.ID, s, what, msg)
			}
			reached[string(d.Stage)+"/"+string(d.Status)] = true
		}
	}
	// The walks are worth something only if they reach every stage.
	for _, want := range []string{"Qualify/open", "Qualify/disqualified", "Develop/open", "Propose/open", "Close/open",
		"Close/lost", "Order/won", "Order/canceled", "Invoice/won", "Invoice/canceled", "Paid/won"} {
		if !reached[want] {
			t.Errorf("no walk reached %s", want)
		}
	}
}

// walkStep takes one random step: an action (usually one the stage allows), or
// the soonest follow-up at its due time. ended is true when the retention
// window ended the deal.
func walkStep(rng *rand.Rand, d *Deal, now *time.Time) (what string, ended bool) {
	if p := d.Pending(); len(p) > 0 && rng.IntN(4) == 0 {
		r := p[0]
		if r.Due.After(*now) {
			*now = r.Due
		}
		_, ok := d.Fire(r, *now)
		return "fire " + r.Kind, !ok
	}
	*now = now.Add(time.Duration(1+rng.IntN(600)) * time.Minute)
	a := Actions[rng.IntN(len(Actions))]
	if allowed := allowedActions(d); len(allowed) > 0 && rng.IntN(5) > 0 {
		a = allowed[rng.IntN(len(allowed))]
		// Activities are allowed everywhere: taken always, they would keep
		// the walks from getting far; so only one time in four.
		process := slices.DeleteFunc(slices.Clone(allowed), func(x Action) bool { return strings.Contains(string(x), "activity") })
		if strings.Contains(string(a), "activity") && len(process) > 0 && rng.IntN(4) > 0 {
			a = process[rng.IntN(len(process))]
		}
	}
	cmd := randomCommand(rng, d, a, *now)
	before := mustJSON(d)
	if _, _, err := d.Apply(cmd, *now); err != nil && mustJSON(d) != before {
		panic(fmt.Sprintf("a refused %s changed deal %s: %v", a, d.ID, err))
	}
	return string(a), false
}

func allowedActions(d *Deal) []Action {
	var out []Action
	for _, s := range Specs {
		if s.allows(d) {
			out = append(out, s.Action)
		}
	}
	return out
}

// randomCommand is sample's command, varied where the variation matters.
func randomCommand(rng *rand.Rand, d *Deal, a Action, now time.Time) Command {
	switch a {
	case ActEditLead:
		if rng.IntN(2) == 0 {
			return &EditLead{Budget: dptr("30000")}
		}
	case ActEditOpportunity:
		if rng.IntN(2) == 0 {
			return &EditOpportunity{CustomerNeed: sptr("fewer outages"), ProposedSolution: sptr("managed fleet")}
		}
	case ActClose:
		if rng.IntN(3) == 0 {
			return &Close{Outcome: "lost", Reason: "Canceled"}
		}
	case ActRecordPayment:
		if d.Invoice != nil && rng.IntN(2) == 0 {
			return &RecordPayment{Amount: d.AmountDue(now)}
		}
		return &RecordPayment{Amount: decimal.NewFromInt(int64(1 + rng.IntN(30000)))}
	case ActEditQuote:
		if q := d.CurrentQuote(); q != nil && rng.IntN(2) == 0 {
			return &EditQuote{Revision: q.Revision, Lines: &[]LineInput{{Product: "Tablet", Quantity: dec("3"), UnitPrice: dptr("333.33"), Tax: dptr("0.01")}}}
		}
	case ActPropose:
		terms := PaymentTermsOptions[rng.IntN(len(PaymentTermsOptions))]
		return &Propose{PaymentTerms: terms}
	}
	return sample(d, a)
}

// invariantBroken says what does not hold in d, "" when all does.
func invariantBroken(d *Deal) string {
	q := d.CurrentQuote()
	activeQuote := q != nil && q.Status == QuoteActive
	switch {
	case d.Status == StatusOpen && d.Stage == StageClose && !activeQuote:
		return "an open deal in Close without an active quote"
	case activeQuote && (d.Stage != StageClose || d.Status != StatusOpen || q.EffectiveTo == nil):
		return fmt.Sprintf("an active quote in %s/%s (effectiveTo %v)", d.Stage, d.Status, q.EffectiveTo)
	case d.Stage == StagePropose && q == nil:
		return "in Propose without a quote"
	case (d.Stage == StageOrder || d.Stage == StageInvoice || d.Stage == StagePaid) && d.Order == nil:
		return "no order past Close"
	case d.Order != nil && (d.Order.Status == OrderActive) != (d.Stage == StageOrder && d.Status == StatusWon):
		return fmt.Sprintf("order %s in %s/%s", d.Order.Status, d.Stage, d.Status)
	case (d.Stage == StageInvoice || d.Stage == StagePaid) && d.Invoice == nil:
		return "no invoice in " + string(d.Stage)
	case d.Invoice != nil && (d.Invoice.Status == InvoiceActive) != (d.Stage == StageInvoice && d.Status == StatusWon):
		return fmt.Sprintf("invoice %s in %s/%s", d.Invoice.Status, d.Stage, d.Status)
	case d.Status == StatusWon && (d.Opportunity == nil || d.Opportunity.ActualRevenue == nil):
		return "won without an actual revenue"
	case d.Status != StatusOpen && d.Status != StatusWon && d.ClosedAt == nil:
		// A won deal's close time is its opportunity's (see Deal.ClosedAt).
		return "closed without a time"
	}
	for _, x := range d.Quotes {
		if x.Status == QuoteDraft && len(x.Lines) == 0 {
			return "a draft quote without lines"
		}
	}
	if inv := d.Invoice; inv != nil {
		paid := inv.PaidAmount
		for _, p := range inv.Payments {
			paid = paid.Add(p.Discount)
		}
		if paid.GreaterThan(inv.Total) {
			return fmt.Sprintf("invoice overpaid: %s paid and discounted of %s", paid, inv.Total)
		}
		if (inv.Status == InvoicePaid) != inv.Balance().IsZero() {
			return fmt.Sprintf("invoice %s with balance %s", inv.Status, inv.Balance())
		}
	}
	for i, e := range d.Timeline {
		if e.Seq != i+1 {
			return fmt.Sprintf("timeline entry %d has seq %d", i, e.Seq)
		}
	}
	p := d.Pending()
	if !slices.IsSortedFunc(p, func(a, b Reminder) int { return a.Due.Compare(b.Due) }) {
		return "pending follow-ups out of order"
	}
	return ""
}
