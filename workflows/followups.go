package workflows

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Policy holds every duration of a deal's timed follow-ups. It travels in the
// workflow input, so tests and the demo can shorten it per deal.
type Policy struct {
	// LeadReminderAfter: an unqualified lead idle this long reminds its owner,
	// LeadReminders times, each a further LeadReminderAfter apart; the next
	// period escalates to the manager.
	LeadReminderAfter time.Duration `json:"leadReminderAfter"`
	LeadReminders     int           `json:"leadReminders"`
	// StageNudgeAfter: an open opportunity (or an order) without a rep action
	// for this long nudges its owner, at most StageNudges times per idle spell.
	StageNudgeAfter time.Duration `json:"stageNudgeAfter"`
	StageNudges     int           `json:"stageNudges"`
	// QuoteValidity is the default EffectiveTo of a quote, from its activation.
	QuoteValidity time.Duration `json:"quoteValidity"`
	// QuoteReminderBefore: the owner is reminded this long before an active
	// quote expires; at EffectiveTo the quote is closed as Expired.
	QuoteReminderBefore time.Duration `json:"quoteReminderBefore"`
	// InvoiceReminderBefore: the contact is reminded this long before the due
	// date; OverdueEvery after it an overdue notice follows, OverdueNotices times.
	InvoiceReminderBefore time.Duration `json:"invoiceReminderBefore"`
	OverdueEvery          time.Duration `json:"overdueEvery"`
	OverdueNotices        int           `json:"overdueNotices"`
	// ReengageAfter: a lost deal reminds its owner to re-engage the customer.
	ReengageAfter time.Duration `json:"reengageAfter"`
	// ThankYouAfter: a won deal thanks the contact this long after the win.
	ThankYouAfter time.Duration `json:"thankYouAfter"`
	// Retention: a lost, disqualified or canceled deal can be reopened for this
	// long; then its workflow completes.
	Retention time.Duration `json:"retention"`
	// Day is the length of a "day" in payment terms (Net 30 = 30 Days). Real
	// deals use 24h; the demo and tests shrink it.
	Day time.Duration `json:"day"`
	// ActivityReminderBefore: an open appointment reminds its owner this long
	// before it starts (and a task due before TaskReminderAt on its day,
	// this long before it is due).
	ActivityReminderBefore time.Duration `json:"activityReminderBefore,omitempty"`
	// TaskReminderAt: an open task reminds its owner at this time of its due
	// day (UTC): the morning.
	TaskReminderAt time.Duration `json:"taskReminderAt,omitempty"`
}

// activityReminders are the policy's activity durations; a policy from
// before activities (zero) has the defaults.
func (p Policy) activityReminders() (before, taskAt time.Duration) {
	def := DefaultPolicy()
	before, taskAt = p.ActivityReminderBefore, p.TaskReminderAt
	if before <= 0 {
		before = def.ActivityReminderBefore
	}
	if taskAt <= 0 {
		taskAt = def.TaskReminderAt
	}
	return before, taskAt
}

const day = 24 * time.Hour

// DefaultPolicy is the policy of a real deal.
func DefaultPolicy() Policy {
	return Policy{
		LeadReminderAfter:     3 * day,
		LeadReminders:         2,
		StageNudgeAfter:       7 * day,
		StageNudges:           3,
		QuoteValidity:         30 * day,
		QuoteReminderBefore:   3 * day,
		InvoiceReminderBefore: 3 * day,
		OverdueEvery:          7 * day,
		OverdueNotices:        3,
		ReengageAfter:         30 * day,
		ThankYouAfter:         day,
		Retention:             90 * day,
		Day:                   day,
		// An hour before a meeting; 8:00 UTC on a task's due day.
		ActivityReminderBefore: time.Hour,
		TaskReminderAt:         8 * time.Hour,
	}
}

