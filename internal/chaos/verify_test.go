package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// result is what verify found.
type result struct {
	byScenario                        string
	messages, deliveries, redelivered int
	actions, refused                  int
	duplicates, lost                  int
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
func verify(ctx context.Context, t *testing.T, deals []*deal, run string) result {
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

	c, err := stack.Client(ctx)
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
	pool, err := pgx.Connect(ctx, stack.DatabaseURL)
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
		dups, lost := checkDeal(ctx, t, pool, d, o.view, deliveries, seenKeys, &res)
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

// checkDeal compares one settled deal's workflow state with its timeline,
// its rows in PostgreSQL and the mail the sink received. It returns how many
// things were done twice, and whether the deal lost something.
func checkDeal(ctx context.Context, t *testing.T, conn *pgx.Conn, d *deal, v *workflows.DealView,
	deliveries map[string][]delivery, seenKeys map[string]bool, res *result) (dups int, lost bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("deal %s (%s): "+format, append([]any{d.id, d.sc.name}, args...)...)
	}

	// The timeline: every accepted rep action once, in the script's order;
	// nothing refused; one follow-up event per message.
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

	// Nothing that came due is left unsent: the deal's own list of pending
	// follow-ups holds nothing overdue (beyond a moment for the timer's
	// workflow task). A completed deal's retention end is how it ended.
	for _, r := range v.Pending {
		if r.Kind == workflows.KindRetentionEnd && d.sc.want.completed {
			continue
		}
		if late := time.Since(r.Due); late > 10*time.Second {
			fail("follow-up %s (%s) came due %s ago and was not sent", r.Key, r.Kind, late.Round(time.Second))
			lost = true
		}
	}

	// deal_events is the timeline, entry for entry.
	rows, err := conn.Query(ctx, `SELECT seq, at, actor, action, accepted, detail, stage FROM deal_events WHERE lead_id = $1 ORDER BY seq`, d.id)
	if err != nil {
		t.Fatal(err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (workflows.Event, error) {
		var e workflows.Event
		var stage string
		err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Accepted, &e.Detail, &stage)
		e.Stage = workflows.Stage(stage)
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(v.Timeline) {
		fail("%d deal_events rows, the workflow's timeline has %d", len(events), len(v.Timeline))
		if len(events) < len(v.Timeline) {
			lost = true
		}
	}
	for i := range min(len(events), len(v.Timeline)) {
		a, b := events[i], v.Timeline[i]
		if a.Seq != b.Seq || a.Actor != b.Actor || a.Action != b.Action || a.Accepted != b.Accepted ||
			a.Detail != b.Detail || a.Stage != b.Stage || absDur(a.At.Sub(b.At)) > time.Microsecond {
			fail("deal_events row %d is %+v, the timeline has %+v", i, a, b)
		}
	}

	// The outbox: the state's messages, each recorded once and sent; the
	// sink received each once (a crash between the mail server's answer and
	// the commit may send it again, with the same Message-ID).
	rows, err = conn.Query(ctx, `SELECT key, kind, sent_at IS NOT NULL, coalesce(delivery, '') FROM messages WHERE lead_id = $1 ORDER BY key`, d.id)
	if err != nil {
		t.Fatal(err)
	}
	type msgRow struct {
		key, kind, delivery string
		sent                bool
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (msgRow, error) {
		var m msgRow
		err := r.Scan(&m.key, &m.kind, &m.sent, &m.delivery)
		return m, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var stateKeys, rowKeys []string
	for _, m := range v.Messages {
		stateKeys = append(stateKeys, m.Key+" "+m.Kind)
	}
	for _, m := range msgs {
		rowKeys = append(rowKeys, m.key+" "+m.kind)
		seenKeys[m.key] = true
		if !m.sent || m.delivery != "smtp" {
			fail("message %s not delivered (sent %v, delivery %q)", m.key, m.sent, m.delivery)
			lost = true
		}
		ds := deliveries[m.key]
		res.messages++
		res.deliveries += len(ds)
		switch {
		case len(ds) == 0:
			fail("message %s never reached the mail server", m.key)
			lost = true
		case len(ds) > 1:
			for _, x := range ds[1:] {
				if x.MessageID != ds[0].MessageID {
					fail("message %s delivered %d times with different Message-IDs: %v", m.key, len(ds), ds)
					dups++
					break
				}
			}
			res.redelivered += len(ds) - 1
			t.Logf("deal %s: message %s redelivered %d time(s) with the same Message-ID %s", d.id, m.key, len(ds)-1, ds[0].MessageID)
		}
	}
	sort.Strings(stateKeys)
	if !slices.Equal(stateKeys, rowKeys) {
		fail("messages table %v, workflow state %v", rowKeys, stateKeys)
	}

	// The read model: the lead row, quotes, order, invoice and payments.
	var stage, status, leadStatus string
	if err := conn.QueryRow(ctx, `SELECT stage, status, lead_status FROM leads WHERE id = $1`, d.id).Scan(&stage, &status, &leadStatus); err != nil {
		fail("lead row: %v", err)
		return dups, true
	}
	if stage != string(v.Stage) || status != string(v.Status) || leadStatus != v.Lead.Status {
		fail("leads row %s/%s/%s, workflow %s/%s/%s", stage, status, leadStatus, v.Stage, v.Status, v.Lead.Status)
	}
	if d.err != nil {
		return dups, lost // its outcome is not the scenario's
	}

	quotes := queryStrings(ctx, t, conn, `SELECT status || '/' || status_reason FROM quotes WHERE lead_id = $1 ORDER BY revision`, d.id)
	if !slices.Equal(quotes, d.sc.want.quotes) {
		fail("quote rows %v, want %v", quotes, d.sc.want.quotes)
	}
	orders := queryStrings(ctx, t, conn, `SELECT status FROM orders WHERE lead_id = $1`, d.id)
	invoices := queryStrings(ctx, t, conn, `SELECT status FROM invoices WHERE lead_id = $1`, d.id)
	if want := oneOrNone(d.sc.want.order); !slices.Equal(orders, want) {
		fail("order rows %v, want %v", orders, want)
		dups += max(0, len(orders)-len(want))
	}
	if want := oneOrNone(d.sc.want.invoice); !slices.Equal(invoices, want) {
		fail("invoice rows %v, want %v", invoices, want)
		dups += max(0, len(invoices)-len(want))
	}
	var n int
	var paid, sum decimal.Decimal
	if err := conn.QueryRow(ctx, `SELECT count(p.seq), coalesce(sum(p.amount), 0)::text, coalesce(max(i.paid_amount), 0)::text
		FROM invoices i LEFT JOIN invoice_payments p ON p.invoice_id = i.id WHERE i.lead_id = $1`, d.id).
		Scan(&n, decimalText{&sum}, decimalText{&paid}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	if n != d.sc.want.payments {
		fail("%d payment rows, want %d", n, d.sc.want.payments)
		dups += max(0, n-d.sc.want.payments)
	}
	if d.sc.want.invoice == workflows.InvoicePaid && (!sum.Equal(d.total) || !paid.Equal(d.total)) {
		fail("payments sum to %s, paid amount %s, invoice total %s", sum, paid, d.total)
	}
	return dups, lost
}

func oneOrNone(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// decimalText scans a numeric cast to text into a decimal.
type decimalText struct{ d *decimal.Decimal }

func (x decimalText) Scan(src any) error {
	s, ok := src.(string)
	if !ok {
		return fmt.Errorf("decimalText: %T", src)
	}
	v, err := decimal.NewFromString(s)
	*x.d = v
	return err
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
