package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// TestProcessWonDealWritesEveryRecord takes one deal from lead to paid
// invoice through the real worker (Temporal client → workflow → ApplyChange
// → PostgreSQL) and then checks every row it wrote and the search attributes
// managers filter by.
func TestProcessWonDealWritesEveryRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := stack.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := newLeadID("proc")
	company := "Process Test Corp " + id
	p := workflows.DefaultPolicy()
	p.ThankYouAfter = time.Second // the thank-you is the last thing the deal waits for
	budget := decimal.RequireFromString("90000")
	in := workflows.NewLead{ID: id, Owner: "rep@example.com", Manager: "manager@example.com", Currency: "EUR", Policy: &p,
		Lead: workflows.LeadFields{Topic: "Warehouse scanners", FirstName: "Grace", LastName: "Hopper", Company: company,
			Email: "grace-" + id + "@example.com", Source: "Trade Show", Rating: "Hot", Budget: &budget,
			PurchaseTimeframe: "Next Quarter", DecisionMakerIdentified: true}}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID(id), TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: workflows.StartSearchAttributes(in), StaticSummary: workflows.Summary(in),
	}, workflows.WorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
	dec := decimal.RequireFromString
	tax := dec("1234.56")
	disc := dec("100")
	closeBy := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)
	need, solution := "scan 10k parcels a day", "ruggedised scanners"
	steps := []struct {
		act workflows.Action
		cmd any
	}{
		{workflows.ActQualify, workflows.Qualify{Actor: workflows.Actor{Actor: "rep@example.com"}}},
		{workflows.ActEditOpportunity, workflows.EditOpportunity{CustomerNeed: &need, ProposedSolution: &solution, EstimatedCloseDate: &closeBy}},
		{workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Alan Kay", Email: "alan@example.com", Role: "Economic Buyer"}},
		{workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam", Strengths: "cheaper"}},
		{workflows.ActAddTeamMember, workflows.AddTeamMember{UserID: "manager@example.com", Role: "Sponsor"}},
		{workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Scanner", Quantity: dec("40"), UnitPrice: new(dec("1499.99")), Discount: &disc, Tax: &tax}}},
		{workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Support plan", Quantity: dec("1"), UnitPrice: new(dec("5000"))}}},
		{workflows.ActPropose, workflows.Propose{PaymentTerms: "Net 60"}},
		{workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}},
		{workflows.ActClose, workflows.Close{Outcome: "won"}},
		{workflows.ActFulfillOrder, workflows.FulfillOrder{}},
		{workflows.ActRecordPayment, workflows.RecordPayment{Amount: dec("30000")}},
		// 40 × 1499.99 − 100 + 1234.56 + 5000 = 66134.16
		{workflows.ActRecordPayment, workflows.RecordPayment{Amount: dec("36134.16")}},
	}
	for i, st := range steps {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: run.GetID(), UpdateName: string(st.act), Args: []any{st.cmd},
			UpdateID: fmt.Sprintf("step-%d", i), WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			t.Fatalf("step %d %s: %v\n%s", i, st.act, err, stack.Logs(30))
		}
	}
	var final workflows.Deal
	if err := run.Get(ctx, &final); err != nil {
		t.Fatalf("workflow result: %v", err)
	}

	pool, err := pgxpool.New(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := func(sql string, args ...any) string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return s
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("lead", q(`SELECT concat_ws('|', stage, status, lead_status, currency, value::text, customer, source, owner)
		FROM leads WHERE id = $1`, id), "Paid|won|Qualified|EUR|66134.16|"+company+"|Trade Show|rep@example.com")
	check("account", q(`SELECT concat_ws('|', a.name, count(*) OVER ()) FROM accounts a JOIN leads l ON l.account_id = a.id WHERE l.id = $1`, id), company+"|1")
	check("contact", q(`SELECT concat_ws('|', c.first_name, c.last_name, c.email, c.account_id = l.account_id)
		FROM contacts c JOIN leads l ON l.contact_id = c.id WHERE l.id = $1`, id), "Grace|Hopper|grace-"+id+"@example.com|t")
	check("opportunity", q(`SELECT concat_ws('|', status, customer_need, proposed_solution, actual_revenue::text, estimated_close_date::date::text)
		FROM opportunities WHERE lead_id = $1`, id), "Won|"+need+"|"+solution+"|66134.16|2027-03-31")
	check("opportunity children", q(`SELECT concat_ws('|',
		(SELECT string_agg(name || ':' || role, ',') FROM opportunity_stakeholders s WHERE s.opportunity_id = o.id),
		(SELECT string_agg(name, ',') FROM opportunity_competitors x WHERE x.opportunity_id = o.id),
		(SELECT string_agg(user_id, ',') FROM opportunity_team m WHERE m.opportunity_id = o.id),
		(SELECT string_agg(product || '=' || amount::text, ',' ORDER BY pos) FROM opportunity_lines l WHERE l.opportunity_id = o.id))
		FROM opportunities o WHERE lead_id = $1`, id),
		"Alan Kay:Economic Buyer|Fabrikam|manager@example.com|Scanner=61134.16,Support plan=5000")
	check("quote", q(`SELECT concat_ws('|', count(*), string_agg(status || '/' || revision || '/' || total::text || '/' || payment_terms, ','))
		FROM quotes WHERE lead_id = $1`, id), "1|Won/1/66134.16/Net 60")
	check("quote lines", q(`SELECT count(*)::text FROM quote_lines ql JOIN quotes qt ON qt.id = ql.quote_id WHERE qt.lead_id = $1`, id), "2")
	check("order", q(`SELECT concat_ws('|', count(*), string_agg(status || '/' || total::text, ','),
		(SELECT count(*) FROM order_lines ol JOIN orders o2 ON o2.id = ol.order_id WHERE o2.lead_id = $1))
		FROM orders WHERE lead_id = $1`, id), "1|Invoiced/66134.16|2")
	check("invoice", q(`SELECT concat_ws('|', count(*), string_agg(status || '/' || total::text || '/' || paid_amount::text, ','),
		(SELECT string_agg(amount::text, ',' ORDER BY seq) FROM invoice_payments p JOIN invoices i2 ON i2.id = p.invoice_id WHERE i2.lead_id = $1),
		bool_and(due_date = (SELECT fulfilled_at FROM orders WHERE lead_id = $1) + interval '60 days'))
		FROM invoices WHERE lead_id = $1`, id), "1|Paid/66134.16/66134.16|30000,36134.16|t")
	check("messages", q(`SELECT string_agg(kind || '>' || recipient || '/' || delivery, ',') FROM messages WHERE lead_id = $1`, id),
		"thank_you>grace-"+id+"@example.com/recorded")
	// The timeline table holds every event of the workflow's timeline, in order.
	check("timeline", q(`SELECT string_agg(seq || ':' || action || ':' || accepted, ',' ORDER BY seq) FROM deal_events WHERE lead_id = $1`, id),
		timelineString(final.Timeline))

	// Managers find the deal by its search attributes (visibility is
	// eventually consistent: poll).
	query := fmt.Sprintf(`WorkflowId = '%s' AND SalesStage = 'Paid' AND DealStatus = 'won' AND SalesOwner = 'rep@example.com'
		AND Customer = '%s' AND LeadSource = 'Trade Show' AND EstimatedRevenue > 66134.15 AND EstimatedRevenue < 66134.17
		AND ExpectedCloseDate BETWEEN '2027-03-30T23:59:59Z' AND '2027-03-31T00:00:01Z'`,
		workflows.WorkflowID(id), company)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(resp.Executions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workflow matches %s", query)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func timelineString(events []workflows.Event) string {
	s := ""
	for i, e := range events {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%d:%s:%t", e.Seq, e.Action, e.Accepted)
	}
	return s
}
