package workflows

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// pendingKinds lists the pending follow-ups as "kind@due after base".
func pendingKinds(d *Deal, base time.Time) []string {
	var out []string
	for _, r := range d.Pending() {
		out = append(out, fmt.Sprintf("%s@%s", r.Kind, r.Due.Sub(base)))
	}
	return out
}

// TestPendingRules: which follow-ups each kind of deal waits on, and when
// (DefaultPolicy: reminders every 3 days ×2 then the escalation, nudges every
// 7 days ×3, quotes valid 30 days reminded 3 before, invoices reminded 3 days
// before due and overdue every 7 days ×3, re-engage after 30 days, thank-you
// a day after the win, retention 90 days).
func TestPendingRules(t *testing.T) {
	h := func(days int) string { return (time.Duration(days) * day).String() }
	cases := []struct {
		name string
		deal func(t *testing.T) *Deal
		base time.Time
		want []string
	}{
		{"a new lead", func(t *testing.T) *Deal { return NewDeal(readyLead("p"), t0) }, t0,
			[]string{"lead_reminder@" + h(3)}},
		{"a lead reminded twice", func(t *testing.T) *Deal {
			d := NewDeal(readyLead("p"), t0)
			fire(t, d, KindLeadReminder)
			if got := pendingKinds(d, t0); !slices.Equal(got, []string{"lead_reminder@" + h(6)}) {
				t.Errorf("after one reminder: %v", got)
			}
			fire(t, d, KindLeadReminder)
			return d
		}, t0, []string{"lead_escalation@" + h(9)}},
		{"a lead escalated", func(t *testing.T) *Deal {
			d := NewDeal(readyLead("p"), t0)
			fire(t, d, KindLeadReminder)
			fire(t, d, KindLeadReminder)
			fire(t, d, KindLeadEscalation)
			return d
		}, t0, nil},
		{"a disqualified lead", func(t *testing.T) *Deal { return drive(t, NewDeal(readyLead("p"), t0), &Disqualify{Reason: "Lost"}) }, t0.Add(time.Minute),
			[]string{"retention_end@" + h(90)}},
		{"an opportunity", func(t *testing.T) *Deal { return drive(t, NewDeal(readyLead("p"), t0), &Qualify{}) }, t0.Add(time.Minute),
			[]string{"stage_nudge@" + h(7)}},
		{"an opportunity nudged three times", func(t *testing.T) *Deal {
			d := drive(t, NewDeal(readyLead("p"), t0), &Qualify{})
			for i := 0; i < 3; i++ {
				fire(t, d, KindStageNudge)
			}
			return d
		}, t0.Add(time.Minute), nil},
		{"an active quote", func(t *testing.T) *Deal { return presented(t) }, at,
			[]string{"stage_nudge@" + h(7), "quote_expiring@" + h(27), "quote_expired@" + h(30)}},
		{"an active quote reminded", func(t *testing.T) *Deal {
			d := presented(t)
			fire(t, d, KindQuoteExpiring)
			return d
		}, at, []string{"stage_nudge@" + h(7), "quote_expired@" + h(30)}},
		{"a draft quote", func(t *testing.T) *Deal { return proposed(t, Propose{}) }, at,
			[]string{"stage_nudge@" + h(7)}},
		{"a draft quote with a date", func(t *testing.T) *Deal {
			to := at.Add(10 * day)
			return proposed(t, Propose{EffectiveTo: &to})
		}, at, []string{"stage_nudge@" + h(7)}},
		{"an open order", func(t *testing.T) *Deal {
			d := presented(t)
			mustApply(t, d, &Close{Outcome: "won"}, at)
			return d
		}, at, []string{"thank_you@" + h(1), "stage_nudge@" + h(7)}},
		{"a canceled order", func(t *testing.T) *Deal {
			d := presented(t)
			mustApply(t, d, &Close{Outcome: "won"}, at)
			fire(t, d, KindThankYou)
			mustApply(t, d, &CancelOrder{Reason: "x"}, at)
			return d
		}, at, []string{"retention_end@" + h(90)}},
		{"an invoice", func(t *testing.T) *Deal {
			d := invoiced(t, "Net 30")
			fire(t, d, KindThankYou)
			return d
		}, at, []string{"invoice_due@" + h(27), "invoice_overdue@" + h(37)}},
		{"an invoice overdue twice", func(t *testing.T) *Deal {
			d := invoiced(t, "Net 30")
			fire(t, d, KindThankYou)
			fire(t, d, KindInvoiceDue)
			fire(t, d, KindInvoiceOverdue)
			fire(t, d, KindInvoiceOverdue)
			return d
		}, at, []string{"invoice_overdue@" + h(51)}},
		{"an invoice past its notices", func(t *testing.T) *Deal {
			d := invoiced(t, "Net 30")
			fire(t, d, KindThankYou)
			fire(t, d, KindInvoiceDue)
			for i := 0; i < 3; i++ {
				fire(t, d, KindInvoiceOverdue)
			}
			return d
		}, at, nil},
		{"a paid invoice", func(t *testing.T) *Deal {
			d := invoiced(t, "Net 30")
			mustApply(t, d, &RecordPayment{Amount: dec("57000")}, at)
			return d
		}, at, []string{"thank_you@" + h(1)}},
		{"a canceled invoice", func(t *testing.T) *Deal {
			d := invoiced(t, "Net 30")
			fire(t, d, KindThankYou)
			mustApply(t, d, &CancelInvoice{Reason: "x"}, at)
			return d
		}, at, []string{"retention_end@" + h(90)}},
		{"a lost deal", func(t *testing.T) *Deal {
			d := presented(t)
			mustApply(t, d, &Close{Outcome: "lost", Reason: "Canceled"}, at)
			return d
		}, at, []string{"reengage@" + h(30), "retention_end@" + h(90)}},
		{"a lost deal re-engaged", func(t *testing.T) *Deal {
			d := presented(t)
			mustApply(t, d, &Close{Outcome: "lost", Reason: "Canceled"}, at)
			fire(t, d, KindReengage)
			return d
		}, at, []string{"retention_end@" + h(90)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.deal(t)
			if got := pendingKinds(d, c.base); !slices.Equal(got, c.want) {
				t.Errorf("pending %v\nwant    %v", got, c.want)
			}
		})
	}
}

