package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/internal/tests/chaos/dealrows"
	"dealflow/internal/tests/e2e"
	"dealflow/workflows"
)

// result is what verify found.
type result struct {
	byScenario                        string
	messages, deliveries, redelivered int
	actions, refused                  int
	duplicates, lost                  int
	// rows counts the rows compared with the state, column by column;
	// differing the records whose rows are not the state's (a column
	// differs, or a row is missing or one too many).
	rows, differing int
}

// observed is one deal as Temporal and PostgreSQL have it.
type observed struct {
	view   *workflows.DealView
	status enumspb.WorkflowExecutionStatus
	err    error
}

func observe(ctx context.Context, c client.Client, id string) observed {
	wid := workflows.WorkflowID(id)
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return observed{err: fmt.Errorf("describe %s: %w", wid, err)}
	}
	o := observed{status: desc.GetWorkflowExecutionInfo().GetStatus()}
	val, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryState)
	if err != nil {
		o.err = fmt.Errorf("query %s: %w", wid, err)
		return o
	}
	var v workflows.DealView
	if err := val.Get(&v); err != nil || v.Deal == nil {
		o.err = fmt.Errorf("decode state of %s: %v", wid, err)
		return o
	}
	o.view = &v
	return o
}

// shortfall says how the deal differs from its scenario's outcome; dup is
// true when it has something more than it should (done twice).
func shortfall(d *deal, o observed) (problems []string, dup bool) {
	if o.err != nil {
		return []string{o.err.Error()}, false
	}
	w, v := d.sc.want, o.view
	wantStatus := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if w.completed {
		wantStatus = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if o.status != wantStatus {
		add("workflow %s, want %s", o.status, wantStatus)
	}
	if v.Stage != w.stage || v.Status != w.status {
		add("stage %s (%s), want %s (%s)", v.Stage, v.Status, w.stage, w.status)
	}
	var quotes []string
	for _, q := range v.Quotes {
		quotes = append(quotes, q.Status+"/"+q.StatusReason)
	}
	if !slices.Equal(quotes, w.quotes) {
		add("quotes %v, want %v", quotes, w.quotes)
		dup = dup || len(quotes) > len(w.quotes)
	}
	order, invoice, payments := "", "", 0
	if v.Order != nil {
		order = v.Order.Status
	}
	if v.Invoice != nil {
		invoice, payments = v.Invoice.Status, len(v.Invoice.Payments)
	}
	if order != w.order || invoice != w.invoice || payments != w.payments {
		add("order %q, invoice %q, %d payments; want %q, %q, %d", order, invoice, payments, w.order, w.invoice, w.payments)
		dup = dup || payments > w.payments
	}
	kinds := map[string]int{}
	for _, m := range v.Messages {
		kinds[m.Kind]++
	}
	for k := range joinKeys(kinds, w.messages) {
		if kinds[k] != w.messages[k] {
			add("%d %s follow-ups, want %d", kinds[k], k, w.messages[k])
			dup = dup || kinds[k] > w.messages[k]
		}
	}
	return problems, dup
}

func joinKeys(a, b map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// verify waits until every deal has reached its outcome (or -chaos.settle
// passes), then checks each against PostgreSQL and the mail sink.
func verify(ctx context.Context, t *testing.T, s *e2e.Stack, deals []*deal, run string) result {
	t.Helper()
	var res result
	counts := map[string]int{}
	for _, d := range deals {
		counts[d.sc.name]++
	}
	var names []string
	for _, sc := range scenarios {
		if counts[sc.name] > 0 {
			names = append(names, fmt.Sprintf("%s %d", sc.name, counts[sc.name]))
		}
	}
	res.byScenario = strings.Join(names, ", ")

	c, err := s.Client(ctx)
	if err != nil {
		t.Fatalf("temporal client: %v", err)
	}
	defer c.Close()

	// Settle: follow-ups come due seconds after each script's last step,
	// closed deals end after their retention.
	final := make(map[string]observed, len(deals))
	var pending []*deal
	for _, d := range deals {
		if d.err != nil {
			// Its script stopped short (reported): nothing to wait for.
			final[d.id] = observe(ctx, c, d.id)
			continue
		}
		pending = append(pending, d)
	}
	deadline := time.Now().Add(*flagSettle)
	for len(pending) > 0 {
		var still []*deal
		for _, d := range pending {
			o := observe(ctx, c, d.id)
			final[d.id] = o
			if p, _ := shortfall(d, o); len(p) > 0 {
				still = append(still, d)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, d := range pending {
		p, dup := shortfall(d, final[d.id])
		if dup {
			res.duplicates++
		} else {
			res.lost++
		}
		t.Errorf("deal %s (%s) did not reach its outcome within %s: %s", d.id, d.sc.name, *flagSettle, strings.Join(p, "; "))
	}

	deliveries := sink.byKey()
	pool, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer pool.Close(context.WithoutCancel(ctx))
	seenKeys := map[string]bool{}
	for _, d := range deals {
		o := final[d.id]
		if o.view == nil {
			continue // reported above
		}
		dups, lost := checkDeal(ctx, t, c, pool, d, o.view, deliveries, seenKeys, &res)
		res.duplicates += dups
		if lost {
			res.lost++
		}
	}

	// Across the run: one lead row per deal, nothing twice.
	var leads int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM leads WHERE id LIKE $1`, run+"-%").Scan(&leads); err != nil {
		t.Fatal(err)
	}
	if leads != len(deals) {
		t.Errorf("%d lead rows for %d deals", leads, len(deals))
		if leads < len(deals) {
			res.lost += len(deals) - leads
		}
	}
	for _, q := range []struct{ what, sql string }{
		{"message keys recorded twice", `SELECT key FROM messages GROUP BY key HAVING count(*) > 1`},
		{"deals with two orders", `SELECT lead_id FROM orders GROUP BY lead_id HAVING count(*) > 1`},
		{"deals with two invoices", `SELECT lead_id FROM invoices GROUP BY lead_id HAVING count(*) > 1`},
		{"orders with two invoices", `SELECT order_id FROM invoices WHERE order_id IS NOT NULL GROUP BY order_id HAVING count(*) > 1`},
		{"accounts named twice", `SELECT lower(name) FROM accounts GROUP BY lower(name) HAVING count(*) > 1`},
		{"timeline entries numbered twice", `SELECT lead_id || '/' || seq FROM deal_events GROUP BY lead_id, seq HAVING count(*) > 1`},
	} {
		dups := queryStrings(ctx, t, pool, q.sql)
		if len(dups) > 0 {
			res.duplicates += len(dups)
			t.Errorf("%s: %v", q.what, dups)
		}
	}
	for key, ds := range deliveries {
		// The sink serves every test of the package: another run's mail
		// (its deal ids have another prefix) is that run's to check.
		if !strings.HasPrefix(key, run+"-") {
			continue
		}
		if !seenKeys[key] {
			res.duplicates++
			t.Errorf("the mail sink received %d message(s) with key %q that no deal recorded", len(ds), key)
		}
	}
	return res
}

func queryStrings(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// checkDeal compares one settled deal's workflow state with the script, with
// every row the deal owns in PostgreSQL and with the mail the sink received.
// It returns how many things were done twice, and whether the deal lost
// something.
func checkDeal(ctx context.Context, t *testing.T, c client.Client, conn *pgx.Conn, d *deal, v *workflows.DealView,
	deliveries map[string][]delivery, seenKeys map[string]bool, res *result) (dups int, lost bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("deal %s (%s): "+format, append([]any{d.id, d.sc.name}, args...)...)
	}
	rows, err := dealrows.Load(ctx, conn, d.id)
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int, l bool) { dups, lost = dups+n, lost || l }
	add(checkTimeline(d, v, res, fail))
	add(0, checkPending(d, v, fail))
	add(checkRecords(ctx, t, c, d, v, rows, res, fail))
	add(checkOutbox(t, d, rows.Messages, deliveries, seenKeys, res, fail))
	add(0, checkPayments(d, v, fail))
	return dups, lost
}

// checkTimeline: every accepted rep action once, in the script's order;
// nothing refused; one follow-up event per message.
func checkTimeline(d *deal, v *workflows.DealView, res *result, fail func(string, ...any)) (dups int, lost bool) {
	var acts []string
	followups := map[string]int{}
	for _, e := range v.Timeline {
		switch {
		case !e.Accepted:
			res.refused++
			fail("refused %s at seq %d: %s", e.Action, e.Seq, e.Detail)
		case e.Actor == "system":
			followups[strings.TrimPrefix(e.Action, "followup:")]++
		default:
			acts = append(acts, e.Action)
		}
	}
	res.actions += len(acts)
	if d.err == nil && !slices.Equal(acts, d.actions) {
		fail("timeline actions %v, script did %v", acts, d.actions)
		if len(acts) > len(d.actions) {
			dups++
		} else {
			lost = true
		}
	}
	kinds := map[string]int{}
	for _, m := range v.Messages {
		kinds[m.Kind]++
	}
	for k := range joinKeys(kinds, followups) {
		if kinds[k] != followups[k] {
			fail("%d %s messages but %d timeline events", kinds[k], k, followups[k])
		}
	}
	return dups, lost
}

// checkPending: nothing that came due is left unsent: the deal's own list
// of pending follow-ups holds nothing overdue (beyond a moment for the
// timer's workflow task). A completed deal's retention end is how it ended.
func checkPending(d *deal, v *workflows.DealView, fail func(string, ...any)) (lost bool) {
	for _, r := range v.Pending {
		if r.Kind == workflows.KindRetentionEnd && d.sc.want.completed {
			continue
		}
		if late := time.Since(r.Due); late > 10*time.Second {
			fail("follow-up %s (%s) came due %s ago and was not sent", r.Key, r.Kind, late.Round(time.Second))
			lost = true
		}
	}
	return lost
}

// checkRecords: every row the deal owns in PostgreSQL (lead, account,
// contact, opportunity with its people and lines, quotes, order, invoice,
// payments, messages, timeline) is the state's, column by column. A row the
// state lacks counts as a duplicate, a row PostgreSQL lacks as lost, and
// every record that differs in any way as differing. A difference written by
// a workflow task that did not complete (rerun_test.go) is no exception —
// ApplyChange rewrites the deal's records after such a task — but the
// failure says so, to point at the cause.
func checkRecords(ctx context.Context, t *testing.T, c client.Client, d *deal, v *workflows.DealView, rows dealrows.Rows,
	res *result, fail func(string, ...any)) (dups int, lost bool) {
	t.Helper()
	want := dealrows.Want(v.Deal)
	res.rows += want.Len()
	diffs := dealrows.Diff(want, rows)
	if len(diffs) == 0 {
		return 0, false
	}
	incomplete, err := incompleteTasks(ctx, c, d.id)
	if err != nil {
		fail("cannot tell which workflow tasks did not complete: %v", err)
	}
	differing := map[string]bool{}
	for _, diff := range diffs {
		if cause := rerunCause(diff, incomplete); cause != "" {
			fail("%s (written by a workflow task that did not complete: %s)", diff, cause)
		} else {
			fail("%s", diff)
		}
		differing[diff.Record] = true
		switch diff.Kind {
		case dealrows.Extra:
			dups++
		case dealrows.Missing:
			lost = true
		}
	}
	if len(incomplete) > 0 {
		t.Logf("deal %s: its workflow tasks that did not complete: %v", d.id, incomplete)
	}
	res.differing += len(differing)
	return dups, lost
}

// checkOutbox: each of the deal's messages was sent; the sink received each
// once (a crash between the mail server's answer and the commit may send it
// again, with the same Message-ID).
func checkOutbox(t *testing.T, d *deal, msgs []dealrows.Message, deliveries map[string][]delivery,
	seenKeys map[string]bool, res *result, fail func(string, ...any)) (dups int, lost bool) {
	t.Helper()
	for _, m := range msgs {
		seenKeys[m.Key] = true
		if m.SentAt == nil || m.Delivery == nil || *m.Delivery != "smtp" {
			fail("message %s not delivered (sent at %v, delivery %v, error %q)", m.Key, m.SentAt, m.Delivery, m.Error)
			lost = true
		}
		ds := deliveries[m.Key]
		res.messages++
		res.deliveries += len(ds)
		switch {
		case len(ds) == 0:
			fail("message %s never reached the mail server", m.Key)
			lost = true
		case len(ds) > 1:
			for _, x := range ds[1:] {
				if x.MessageID != ds[0].MessageID {
					fail("message %s delivered %d times with different Message-IDs: %v", m.Key, len(ds), ds)
					dups++
					break
				}
			}
			res.redelivered += len(ds) - 1
			t.Logf("deal %s: message %s redelivered %d time(s) with the same Message-ID %s", d.id, m.Key, len(ds)-1, ds[0].MessageID)
		}
	}
	return dups, lost
}

// checkPayments: a paid invoice's payments add up to the total the API
// answered when the order was fulfilled.
func checkPayments(d *deal, v *workflows.DealView, fail func(string, ...any)) (lost bool) {
	if d.err != nil || d.sc.want.invoice != workflows.InvoicePaid || v.Invoice == nil {
		return false // its outcome is not the scenario's (reported)
	}
	sum := decimal.Zero
	for _, p := range v.Invoice.Payments {
		sum = sum.Add(p.Amount)
	}
	if !sum.Equal(d.total) || !v.Invoice.PaidAmount.Equal(d.total) {
		fail("payments sum to %s, paid amount %s, invoice total %s", sum, v.Invoice.PaidAmount, d.total)
		return true
	}
	return false
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
