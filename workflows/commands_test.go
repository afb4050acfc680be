package workflows

import (
	"strings"
	"testing"
	"time"
)

// TestInputRules gives each command one bad field at a time and wants that
// field named with its reason; the boundary values just inside each limit
// must pass.
func TestInputRules(t *testing.T) {
	long := strings.Repeat("x", maxText+1)
	longText := strings.Repeat("x", maxLongText+1)
	prob := func(n int) *int { return &n }
	line := func(f func(*LineInput)) LineInput {
		l := LineInput{Product: "Laptop", Quantity: dec("2"), UnitPrice: dptr("10")}
		f(&l)
		return l
	}
	lines := func(n int) *[]LineInput {
		out := make([]LineInput, n)
		for i := range out {
			out[i] = line(func(*LineInput) {})
		}
		return &out
	}
	bad := []struct {
		cmd    Command
		field  string
		reason string
	}{
		{&EditLead{Topic: sptr(" ")}, "topic", "is required"},
		{&EditLead{Topic: sptr(long)}, "topic", "is longer than 200 characters"},
		{&EditLead{FirstName: sptr(long)}, "firstName", "is longer than 200"},
		{&EditLead{LastName: sptr("a\x00b")}, "lastName", "must not contain NUL characters"},
		{&EditLead{Company: sptr("Acme\xff")}, "company", "is not valid UTF-8 text"},
		{&EditLead{JobTitle: sptr(long)}, "jobTitle", "is longer than 200"},
		{&EditLead{Email: sptr("pat")}, "email", "is not a valid email address"},
		{&EditLead{Email: sptr("Pat <pat@contoso.example>")}, "email", "is not a valid email address"},
		{&EditLead{Phone: sptr("call me")}, "phone", "may hold only digits"},
		{&EditLead{Phone: sptr("1234")}, "phone", "is not a plausible phone number"},
		{&EditLead{Phone: sptr("12-34")}, "phone", "is not a plausible phone number"},
		{&EditLead{Phone: sptr("+1 " + strings.Repeat("5", 38))}, "phone", "is not a plausible phone number"},
		{&EditLead{Source: sptr("Radio")}, "source", "must be one of: Advertisement"},
		{&EditLead{Rating: sptr("Lukewarm")}, "rating", "must be one of: Hot, Warm, Cold"},
		{&EditLead{PurchaseTimeframe: sptr("Soon")}, "purchaseTimeframe", "must be one of"},
		{&EditLead{PurchaseProcess: sptr("Board")}, "purchaseProcess", "must be one of"},
		{&EditLead{Budget: dptr("-1")}, "budget", "must not be negative"},
		{&EditLead{Budget: dptr("10000000000000")}, "budget", "is too large"},
		{&EditLead{ExistingAccountID: sptr("ACC 1")}, "existingAccountId", "is not a valid id"},
		{&Disqualify{}, "reason", "is required"},
		{&Disqualify{Reason: "Bored"}, "reason", "must be one of: Lost, Cannot Contact"},
		{&Disqualify{Reason: "Lost", Note: longText}, "note", "is longer than 4000"},
		{&Assign{}, "owner", "is required"},
		{&Assign{Owner: "bob"}, "owner", "is not a valid email address"},
		{&EditOpportunity{CustomerNeed: sptr(longText)}, "customerNeed", "is longer than 4000"},
		{&EditOpportunity{ProposedSolution: sptr(longText)}, "proposedSolution", "is longer than 4000"},
		{&EditOpportunity{EstimatedRevenue: dptr("-5")}, "estimatedRevenue", "must not be negative"},
		{&EditOpportunity{EstimatedRevenue: dptr("5"), ClearRevenueOverride: true}, "clearRevenueOverride", "cannot be combined with estimatedRevenue"},
		{&EditOpportunity{Probability: prob(-1)}, "probability", "must be between 0 and 100"},
		{&EditOpportunity{Probability: prob(101)}, "probability", "must be between 0 and 100"},
		{&AddStakeholder{Role: "Champion"}, "name", "is required"},
		{&AddStakeholder{Name: "Dana", Role: "Champion", Email: "dana@"}, "email", "is not a valid email address"},
		{&AddStakeholder{Name: "Dana"}, "role", "is required"},
		{&AddStakeholder{Name: "Dana", Role: "Boss"}, "role", "must be one of: Decision Maker"},
		{&AddCompetitor{}, "name", "is required"},
		{&AddCompetitor{Name: "Fabrikam", Strengths: longText}, "strengths", "is longer than 4000"},
		{&AddTeamMember{}, "userId", "is required"},
		{&AddTeamMember{UserID: "carol"}, "userId", "is not a valid email address"},
		{&AddTeamMember{UserID: "carol@example.com", Role: long}, "role", "is longer than 200"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Product = "" })}, "product", "is required"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Quantity = dec("0") })}, "quantity", "must be greater than zero"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.UnitPrice = dptr("-1") })}, "unitPrice", "must not be negative"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Discount, l.DiscountPercent = dptr("1"), dptr("5") })}, "discountPercent", "cannot be combined with discount"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.DiscountPercent = dptr("100.01") })}, "discountPercent", "must be between 0 and 100"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.TaxPercent = dptr("-1") })}, "taxPercent", "must be between 0 and 100"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Tax, l.TaxPercent = dptr("1"), dptr("19") })}, "taxPercent", "cannot be combined with tax"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Unit = long })}, "unit", "is longer than 200"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Product, l.ProductID, l.UnitPrice = "", "SKU 1", nil })}, "productId", "is not a valid product id"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Product = ""; l.ProductID = "SKU-1" })}, "unitPrice", "cannot be combined with productId"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.ProductID, l.UnitPrice = "SKU-1", nil })}, "product", "cannot be combined with productId"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Discount = dptr("20.01") })}, "discount", "must not exceed quantity × unit price"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Discount = dptr("-1") })}, "discount", "must not be negative"},
		{&AddLine{LineInput: line(func(l *LineInput) { l.Tax = dptr("-1") })}, "tax", "must not be negative"},
		{&RemoveItem{Kind: ActRemoveLine}, "id", "is required"},
		{&Propose{Name: long}, "name", "is longer than 200"},
		{&Propose{PaymentTerms: "Net 90"}, "paymentTerms", "must be one of: Net 30, Net 45, Net 60, 2% 10, Net 30"},
		{&Propose{Charges: Charges{DiscountPercent: dptr("150")}}, "discountPercent", "must be between 0 and 100"},
		{&Propose{Charges: Charges{Discount: dptr("1"), DiscountPercent: dptr("5")}}, "discountPercent", "cannot be combined with discount"},
		{&Propose{Charges: Charges{Discount: dptr("-1")}}, "discount", "must not be negative"},
		{&Propose{Charges: Charges{Freight: dptr("-1")}}, "freight", "must not be negative"},
		{&EditQuote{Revision: 1, Charges: Charges{ClearDiscount: true, Discount: dptr("1")}}, "clearDiscount", "cannot be combined with discount or discountPercent"},
		{&EditQuote{}, "revision", "must be 1 or more"},
		{&EditQuote{Revision: 1, Name: sptr("")}, "name", "is required"},
		{&EditQuote{Revision: 1, PaymentTerms: sptr("Net 90")}, "paymentTerms", "must be one of"},
		{&EditQuote{Revision: 1, PaymentTerms: sptr("")}, "paymentTerms", "is required"},
		{&EditQuote{Revision: 1, Lines: &[]LineInput{}}, "lines", "must hold at least one line"},
		{&EditQuote{Revision: 1, Lines: lines(maxLines + 1)}, "lines", "must hold at most 200 lines"},
		{&EditQuote{Revision: 1, Lines: &[]LineInput{line(func(l *LineInput) {}), line(func(l *LineInput) { l.Product = "" })}}, "lines[1].product", "is required"},
		{&ActivateQuote{}, "revision", "must be 1 or more"},
		{&ReviseQuote{}, "revision", "must be 1 or more"},
		{&Close{}, "outcome", "must be won or lost"},
		{&Close{Outcome: "won", ActualRevenue: dptr("-1")}, "actualRevenue", "must not be negative"},
		{&Close{Outcome: "won", Reason: "Canceled"}, "reason", "applies only to a lost deal"},
		{&Close{Outcome: "lost"}, "reason", "is required"},
		{&Close{Outcome: "lost", Reason: "Bored"}, "reason", "must be one of: Canceled, Out-Sold"},
		{&Close{Outcome: "lost", Reason: "Out-Sold", Competitor: " "}, "competitor", "is required when the deal was out-sold"},
		{&Close{Outcome: "lost", Reason: "Canceled", ActualRevenue: dptr("1")}, "actualRevenue", "applies only to a won deal"},
		{&Close{Outcome: "lost", Reason: "Canceled", Competitor: long}, "competitor", "is longer than 200"},
		{&Close{Outcome: "won", Note: longText}, "note", "is longer than 4000"},
		{&CancelOrder{}, "reason", "is required"},
		{&CancelOrder{Reason: longText}, "reason", "is longer than 4000"},
		{&RecordPayment{}, "amount", "must be greater than zero"},
		{&RecordPayment{Amount: dec("-3")}, "amount", "must not be negative"},
		{&CancelInvoice{}, "reason", "is required"},
	}
	for _, c := range bad {
		t.Run(string(c.cmd.Action())+"/"+c.field+"/"+c.reason, func(t *testing.T) {
			errs := c.cmd.Validate()
			if len(errs) != 1 || errs[0].Field != c.field || !strings.HasPrefix(errs[0].Reason, c.reason) {
				t.Fatalf("errors %+v, want only %s %q", errs, c.field, c.reason)
			}
			// Apply refuses it the same way, before any stage rule.
			_, _, err := developed(t).Apply(c.cmd, at)
			if err == nil || !strings.Contains(err.Error(), c.field+" "+c.reason) {
				t.Errorf("Apply: %v", err)
			}
		})
	}
	good := []Command{
		&EditLead{Topic: sptr(strings.Repeat("é", maxText)), Phone: sptr("+1 (555) 010-0 x7/8"), Email: sptr("pat@contoso.example"),
			Budget: dptr("9999999999999.9999"), EstimatedValue: dptr("0"), ExistingAccountID: sptr("ACC-1.a_b")},
		&EditLead{Phone: sptr("99999"), Source: sptr("Web"), Rating: sptr("Cold"), PurchaseTimeframe: sptr("Unknown"), PurchaseProcess: sptr("Committee")},
		&EditLead{Phone: sptr("+1 " + strings.Repeat("5", 37))},
		&Disqualify{Reason: "Canceled", Note: strings.Repeat("x", maxLongText)},
		&EditOpportunity{Probability: prob(0), EstimatedRevenue: dptr("0")},
		&EditOpportunity{Probability: prob(100), ClearRevenueOverride: true},
		&AddLine{LineInput: line(func(l *LineInput) { l.Discount, l.Tax, l.UnitPrice = dptr("20"), dptr("0"), dptr("10") })},
		&AddLine{LineInput: line(func(l *LineInput) { l.UnitPrice = dptr("0") })},
		&AddLine{LineInput: line(func(l *LineInput) { l.DiscountPercent, l.TaxPercent = dptr("100"), dptr("0") })},
		&AddLine{LineInput: line(func(l *LineInput) { l.Product, l.ProductID, l.UnitPrice, l.Discount = "", "SKU-1", nil, dptr("999") })},
		&Propose{Charges: Charges{DiscountPercent: dptr("100"), Freight: dptr("0")}},
		&EditQuote{Revision: 1, Lines: lines(maxLines)},
		&Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"},
		&Close{Outcome: "won", ActualRevenue: dptr("0")},
		&RecordPayment{Amount: dec("0.0001")},
	}
	for _, c := range good {
		if errs := c.Validate(); len(errs) > 0 {
			t.Errorf("%s refused: %+v", c.Action(), errs)
		}
	}
}