func TestPaidDealIsDoneOnceThanked(t *testing.T) {
	d := invoiced(t, "Net 30")
	mustApply(t, d, &RecordPayment{Amount: dec("57000")}, at)
	if d.Done() {
		t.Fatal("done before the thank-you")
	}
	fire(t, d, KindThankYou)
	if !d.Done() {
		t.Fatalf("not done: %+v", d.Pending())
	}
	lost := presented(t)
	mustApply(t, lost, &Close{Outcome: "lost", Reason: "Canceled"}, at)
	fire(t, lost, KindReengage)
	if lost.Done() {
		t.Error("a lost deal is done only by its retention window")
	}
}

// TestIdleSpellsHaveTheirOwnKeys: the same reminder in a later idle spell is
// a new message, and the same spell's reminder keeps its key across replays.
func TestIdleSpellsHaveTheirOwnKeys(t *testing.T) {
	d := drive(t, NewDeal(readyLead("k"), t0), &Qualify{})
	first := d.Pending()[0]
	if first.Key != fmt.Sprintf("k/stage_nudge/Develop/%d/1", t0.Add(time.Minute).UnixMilli()) {
		t.Fatalf("key %s", first.Key)
	}
	if again := d.Pending()[0]; again != first {
		t.Fatal("the same state gave another reminder")
	}
	mustApply(t, d, &EditOpportunity{CustomerNeed: sptr("x")}, at)
	if next := d.Pending()[0]; next.Key == first.Key || !next.Due.Equal(at.Add(7*day)) {
		t.Fatalf("after an action: %+v", next)
	}
}

func TestFollowUpMessages(t *testing.T) {
	owner, manager, contact := "alice@example.com", "max@example.com", "pat@contoso.example"
	cases := []struct {
		kind      string
		deal      func(t *testing.T) *Deal
		recipient string
		subject   string
	}{
		{KindLeadReminder, func(t *testing.T) *Deal { return NewDeal(readyLead("m"), t0) }, owner, "Lead waiting for qualification: 50 laptops"},
		{KindLeadEscalation, func(t *testing.T) *Deal {
			d := NewDeal(readyLead("m"), t0)
			fire(t, d, KindLeadReminder)
			fire(t, d, KindLeadReminder)
			return d
		}, manager, "Escalation: lead not qualified: 50 laptops"},
		{KindStageNudge, func(t *testing.T) *Deal { return developed(t) }, owner, "No progress in Develop: 50 laptops"},
		{KindQuoteExpiring, presented, owner, "Quote QUO-r1-1 expires"},
		{KindQuoteExpired, presented, owner, "Quote QUO-r1-1 expired"},
		{KindThankYou, func(t *testing.T) *Deal { return invoiced(t, "Net 30") }, contact, "Thank you for your order"},
		{KindInvoiceDue, func(t *testing.T) *Deal { return invoiced(t, "Net 30") }, contact, "Invoice INV-r1 due"},
		{KindInvoiceOverdue, func(t *testing.T) *Deal { return invoiced(t, "Net 30") }, contact, "Overdue: invoice INV-r1 (notice 1)"},
		{KindReengage, func(t *testing.T) *Deal {
			d := presented(t)
			mustApply(t, d, &Close{Outcome: "lost", Reason: "Canceled"}, at)
			return d
		}, owner, "Re-engage: 50 laptops"},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			d := c.deal(t)
			events := len(d.Timeline)
			ch := fire(t, d, c.kind)
			m := ch.Messages[0]
			if m.Kind != c.kind || m.Recipient != c.recipient || !strings.HasPrefix(m.Subject, c.subject) || m.Body == "" {
				t.Fatalf("message %+v", m)
			}
			ev := d.Timeline[len(d.Timeline)-1]
			if len(d.Timeline) != events+1 || ev.Action != "followup:"+c.kind || ev.Actor != "system" || !ev.Accepted || ev.Detail != m.Subject || ch.Event != ev {
				t.Errorf("timeline entry %+v", ev)
			}
			if d.Messages[len(d.Messages)-1] != m {
				t.Error("the message is not in the deal")
			}
			// A contact without an email address: the owner is told instead.
			d = c.deal(t)
			d.Lead.Email = ""
			if got := fire(t, d, c.kind).Messages[0].Recipient; c.recipient == contact && got != owner {
				t.Errorf("to a contact without email: sent to %q, want the owner", got)
			}
		})
	}
}

