package activities_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"dealflow/activities"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	t0      = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	sentAt  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	dec     = decimal.RequireFromString
	decp    = func(s string) *decimal.Decimal { d := dec(s); return &d }
	timep   = func(t time.Time) *time.Time { return &t }
	atHours = func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
)

// countingMailer stands in for the SMTP server at the Mailer boundary: it
// counts deliveries per key, and can fail the first attempts.
type countingMailer struct {
	mu    sync.Mutex
	sent  map[string]int
	fail  int // transient failures still to return
	delay time.Duration
}

func (m *countingMailer) Send(_ context.Context, msg workflows.Message) (string, error) {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return "", errors.New("mail server down")
	}
	if m.sent == nil {
		m.sent = map[string]int{}
	}
	m.sent[msg.Key]++
	return activities.DeliverySMTP, nil
}

func (m *countingMailer) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[key]
}

func newActivities(t *testing.T, pool *pgxpool.Pool, mailer activities.Mailer) *activities.Activities {
	a := activities.New(pool, mailer, nil)
	a.Now = func() time.Time { return sentAt }
	return a
}

// dump returns every table's rows as sorted JSON lines.
func dump(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tbl := range tables {
		var s string
		q := fmt.Sprintf(`SELECT coalesce(string_agg(j, E'\n' ORDER BY j), '') FROM (SELECT row_to_json(t)::text AS j FROM %s t) x`,
			pgx.Identifier{tbl}.Sanitize())
		if err := pool.QueryRow(ctx, q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[tbl] = s
	}
	return out
}

func sameDump(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			t.Fatalf("%s: table %s differs\nfirst:\n%s\nsecond:\n%s", what, k, a[k], b[k])
		}
	}
}

// apply runs ch twice, as a retry would, and checks the second run changed
// nothing and reported the same result.
func apply(t *testing.T, a *activities.Activities, ch workflows.Change) workflows.ChangeResult {
	t.Helper()
	ctx := context.Background()
	r1, err := a.ApplyChange(ctx, ch)
	if err != nil {
		t.Fatalf("%s: %v", ch.Event.Action, err)
	}
	before := dump(t, a.Pool)
	r2, err := a.ApplyChange(ctx, ch)
	if err != nil {
		t.Fatalf("%s (again): %v", ch.Event.Action, err)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("%s: result %+v, then %+v", ch.Event.Action, r1, r2)
	}
	sameDump(t, ch.Event.Action+" applied twice", before, dump(t, a.Pool))
	return r1
}

// deal builds the Changes of one deal, step by step, the way the workflow
// would: the header and lead are always there, the records a step touches
// are full snapshots.
type deal struct {
	id, company, email string
	seq                int
	d                  workflows.DealHeader
	l                  workflows.Lead
}

func newDeal(id, company, email string) *deal {
	return &deal{id: id, company: company, email: email,
		d: workflows.DealHeader{ID: id, Owner: "rep1", Stage: workflows.StageQualify, Status: workflows.StatusOpen,
			Currency: "EUR", Customer: company, Value: dec("5000"), CreatedAt: t0, StageEnteredAt: t0},
		l: workflows.Lead{Topic: "Fleet telematics", FirstName: "Ann", LastName: "Lee", Company: company,
			JobTitle: "CTO", Email: email, Phone: "+49 30 1234", Source: "Web", Rating: "Warm",
			Budget: dec("12000.50"), EstimatedValue: dec("5000"), PurchaseTimeframe: "This Quarter",
			DecisionMakerIdentified: true, Status: "Open"},
	}
}

func (x *deal) change(action string) workflows.Change {
	x.seq++
	at := atHours(x.seq)
	return workflows.Change{Deal: x.d, Lead: x.l,
		Event: workflows.Event{Seq: x.seq, At: at, Actor: "rep1", Action: action, Accepted: true, Detail: action + " done", Stage: x.d.Stage}}
}

func (x *deal) enter(s workflows.Stage) {
	x.d.Stage, x.d.StageEnteredAt = s, atHours(x.seq+1)
}

