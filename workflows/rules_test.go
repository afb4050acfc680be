package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests in this file pin each rule of the process on its own: what it
// allows, what it refuses and the reason given. `go run ./cmd/mutate` deletes
// one condition at a time from the rules; every such deletion must turn one
// of these tests (or another) red.

// refusedWith applies cmd to d, wants it refused with code and a message
// holding every part of want, and wants d unchanged.
func refusedWith(t *testing.T, d *Deal, cmd Command, now time.Time, code string, want ...string) *Rejection {
	t.Helper()
	before := mustJSON(d)
	_, _, err := d.Apply(cmd, now)
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("%s: want refusal %s, got %v", cmd.Action(), code, err)
	}
	if rej.Code != code {
		t.Fatalf("%s: refused with %s (%s), want %s", cmd.Action(), rej.Code, rej.Message, code)
	}
	for _, w := range want {
		if !strings.Contains(rej.Message, w) {
			t.Errorf("%s: reason %q does not say %q", cmd.Action(), rej.Message, w)
		}
	}
	if mustJSON(d) != before {
		t.Errorf("%s: a refusal changed the deal", cmd.Action())
	}
	return rej
}

// at is a time well after every step the helpers take.
var at = t0.Add(time.Hour)

func developed(t *testing.T) *Deal { return drive(t, NewDeal(readyLead("r1"), t0), developSteps...) }

func proposed(t *testing.T, p Propose) *Deal {
	d := developed(t)
	mustApply(t, d, &p, at)
	return d
}

func presented(t *testing.T) *Deal {
	d := proposed(t, Propose{})
	mustApply(t, d, &ActivateQuote{Revision: 1}, at)
	return d
}

func invoiced(t *testing.T, terms string) *Deal {
	d := proposed(t, Propose{PaymentTerms: terms})
	mustApply(t, d, &ActivateQuote{Revision: 1}, at)
	mustApply(t, d, &Close{Outcome: "won"}, at)
	mustApply(t, d, &FulfillOrder{}, at)
	return d
}

func TestNewDealDefaults(t *testing.T) {
	in := NewLead{ID: "n1", Owner: "alice@example.com", Lead: LeadFields{Topic: "t", EstimatedValue: dptr("1200"), Budget: dptr("900")}}
	d := NewDeal(in, t0)
	if d.Currency != "USD" || d.Manager != "alice@example.com" || !d.Lead.EstimatedValue.Equal(dec("1200")) || !d.Lead.Budget.Equal(dec("900")) {
		t.Fatalf("defaults: currency %q manager %q value %s budget %s", d.Currency, d.Manager, d.Lead.EstimatedValue, d.Lead.Budget)
	}
	if !d.Value().Equal(dec("1200")) {
		t.Errorf("a lead is worth its estimate, got %s", d.Value())
	}
	in.Currency, in.Manager = "JPY", "max@example.com"
	if d := NewDeal(in, t0); d.Currency != "JPY" || d.Manager != "max@example.com" {
		t.Errorf("given currency %q manager %q", d.Currency, d.Manager)
	}
	if got := NewDeal(in, t0).Created("", t0).Event.Actor; got != "alice@example.com" {
		t.Errorf("creation with no creator is the owner's, got %q", got)
	}
	if got := NewDeal(in, t0).Created("import", t0).Event.Actor; got != "import" {
		t.Errorf("creation by import recorded as %q", got)
	}
}

func TestEditLeadChangesOnlyTheFieldsGiven(t *testing.T) {
	d := NewDeal(readyLead("e1"), t0)
	mustApply(t, d, &EditLead{Budget: dptr("75000"), EstimatedValue: dptr("64000"), DecisionMakerIdentified: new(bool), Phone: sptr("+1 555 0100")}, at)
	l := d.Lead
	if !l.Budget.Equal(dec("75000")) || !l.EstimatedValue.Equal(dec("64000")) || l.DecisionMakerIdentified || l.Phone != "+1 555 0100" {
		t.Fatalf("edited lead %+v", l)
	}
	if l.Topic != "50 laptops" || l.Email != "pat@contoso.example" || l.Rating != "Warm" {
		t.Errorf("fields not given changed: %+v", l)
	}
	mustApply(t, d, &EditLead{Topic: sptr("60 laptops")}, at)
	if !d.Lead.Budget.Equal(dec("75000")) || d.Lead.Topic != "60 laptops" {
		t.Errorf("a second edit lost the first: %+v", d.Lead)
	}
}