func TestNewLeadRules(t *testing.T) {
	ok := readyLead("Lead-1.a_b")
	if errs := ok.Validate(); len(errs) > 0 {
		t.Fatalf("a ready lead: %+v", errs)
	}
	cases := []struct {
		edit  func(*NewLead)
		field string
	}{
		{func(n *NewLead) { n.ID = "" }, "id"},
		{func(n *NewLead) { n.ID = "-lead" }, "id"},
		{func(n *NewLead) { n.ID = strings.Repeat("a", 65) }, "id"},
		{func(n *NewLead) { n.Owner = "alice" }, "owner"},
		{func(n *NewLead) { n.Manager = "max" }, "manager"},
		{func(n *NewLead) { n.Currency = "EURO" }, "currency"},
		{func(n *NewLead) { n.Lead.Topic = "" }, "topic"},
		{func(n *NewLead) { p := DefaultPolicy(); p.Day = 0; n.Policy = &p }, "policy"},
	}
	for _, c := range cases {
		n := readyLead("l1")
		c.edit(&n)
		errs := n.Validate()
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("want only %s: %+v", c.field, errs)
		}
	}
	n := readyLead(strings.Repeat("a", 64))
	n.Currency, n.Manager = "", ""
	if errs := n.Validate(); len(errs) > 0 {
		t.Errorf("64-character id, no currency, no manager: %+v", errs)
	}
	if errs := (NewLead{ID: "x", Owner: ""}).Validate(); len(errs) != 2 || errs[0].Field != "owner" || errs[0].Reason != "is required" {
		t.Errorf("no owner: %+v", errs)
	}
	if errs := (LeadFields{}).Validate(); len(errs) != 1 || errs[0].Field != "topic" {
		t.Errorf("a lead without a topic: %+v", errs)
	}
}

