package dealrows

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/activities"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// t0 has nanoseconds, as workflow time may: PostgreSQL keeps microseconds.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)

func dec(s string) decimal.Decimal   { return decimal.RequireFromString(s) }
func decp(s string) *decimal.Decimal { d := dec(s); return &d }
func strp(s string) *string          { return &s }
func timep(t time.Time) *time.Time   { return &t }

// applyFunc persists one Change, as the workflow's ApplyChange does, and
// returns what it linked.
type applyFunc func(workflows.Change) workflows.ChangeResult

// fakeApply links the records a qualification creates, writing nothing.
func fakeApply(ch workflows.Change) workflows.ChangeResult {
	if ch.Qualify == nil {
		return workflows.ChangeResult{}
	}
	return workflows.ChangeResult{AccountID: ch.Qualify.NewAccountID, ContactID: ch.Qualify.NewContactID}
}

// stepper drives a deal through the state machine one minute at a time,
// persisting each step through apply as the workflow does.
type stepper struct {
	t     *testing.T
	d     *workflows.Deal
	apply applyFunc
	now   time.Time
}

func newDeal(t *testing.T, id string, apply applyFunc, lead workflows.LeadFields) *stepper {
	s := &stepper{t: t, apply: apply, now: t0}
	s.d = workflows.NewDeal(workflows.NewLead{ID: id, Owner: "rep@example.com", Currency: "EUR", PriceListID: "EU-2026", Lead: lead}, t0)
	s.apply(s.d.Created("rep@example.com", t0))
	return s
}

func (s *stepper) tick() time.Time {
	s.now = s.now.Add(time.Minute + time.Nanosecond)
	return s.now
}

func (s *stepper) do(cmds ...workflows.Command) {
	s.t.Helper()
	for _, cmd := range cmds {
		ch, _, err := s.d.Apply(cmd, s.tick())
		if err != nil {
			s.t.Fatalf("%s: %v", cmd.Action(), err)
		}
		res := s.apply(ch)
		if ch.Qualify != nil {
			s.d.AccountID, s.d.ContactID = res.AccountID, res.ContactID
		}
		s.d.AdoptSent(res.Sent) // as the workflow's commit does
	}
}

// fire sends the pending follow-up of kind.
func (s *stepper) fire(kind string) {
	s.t.Helper()
	for _, r := range s.d.Pending() {
		if r.Kind == kind {
			ch, _ := s.d.Fire(r, s.tick())
			s.d.AdoptSent(s.apply(ch).Sent)
			return
		}
	}
	s.t.Fatalf("no pending %s follow-up", kind)
}

// refuse records a refused action, as the workflow does for a bad signal.
func (s *stepper) refuse(act workflows.Action, reason string) {
	s.d.AdoptSent(s.apply(s.d.Reject(act, "unknown", reason, s.tick())).Sent)
}

var lead = workflows.LeadFields{Topic: "3 engines", FirstName: "Ada", LastName: "Lovelace", Company: "Engines Ltd",
	JobTitle: "CTO", Email: "ada@engines.example", Phone: "+44 20 7946 0000", Source: "Web", Rating: "Warm",
	Budget: decp("25000"), EstimatedValue: decp("21000.00"), PurchaseTimeframe: "This Quarter",
	PurchaseProcess: "Committee", DecisionMakerIdentified: true}

// paidDeal is a deal with a row in every table and a value in every
// nullable column but one (an order both fulfilled and canceled cannot be):
// revised quotes, a refused action, a follow-up, payments with a discount,
// a catalog line with a percentage discount and tax, a quote discount as an
// amount (revision 1) and as a percentage with freight (revision 2).
func paidDeal(t *testing.T, id string, apply applyFunc) *workflows.Deal {
	s := newDeal(t, id, apply, lead)
	for _, step := range paidSteps(s) {
		step()
	}
	if s.d.Stage != workflows.StagePaid || s.d.Invoice.Payments[1].Discount.IsZero() || !s.d.Invoice.Total.Equal(dec("4083.38")) {
		t.Fatalf("fixture: stage %s, total %s, payments %+v: want paid, 4083.38, the last with a discount",
			s.d.Stage, s.d.Invoice.Total, s.d.Invoice.Payments)
	}
	return s.d
}