func TestQualifyGate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*LeadFields)
		missing []string
	}{
		{"ready", func(*LeadFields) {}, nil},
		{"phone instead of email", func(l *LeadFields) { l.Email, l.Phone = "", "+1 555 0100" }, nil},
		{"existing account instead of company", func(l *LeadFields) { l.Company, l.ExistingAccountID = "", "ACC-9" }, nil},
		{"last name only", func(l *LeadFields) { l.FirstName = "" }, nil},
		{"no name", func(l *LeadFields) { l.FirstName, l.LastName = " ", "" }, []string{"contact name"}},
		{"no email or phone", func(l *LeadFields) { l.Email = "" }, []string{"contact email or phone"}},
		{"no company", func(l *LeadFields) { l.Company = "" }, []string{"company or existing account"}},
		{"zero budget", func(l *LeadFields) { l.Budget = dptr("0") }, []string{"budget"}},
		{"unknown timeframe", func(l *LeadFields) { l.PurchaseTimeframe = "Unknown" }, []string{"purchase timeframe"}},
		{"no timeframe", func(l *LeadFields) { l.PurchaseTimeframe = "" }, []string{"purchase timeframe"}},
		{"no decision maker", func(l *LeadFields) { l.DecisionMakerIdentified = false }, []string{"decision maker identified"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := readyLead("q1")
			c.edit(&in.Lead)
			d := NewDeal(in, t0)
			if got := d.QualifyMissing(); !slices.Equal(got, c.missing) {
				t.Fatalf("missing %v, want %v", got, c.missing)
			}
			if c.missing != nil {
				rej := refusedWith(t, d, &Qualify{}, at, RejectGate, "cannot qualify: missing "+c.missing[0])
				if !slices.Equal(rej.Missing, c.missing) {
					t.Errorf("refusal lists %v", rej.Missing)
				}
				if !strings.HasPrefix(d.NextStep(), "complete the lead: "+c.missing[0]) {
					t.Errorf("next step %q", d.NextStep())
				}
				return
			}
			if d.NextStep() != "qualify the lead" {
				t.Errorf("next step %q", d.NextStep())
			}
			mustApply(t, d, &Qualify{}, at)
			if d.Stage != StageDevelop || d.Lead.Status != "Qualified" {
				t.Errorf("after qualify: %s, lead %s", d.Stage, d.Lead.Status)
			}
		})
	}
}

func TestQualifyCreatesTheOpportunity(t *testing.T) {
	closeBy := t0.Add(90 * day)
	in := readyLead("q2")
	in.Lead.Rating, in.Lead.EstimatedValue, in.Lead.ExistingAccountID = "Hot", dptr("48000"), "ACC-7"
	d := NewDeal(in, t0)
	ch := mustApply(t, d, &Qualify{EstimatedCloseDate: &closeBy}, at)
	o := d.Opportunity
	if o.ID != "OPP-q2" || o.Name != "50 laptops" || o.Probability != 70 || o.RevenueOverride == nil || !o.RevenueOverride.Equal(dec("48000")) || !o.EstimatedCloseDate.Equal(closeBy) {
		t.Fatalf("opportunity %+v", o)
	}
	q := ch.Qualify
	if q == nil || q.AccountID != "ACC-7" || q.NewAccountID != "ACC-q2" || q.NewContactID != "CON-q2" || q.Email != "pat@contoso.example" {
		t.Fatalf("qualify record %+v", q)
	}
	// Without an estimate the opportunity is priced by its lines.
	d = NewDeal(readyLead("q3"), t0)
	mustApply(t, d, &Qualify{}, at)
	if d.Opportunity.RevenueOverride != nil || d.Opportunity.Probability != 40 {
		t.Errorf("no estimate: override %v probability %d", d.Opportunity.RevenueOverride, d.Opportunity.Probability)
	}
}