// Validate rejects a policy whose durations would make timers fire at once
// forever or never.
func (p Policy) Validate() error {
	for _, c := range []struct {
		name string
		d    time.Duration
	}{
		{"leadReminderAfter", p.LeadReminderAfter}, {"stageNudgeAfter", p.StageNudgeAfter},
		{"quoteValidity", p.QuoteValidity}, {"overdueEvery", p.OverdueEvery},
		{"reengageAfter", p.ReengageAfter}, {"retention", p.Retention}, {"day", p.Day},
	} {
		if c.d <= 0 {
			return fmt.Errorf("policy %s must be positive", c.name)
		}
	}
	if p.QuoteReminderBefore < 0 || p.InvoiceReminderBefore < 0 || p.ThankYouAfter < 0 || p.ActivityReminderBefore < 0 {
		return fmt.Errorf("policy durations must not be negative")
	}
	if p.LeadReminders < 0 || p.StageNudges < 0 || p.OverdueNotices < 0 {
		return fmt.Errorf("policy counts must not be negative")
	}
	return nil
}

// Follow-up kinds: the kind of message each timer sends.
const (
	KindLeadReminder   = "lead_reminder"
	KindLeadEscalation = "lead_escalation"
	KindStageNudge     = "stage_nudge"
	KindQuoteExpiring  = "quote_expiring"
	KindQuoteExpired   = "quote_expired"
	KindInvoiceDue     = "invoice_due"
	KindInvoiceOverdue = "invoice_overdue"
	KindReengage       = "reengage"
	KindThankYou       = "thank_you"
	// KindRetentionEnd sends nothing: it ends a closed deal's workflow.
	KindRetentionEnd = "retention_end"
	// An open task or appointment reminds its owner before it is due, and
	// once when it is overdue.
	KindActivityReminder = "activity_reminder"
	KindActivityOverdue  = "activity_overdue"
	// KindActivityEmail is an email activity the rep sent (not a timer).
	KindActivityEmail = "activity_email"
)

// FollowUps counts what the deal has already sent, so each follow-up fires
// once. Counters of idle-time follow-ups restart with every rep action.
type FollowUps struct {
	LeadReminders  int  `json:"leadReminders"`
	Escalated      bool `json:"escalated"`
	Nudges         int  `json:"nudges"`
	QuoteReminded  int  `json:"quoteReminded"` // revision last reminded of
	InvoiceDueSent bool `json:"invoiceDueSent"`
	OverdueSent    int  `json:"overdueSent"`
	Reengaged      bool `json:"reengaged"`
	ThankYouSent   bool `json:"thankYouSent"`
}

// Reminder is one pending follow-up and when it comes due.
type Reminder struct {
	Kind string    `json:"kind"`
	Due  time.Time `json:"due"`
	// Key makes the message unique across retries, replays and reruns.
	Key string `json:"key"`
	// Activity is the activity an activity reminder is about.
	Activity string `json:"activity,omitempty"`
}

