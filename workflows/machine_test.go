package workflows

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal   { return decimal.RequireFromString(s) }
func dptr(s string) *decimal.Decimal { v := dec(s); return &v }
func sptr(s string) *string          { return &s }

// readyLead is a lead that meets the qualify gate.
func readyLead(id string) NewLead {
	return NewLead{ID: id, Owner: "alice@example.com", Manager: "max@example.com", Currency: "EUR",
		Lead: LeadFields{Topic: "50 laptops", FirstName: "Pat", LastName: "Lee", Company: "Contoso",
			Email: "pat@contoso.example", Source: "Web", Rating: "Warm", Budget: dptr("60000"),
			PurchaseTimeframe: "This Quarter", DecisionMakerIdentified: true}}
}

// drive applies commands in order, one minute apart, failing on a refusal.
func drive(t *testing.T, d *Deal, cmds ...Command) *Deal {
	t.Helper()
	for i, c := range cmds {
		if _, _, err := d.Apply(c, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatalf("step %d %s: %v", i+1, c.Action(), err)
		}
	}
	return d
}

var developSteps = []Command{
	&Qualify{},
	&EditOpportunity{CustomerNeed: sptr("replace old laptops"), ProposedSolution: sptr("ThinkBook fleet")},
	&AddStakeholder{Name: "Dana Fox", Role: "Decision Maker"},
	&AddCompetitor{Name: "Fabrikam"},
	&AddTeamMember{UserID: "carol@example.com", Role: "Presales"},
	&AddLine{LineInput: LineInput{Product: "Laptop", Quantity: dec("50"), UnitPrice: dptr("1000"), Discount: dptr("2500"), Tax: dptr("9500")}},
}