func (x *deal) qualify() workflows.Change {
	x.l.Status = "Qualified"
	x.enter(workflows.StageDevelop)
	ch := x.change("qualify")
	ch.Qualify = &workflows.QualifyRecord{AccountName: x.company, NewAccountID: "ACC-" + x.id, NewContactID: "CON-" + x.id,
		FirstName: x.l.FirstName, LastName: x.l.LastName, Email: x.email, Phone: x.l.Phone, JobTitle: x.l.JobTitle}
	ch.Opportunity = &workflows.Opportunity{ID: "OPP-" + x.id, Name: x.l.Topic, Status: "Open", Probability: 40,
		RevenueOverride: decp("5000"), EstimatedCloseDate: timep(t0.AddDate(0, 2, 0))}
	return ch
}

// lines carry more decimals than any currency: the database must keep what
// the workflow computed, never round it.
var lines = exact([]workflows.Line{
	{ID: "line-1", Product: "Telematics unit", Quantity: dec("3"), UnitPrice: dec("19.99"), Discount: dec("5"), Tax: dec("1.234")},
	{ID: "line-2", Product: "Installation", Quantity: dec("1.5"), UnitPrice: dec("0.3333"), Discount: dec("0"), Tax: dec("0")},
})

// exact computes the lines' amounts without rounding.
func exact(ls []workflows.Line) []workflows.Line {
	workflows.Price(ls, workflows.QuoteSummary{}, func(v decimal.Decimal) decimal.Decimal { return v })
	return ls
}