func TestDisqualifyAndReactivate(t *testing.T) {
	d := NewDeal(readyLead("dq"), t0)
	fire(t, d, KindLeadReminder)
	mustApply(t, d, &Disqualify{Reason: "Cannot Contact"}, at)
	if d.Status != StatusDisqualified || d.Lead.Status != "Disqualified" || d.Lead.DisqualifyReason != "Cannot Contact" || d.ClosedAt == nil || !d.ClosedAt.Equal(at) {
		t.Fatalf("disqualified: %s %+v", d.Status, d.Lead)
	}
	later := at.Add(time.Hour)
	mustApply(t, d, &Reactivate{}, later)
	if d.Status != StatusOpen || d.Lead.Status != "Open" || d.Lead.DisqualifyReason != "" || d.ClosedAt != nil || d.FollowUps != (FollowUps{}) {
		t.Fatalf("reactivated: %s %+v closed %v follow-ups %+v", d.Status, d.Lead, d.ClosedAt, d.FollowUps)
	}
	if p := d.Pending(); len(p) != 1 || p[0].Kind != KindLeadReminder || !p[0].Due.Equal(later.Add(3*day)) {
		t.Errorf("after reactivation the reminders start over: %+v", p)
	}
}

func TestAssign(t *testing.T) {
	d := NewDeal(readyLead("as"), t0)
	refusedWith(t, d, &Assign{Owner: "alice@example.com"}, at, RejectGate, "already owned by alice@example.com")
	res := mustResult(t, d, &Assign{Owner: "bob@example.com"})
	if d.Owner != "bob@example.com" || res.Message != "owner changed from alice@example.com to bob@example.com" {
		t.Fatalf("owner %s: %s", d.Owner, res.Message)
	}
}

func TestNextStepInDevelop(t *testing.T) {
	d := drive(t, NewDeal(readyLead("ns"), t0), &Qualify{})
	if got := d.NextStep(); got != "develop: customer need, proposed solution, at least one stakeholder, at least one product line" {
		t.Errorf("next step %q", got)
	}
	if got := developed(t).NextStep(); got != "create a quote" {
		t.Errorf("next step when developed %q", got)
	}
}

func TestEditOpportunity(t *testing.T) {
	d := drive(t, NewDeal(readyLead("eo"), t0), &Qualify{})
	closeBy, prob := t0.Add(60*day), 65
	mustApply(t, d, &EditOpportunity{CustomerNeed: sptr("need"), ProposedSolution: sptr("fix"), EstimatedRevenue: dptr("42000"), EstimatedCloseDate: &closeBy, Probability: &prob}, at)
	o := d.Opportunity
	if o.CustomerNeed != "need" || o.ProposedSolution != "fix" || !o.RevenueOverride.Equal(dec("42000")) || !o.EstimatedCloseDate.Equal(closeBy) || o.Probability != 65 {
		t.Fatalf("edited %+v", o)
	}
	if !d.Value().Equal(dec("42000")) {
		t.Errorf("value %s, want the override", d.Value())
	}
	// Fields not given keep their values.
	mustApply(t, d, &EditOpportunity{CustomerNeed: sptr("more")}, at)
	if o := d.Opportunity; o.RevenueOverride == nil || o.EstimatedCloseDate == nil || !o.EstimatedCloseDate.Equal(closeBy) || o.Probability != 65 || o.ProposedSolution != "fix" {
		t.Fatalf("an edit of one field changed others: %+v", o)
	}
	mustApply(t, d, &AddLine{LineInput: LineInput{Product: "Laptop", Quantity: dec("2"), UnitPrice: dptr("1000")}}, at)
	mustApply(t, d, &EditOpportunity{ClearRevenueOverride: true}, at)
	if d.Opportunity.RevenueOverride != nil || !d.Value().Equal(dec("2000")) {
		t.Errorf("after clearing the override: %v, value %s", d.Opportunity.RevenueOverride, d.Value())
	}
	// Without an override or lines, the deal is worth the lead's estimate.
	in := readyLead("eo2")
	in.Lead.EstimatedValue = dptr("48000")
	d = drive(t, NewDeal(in, t0), &Qualify{}, &EditOpportunity{ClearRevenueOverride: true})
	if !d.Value().Equal(dec("48000")) {
		t.Errorf("no override, no lines: value %s, want the lead's estimate", d.Value())
	}
}