// fixtures builds one deal in each stage and status.
func fixtures(t *testing.T) map[string]*Deal {
	n := func(cmds ...Command) *Deal { return drive(t, NewDeal(readyLead("d1"), t0), cmds...) }
	with := func(base []Command, more ...Command) []Command { return append(slices.Clone(base), more...) }
	closeStage := with(developSteps, &Propose{}, &ActivateQuote{Revision: 1})
	order := with(closeStage, &Close{Outcome: "won"})
	invoice := with(order, &FulfillOrder{})
	bare := NewDeal(NewLead{ID: "d2", Owner: "alice@example.com", Lead: LeadFields{Topic: "just a name"}}, t0)
	return map[string]*Deal{
		"qualify/ready":      n(),
		"qualify/incomplete": bare,
		"disqualified":       n(&Disqualify{Reason: "Cannot Contact"}),
		"develop/empty":      n(&Qualify{}),
		"develop/ready":      n(developSteps...),
		"propose/draft":      n(with(developSteps, &Propose{})...),
		"close/active":       n(closeStage...),
		"lost":               n(with(closeStage, &Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"})...),
		"order":              n(order...),
		"invoice":            n(invoice...),
		"paid":               n(with(invoice, &RecordPayment{Amount: dec("57000")})...),
		"canceled":           n(with(order, &CancelOrder{Reason: "customer went bankrupt"})...),
	}
}

// sample returns a valid command of each action for the deal.
func sample(d *Deal, a Action) Command {
	first := func(kind string) string {
		if d.Opportunity == nil {
			return "none"
		}
		o := d.Opportunity
		switch {
		case kind == "stakeholder" && len(o.Stakeholders) > 0:
			return o.Stakeholders[0].ID
		case kind == "competitor" && len(o.Competitors) > 0:
			return o.Competitors[0].ID
		case kind == "team" && len(o.Team) > 0:
			return o.Team[0].ID
		case kind == "line" && len(o.Lines) > 0:
			return o.Lines[0].ID
		}
		return "none"
	}
	openActivity := func() string {
		for _, a := range d.Activities {
			if a.Status == ActivityOpen {
				return a.ID
			}
		}
		return "none"
	}
	rev := 1
	if q := d.CurrentQuote(); q != nil {
		rev = q.Revision
	}
	switch a {
	case ActEditLead:
		return &EditLead{Rating: sptr("Hot")}
	case ActQualify:
		return &Qualify{}
	case ActDisqualify:
		return &Disqualify{Reason: "Lost"}
	case ActReactivate:
		return &Reactivate{}
	case ActAssign:
		return &Assign{Owner: "bob@example.com"}
	case ActEditOpportunity:
		p := 60
		return &EditOpportunity{Probability: &p}
	case ActAddStakeholder:
		return &AddStakeholder{Name: "Eve Ng", Role: "Influencer"}
	case ActRemoveStakeholder:
		return &RemoveItem{Kind: a, ID: first("stakeholder")}
	case ActAddCompetitor:
		return &AddCompetitor{Name: "Northwind"}
	case ActRemoveCompetitor:
		return &RemoveItem{Kind: a, ID: first("competitor")}
	case ActAddTeamMember:
		return &AddTeamMember{UserID: "dave@example.com"}
	case ActRemoveTeamMember:
		return &RemoveItem{Kind: a, ID: first("team")}
	case ActAddLine:
		return &AddLine{LineInput: LineInput{Product: "Dock", Quantity: dec("50"), UnitPrice: dptr("120")}}
	case ActRemoveLine:
		return &RemoveItem{Kind: a, ID: first("line")}
	case ActPropose:
		return &Propose{}
	case ActEditQuote:
		return &EditQuote{Revision: rev, Name: sptr("Laptops, revised")}
	case ActActivateQuote:
		return &ActivateQuote{Revision: rev}
	case ActReviseQuote:
		return &ReviseQuote{Revision: rev}
	case ActClose:
		return &Close{Outcome: "won"}
	case ActReopen:
		return &Reopen{}
	case ActFulfillOrder:
		return &FulfillOrder{}
	case ActCancelOrder:
		return &CancelOrder{Reason: "duplicate order"}
	case ActRecordPayment:
		return &RecordPayment{Amount: dec("100")}
	case ActCancelInvoice:
		return &CancelInvoice{Reason: "billed in error"}
	case ActAddActivity:
		due := d.LastActivityAt.Add(26 * time.Hour)
		return &AddActivity{Type: ActivityTask, ActivityFields: ActivityFields{Subject: sptr("Call back"), DueAt: &due}}
	case ActEditActivity:
		return &EditActivity{ID: openActivity(), ActivityFields: ActivityFields{Subject: sptr("Call back, urgently")}}
	case ActCompleteActivity:
		return &CompleteActivity{ID: openActivity(), Outcome: "done"}
	case ActCancelActivity:
		return &CancelActivity{ID: openActivity()}
	}
	panic("no sample for " + a)
}

// TestEveryStageAndAction applies every action to a deal in every stage and
// checks the verdict: accepted, or refused with the right code and reason.
func TestEveryStageAndAction(t *testing.T) {
	items := []Action{ActEditOpportunity, ActAddStakeholder, ActAddCompetitor, ActAddTeamMember, ActAddLine, ActAssign}
	removes := []Action{ActRemoveStakeholder, ActRemoveCompetitor, ActRemoveTeamMember, ActRemoveLine}
	// Activities are taken in every stage; the fixtures have none to edit.
	activities := []Action{ActAddActivity}
	noActivity := map[Action]string{ActEditActivity: RejectNotFound, ActCompleteActivity: RejectNotFound, ActCancelActivity: RejectNotFound}
	allowed := map[string][]Action{
		"qualify/ready":      append(activities, ActEditLead, ActQualify, ActDisqualify, ActAssign),
		"qualify/incomplete": append(activities, ActEditLead, ActDisqualify, ActAssign),
		"disqualified":       append(activities, ActReactivate),
		"develop/empty":      append(slices.Clone(activities), items...),
		"develop/ready":      append(slices.Clone(activities), append(slices.Clone(items), append(removes, ActPropose)...)...),
		"propose/draft":      append(slices.Clone(activities), append(slices.Clone(items), append(removes, ActEditQuote, ActActivateQuote)...)...),
		"close/active":       append(slices.Clone(activities), append(slices.Clone(items), append(removes, ActReviseQuote, ActClose)...)...),
		"lost":               append(activities, ActReopen),
		"order":              append(activities, ActAssign, ActFulfillOrder, ActCancelOrder),
		"invoice":            append(activities, ActAssign, ActRecordPayment, ActCancelInvoice),
		"paid":               activities,
		"canceled":           activities,
	}
	// Refusals that are not about the stage: the gate, or a missing item.
	special := map[string]map[Action]string{
		"qualify/incomplete": {ActQualify: RejectGate},
		"develop/empty": {ActPropose: RejectGate, ActClose: RejectGate,
			ActRemoveStakeholder: RejectNotFound, ActRemoveCompetitor: RejectNotFound, ActRemoveTeamMember: RejectNotFound, ActRemoveLine: RejectNotFound},
		"develop/ready": {ActClose: RejectGate},
		"propose/draft": {ActPropose: RejectGate, ActReviseQuote: RejectGate, ActClose: RejectGate},
	}
	for name, d := range fixtures(t) {
		for _, a := range Actions {
			t.Run(name+"/"+string(a), func(t *testing.T) {
				before := d.Clone()
				err := d.Check(sample(d, a), t0.Add(time.Hour))
				wantOK := slices.Contains(allowed[name], a)
				if wantOK {
					if err != nil {
						t.Fatalf("want accepted, got %v", err)
					}
					return
				}
				var rej *Rejection
				if !errors.As(err, &rej) {
					t.Fatalf("want a rejection, got %v", err)
				}
				wantCode := RejectWrongStage
				if c, ok := special[name][a]; ok {
					wantCode = c
				} else if c, ok := noActivity[a]; ok {
					wantCode = c
				}
				if rej.Code != wantCode {
					t.Fatalf("want code %s, got %s (%s)", wantCode, rej.Code, rej.Message)
				}
				if rej.Message == "" || (wantCode == RejectWrongStage && !strings.Contains(rej.Message, string(d.Stage))) {
					t.Fatalf("rejection does not say why: %q", rej.Message)
				}
				if got, want := mustJSON(d), mustJSON(before); got != want {
					t.Fatal("a check changed the deal")
				}
			})
		}
	}
}

func TestGatesNameWhatIsMissing(t *testing.T) {
	bare := NewDeal(NewLead{ID: "g1", Owner: "alice@example.com", Lead: LeadFields{Topic: "t"}}, t0)
	_, _, err := bare.Apply(&Qualify{}, t0)
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatal(err)
	}
	want := []string{"contact name", "contact email or phone", "company or existing account", "budget", "purchase timeframe", "decision maker identified"}
	if !slices.Equal(rej.Missing, want) {
		t.Fatalf("missing = %v, want %v", rej.Missing, want)
	}
	d := drive(t, NewDeal(readyLead("g2"), t0), &Qualify{})
	_, _, err = d.Apply(&Propose{}, t0.Add(time.Hour))
	if !errors.As(err, &rej) || !slices.Equal(rej.Missing, []string{"customer need", "proposed solution", "at least one stakeholder", "at least one product line"}) {
		t.Fatalf("propose gate: %v %v", err, rej)
	}
}

func TestInvalidInputIsListedByField(t *testing.T) {
	cases := []struct {
		cmd    Command
		fields []string
	}{
		{&AddLine{LineInput: LineInput{Product: "", Quantity: dec("-1"), UnitPrice: dptr("10"), Discount: dptr("500")}}, []string{"product", "quantity", "discount"}},
		{&AddStakeholder{Name: "X", Role: "Boss"}, []string{"role"}},
		{&Close{Outcome: "lost", Reason: "Out-Sold"}, []string{"competitor"}},
		{&Close{Outcome: "maybe"}, []string{"outcome"}},
		{&Disqualify{Reason: "Bored"}, []string{"reason"}},
		{&EditLead{Email: sptr("not-an-email"), Source: sptr("Carrier Pigeon")}, []string{"email", "source"}},
		{&RecordPayment{Amount: dec("0")}, []string{"amount"}},
		{&EditQuote{Revision: 0, Lines: &[]LineInput{}}, []string{"revision", "lines"}},
	}
	for _, c := range cases {
		var got []string
		for _, f := range c.cmd.Validate() {
			got = append(got, f.Field)
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: fields %v, want %v", c.cmd.Action(), got, c.fields)
		}
	}
	nl := NewLead{ID: "bad id!", Owner: "", Currency: "XXX", Lead: LeadFields{}}
	var got []string
	for _, f := range nl.Validate() {
		got = append(got, f.Field)
	}
	if !slices.Equal(got, []string{"id", "owner", "currency", "topic"}) {
		t.Errorf("new lead fields %v", got)
	}
}

// TestMoneyIsExact follows one deal's money from lines to the paid invoice.
func TestMoneyIsExact(t *testing.T) {
	d := drive(t, NewDeal(readyLead("m1"), t0), developSteps...)
	drive(t, d, &AddLine{LineInput: LineInput{Product: "Cable", Quantity: dec("3"), UnitPrice: dptr("0.10"), Tax: dptr("0.07")}})
	// 50×1000 − 2500 + 9500 = 57000; 3×0.10 + 0.07 = 0.37
	if got := d.Value().String(); got != "57000.37" {
		t.Fatalf("value %s", got)
	}
	drive(t, d, &Propose{PaymentTerms: "2% 10, Net 30"}, &ActivateQuote{Revision: 1}, &Close{Outcome: "won"}, &FulfillOrder{})
	inv := d.Invoice
	if !inv.Total.Equal(dec("57000.37")) || !inv.DueDate.Equal(inv.CreatedAt.Add(30*day)) {
		t.Fatalf("invoice %s due %s", inv.Total, inv.DueDate)
	}
	// Within 10 days the 2% discount applies: 57000.37 − 1140.01 = 55860.36.
	due := d.AmountDue(inv.CreatedAt.Add(5 * day))
	if due.String() != "55860.36" {
		t.Fatalf("amount due with discount %s", due)
	}
	now := inv.CreatedAt.Add(5 * day)
	if _, _, err := d.Apply(&RecordPayment{Amount: dec("57000.38")}, now); err == nil {
		t.Fatal("overpayment accepted")
	}
	mustApply(t, d, &RecordPayment{Amount: dec("10000")}, now)
	mustApply(t, d, &RecordPayment{Amount: dec("45860.36")}, now)
	if d.Stage != StagePaid || d.Invoice.Status != InvoicePaid || !d.Invoice.Balance().IsZero() {
		t.Fatalf("stage %s invoice %s balance %s", d.Stage, d.Invoice.Status, d.Invoice.Balance())
	}
}

func mustApply(t *testing.T, d *Deal, c Command, now time.Time) Change {
	t.Helper()
	ch, _, err := d.Apply(c, now)
	if err != nil {
		t.Fatalf("%s: %v", c.Action(), err)
	}
	return ch
}

func TestRevisionsCloseTheOldQuote(t *testing.T) {
	d := drive(t, NewDeal(readyLead("r1"), t0), developSteps...)
	drive(t, d, &Propose{}, &ActivateQuote{Revision: 1}, &ReviseQuote{Revision: 1},
		&EditQuote{Revision: 2, Lines: &[]LineInput{{Product: "Laptop", Quantity: dec("40"), UnitPrice: dptr("990")}}},
		&ActivateQuote{Revision: 2}, &ReviseQuote{Revision: 2}, &ActivateQuote{Revision: 3})
	if len(d.Quotes) != 3 {
		t.Fatalf("%d quotes", len(d.Quotes))
	}
	for i, want := range []string{"Closed/Revised", "Closed/Revised", "Active/"} {
		if got := d.Quotes[i].Status + "/" + d.Quotes[i].StatusReason; got != want {
			t.Errorf("quote %d: %s, want %s", i+1, got, want)
		}
	}
	if !d.Quotes[2].Total.Equal(dec("39600")) || d.Stage != StageClose {
		t.Fatalf("total %s stage %s", d.Quotes[2].Total, d.Stage)
	}
	ch := mustApply(t, d, &Close{Outcome: "won", ActualRevenue: dptr("39000")}, t0.Add(time.Hour))
	if d.Order == nil || d.Order.QuoteID != d.Quotes[2].ID || !d.Opportunity.ActualRevenue.Equal(dec("39000")) || ch.Order == nil {
		t.Fatalf("order %+v", d.Order)
	}
}

func TestLostQuotesCloseAndReopen(t *testing.T) {
	d := drive(t, NewDeal(readyLead("l1"), t0), developSteps...)
	drive(t, d, &Propose{}, &ActivateQuote{Revision: 1}, &Close{Outcome: "lost", Reason: "Canceled", Note: "budget cut"})
	if d.Status != StatusLost || d.Quotes[0].Status != QuoteClosed || d.Quotes[0].StatusReason != QuoteReasonLost {
		t.Fatalf("status %s quote %s/%s", d.Status, d.Quotes[0].Status, d.Quotes[0].StatusReason)
	}
	drive(t, d, &Reopen{})
	if d.Status != StatusOpen || d.Stage != StageDevelop || d.Opportunity.Status != "Open" {
		t.Fatalf("after reopen: %s %s", d.Status, d.Stage)
	}
	// A new quote can be made: the closed one does not block it.
	drive(t, d, &Propose{})
	if d.CurrentQuote().Revision != 2 {
		t.Fatal("no new revision")
	}
}

func TestPendingFollowUps(t *testing.T) {
	d := NewDeal(readyLead("f1"), t0)
	p := d.Pending()
	if len(p) != 1 || p[0].Kind != KindLeadReminder || !p[0].Due.Equal(t0.Add(3*day)) {
		t.Fatalf("pending %+v", p)
	}
	// Two reminders, then the escalation; all fire once.
	for _, want := range []string{KindLeadReminder, KindLeadReminder, KindLeadEscalation} {
		r := d.Pending()[0]
		if r.Kind != want {
			t.Fatalf("next %s, want %s", r.Kind, want)
		}
		ch, ok := d.Fire(r, r.Due)
		if !ok || len(ch.Messages) != 1 || ch.Messages[0].Key != r.Key {
			t.Fatalf("fire %+v", ch)
		}
	}
	if len(d.Pending()) != 0 {
		t.Fatalf("still pending %+v", d.Pending())
	}
	if d.Messages[2].Recipient != "max@example.com" {
		t.Fatal("escalation not to the manager")
	}
	// A rep action starts a new idle spell with new keys.
	drive(t, d, &EditLead{Rating: sptr("Hot")})
	r := d.Pending()[0]
	if r.Kind != KindLeadReminder || r.Key == d.Messages[0].Key {
		t.Fatalf("re-armed %+v", r)
	}
}

func mustJSON(d *Deal) string {
	b, _ := jsonMarshal(d)
	return string(b)
}

var jsonMarshal = func(v any) ([]byte, error) { return json.Marshal(v) }