// Pending lists the follow-ups the deal is waiting on, soonest first. It is
// derived from the state alone, so a rep action that changes the state
// re-arms exactly the timers it affects.
func (d *Deal) Pending() []Reminder {
	p, f := d.Policy, d.FollowUps
	var out []Reminder
	add := func(kind string, due time.Time, keyParts ...any) {
		key := d.ID + "/" + kind
		for _, k := range keyParts {
			key += fmt.Sprintf("/%v", k)
		}
		out = append(out, Reminder{Kind: kind, Due: due, Key: key})
	}
	// Idle-time follow-ups are keyed by their idle spell, so the reminders of
	// a later spell are new messages, not duplicates of the first spell's.
	idle := d.LastActivityAt
	spell := idle.UnixMilli()
	open := d.Status == StatusOpen

	if open && d.Stage == StageQualify {
		if f.LeadReminders < p.LeadReminders {
			n := f.LeadReminders + 1
			add(KindLeadReminder, idle.Add(time.Duration(n)*p.LeadReminderAfter), spell, n)
		} else if !f.Escalated {
			add(KindLeadEscalation, idle.Add(time.Duration(p.LeadReminders+1)*p.LeadReminderAfter), spell)
		}
	}
	// An order is Active only in Order, and Order always has one
	// (TestInvariantsOnRandomPaths):
	// mutate:equivalent "→ drop d.Order != nil" see above
	// mutate:equivalent "→ drop d.Stage == StageOrder" see above
	orderOpen := d.Stage == StageOrder && d.Order != nil && d.Order.Status == OrderActive
	if (open && d.Stage != StageQualify) || orderOpen {
		if f.Nudges < p.StageNudges {
			n := f.Nudges + 1
			add(KindStageNudge, idle.Add(time.Duration(n)*p.StageNudgeAfter), d.Stage, spell, n)
		}
	}
	// An Active quote always has an EffectiveTo and belongs to an open deal
	// (TestInvariantsOnRandomPaths):
	// mutate:equivalent "→ drop q.EffectiveTo != nil" see above
	// mutate:equivalent "→ drop open" see above
	if q := d.CurrentQuote(); open && q != nil && q.Status == QuoteActive && q.EffectiveTo != nil {
		if f.QuoteReminded < q.Revision {
			add(KindQuoteExpiring, q.EffectiveTo.Add(-p.QuoteReminderBefore), q.Revision)
		}
		add(KindQuoteExpired, *q.EffectiveTo, q.Revision)
	}
	if d.Status == StatusWon && !f.ThankYouSent {
		add(KindThankYou, d.Opportunity.ClosedAt.Add(p.ThankYouAfter))
	}
	if inv := d.Invoice; inv != nil && inv.Status == InvoiceActive {
		if !f.InvoiceDueSent {
			add(KindInvoiceDue, inv.DueDate.Add(-p.InvoiceReminderBefore))
		}
		if f.OverdueSent < p.OverdueNotices {
			n := f.OverdueSent + 1
			add(KindInvoiceOverdue, inv.DueDate.Add(time.Duration(n)*p.OverdueEvery), n)
		}
	}
	out = append(out, d.activityReminders()...)
	switch d.Status {
	case StatusLost:
		if !f.Reengaged {
			add(KindReengage, d.ClosedAt.Add(p.ReengageAfter), d.ClosedAt.UnixMilli())
		}
		add(KindRetentionEnd, d.ClosedAt.Add(p.Retention))
	case StatusDisqualified, StatusCanceled:
		add(KindRetentionEnd, d.ClosedAt.Add(p.Retention))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Due.Before(out[j].Due) })
	return out
}

// Done reports whether the workflow has nothing left to do: paid with every
// follow-up sent.
func (d *Deal) Done() bool {
	return d.Stage == StagePaid && len(d.Pending()) == 0
}