// paidSteps are paidDeal's steps, one action, refusal or follow-up each, on
// the deal s drives.
func paidSteps(s *stepper) []func() {
	line := func(p, q, price, disc, tax string) workflows.LineInput {
		return workflows.LineInput{Product: p, Quantity: dec(q), UnitPrice: decp(price), Discount: decp(disc), Tax: decp(tax)}
	}
	// 2 × 19.99 = 39.98, less 10 % (4.00) = 35.98, plus 20 % tax (7.20).
	widget := workflows.LineInput{ProductID: "SKU-1", Quantity: dec("2"), DiscountPercent: decp("10"), TaxPercent: decp("20"),
		Catalog: &workflows.CatalogPrice{PriceListID: "EU-2026", Currency: "EUR", ProductID: "SKU-1", Product: "Widget",
			Unit: "each", UnitPrice: dec("19.99")}}
	do := func(cmd workflows.Command) func() { return func() { s.do(cmd) } }
	steps := []func(){
		do(&workflows.EditLead{JobTitle: strp("Chief Engines Officer"), Rating: strp("Hot")}),
		do(&workflows.Qualify{EstimatedCloseDate: timep(t0.Add(60 * 24 * time.Hour))}),
		do(&workflows.EditOpportunity{CustomerNeed: strp("faster engines"), ProposedSolution: strp("difference engine no. 2")}),
		do(&workflows.AddStakeholder{Name: "Charles Babbage", Email: "cb@engines.example", Role: "Decision Maker"}),
		do(&workflows.AddCompetitor{Name: "Jacquard Looms", Strengths: "cheap"}),
		do(&workflows.AddTeamMember{UserID: "presales@example.com", Role: "Presales"}),
		do(&workflows.AddLine{LineInput: line("Engine", "3", "1999.99", "100", "50.25")}),
		do(&workflows.AddLine{LineInput: line("Installation", "1", "15000", "0", "0")}),
		do(&workflows.Propose{Name: "Engines offer", PaymentTerms: "2% 10, Net 30", Charges: workflows.Charges{Discount: decp("500")}}),
		do(&workflows.ActivateQuote{Revision: 1}),
		do(&workflows.ReviseQuote{Revision: 1}),
		// Detail 4235.98, less 5 % (211.80), freight 10, tax 49.20: 4083.38.
		do(&workflows.EditQuote{Revision: 2, Lines: &[]workflows.LineInput{line("Engine", "2", "2100", "0", "42"), widget},
			Charges: workflows.Charges{DiscountPercent: decp("5"), Freight: decp("10")}}),
		do(&workflows.ActivateQuote{Revision: 2}),
		do(&workflows.Close{Outcome: "won", ActualRevenue: decp("4242.00"), Note: "signed", CloseDate: timep(t0)}),
		do(&workflows.FulfillOrder{}),
		func() { s.refuse(workflows.ActCancelOrder, "cancel_order is not allowed in stage Invoice") },
		func() { s.fire(workflows.KindInvoiceDue) },
		do(&workflows.RecordPayment{Amount: dec("1000")}),
		func() {
			s.do(&workflows.RecordPayment{Amount: s.d.AmountDue(s.now.Add(time.Minute + time.Nanosecond))})
		},
	}
	for i := range dealActivities(t0) {
		steps = append(steps, func() { s.do(dealActivities(s.now)[i]) })
	}
	return append(steps,
		func() { s.do(&workflows.CompleteActivity{ID: s.d.Activities[1].ID, Outcome: "sent"}) },
		func() { s.do(&workflows.CancelActivity{ID: s.d.Activities[5].ID}) },
		func() { s.fire(workflows.KindActivityReminder) }, // the appointment's
		func() { s.fire(workflows.KindThankYou) })
}