func TestOpportunityItems(t *testing.T) {
	t.Run("a stakeholder once per role", func(t *testing.T) {
		d := developed(t) // Dana Fox, Decision Maker
		refusedWith(t, d, &AddStakeholder{Name: "dana fox", Role: "Decision Maker"}, at, RejectGate, "dana fox is already a stakeholder as Decision Maker (stakeholder-1)")
		mustApply(t, d, &AddStakeholder{Name: "Dana Fox", Role: "Champion"}, at)
		mustApply(t, d, &AddStakeholder{Name: "Sam Roe", Role: "Decision Maker"}, at)
		if n := len(d.Opportunity.Stakeholders); n != 3 {
			t.Fatalf("%d stakeholders", n)
		}
	})
	t.Run("a competitor once", func(t *testing.T) {
		d := developed(t) // Fabrikam
		refusedWith(t, d, &AddCompetitor{Name: "FABRIKAM"}, at, RejectGate, "FABRIKAM is already a competitor (competitor-2)")
		mustApply(t, d, &AddCompetitor{Name: "Northwind"}, at)
	})
	t.Run("a team member once, the owner never", func(t *testing.T) {
		d := developed(t) // carol on the team
		refusedWith(t, d, &AddTeamMember{UserID: "carol@example.com"}, at, RejectGate, "carol@example.com already works this deal")
		refusedWith(t, d, &AddTeamMember{UserID: "alice@example.com"}, at, RejectGate, "alice@example.com already works this deal")
		mustApply(t, d, &AddTeamMember{UserID: "dave@example.com"}, at)
		if !d.OnTeam("dave@example.com") || d.OnTeam("erin@example.com") {
			t.Error("team membership")
		}
	})
	t.Run("at most 200 lines", func(t *testing.T) {
		d := developed(t) // one line
		line := &AddLine{LineInput: LineInput{Product: "Cable", Quantity: dec("1"), UnitPrice: dptr("1")}}
		for len(d.Opportunity.Lines) < maxLines {
			mustApply(t, d, line, at)
		}
		refusedWith(t, d, line, at, RejectGate, "already has 200 lines")
		mustApply(t, d, &RemoveItem{Kind: ActRemoveLine, ID: d.Opportunity.Lines[0].ID}, at)
		mustApply(t, d, line, at) // the 200th again
	})
	t.Run("removing what is not there", func(t *testing.T) {
		for _, a := range []Action{ActRemoveStakeholder, ActRemoveCompetitor, ActRemoveTeamMember, ActRemoveLine} {
			d := developed(t)
			refusedWith(t, d, &RemoveItem{Kind: a, ID: "line-99"}, at, RejectNotFound, "no item line-99 on this opportunity")
		}
	})
}

func TestProposeRules(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		d := proposed(t, Propose{})
		q := d.Quotes[0]
		if q.Name != "50 laptops" || q.PaymentTerms != "Net 30" || q.ID != "QUO-r1-1" || q.Status != QuoteDraft || q.EffectiveTo != nil {
			t.Fatalf("draft %+v", q)
		}
		if d.NextStep() != "activate quote revision 1" {
			t.Errorf("next step %q", d.NextStep())
		}
	})
	t.Run("given values", func(t *testing.T) {
		to := at.Add(10 * day)
		q := proposed(t, Propose{Name: "Fleet", PaymentTerms: "Net 60", EffectiveTo: &to}).Quotes[0]
		if q.Name != "Fleet" || q.PaymentTerms != "Net 60" || !q.EffectiveTo.Equal(to) {
			t.Fatalf("draft %+v", q)
		}
	})
	t.Run("not while a quote is open", func(t *testing.T) {
		d := proposed(t, Propose{})
		refusedWith(t, d, &Propose{}, at, RejectGate, "quote QUO-r1-1 (revision 1) is still Draft")
		mustApply(t, d, &ActivateQuote{Revision: 1}, at)
		d.Stage = StagePropose // the gate, not the stage table, refuses a second quote beside an active one
		refusedWith(t, d, &Propose{}, at, RejectGate, "is still Active")
	})
	t.Run("a new quote after an expiry stays in Propose", func(t *testing.T) {
		d := presented(t)
		fire(t, d, KindQuoteExpired)
		entered, stages := d.StageEnteredAt, len(d.History)
		mustApply(t, d, &Propose{}, at.Add(40*day))
		if d.Stage != StagePropose || !d.StageEnteredAt.Equal(entered) || len(d.History) != stages {
			t.Errorf("re-entered Propose: entered %s→%s, %d→%d stage logs", entered, d.StageEnteredAt, stages, len(d.History))
		}
		if d.CurrentQuote().Revision != 2 {
			t.Error("no second revision")
		}
	})
}