func TestDecodeCommand(t *testing.T) {
	cmd, err := DecodeCommand(ActRemoveLine, []byte(`{"id":"line-3","actor":"alice@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := cmd.(*RemoveItem); r.Kind != ActRemoveLine || r.ID != "line-3" || r.By() != "alice@example.com" {
		t.Fatalf("decoded %+v", r)
	}
	for _, raw := range []string{`{"id":"line-3","colour":"red"}`, `{"id":"line-3"} {}`, `{"id":3}`, `[]`} {
		if _, err := DecodeCommand(ActRemoveLine, []byte(raw)); err == nil {
			t.Errorf("%s decoded", raw)
		}
	}
	if _, err := DecodeCommand("teleport", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), `unknown action "teleport"`) {
		t.Errorf("unknown action: %v", err)
	}
	for _, a := range Actions {
		cmd, ok := NewCommand(a)
		if !ok || cmd.Action() != a {
			t.Errorf("NewCommand(%s) = %T", a, cmd)
		}
	}
	if (Actor{}).By() != "unknown" || (Actor{Actor: "a@x.io", ActorRole: RoleRep}).ByRole() != RoleRep {
		t.Error("actor defaults")
	}
}

func TestAuthorize(t *testing.T) {
	d := developed(t) // owner alice, carol on the team
	rep := func(u string) Actor { return Actor{Actor: u, ActorRole: RoleRep} }
	for _, c := range []struct {
		actor Actor
		ok    bool
	}{
		{rep("alice@example.com"), true},
		{rep("carol@example.com"), true},
		{rep("bob@example.com"), false},
		{Actor{Actor: "bob@example.com", ActorRole: RoleManager}, true},
		{Actor{Actor: "ops"}, true}, // an operator's signal: no role, not checked
	} {
		rej := d.Authorize(&AddCompetitor{Actor: c.actor, Name: "x"})
		if (rej == nil) != c.ok {
			t.Errorf("%+v: refused %v", c.actor, rej)
		}
		if rej != nil && (rej.Code != RejectNoAccess || rej.Message != "bob@example.com may not act on lead r1") {
			t.Errorf("refusal %+v", rej)
		}
	}
}

// TestAppliedUpdatesAreBounded: the results of the latest Updates are kept,
// the oldest dropped past maxApplied, and signals (no ID) are not kept.
func TestAppliedUpdatesAreBounded(t *testing.T) {
	d := NewDeal(readyLead("a"), t0)
	d.remember("", Result{Message: "signal"})
	if len(d.Applied) != 0 {
		t.Fatal("a signal was remembered")
	}
	if _, ok := d.appliedResult(""); ok {
		t.Fatal("an empty ID matched")
	}
	for i := 1; i <= maxApplied+1; i++ {
		d.remember(strings.Repeat("u", i), Result{Message: time.Duration(i).String()})
	}
	if len(d.Applied) != maxApplied {
		t.Fatalf("%d kept", len(d.Applied))
	}
	if _, ok := d.appliedResult("u"); ok {
		t.Error("the oldest is still answered")
	}
	if r, ok := d.appliedResult(strings.Repeat("u", maxApplied+1)); !ok || r.Message != time.Duration(maxApplied+1).String() {
		t.Errorf("the newest: %+v %v", r, ok)
	}
}