// dealActivities are one activity of each type, with a value in every field
// of its type: a call completed, an email sent, a task and an appointment
// open, a note (complete as written), and a call to cancel.
func dealActivities(now time.Time) []workflows.Command {
	rep := workflows.Actor{Actor: "rep@example.com"}
	f := func(subject string) workflows.ActivityFields { return workflows.ActivityFields{Subject: strp(subject)} }
	call, task, email, meeting := f("First call"), f("Send the brochure"), f("Hello"), f("Demo")
	call.Direction, call.PhoneNumber, call.Description = strp("outgoing"), strp("+44 20 7946 0000"), strp("asked for a demo")
	task.DueAt, task.Priority, task.Owner = timep(now.Add(48*time.Hour)), strp("high"), strp("presales@example.com")
	email.To, email.Description = strp("ada@engines.example"), strp("Dear Ada, ...")
	meeting.StartAt, meeting.EndAt, meeting.Location = timep(now.Add(72*time.Hour)), timep(now.Add(73*time.Hour)), strp("Room 1")
	meeting.Attendees = &[]string{"ada@engines.example", "Charles Babbage"}
	return []workflows.Command{
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityPhoneCall, ActivityFields: call, Completed: true, Outcome: "demo next week"},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityTask, ActivityFields: task},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityEmail, ActivityFields: email, Send: true},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityAppointment, ActivityFields: meeting},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityNote, ActivityFields: workflows.ActivityFields{Description: strp("likes tea")}},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityPhoneCall, ActivityFields: f("Call back")},
	}
}

// tables returns the Rows fields, for tests that go over every table.
func tables() []reflect.StructField { return reflect.VisibleFields(reflect.TypeFor[Rows]()) }