// Fire applies a follow-up that came due at now: the message it sends, the
// counters that keep it from firing again, and any record it changes (an
// expired quote is closed). It returns the Change to persist; ok is false for
// KindRetentionEnd, which ends the workflow instead.
func (d *Deal) Fire(r Reminder, now time.Time) (ch Change, ok bool) {
	f := &d.FollowUps
	msg := Message{Key: r.Key, Kind: r.Kind, At: now}
	owner, contact := d.Owner, d.Lead.Email
	name := fmt.Sprintf("%q (%s)", d.Lead.Topic, d.Customer())
	var touched func(*Change)
	switch r.Kind {
	case KindLeadReminder:
		f.LeadReminders++
		msg.Recipient, msg.Subject = owner, "Lead waiting for qualification: "+d.Lead.Topic
		msg.Body = fmt.Sprintf("The lead %s has had no action since %s. Qualify or disqualify it.", name, d.LastActivityAt.Format(time.RFC3339))
	case KindLeadEscalation:
		f.Escalated = true
		msg.Recipient, msg.Subject = d.Manager, "Escalation: lead not qualified: "+d.Lead.Topic
		msg.Body = fmt.Sprintf("The lead %s owned by %s is still unqualified after %d reminders.", name, owner, d.Policy.LeadReminders)
	case KindStageNudge:
		f.Nudges++
		msg.Recipient, msg.Subject = owner, fmt.Sprintf("No progress in %s: %s", d.Stage, d.Lead.Topic)
		msg.Body = fmt.Sprintf("The deal %s has been in %s without an action since %s. Next step: %s.", name, d.Stage, d.LastActivityAt.Format(time.RFC3339), d.NextStep())
	case KindQuoteExpiring:
		q := d.CurrentQuote()
		f.QuoteReminded = q.Revision
		msg.Recipient, msg.Subject = owner, fmt.Sprintf("Quote %s expires %s", q.ID, q.EffectiveTo.Format("2006-01-02"))
		msg.Body = fmt.Sprintf("Quote %s (revision %d, %s) for %s expires at %s.", q.ID, q.Revision, d.describeAmount(q.Total), name, q.EffectiveTo.Format(time.RFC3339))
	case KindQuoteExpired:
		q := d.CurrentQuote()
		q.Status, q.StatusReason, q.ClosedAt = QuoteClosed, QuoteReasonExpired, &now
		// mutate:equivalent "→ if true" an active quote is always in Close (TestInvariantsOnRandomPaths)
		if d.Stage == StageClose {
			d.enter(StagePropose, now)
		}
		msg.Recipient, msg.Subject = owner, fmt.Sprintf("Quote %s expired", q.ID)
		msg.Body = fmt.Sprintf("Quote %s for %s expired unanswered and is closed. Create a new quote to go on.", q.ID, name)
		touched = func(c *Change) { c.Quotes = []Quote{*q} }
	case KindInvoiceDue:
		f.InvoiceDueSent = true
		inv := d.Invoice
		msg.Recipient, msg.Subject = contact, fmt.Sprintf("Invoice %s due %s", inv.ID, inv.DueDate.Format("2006-01-02"))
		msg.Body = fmt.Sprintf("Dear %s, invoice %s over %s is due on %s. Balance: %s.", d.ContactName(), inv.ID, d.describeAmount(inv.Total), inv.DueDate.Format("2006-01-02"), d.describeAmount(d.Balance()))
	case KindInvoiceOverdue:
		f.OverdueSent++
		inv := d.Invoice
		msg.Recipient, msg.Subject = contact, fmt.Sprintf("Overdue: invoice %s (notice %d)", inv.ID, f.OverdueSent)
		msg.Body = fmt.Sprintf("Dear %s, invoice %s was due on %s and %s is still open. Please pay at your earliest convenience.", d.ContactName(), inv.ID, inv.DueDate.Format("2006-01-02"), d.describeAmount(d.Balance()))
	case KindReengage:
		f.Reengaged = true
		msg.Recipient, msg.Subject = owner, "Re-engage: "+d.Lead.Topic
		msg.Body = fmt.Sprintf("The deal %s was lost on %s. Time to check in with the customer again; reopen the deal if they are interested.", name, d.ClosedAt.Format("2006-01-02"))
	case KindThankYou:
		f.ThankYouSent = true
		msg.Recipient, msg.Subject = contact, "Thank you for your order"
		msg.Body = fmt.Sprintf("Dear %s, thank you for choosing us for %s. Your order is %s.", d.ContactName(), d.Lead.Topic, d.orderRef())
	case KindActivityReminder, KindActivityOverdue:
		a := d.activity(r.Activity)
		due := a.Due()
		if r.Kind == KindActivityReminder {
			a.Reminded = true
			msg.Subject = fmt.Sprintf("Reminder: %s %q at %s", strings.ReplaceAll(a.Type, "_", " "), a.Subject, due.UTC().Format("2006-01-02 15:04 MST"))
		} else {
			a.OverdueSent = true
			msg.Subject = fmt.Sprintf("Overdue: %s %q", strings.ReplaceAll(a.Type, "_", " "), a.Subject)
		}
		msg.Recipient = a.Owner
		msg.Body = fmt.Sprintf("%s on the deal %s (%s). Complete it, move it or cancel it.", msg.Subject, name, a.ID)
		touched = func(c *Change) { c.Activities = []Activity{*a} }
	case KindRetentionEnd:
		return Change{}, false
	}
	if msg.Recipient == "" {
		msg.Recipient = owner // a contact without email: tell the owner instead
	}
	d.addMessage(msg)
	ev := d.record(now, "system", "followup:"+r.Kind, true, msg.Subject)
	ch = d.change(ev)
	ch.Messages = []Message{msg}
	if touched != nil {
		touched(&ch)
	}
	return ch, true
}