func TestQuoteRevisionsAreAddressedExactly(t *testing.T) {
	d := presented(t)
	mustApply(t, d, &ReviseQuote{Revision: 1}, at)
	refusedWith(t, d, &EditQuote{Revision: 5, Name: sptr("x")}, at, RejectNotFound, "no quote revision 5")
	refusedWith(t, d, &ActivateQuote{Revision: 5}, at, RejectNotFound, "no quote revision 5")
	refusedWith(t, d, &ReviseQuote{Revision: 5}, at, RejectNotFound, "no quote revision 5")
	refusedWith(t, d, &EditQuote{Revision: 1, Name: sptr("x")}, at, RejectGate, "quote revision 1 is not the current one (2 is)")
	refusedWith(t, d, &ActivateQuote{Revision: 1}, at, RejectGate, "quote revision 1 is not the current one (2 is)")
	refusedWith(t, d, &ReviseQuote{Revision: 2}, at, RejectGate, "quote QUO-r1-2 is Draft; revise_quote needs a Active quote")
}

func TestEditQuote(t *testing.T) {
	to := at.Add(20 * day)
	d := proposed(t, Propose{EffectiveTo: &to})
	mustApply(t, d, &EditQuote{Revision: 1, Name: sptr("Fleet"), PaymentTerms: sptr("Net 45")}, at)
	q := d.Quotes[0]
	if q.Name != "Fleet" || q.PaymentTerms != "Net 45" || !q.EffectiveTo.Equal(to) || !q.Total.Equal(dec("57000")) {
		t.Fatalf("edit of the name and terms: %+v", q)
	}
	later := at.Add(30 * day)
	mustApply(t, d, &EditQuote{Revision: 1, EffectiveTo: &later, Lines: &[]LineInput{{Product: "Tablet", Quantity: dec("3"), UnitPrice: dptr("400"), Discount: dptr("100")}}}, at)
	q = d.Quotes[0]
	if !q.EffectiveTo.Equal(later) || len(q.Lines) != 1 || q.Lines[0].ID != "qline-1" || !q.Total.Equal(dec("1100")) {
		t.Fatalf("edit of the lines: %+v", q)
	}
	if !d.Value().Equal(dec("57000")) {
		t.Errorf("a quote's lines do not reprice the opportunity: %s", d.Value())
	}
}

func TestActivateQuote(t *testing.T) {
	t.Run("valid for the policy's validity by default", func(t *testing.T) {
		d := presented(t)
		q := d.Quotes[0]
		if q.Status != QuoteActive || !q.EffectiveTo.Equal(at.Add(30*day)) || !q.EffectiveFrom.Equal(at) || d.Stage != StageClose {
			t.Fatalf("active %+v stage %s", q, d.Stage)
		}
	})
	t.Run("until the draft's date", func(t *testing.T) {
		to := at.Add(5 * day)
		d := proposed(t, Propose{EffectiveTo: &to})
		mustApply(t, d, &ActivateQuote{Revision: 1}, at)
		if !d.Quotes[0].EffectiveTo.Equal(to) {
			t.Fatalf("effective to %s", d.Quotes[0].EffectiveTo)
		}
	})
	t.Run("until the date given at activation", func(t *testing.T) {
		to, given := at.Add(5*day), at.Add(8*day)
		d := proposed(t, Propose{EffectiveTo: &to})
		mustApply(t, d, &ActivateQuote{Revision: 1, EffectiveTo: &given}, at)
		if !d.Quotes[0].EffectiveTo.Equal(given) {
			t.Fatalf("effective to %s", d.Quotes[0].EffectiveTo)
		}
	})
	t.Run("effectiveTo must be in the future", func(t *testing.T) {
		for _, to := range []time.Time{at, at.Add(-time.Minute)} {
			d := proposed(t, Propose{})
			rej := refusedWith(t, d, &ActivateQuote{Revision: 1, EffectiveTo: &to}, at, RejectGate, "cannot activate quote QUO-r1-1: missing an effectiveTo in the future")
			if !slices.Equal(rej.Missing, []string{"an effectiveTo in the future"}) {
				t.Errorf("missing %v", rej.Missing)
			}
		}
		past := at.Add(-day)
		d := proposed(t, Propose{EffectiveTo: &past}) // a draft's date that has passed
		refusedWith(t, d, &ActivateQuote{Revision: 1}, at, RejectGate, "an effectiveTo in the future")
	})
	t.Run("only a draft", func(t *testing.T) {
		d := presented(t)
		d.Stage = StagePropose // past the stage table: the quote's own status refuses
		refusedWith(t, d, &ActivateQuote{Revision: 1}, at, RejectGate, "quote QUO-r1-1 is Active; activate_quote needs a Draft quote")
	})
}