// mutate changes v (one column's value) to a different value of its type.
func mutate(t *testing.T, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Pointer {
		if !v.IsNil() {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		v = v.Elem()
	}
	switch x := v.Addr().Interface().(type) {
	case *decimal.Decimal:
		*x = x.Add(dec("0.01"))
	case *time.Time:
		*x = x.Add(time.Microsecond)
	case *string:
		*x += "~"
	case *int:
		*x += 1000 // past every position and seq, so a key changed names no other row
	case *bool:
		*x = !*x
	case *[]string:
		*x = append(slices.Clone(*x), "~")
	default:
		t.Fatalf("no mutation for %T", x)
	}
}

// TestDiffCatchesEveryColumn changes one column of one row at a time, in
// every row of every table of a deal's expected rows, and wants Diff to
// report exactly that: the column changed (or, for a key column, the row
// gone and another in its place). Only the outbox's delivery columns, which
// the state does not hold, may change unreported.
func TestDiffCatchesEveryColumn(t *testing.T) {
	want := Want(paidDeal(t, "d1", fakeApply))
	if diffs := Diff(want, want); len(diffs) > 0 {
		t.Fatalf("the state differs from itself: %v", diffs)
	}
	var notCompared []string
	for _, table := range tables() {
		rows := reflect.ValueOf(want).FieldByIndex(table.Index)
		if rows.Len() == 0 {
			t.Errorf("%s: the fixture has no rows, so nothing of it is tested", table.Name)
			continue
		}
		for i := range rows.Len() {
			for _, c := range columns(rows.Type().Elem()) {
				got := want
				copied := reflect.AppendSlice(reflect.MakeSlice(rows.Type(), 0, rows.Len()), rows)
				reflect.ValueOf(&got).Elem().FieldByIndex(table.Index).Set(copied)
				row := copied.Index(i)
				before := row.Interface().(record).key()
				mutate(t, row.FieldByIndex(c.index))
				after := row.Interface().(record).key()

				diffs := Diff(want, got)
				where := table.Name + "[" + before + "]." + c.name
				switch {
				case !c.fromState:
					if i == 0 {
						notCompared = append(notCompared, table.Name+"."+c.name)
					}
					if len(diffs) > 0 {
						t.Errorf("%s is not the state's, yet reported: %v", where, diffs)
					}
				case before != after:
					if len(diffs) != 2 || diffs[0].Kind != Missing || diffs[0].Record != before ||
						diffs[1].Kind != Extra || diffs[1].Record != after {
						t.Errorf("%s (a key) changed: got %v, want %s missing and %s extra", where, diffs, before, after)
					}
				default:
					if len(diffs) != 1 || diffs[0].Kind != Changed || diffs[0].Record != before || diffs[0].Column != c.name ||
						diffs[0].PG == diffs[0].State || !strings.Contains(diffs[0].String(), " "+c.name+" ") {
						t.Errorf("%s changed: got %v, want that one column reported", where, diffs)
					}
				}
			}
		}
	}
	if want := []string{"Messages.sent_at", "Messages.delivery", "Messages.error"}; !slices.Equal(notCompared, want) {
		t.Errorf("columns not compared with the state: %v, want %v", notCompared, want)
	}
}

// TestDiffReports checks what Diff tolerates (the representation PostgreSQL
// chooses, what the state does not know) and how it words the rest.
func TestDiffReports(t *testing.T) {
	state := Want(paidDeal(t, "d1", fakeApply))
	cases := []struct {
		name  string
		edit  func(want, got *Rows)
		wants []string // the differences' texts; none when tolerated
	}{
		{"decimal scale", func(_, got *Rows) { got.QuoteLines[2].UnitPrice = dec("2100.000") }, nil},
		{"nanoseconds", func(_, got *Rows) { got.Invoices[0].DueDate = pgTime(got.Invoices[0].DueDate) }, nil},
		{"linked account", func(want, got *Rows) {
			want.Accounts[0] = Account{ID: want.Accounts[0].ID, linked: true}
			got.Accounts[0].Name = "someone else's"
		}, nil},
		{"unit price", func(_, got *Rows) { got.QuoteLines[2].UnitPrice = dec("2110") },
			[]string{"quote QUO-d1-2 line 1 unit_price 2110 in PostgreSQL, 2100 in the state"}},
		{"due date", func(_, got *Rows) { got.Invoices[0].DueDate = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC) },
			[]string{"invoice INV-d1 due_date 2026-04-01T00:00:00Z in PostgreSQL, 2026-04-01T09:15:00.123456804Z in the state"}},
		{"contact of the lead", func(_, got *Rows) { got.Leads[0].ContactID = nil },
			[]string{`lead row contact_id NULL in PostgreSQL, "CON-d1" in the state`}},
		{"payment too many", func(_, got *Rows) {
			got.Payments = append(got.Payments, Payment{InvoiceID: "INV-d1", Seq: 3, Amount: dec("5"), PaidAt: t0})
		}, []string{`invoice INV-d1 payment 3 is in PostgreSQL but not in the state (invoice_id "INV-d1", seq 3, amount 5, discount 0, paid_at 2026-03-02T09:00:00.123456789Z)`}},
		{"quote line lost", func(_, got *Rows) { got.QuoteLines = got.QuoteLines[1:] },
			[]string{`quote QUO-d1-1 line 1 is in the state but not in PostgreSQL (quote_id "QUO-d1-1", pos 1, line_id "line-4", product "Engine", quantity 3, unit_price 1999.99, discount 100, tax 50.25, amount 5950.22, product_id "", unit "", price_list_id "", discount_percent NULL, tax_percent NULL, base_amount 5999.97)`}},
		{"percentage cleared", func(_, got *Rows) { got.InvoiceLines[1].TaxPercent = nil },
			[]string{"invoice INV-d1 line 2 tax_percent NULL in PostgreSQL, 20 in the state"}},
		{"freight", func(_, got *Rows) { got.Orders[0].FreightAmount = dec("10.01") },
			[]string{"order ORD-d1 freight_amount 10.01 in PostgreSQL, 10 in the state"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, got := cloneRows(state), cloneRows(state)
			c.edit(&want, &got)
			var texts []string
			for _, d := range Diff(want, got) {
				texts = append(texts, d.String())
			}
			if !slices.Equal(texts, c.wants) {
				t.Errorf("differences:\n  %s\nwant:\n  %s", strings.Join(texts, "\n  "), strings.Join(c.wants, "\n  "))
			}
		})
	}
}