func (d *Deal) orderRef() string {
	// mutate:equivalent "→ if false" a won deal always has its order (TestInvariantsOnRandomPaths); kept for a thank-you a later change may send earlier
	if d.Order == nil {
		return "being prepared"
	}
	return d.Order.ID
}

// Balance is what remains to be paid on the invoice.
func (inv *Invoice) Balance() decimal.Decimal {
	b := inv.Total.Sub(inv.PaidAmount)
	for _, p := range inv.Payments {
		b = b.Sub(p.Discount)
	}
	if b.IsNegative() {
		return decimal.Zero
	}
	return b
}

// activityReminders are the pending reminders of the open tasks and
// appointments: one before each is due, one once it is overdue. They are
// keyed by the due time, so moving it makes new reminders.
func (d *Deal) activityReminders() []Reminder {
	before, taskAt := d.Policy.activityReminders()
	var out []Reminder
	for i := range d.Activities {
		a := &d.Activities[i]
		due, overdue := a.Due(), a.OverdueAt()
		if a.Status != ActivityOpen || due == nil {
			continue
		}
		key := func(kind string, at time.Time) string {
			return fmt.Sprintf("%s/%s/%s/%d", d.ID, kind, a.ID, at.UnixMilli())
		}
		if !a.Reminded {
			at := due.Add(-before)
			if a.Type == ActivityTask {
				if morning := due.UTC().Truncate(24 * time.Hour).Add(taskAt); morning.Before(*due) {
					at = morning
				}
			}
			out = append(out, Reminder{Kind: KindActivityReminder, Due: at, Key: key(KindActivityReminder, *due), Activity: a.ID})
		}
		if !a.OverdueSent && overdue != nil {
			out = append(out, Reminder{Kind: KindActivityOverdue, Due: *overdue, Key: key(KindActivityOverdue, *overdue), Activity: a.ID})
		}
	}
	return out
}

// addMessage adds m to the deal's messages unless one has its key: a
// follow-up adopted as sent (AdoptSent) before the deal fired it again is
// the one that went out, and stays. Keys are otherwise unique.
func (d *Deal) addMessage(m Message) {
	if !slices.ContainsFunc(d.Messages, func(x Message) bool { return x.Key == m.Key }) {
		d.Messages = append(d.Messages, m)
	}
}

// AdoptSent takes messages ApplyChange found sent (ChangeResult.Sent) as
// the deal's, as they went out: each replaces the deal's message of its key
// or joins them.
func (d *Deal) AdoptSent(sent []Message) {
	// A copy: the Change just written shares the old array, and an attempt
	// of ApplyChange that timed out may still read it.
	d.Messages = slices.Clone(d.Messages)
	for _, m := range sent {
		d.takeItemOf(m)
		if i := slices.IndexFunc(d.Messages, func(x Message) bool { return x.Key == m.Key }); i >= 0 {
			d.Messages[i] = m
		} else {
			d.Messages = append(d.Messages, m)
		}
	}
}

// takeItemOf advances the item numbers past the activity an adopted email
// was logged on (its key names it: see addActivity), so the next item does
// not take its id, and a later email its key: the failed task that logged it
// had numbered it, the re-run did not.
func (d *Deal) takeItemOf(m Message) {
	rest, ok := strings.CutPrefix(m.Key, d.ID+"/activity/activity-")
	if !ok || m.Kind != KindActivityEmail {
		return
	}
	var n int
	if _, err := fmt.Sscanf(rest, "%d/email", &n); err == nil && n > d.NextItem {
		d.NextItem = n
	}
}