func row[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestLeadToPaid applies every step of a deal from lead to paid invoice, each
// twice, and checks the rows.
func TestLeadToPaid(t *testing.T) {
	pool := testenv.Pool(t)
	mailer := &countingMailer{}
	a := newActivities(t, pool, mailer)
	x := newDeal("L1", "Contoso Ltd", "ann@contoso.example")

	apply(t, a, x.change("create"))
	if got := row[string](t, pool, `SELECT stage || '/' || status || '/' || lead_status || '/' || budget::text FROM leads WHERE id = 'L1'`); got != "Qualify/open/Open/12000.5" {
		t.Fatalf("lead %s", got)
	}

	res := apply(t, a, x.qualify())
	if !reflect.DeepEqual(res, workflows.ChangeResult{AccountID: "ACC-L1", ContactID: "CON-L1"}) {
		t.Fatalf("qualify result %+v", res)
	}
	x.d.AccountID, x.d.ContactID = res.AccountID, res.ContactID
	if got := row[string](t, pool, `SELECT account_id || '/' || contact_id || '/' || lead_status FROM leads WHERE id = 'L1'`); got != "ACC-L1/CON-L1/Qualified" {
		t.Fatalf("lead links %s", got)
	}
	if got := row[string](t, pool, `SELECT name || '/' || account_id FROM accounts a JOIN contacts c ON c.account_id = a.id WHERE c.id = 'CON-L1'`); got != "Contoso Ltd/ACC-L1" {
		t.Fatalf("account %s", got)
	}

	// A second lead for the same company (other case, other contact) links
	// the same account; a third with no company but the first contact's
	// email links that contact and its account.
	y := newDeal("L2", "CONTOSO LTD", "bob@contoso.example")
	apply(t, a, y.change("create"))
	if res := apply(t, a, y.qualify()); !reflect.DeepEqual(res, workflows.ChangeResult{AccountID: "ACC-L1", ContactID: "CON-L2"}) {
		t.Fatalf("second lead: %+v", res)
	}
	z := newDeal("L3", "", "ANN@contoso.example")
	apply(t, a, z.change("create"))
	if res := apply(t, a, z.qualify()); !reflect.DeepEqual(res, workflows.ChangeResult{AccountID: "ACC-L1", ContactID: "CON-L1"}) {
		t.Fatalf("lead by contact email: %+v", res)
	}
	if n := row[int](t, pool, `SELECT count(*) FROM accounts`); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}

	// Develop: details, stakeholders, competitors, team, lines.
	opp := &workflows.Opportunity{ID: "OPP-L1", Name: "Fleet telematics", Status: "Open", Probability: 40,
		CustomerNeed: "Track 40 vans", ProposedSolution: "Units plus installation",
		EstimatedCloseDate: timep(t0.AddDate(0, 2, 0)),
		Stakeholders: []workflows.Stakeholder{
			{ID: "stk-3", Name: "Dana Fox", Email: "dana@contoso.example", Role: "Decision Maker"},
			{ID: "stk-4", Name: "Eli Park", Role: "Champion"},
		},
		Competitors: []workflows.Competitor{{ID: "cmp-5", Name: "Fabrikam", Strengths: "price"}},
		Team:        []workflows.TeamMember{{ID: "tm-6", UserID: "rep2", Role: "Technical"}},
		Lines:       lines,
	}
	x.d.Value = workflows.Total(lines)
	ch := x.change("develop")
	ch.Opportunity = opp
	apply(t, a, ch)
	if got := row[string](t, pool, `SELECT string_agg(amount::text, ',' ORDER BY pos) FROM opportunity_lines WHERE opportunity_id = 'OPP-L1'`); got != "56.204,0.49995" {
		t.Fatalf("line amounts %s (must be exact)", got)
	}
	if got := row[string](t, pool, `SELECT estimated_revenue::text FROM opportunities WHERE id = 'OPP-L1'`); got != "56.70395" {
		t.Fatalf("estimated revenue %s", got)
	}
	// The snapshot replaces the child rows: one stakeholder removed.
	opp2 := *opp
	opp2.Stakeholders = opp.Stakeholders[:1]
	ch = x.change("remove stakeholder")
	ch.Opportunity = &opp2
	apply(t, a, ch)
	if n := row[int](t, pool, `SELECT count(*) FROM opportunity_stakeholders`); n != 1 {
		t.Fatalf("%d stakeholders, want 1", n)
	}
	if n := row[int](t, pool, `SELECT count(*) FROM opportunity_team WHERE user_id = 'rep2'`); n != 1 {
		t.Fatal("team member missing")
	}

	// Propose: quote revision 1 drafted and presented, then revised into 2.
	x.enter(workflows.StagePropose)
	q1 := workflows.Quote{ID: "Q-L1-1", Revision: 1, Name: "Fleet telematics", Status: workflows.QuoteDraft,
		Lines: lines, Total: workflows.Total(lines), PaymentTerms: "Net 30", CreatedAt: atHours(10)}
	ch = x.change("create quote")
	ch.Quotes = []workflows.Quote{q1}
	apply(t, a, ch)
	q1.Status, q1.ActivatedAt = workflows.QuoteActive, timep(atHours(11))
	q1.EffectiveFrom, q1.EffectiveTo = timep(atHours(11)), timep(atHours(11+24*30))
	x.enter(workflows.StageClose)
	ch = x.change("activate quote")
	ch.Quotes = []workflows.Quote{q1}
	apply(t, a, ch)
	q1.Status, q1.StatusReason, q1.ClosedAt = workflows.QuoteClosed, workflows.QuoteReasonRevised, timep(atHours(12))
	lines2 := exact(append(slices.Clone(lines), workflows.Line{ID: "line-9", Product: "Support", Quantity: dec("12"), UnitPrice: dec("10"), Discount: dec("0"), Tax: dec("0")}))
	q2 := workflows.Quote{ID: "Q-L1-2", Revision: 2, Name: "Fleet telematics", Status: workflows.QuoteDraft,
		Lines: lines2, Total: workflows.Total(lines2), PaymentTerms: "Net 30", CreatedAt: atHours(12)}
	x.enter(workflows.StagePropose)
	ch = x.change("revise quote")
	ch.Quotes = []workflows.Quote{q1, q2}
	apply(t, a, ch)
	q2.Status, q2.ActivatedAt = workflows.QuoteActive, timep(atHours(13))
	x.enter(workflows.StageClose)
	ch = x.change("activate quote")
	ch.Quotes = []workflows.Quote{q2}
	apply(t, a, ch)
	if got := row[string](t, pool, `SELECT string_agg(revision || ':' || status || ':' || status_reason || ':' || total::text, ',' ORDER BY revision) FROM quotes WHERE lead_id = 'L1'`); got != "1:Closed:Revised:56.70395,2:Active::176.70395" {
		t.Fatalf("quotes %s", got)
	}
	if n := row[int](t, pool, `SELECT count(*) FROM quote_lines WHERE quote_id = 'Q-L1-2'`); n != 3 {
		t.Fatalf("%d lines on revision 2", n)
	}

	// Close won: quote won, opportunity won, order created; then fulfilled.
	q2.Status, q2.ClosedAt = workflows.QuoteWon, timep(atHours(14))
	won := opp2
	won.Status, won.ActualRevenue, won.ClosedAt = "Won", decp("176.70395"), timep(atHours(14))
	order := workflows.Order{ID: "ORD-L1", QuoteID: "Q-L1-2", Lines: lines2, Total: q2.Total, PaymentTerms: "Net 30",
		Status: workflows.OrderActive, CreatedAt: atHours(14)}
	x.enter(workflows.StageOrder)
	x.d.Value = q2.Total
	ch = x.change("close won")
	ch.Quotes, ch.Opportunity, ch.Order = []workflows.Quote{q2}, &won, &order
	apply(t, a, ch)
	order.Status, order.FulfilledAt = workflows.OrderInvoiced, timep(atHours(15)) // as the workflow fulfils an order
	invoice := workflows.Invoice{ID: "INV-L1", OrderID: "ORD-L1", Lines: lines2, Total: order.Total, PaidAmount: dec("0"),
		PaymentTerms: "Net 30", DueDate: atHours(15 + 24*30), Status: workflows.InvoiceActive, CreatedAt: atHours(15)}
	x.enter(workflows.StageInvoice)
	ch = x.change("fulfill")
	ch.Order, ch.Invoice = &order, &invoice
	apply(t, a, ch)

	// Two partial payments settle the invoice.
	invoice.Payments = []workflows.Payment{{Seq: 1, Amount: dec("100.5"), At: atHours(16), Discount: dec("0")}}
	invoice.PaidAmount = dec("100.5")
	ch = x.change("mark paid")
	ch.Invoice = &invoice
	apply(t, a, ch)
	invoice.Payments = append(slices.Clone(invoice.Payments), workflows.Payment{Seq: 2, Amount: dec("76.20395"), At: atHours(17), Discount: dec("0")})
	invoice.PaidAmount, invoice.Status, invoice.PaidAt = invoice.Total, workflows.InvoicePaid, timep(atHours(17))
	x.enter(workflows.StagePaid)
	x.d.Status, x.d.ClosedAt = workflows.StatusWon, timep(atHours(17))
	ch = x.change("mark paid")
	ch.Invoice = &invoice
	ch.Messages = []workflows.Message{{Key: "L1/thankyou", Kind: "thankyou", Recipient: "ann@contoso.example",
		Subject: "Thank you for your order", Body: "Dear Ann Lee, thank you.", At: atHours(17)}}
	apply(t, a, ch)

	checks := map[string]string{
		`SELECT stage || '/' || status || '/' || value::text || '/' || (closed_at AT TIME ZONE 'UTC')::text FROM leads WHERE id = 'L1'`:                        "Paid/won/176.70395/2026-02-03 02:00:00",
		`SELECT status || '/' || paid_amount::text || '/' || total::text FROM invoices WHERE lead_id = 'L1'`:                                                   "Paid/176.70395/176.70395",
		`SELECT string_agg(seq || ':' || amount::text, ',' ORDER BY seq) FROM invoice_payments WHERE invoice_id = 'INV-L1'`:                                    "1:100.5,2:76.20395",
		`SELECT status || '/' || quote_id FROM orders WHERE lead_id = 'L1'`:                                                                                    "Invoiced/Q-L1-2",
		`SELECT status || '/' || actual_revenue::text FROM opportunities WHERE lead_id = 'L1'`:                                                                 "Won/176.70395",
		`SELECT string_agg(revision || ':' || status, ',' ORDER BY revision) FROM quotes WHERE lead_id = 'L1'`:                                                 "1:Closed,2:Won",
		`SELECT count(*)::text FROM invoice_lines WHERE invoice_id = 'INV-L1'`:                                                                                 "3",
		`SELECT count(*)::text || '/' || max(seq)::text FROM deal_events WHERE lead_id = 'L1'`:                                                                 fmt.Sprintf("%d/%d", x.seq, x.seq),
		`SELECT delivery || '/' || (sent_at AT TIME ZONE 'UTC')::text || '/' || (created_at AT TIME ZONE 'UTC')::text FROM messages WHERE key = 'L1/thankyou'`: "smtp/2030-01-01 00:00:00/2026-02-03 02:00:00",
		`SELECT (updated_at AT TIME ZONE 'UTC')::text FROM leads WHERE id = 'L1'`:                                                                              "2026-02-02 21:00:00",
		`SELECT account_id || '/' || contact_id FROM leads WHERE id = 'L1'`:                                                                                    "ACC-L1/CON-L1",
		`SELECT (SELECT count(*) FROM orders)::text || '/' || (SELECT count(*) FROM invoices)::text || '/' || (SELECT count(*) FROM opportunities)::text`:      "1/1/3",
	}
	for q, want := range checks {
		if got := row[string](t, pool, q); got != want {
			t.Errorf("%s\n got %s\nwant %s", q, got, want)
		}
	}
	if n := mailer.count("L1/thankyou"); n != 1 {
		t.Fatalf("thank-you sent %d times, want 1", n)
	}
}