// TestDiffPGTime: a difference says when PostgreSQL's side was written, when
// the row tells: the crash test matches it with the workflow tasks that did
// not complete.
func TestDiffPGTime(t *testing.T) {
	state := Want(paidDeal(t, "d1", fakeApply))
	early := t0.Add(-time.Hour)
	cases := []struct {
		name string
		edit func(got *Rows)
		want time.Time
	}{
		{"message written earlier", func(got *Rows) { got.Messages[0].CreatedAt = early }, early},
		{"payment too many", func(got *Rows) {
			got.Payments = append(got.Payments, Payment{InvoiceID: "INV-d1", Seq: 3, Amount: dec("5"), PaidAt: early})
		}, early},
		{"nullable time set", func(got *Rows) { got.Orders[0].CanceledAt = &early }, early},
		{"nullable time cleared", func(got *Rows) { got.Invoices[0].PaidAt = nil }, time.Time{}},
		{"not a time", func(got *Rows) { got.Messages[0].Body += "!" }, time.Time{}},
		{"extra row without a time", func(got *Rows) {
			got.QuoteLines = append(got.QuoteLines, QuoteLine{QuoteID: "QUO-d1-2", Line: Line{Pos: 9}})
		}, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cloneRows(state)
			c.edit(&got)
			diffs := Diff(state, got)
			if len(diffs) != 1 {
				t.Fatalf("differences %v, want one", diffs)
			}
			if !diffs[0].PGTime.Equal(c.want) {
				t.Errorf("%s: written at %v, want %v", diffs[0], diffs[0].PGTime, c.want)
			}
		})
	}
}

// cloneRows copies every table, so a test can edit one side.
func cloneRows(r Rows) Rows {
	out := r
	v := reflect.ValueOf(&out).Elem()
	for _, f := range tables() {
		s := v.FieldByIndex(f.Index)
		s.Set(reflect.AppendSlice(reflect.MakeSlice(s.Type(), 0, s.Len()), s))
	}
	return out
}

// writeDeals persists a paid deal, a second deal of the same company and
// contact that links the first one's account and contact, and a lead
// contacted by a call with a task open, through the worker's own
// ApplyChange.
func writeDeals(t *testing.T, ctx context.Context, acts *activities.Activities) map[string]*workflows.Deal {
	apply := func(ch workflows.Change) workflows.ChangeResult {
		res, err := acts.ApplyChange(ctx, ch)
		if err != nil {
			t.Fatalf("apply %s of %s: %v", ch.Event.Action, ch.Deal.ID, err)
		}
		return res
	}
	paid := paidDeal(t, "d1", apply)
	// Want tells the records a deal created from those it links by their
	// ids: the ones the writer created must be recognised as d1's own, or
	// their columns would go unchecked.
	if w := Want(paid); w.Accounts[0].linked || w.Contacts[0].linked {
		t.Fatalf("d1's account %s and contact %s taken for linked ones: NewAccountID and NewContactID no longer match the workflow's ids",
			paid.AccountID, paid.ContactID)
	}
	s := newDeal(t, "d2", apply, lead)
	s.do(&workflows.Qualify{})
	if s.d.AccountID != paid.AccountID || s.d.ContactID != paid.ContactID {
		t.Fatalf("d2 links %s and %s, want d1's %s and %s", s.d.AccountID, s.d.ContactID, paid.AccountID, paid.ContactID)
	}
	l := newDeal(t, "d3", apply, lead)
	rep := workflows.Actor{Actor: "rep@example.com"}
	l.do(&workflows.AddActivity{Actor: rep, Type: workflows.ActivityPhoneCall, Completed: true,
		ActivityFields: workflows.ActivityFields{Subject: strp("First call")}},
		&workflows.AddActivity{Actor: rep, Type: workflows.ActivityTask,
			ActivityFields: workflows.ActivityFields{Subject: strp("Call back"), DueAt: timep(t0.Add(30 * time.Hour))}})
	if l.d.Lead.StatusReason != workflows.LeadContacted {
		t.Fatalf("d3's status reason %q after a completed call", l.d.Lead.StatusReason)
	}
	return map[string]*workflows.Deal{paid.ID: paid, s.d.ID: s.d, l.d.ID: l.d}
}