func TestMessageBodies(t *testing.T) {
	d := invoiced(t, "Net 30")
	if b := fire(t, d, KindThankYou).Messages[0].Body; b != `Dear Pat Lee, thank you for choosing us for 50 laptops. Your order is ORD-r1.` {
		t.Errorf("thank-you %q", b)
	}
	mustApply(t, d, &RecordPayment{Amount: dec("7000")}, at)
	if b := fire(t, d, KindInvoiceDue).Messages[0].Body; !strings.Contains(b, "over 57000.00 EUR") || !strings.Contains(b, "Balance: 50000.00 EUR") {
		t.Errorf("invoice due %q", b)
	}
	in := readyLead("c")
	in.Lead.LastName = ""
	if got := NewDeal(in, t0).ContactName(); got != "Pat" {
		t.Errorf("first name only: %q", got)
	}
	in.Lead.FirstName, in.Lead.LastName = "", "Lee"
	if got := NewDeal(in, t0).ContactName(); got != "Lee" {
		t.Errorf("last name only: %q", got)
	}
	in.Lead.LastName = ""
	if got := NewDeal(in, t0).ContactName(); got != "Contoso" {
		t.Errorf("no name: %q", got)
	}
	in.Lead.Company = ""
	in.Lead.FirstName, in.Lead.LastName = "Jo", "Kim"
	if got := NewDeal(in, t0).Customer(); got != "Jo Kim" {
		t.Errorf("customer without a company: %q", got)
	}
	fresh := presented(t)
	mustApply(t, fresh, &Close{Outcome: "won"}, at)
	if b := fire(t, fresh, KindThankYou).Messages[0].Body; !strings.HasSuffix(b, "Your order is ORD-r1.") {
		t.Errorf("thank-you %q", b)
	}
}

func TestQuoteExpiryClosesTheQuote(t *testing.T) {
	d := presented(t)
	ch := fire(t, d, KindQuoteExpired)
	q := d.Quotes[0]
	if q.Status != QuoteClosed || q.StatusReason != QuoteReasonExpired || q.ClosedAt == nil || d.Stage != StagePropose {
		t.Fatalf("expired quote %+v stage %s", q, d.Stage)
	}
	if len(ch.Quotes) != 1 || ch.Quotes[0].StatusReason != QuoteReasonExpired {
		t.Errorf("the closed quote is not written: %+v", ch.Quotes)
	}
	if d.NextStep() != "create a quote" {
		t.Errorf("next step %q", d.NextStep())
	}
}

func TestRetentionEndSendsNothing(t *testing.T) {
	d := drive(t, NewDeal(readyLead("re"), t0), &Disqualify{Reason: "Lost"})
	r := d.Pending()[0]
	before := mustJSON(d)
	if _, ok := d.Fire(r, r.Due); ok || r.Kind != KindRetentionEnd {
		t.Fatalf("%s fired as a message", r.Kind)
	}
	if mustJSON(d) != before {
		t.Error("the retention end changed the deal")
	}
}

func TestBalance(t *testing.T) {
	inv := &Invoice{Total: dec("100"), PaidAmount: dec("60"), Payments: []Payment{{Amount: dec("60"), Discount: dec("2")}}}
	if got := inv.Balance(); !got.Equal(dec("38")) {
		t.Errorf("balance %s, want 38", got)
	}
	inv.PaidAmount = dec("120")
	if got := inv.Balance(); !got.IsZero() {
		t.Errorf("an overpaid invoice owes %s", got)
	}
}