// A workflow task can fail after its local activity wrote (the worker or
// Temporal died before the task completed); the task then runs again and may
// take another step, or the same one later, under the same seq. What it
// writes then is what stays: no entry or payment of the failed task remains.
func TestFailedTaskWritesAreReplaced(t *testing.T) {
	pool := testenv.Pool(t)
	a := newActivities(t, pool, &countingMailer{})
	x := newDeal("F1", "Fabrikam", "fay@fabrikam.example")
	apply(t, a, x.change("create"))
	inv := workflows.Invoice{ID: "INV-F1", Total: dec("100"), PaidAmount: dec("0"), PaymentTerms: "Net 30",
		DueDate: atHours(24 * 30), Status: workflows.InvoiceActive, CreatedAt: atHours(1)}
	fulfil := x.change("fulfill")
	fulfil.Invoice = &inv
	apply(t, a, fulfil)

	// The failed task: two steps, a payment and an edit (seq 3 and 4).
	paid := inv
	paid.Payments = []workflows.Payment{{Seq: 1, Amount: dec("40"), At: atHours(5), Discount: dec("0")}}
	paid.PaidAmount = dec("40")
	pay := x.change("record payment")
	pay.Invoice = &paid
	apply(t, a, pay)
	apply(t, a, x.change("edit lead"))

	// Its retry took only an edit, later, as seq 3; the invoice unchanged.
	x.seq = 2
	retry := x.change("edit opportunity")
	retry.Event.At = atHours(9)
	retry.Invoice = &inv
	apply(t, a, retry)

	if got := row[string](t, pool, `SELECT string_agg(seq || ':' || action || ':' || (at AT TIME ZONE 'UTC')::text, ',' ORDER BY seq) FROM deal_events WHERE lead_id = 'F1'`); got != "1:create:2026-02-02 10:00:00,2:fulfill:2026-02-02 11:00:00,3:edit opportunity:2026-02-02 18:00:00" {
		t.Errorf("timeline %s", got)
	}
	if got := row[string](t, pool, `SELECT count(*)::text || '/' || (SELECT paid_amount::text FROM invoices WHERE id = 'INV-F1') FROM invoice_payments WHERE invoice_id = 'INV-F1'`); got != "0/0" {
		t.Errorf("payments/paid %s", got)
	}
}