// TestLoadEqualsWant: the rows the worker's writer leaves are the state's,
// read through the same Load the crash test uses (numeric, timestamptz,
// NULLs and the embedded line columns scanned as Diff expects them).
func TestLoadEqualsWant(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	for _, d := range writeDeals(t, ctx, activities.New(pool, nil, nil)) {
		got, err := Load(ctx, pool, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diffs := Diff(Want(d), got); len(diffs) > 0 {
			t.Errorf("deal %s: PostgreSQL differs from the state:\n  %s", d.ID, joinDiffs(diffs))
		}
	}
}

// TestDiffFindsCorruptRows corrupts one row of the written deal at a time,
// inside a transaction it rolls back, and wants the verifier to name it.
func TestDiffFindsCorruptRows(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	deals := writeDeals(t, ctx, activities.New(pool, nil, nil))
	cases := []struct{ sql, want string }{ // of deal d1, unless the statement names d2 or d3
		{`UPDATE leads SET value = value + 1 WHERE id = 'd1'`, "lead row value 4243 in PostgreSQL, 4242 in the state"},
		{`UPDATE leads SET account_id = NULL WHERE id = 'd1'`, "lead row account_id NULL in PostgreSQL"},
		{`UPDATE accounts SET name = 'Engines Inc' WHERE id = 'ACC-d1'`, `account ACC-d1 name "Engines Inc" in PostgreSQL, "Engines Ltd" in the state`},
		{`UPDATE contacts SET phone = '' WHERE id = 'CON-d1'`, `contact CON-d1 phone "" in PostgreSQL`},
		{`UPDATE opportunities SET probability = 40`, "opportunity OPP-d1 probability 40 in PostgreSQL, 70 in the state"},
		{`UPDATE opportunity_stakeholders SET role = 'Champion'`, `opportunity OPP-d1 stakeholder 1 role "Champion" in PostgreSQL`},
		{`UPDATE opportunity_competitors SET strengths = ''`, `opportunity OPP-d1 competitor 1 strengths "" in PostgreSQL, "cheap" in the state`},
		{`DELETE FROM opportunity_team`, "opportunity OPP-d1 team member 1 is in the state but not in PostgreSQL"},
		{`UPDATE opportunity_lines SET tax = 50.26 WHERE pos = 1`, "opportunity OPP-d1 line 1 tax 50.26 in PostgreSQL, 50.25 in the state"},
		{`UPDATE quotes SET status_reason = '' WHERE revision = 1`, `quote QUO-d1-1 status_reason "" in PostgreSQL, "Revised" in the state`},
		{`UPDATE quotes SET effective_to = NULL WHERE revision = 2`, "quote QUO-d1-2 effective_to NULL in PostgreSQL"},
		{`UPDATE quote_lines SET unit_price = 2110 WHERE quote_id = 'QUO-d1-2' AND pos = 1`, "quote QUO-d1-2 line 1 unit_price 2110 in PostgreSQL, 2100 in the state"},
		{`INSERT INTO quote_lines SELECT quote_id, 3, 'qline-3', product, quantity, unit_price, discount, tax, amount,
			product_id, unit, price_list_id, discount_percent, tax_percent, base_amount FROM quote_lines WHERE quote_id = 'QUO-d1-2' AND pos = 1`,
			"quote QUO-d1-2 line 3 is in PostgreSQL but not in the state"},
		{`UPDATE quote_lines SET product_id = '' WHERE quote_id = 'QUO-d1-2' AND pos = 2`, `quote QUO-d1-2 line 2 product_id "" in PostgreSQL, "SKU-1" in the state`},
		{`UPDATE quotes SET discount_amount = 0 WHERE revision = 1`, "quote QUO-d1-1 discount_amount 0 in PostgreSQL, 500 in the state"},
		{`UPDATE quotes SET discount_percent = NULL WHERE revision = 2`, "quote QUO-d1-2 discount_percent NULL in PostgreSQL, 5 in the state"},
		{`UPDATE orders SET total = total - 0.01`, "order ORD-d1 total 4083.37 in PostgreSQL, 4083.38 in the state"},
		{`UPDATE orders SET price_list_id = ''`, `order ORD-d1 price_list_id "" in PostgreSQL, "EU-2026" in the state`},
		{`UPDATE order_lines SET discount = 1 WHERE pos = 1`, "order ORD-d1 line 1 discount 1 in PostgreSQL, 0 in the state"},
		{`UPDATE order_lines SET unit = 'hour' WHERE pos = 2`, `order ORD-d1 line 2 unit "hour" in PostgreSQL, "each" in the state`},
		{`UPDATE invoices SET due_date = due_date + interval '1 day'`, "invoice INV-d1 due_date"},
		{`UPDATE invoices SET detail_amount = 4235.99`, "invoice INV-d1 detail_amount 4235.99 in PostgreSQL, 4235.98 in the state"},
		{`UPDATE invoices SET pre_freight_amount = 4024.17`, "invoice INV-d1 pre_freight_amount 4024.17 in PostgreSQL, 4024.18 in the state"},
		{`UPDATE invoices SET total_tax = 49.2 + 0.001`, "invoice INV-d1 total_tax 49.201 in PostgreSQL, 49.2 in the state"},
		{`UPDATE invoice_lines SET amount = 0 WHERE pos = 1`, "invoice INV-d1 line 1 amount 0 in PostgreSQL, 4242 in the state"},
		{`UPDATE invoice_lines SET base_amount = 39.97 WHERE pos = 2`, "invoice INV-d1 line 2 base_amount 39.97 in PostgreSQL, 39.98 in the state"},
		{`UPDATE invoice_lines SET discount_percent = 11 WHERE pos = 2`, "invoice INV-d1 line 2 discount_percent 11 in PostgreSQL, 10 in the state"},
		{`UPDATE opportunity_lines SET price_list_id = 'X' WHERE pos = 1`, `opportunity OPP-d1 line 1 price_list_id "X" in PostgreSQL, "" in the state`},
		{`UPDATE leads SET price_list_id = '' WHERE id = 'd1'`, `lead row price_list_id "" in PostgreSQL, "EU-2026" in the state`},
		{`UPDATE invoice_payments SET discount = 0 WHERE seq = 2`, "invoice INV-d1 payment 2 discount 0 in PostgreSQL"},
		{`INSERT INTO invoice_payments SELECT invoice_id, 3, amount, 0, paid_at FROM invoice_payments WHERE seq = 1`,
			"invoice INV-d1 payment 3 is in PostgreSQL but not in the state"},
		{`UPDATE messages SET recipient = 'rep@example.com' WHERE kind = 'thank_you'`, `message d1/thank_you recipient "rep@example.com" in PostgreSQL, "ada@engines.example" in the state`},
		{`UPDATE deal_events SET accepted = true WHERE lead_id = 'd1' AND NOT accepted`, "accepted true in PostgreSQL, false in the state"},
		{`INSERT INTO accounts VALUES ('ACC-d2', 'Engines Ltd (2)', now())`, "account ACC-d2 is in PostgreSQL but not in the state"},
		{`UPDATE opportunities SET actual_close_date = NULL WHERE lead_id = 'd1'`, "opportunity OPP-d1 actual_close_date NULL in PostgreSQL"},
		{`UPDATE activities SET status = 'open' WHERE lead_id = 'd1' AND id = 'activity-6'`, `status "open" in PostgreSQL, "completed" in the state`},
		{`UPDATE activities SET attendees = '{}' WHERE lead_id = 'd1' AND type = 'appointment'`, `attendees [] in PostgreSQL, ["ada@engines.example" "Charles Babbage"] in the state`},
		{`UPDATE activities SET "to" = 'x@example.com' WHERE lead_id = 'd1' AND type = 'email'`, `activity activity-8 to "x@example.com" in PostgreSQL, "ada@engines.example" in the state`},
		{`DELETE FROM activities WHERE lead_id = 'd1' AND type = 'note'`, "is in the state but not in PostgreSQL"},
		{`UPDATE activities SET due_at = due_at + interval '1 hour' WHERE lead_id = 'd3'`, "due_at"},
		{`UPDATE leads SET status_reason = 'New' WHERE id = 'd3'`, `lead row status_reason "New" in PostgreSQL, "Contacted" in the state`},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			d := deals["d1"]
			for _, id := range []string{"d2", "d3"} {
				if strings.Contains(c.sql, id) {
					d = deals[id]
				}
			}
			got, err := Load(ctx, tx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			diffs := Diff(Want(d), got)
			if len(diffs) != 1 || !strings.Contains(diffs[0].String(), c.want) {
				t.Errorf("differences:\n  %s\nwant one naming %q", joinDiffs(diffs), c.want)
			}
		})
	}
}

func joinDiffs(diffs []Difference) string {
	s := make([]string, len(diffs))
	for i, d := range diffs {
		s[i] = d.String()
	}
	return strings.Join(s, "\n  ")
}