func TestCloseRules(t *testing.T) {
	t.Run("won needs an active quote", func(t *testing.T) {
		for name, d := range map[string]*Deal{"no quote": developed(t), "a draft": proposed(t, Propose{})} {
			rej := refusedWith(t, d, &Close{Outcome: "won"}, at, RejectGate, "cannot close as won: missing an active quote presented to the customer")
			if !slices.Equal(rej.Missing, []string{"an active quote presented to the customer"}) {
				t.Errorf("%s: missing %v", name, rej.Missing)
			}
		}
	})
	t.Run("won at the quote's total, or the actual revenue given", func(t *testing.T) {
		d := presented(t)
		res := mustResult(t, d, &Close{Outcome: "won", Note: "signed"})
		o := d.Opportunity
		if !o.ActualRevenue.Equal(dec("57000")) || o.Status != "Won" || o.CloseNote != "signed" || !o.ClosedAt.Equal(at) || d.Quotes[0].Status != QuoteWon {
			t.Fatalf("won %+v", o)
		}
		ord := d.Order
		if ord.ID != "ORD-r1" || ord.QuoteID != "QUO-r1-1" || !ord.Total.Equal(dec("57000")) || ord.PaymentTerms != "Net 30" || ord.Status != OrderActive || d.Stage != StageOrder || d.Status != StatusWon {
			t.Fatalf("order %+v", ord)
		}
		if res.ID != "ORD-r1" || !strings.Contains(res.Message, "deal won for 57000.00 EUR") {
			t.Errorf("result %+v", res)
		}
		d = presented(t)
		mustApply(t, d, &Close{Outcome: "won", ActualRevenue: dptr("55000")}, at)
		if !d.Value().Equal(dec("55000")) || !d.Order.Total.Equal(dec("57000")) {
			t.Errorf("actual revenue %s order %s", d.Value(), d.Order.Total)
		}
	})
	t.Run("lost closes the open quotes only", func(t *testing.T) {
		d := presented(t)
		mustApply(t, d, &ReviseQuote{Revision: 1}, at)
		ch := mustApply(t, d, &Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"}, at)
		got := []string{d.Quotes[0].StatusReason, d.Quotes[1].StatusReason}
		if !slices.Equal(got, []string{QuoteReasonRevised, QuoteReasonLost}) || len(ch.Quotes) != 1 || ch.Quotes[0].Revision != 2 {
			t.Fatalf("quote reasons %v, written %d", got, len(ch.Quotes))
		}
		o := d.Opportunity
		if o.Status != "Lost" || o.CloseReason != "Out-Sold" || o.CloseCompetitor != "Fabrikam" || d.Status != StatusLost || d.Stage != StagePropose || !d.ClosedAt.Equal(at) {
			t.Fatalf("lost %+v %s %s", o, d.Status, d.Stage)
		}
		if d.NextStep() != "reopen the opportunity, or let it expire" {
			t.Errorf("next step %q", d.NextStep())
		}
	})
}

func TestReopenKeepsTheQuoteReminder(t *testing.T) {
	d := presented(t)
	fire(t, d, KindQuoteExpiring) // revision 1 reminded
	mustApply(t, d, &Close{Outcome: "lost", Reason: "Canceled"}, at.Add(28*day))
	fire(t, d, KindReengage)
	mustApply(t, d, &Reopen{}, at.Add(60*day))
	o := d.Opportunity
	if d.Status != StatusOpen || d.Stage != StageDevelop || o.Status != "Open" || o.CloseReason != "" || o.ClosedAt != nil || d.ClosedAt != nil {
		t.Fatalf("reopened %s %s %+v", d.Status, d.Stage, o)
	}
	if d.FollowUps.QuoteReminded != 1 || d.FollowUps.Reengaged {
		t.Errorf("follow-ups after reopening %+v: the quote reminder is kept, the rest start over", d.FollowUps)
	}
}

func TestOrderAndInvoice(t *testing.T) {
	for _, c := range []struct {
		terms string
		days  int
	}{{"Net 30", 30}, {"Net 45", 45}, {"Net 60", 60}, {"2% 10, Net 30", 30}} {
		d := invoiced(t, c.terms)
		inv := d.Invoice
		if inv.ID != "INV-r1" || inv.OrderID != "ORD-r1" || !inv.Total.Equal(dec("57000")) || inv.Status != InvoiceActive ||
			!inv.DueDate.Equal(at.Add(time.Duration(c.days)*day)) || d.Order.Status != OrderInvoiced || !d.Order.FulfilledAt.Equal(at) || d.Stage != StageInvoice {
			t.Errorf("%s: invoice %+v order %s", c.terms, inv, d.Order.Status)
		}
		if d.NextStep() != "collect 57000.00 EUR" {
			t.Errorf("next step %q", d.NextStep())
		}
	}
	d := presented(t)
	mustApply(t, d, &Close{Outcome: "won"}, at)
	mustApply(t, d, &CancelOrder{Reason: "duplicate"}, at)
	if d.Order.Status != OrderCanceled || d.Order.CancelReason != "duplicate" || d.Status != StatusCanceled || !d.ClosedAt.Equal(at) || d.NextStep() != "none (canceled)" {
		t.Fatalf("canceled order %+v status %s", d.Order, d.Status)
	}
	d = invoiced(t, "Net 30")
	mustApply(t, d, &CancelInvoice{Reason: "billed in error"}, at)
	if d.Invoice.Status != InvoiceCanceled || d.Invoice.CancelReason != "billed in error" || d.Status != StatusCanceled || !d.ClosedAt.Equal(at) {
		t.Fatalf("canceled invoice %+v status %s", d.Invoice, d.Status)
	}
}

func TestEarlyPaymentDiscount(t *testing.T) {
	d := invoiced(t, "2% 10, Net 30") // 57000, discount 1140 within 10 days
	inv := d.Invoice
	cases := []struct {
		after time.Duration
		due   string
	}{
		{0, "55860"},
		{10 * day, "55860"},
		{10*day + time.Nanosecond, "57000"},
		{20 * day, "57000"},
	}
	for _, c := range cases {
		if got := d.AmountDue(inv.CreatedAt.Add(c.after)); !got.Equal(dec(c.due)) {
			t.Errorf("due %s after the invoice: %s, want %s", c.after, got, c.due)
		}
	}
	for _, terms := range []string{"Net 30", "Net 45"} {
		d := invoiced(t, terms)
		if got := d.AmountDue(d.Invoice.CreatedAt); !got.Equal(dec("57000")) {
			t.Errorf("%s grants no discount: due %s", terms, got)
		}
	}
	// A balance smaller than the discount is due in full, never less.
	d = invoiced(t, "2% 10, Net 30")
	d.Invoice.PaidAmount = dec("56000")
	if got := d.AmountDue(d.Invoice.CreatedAt); !got.Equal(dec("1000")) {
		t.Errorf("a balance of 1000 under a 1140 discount: due %s", got)
	}
}

func TestPayments(t *testing.T) {
	d := invoiced(t, "2% 10, Net 30")
	now := d.Invoice.CreatedAt.Add(day)
	refusedWith(t, d, &RecordPayment{Amount: dec("57000.01")}, now, RejectInvalid, "payment of 57000.01 exceeds the open balance of 57000.00 EUR")
	mustApply(t, d, &RecordPayment{Amount: dec("10000")}, now)
	if p := d.Invoice.Payments[0]; !p.Discount.IsZero() || p.Seq != 1 || d.Stage != StageInvoice {
		t.Fatalf("a partial payment earns no discount: %+v", p)
	}
	res := mustResult(t, d, &RecordPayment{Amount: dec("45860")})
	inv := d.Invoice
	if p := inv.Payments[1]; !p.Discount.Equal(dec("1140")) || p.Seq != 2 {
		t.Fatalf("the settling payment records the discount: %+v", p)
	}
	if inv.Status != InvoicePaid || !inv.PaidAt.Equal(at) || d.Stage != StagePaid || !inv.Balance().IsZero() || !res.Balance.IsZero() || !strings.HasSuffix(res.Message, "invoice paid in full") {
		t.Fatalf("paid: %s %s balance %s: %s", inv.Status, d.Stage, inv.Balance(), res.Message)
	}
	// Within the window a customer who ignores the discount pays the face
	// value, and that settles the invoice too, with no discount.
	d = invoiced(t, "2% 10, Net 30")
	mustApply(t, d, &RecordPayment{Amount: dec("57000")}, d.Invoice.CreatedAt.Add(day))
	if d.Stage != StagePaid || !d.Invoice.Payments[0].Discount.IsZero() {
		t.Fatalf("face value in the window: %s discount %s", d.Stage, d.Invoice.Payments[0].Discount)
	}
	// Outside the window the full balance is due.
	d = invoiced(t, "Net 30")
	late := d.Invoice.CreatedAt.Add(40 * day)
	refusedWith(t, d, &RecordPayment{Amount: dec("57000.01")}, late, RejectInvalid, "exceeds the open balance of 57000.00 EUR")
	mustApply(t, d, &RecordPayment{Amount: dec("57000")}, late)
	if d.Stage != StagePaid || !d.Invoice.Payments[0].Discount.IsZero() {
		t.Fatalf("paid late: %s discount %s", d.Stage, d.Invoice.Payments[0].Discount)
	}
}

func TestPolicyValidation(t *testing.T) {
	ok := DefaultPolicy()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	zeroOK := ok
	zeroOK.QuoteReminderBefore, zeroOK.InvoiceReminderBefore, zeroOK.ThankYouAfter = 0, 0, 0
	zeroOK.LeadReminders, zeroOK.StageNudges, zeroOK.OverdueNotices = 0, 0, 0
	if err := zeroOK.Validate(); err != nil {
		t.Errorf("zero lead times and counts are allowed: %v", err)
	}
	bad := map[string]func(*Policy){
		"leadReminderAfter zero":   func(p *Policy) { p.LeadReminderAfter = 0 },
		"stageNudgeAfter zero":     func(p *Policy) { p.StageNudgeAfter = 0 },
		"quoteValidity negative":   func(p *Policy) { p.QuoteValidity = -time.Hour },
		"overdueEvery zero":        func(p *Policy) { p.OverdueEvery = 0 },
		"reengageAfter zero":       func(p *Policy) { p.ReengageAfter = 0 },
		"retention zero":           func(p *Policy) { p.Retention = 0 },
		"day zero":                 func(p *Policy) { p.Day = 0 },
		"quoteReminderBefore < 0":  func(p *Policy) { p.QuoteReminderBefore = -1 },
		"invoiceReminderBefore <0": func(p *Policy) { p.InvoiceReminderBefore = -1 },
		"thankYouAfter < 0":        func(p *Policy) { p.ThankYouAfter = -1 },
		"leadReminders < 0":        func(p *Policy) { p.LeadReminders = -1 },
		"stageNudges < 0":          func(p *Policy) { p.StageNudges = -1 },
		"overdueNotices < 0":       func(p *Policy) { p.OverdueNotices = -1 },
	}
	for name, f := range bad {
		p := DefaultPolicy()
		f(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// fire fires the pending follow-up of the kind at its due time.
func fire(t *testing.T, d *Deal, kind string) Change {
	t.Helper()
	for _, r := range d.Pending() {
		if r.Kind == kind {
			ch, ok := d.Fire(r, r.Due)
			if !ok {
				t.Fatalf("%s ended the deal", kind)
			}
			return ch
		}
	}
	t.Fatalf("no %s pending in %+v", kind, d.Pending())
	return Change{}
}

func mustResult(t *testing.T, d *Deal, c Command) Result {
	t.Helper()
	_, res, err := d.Apply(c, at)
	if err != nil {
		t.Fatalf("%s: %v", c.Action(), err)
	}
	return res
}