// Two deals qualifying the same new company at the same moment end up on one
// account.
func TestConcurrentQualification(t *testing.T) {
	pool := testenv.Pool(t)
	a := newActivities(t, pool, nil)
	ctx := context.Background()
	for round := range 5 {
		company := fmt.Sprintf("Northwind %d", round)
		deals := []*deal{
			newDeal(fmt.Sprintf("N%d-a", round), company, fmt.Sprintf("a%d@northwind.example", round)),
			newDeal(fmt.Sprintf("N%d-b", round), strings.ToUpper(company), fmt.Sprintf("b%d@northwind.example", round)),
		}
		changes := make([]workflows.Change, len(deals))
		for i, x := range deals {
			if _, err := a.ApplyChange(ctx, x.change("create")); err != nil {
				t.Fatal(err)
			}
			changes[i] = x.qualify()
		}
		results := make([]workflows.ChangeResult, len(deals))
		errs := make([]error, len(deals))
		var wg sync.WaitGroup
		for i := range deals {
			wg.Go(func() { results[i], errs[i] = a.ApplyChange(ctx, changes[i]) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if results[0].AccountID == "" || results[0].AccountID != results[1].AccountID {
			t.Fatalf("round %d: accounts %q and %q", round, results[0].AccountID, results[1].AccountID)
		}
		if n := row[int](t, pool, `SELECT count(*) FROM accounts WHERE lower(name) = lower($1)`, company); n != 1 {
			t.Fatalf("round %d: %d accounts", round, n)
		}
		if n := row[int](t, pool, `SELECT count(DISTINCT account_id) FROM leads WHERE id = ANY($1)`, []string{deals[0].id, deals[1].id}); n != 1 {
			t.Fatalf("round %d: leads on %d accounts", round, n)
		}
	}
}

// A message goes out once: whether the Change is applied twice in a row, by
// two attempts at once, or again after the mail server failed.
func TestMessagesDeliveredOnce(t *testing.T) {
	pool := testenv.Pool(t)
	ctx := context.Background()
	mailer := &countingMailer{delay: 50 * time.Millisecond}
	a := newActivities(t, pool, mailer)
	x := newDeal("M1", "Adatum", "kim@adatum.example")
	if _, err := a.ApplyChange(ctx, x.change("create")); err != nil {
		t.Fatal(err)
	}
	reminder := func(key string) workflows.Change {
		ch := x.change("followup:lead-reminder")
		ch.Messages = []workflows.Message{
			{Key: key + "/owner", Kind: "lead-reminder", Recipient: "rep1", Subject: "Lead waiting", Body: "Qualify it.", At: ch.Event.At},
			{Key: key + "/manager", Kind: "lead-escalation", Recipient: "mgr@example.com", Subject: "Escalation", Body: "Still open.", At: ch.Event.At},
		}
		return ch
	}

	ch := reminder("M1/r1")
	for range 2 {
		if _, err := a.ApplyChange(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	// Two attempts at the same moment.
	ch2 := reminder("M1/r2")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = a.ApplyChange(ctx, ch2) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"M1/r1/owner", "M1/r1/manager", "M1/r2/owner", "M1/r2/manager"} {
		if n := mailer.count(key); n != 1 {
			t.Errorf("%s sent %d times, want 1", key, n)
		}
	}

	// The mail server is down: the activity fails (retryably) and the
	// message stays unsent; the retry delivers it.
	mailer.fail = 1
	ch3 := reminder("M1/r3")
	ch3.Messages = ch3.Messages[:1]
	_, err := a.ApplyChange(ctx, ch3)
	if err == nil {
		t.Fatal("no error while the mail server is down")
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Fatalf("delivery failure is not retryable: %v", err)
	}
	if got := row[bool](t, pool, `SELECT sent_at IS NULL FROM messages WHERE key = 'M1/r3/owner'`); !got {
		t.Fatal("message marked sent although sending failed")
	}
	if _, err := a.ApplyChange(ctx, ch3); err != nil {
		t.Fatal(err)
	}
	if n := mailer.count("M1/r3/owner"); n != 1 {
		t.Fatalf("sent %d times after the retry, want 1", n)
	}
	if got := row[string](t, pool, `SELECT delivery || '/' || (sent_at AT TIME ZONE 'UTC')::text FROM messages WHERE key = 'M1/r3/owner'`); got != "smtp/2030-01-01 00:00:00" {
		t.Fatalf("message row %s", got)
	}
}

// Through the SMTP mailer: the owner's user id is resolved to the address on
// file, a retry sends nothing more, and an address the server refuses for
// good is settled as failed instead of retried forever.
func TestApplyChangeSMTP(t *testing.T) {
	pool := testenv.Pool(t)
	ctx := context.Background()
	srv := startSMTP(t)
	srv.reply = func(rcpt string) string {
		if strings.HasPrefix(rcpt, "gone@") {
			return "550 5.1.1 no such user"
		}
		return ""
	}
	a := newActivities(t, pool, plainMailer(t, srv.Addr, "deals@example.com"))
	if _, err := pool.Exec(ctx, `INSERT INTO api_users (id, email, name, role) VALUES ('rep1', 'rep1@example.com', 'Rep One', 'rep')`); err != nil {
		t.Fatal(err)
	}
	x := newDeal("S1", "Litware", "gone@litware.example")
	if _, err := a.ApplyChange(ctx, x.change("create")); err != nil {
		t.Fatal(err)
	}
	ch := x.change("followup:stage-nudge")
	ch.Messages = []workflows.Message{
		{Key: "S1/nudge/1", Kind: "stage-nudge", Recipient: "rep1", Subject: "No progress", Body: "Act.", At: ch.Event.At},
		{Key: "S1/due/1", Kind: "invoice-due", Recipient: "gone@litware.example", Subject: "Invoice due", Body: "Pay.", At: ch.Event.At},
	}
	for range 2 {
		if _, err := a.ApplyChange(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.received()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "rep1@example.com" {
		t.Fatalf("received %+v, want one message to rep1@example.com", got)
	}
	rows := row[string](t, pool, `SELECT string_agg(key || ':' || delivery || ':' || (error <> '')::text, ',' ORDER BY key) FROM messages`)
	if rows != "S1/due/1:failed:true,S1/nudge/1:smtp:false" {
		t.Fatalf("messages %s", rows)
	}
}

func TestApplyChangeErrors(t *testing.T) {
	pool := testenv.Pool(t)
	ctx := context.Background()
	a := newActivities(t, pool, nil)

	nonRetryable := func(err error, typ string) {
		t.Helper()
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != typ {
			t.Fatalf("error %v (%T), want non-retryable %s", err, err, typ)
		}
	}

	// An account id that is not on file: nothing is written.
	x := newDeal("E1", "Tailspin", "joe@tailspin.example")
	ch := x.qualify()
	ch.Qualify.AccountID = "ACC-missing"
	_, err := a.ApplyChange(ctx, ch)
	nonRetryable(err, activities.ErrTypeUnknownAccount)
	if n := row[int](t, pool, `SELECT count(*) FROM leads`); n != 0 {
		t.Fatal("lead written although the change failed")
	}

	// An existing account id is linked as it is.
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ('ACC-9', 'Tailspin Toys', $1)`, t0); err != nil {
		t.Fatal(err)
	}
	ch.Qualify.AccountID = "ACC-9"
	res, err := a.ApplyChange(ctx, ch)
	if err != nil || res.AccountID != "ACC-9" {
		t.Fatalf("link existing account: %+v %v", res, err)
	}

	// Data PostgreSQL refuses: retrying cannot help.
	bad := newDeal("E2", "Wingtip", "")
	bad.d.Currency = "euro"
	_, err = a.ApplyChange(ctx, bad.change("create"))
	nonRetryable(err, activities.ErrTypeInvalidChange)
	_, err = a.ApplyChange(ctx, workflows.Change{})
	nonRetryable(err, activities.ErrTypeInvalidChange)

	// PostgreSQL out of reach: retryable.
	down, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	_, err = newActivities(t, down, nil).ApplyChange(ctx, newDeal("E3", "Coho", "").change("create"))
	if err == nil {
		t.Fatal("no error with PostgreSQL down")
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Fatalf("unreachable database is not retryable: %v", err)
	}
}

// The worker registers the Activities struct whole: ApplyChange must then be
// found under the name the workflow calls it by.
func TestRegisteredUnderWorkflowName(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(activities.New(nil, nil, nil))
	// A Change without a deal id fails before any SQL: no database needed.
	_, err := env.ExecuteActivity(workflows.ActivityApplyChange, workflows.Change{})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeInvalidChange {
		t.Fatalf("%s ran as %v (%T), want ApplyChange's %s", workflows.ActivityApplyChange, err, err, activities.ErrTypeInvalidChange)
	}
}
