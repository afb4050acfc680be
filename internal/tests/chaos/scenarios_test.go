package chaos

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// expect is what a scenario's deal looks like once everything due has happened.
type expect struct {
	stage  workflows.Stage
	status workflows.Status
	// quotes are each revision's "status/reason", in revision order.
	quotes []string
	// order and invoice are their statuses; "" when the deal has none.
	order, invoice string
	payments       int
	// messages counts the follow-ups by kind: every one of them came due
	// during the run and must have been sent, once.
	messages map[string]int
	// completed: the workflow has ended (paid, or retention over); else it
	// is still running, waiting for something far off.
	completed bool
}

// scenario is one kind of deal: its follow-up policy (short timers, so
// follow-ups come due during the run), what the rep does, and the outcome.
type scenario struct {
	name   string
	policy map[string]any
	script func(ctx context.Context, d *deal) error
	want   expect
}

// policy returns the base policy with overrides: timers a rep's next action
// could race are far off (so every outcome is deterministic), the ones that
// follow the script's last action are seconds away.
func policy(over map[string]any) map[string]any {
	p := map[string]any{
		"leadReminderAfter": "1h", "stageNudgeAfter": "1h",
		"thankYouAfter": "2s", "reengageAfter": "3s", "retention": "20s",
	}
	for k, v := range over {
		p[k] = v
	}
	return p
}

var scenarios = []*scenario{
	{
		name: "won", policy: policy(nil),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 45"), d.activate(1), d.closeWon, d.fulfill,
				d.payShare("0.2"), d.payShare("0.3"), d.payRest)
		},
		want: expect{stage: workflows.StagePaid, status: workflows.StatusWon, quotes: []string{"Won/"},
			order: workflows.OrderInvoiced, invoice: workflows.InvoicePaid, payments: 3,
			messages: map[string]int{workflows.KindThankYou: 1}, completed: true},
	},
	{
		name: "won-after-revisions", policy: policy(nil),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.editLead, d.qualify, d.develop, d.propose("Net 30"),
				d.activate(1), d.revise(1), d.editQuote(2), d.activate(2), d.revise(2), d.activate(3),
				d.closeWon, d.fulfill, d.payShare("0.5"), d.payRest)
		},
		want: expect{stage: workflows.StagePaid, status: workflows.StatusWon,
			quotes: []string{"Closed/Revised", "Closed/Revised", "Won/"},
			order:  workflows.OrderInvoiced, invoice: workflows.InvoicePaid, payments: 2,
			messages: map[string]int{workflows.KindThankYou: 1}, completed: true},
	},
	{
		// Net 30 of 1-second days: the due reminder and two overdue notices
		// come before the rest is paid.
		name:   "won-late-payer",
		policy: policy(map[string]any{"day": "1s", "invoiceReminderBefore": "25s", "overdueEvery": "3s", "overdueNotices": 2}),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 30"), d.activate(1), d.closeWon, d.fulfill,
				d.pay("1000"), d.waitMessages(workflows.KindInvoiceOverdue, 2), d.payRest)
		},
		want: expect{stage: workflows.StagePaid, status: workflows.StatusWon, quotes: []string{"Won/"},
			order: workflows.OrderInvoiced, invoice: workflows.InvoicePaid, payments: 2,
			messages:  map[string]int{workflows.KindThankYou: 1, workflows.KindInvoiceDue: 1, workflows.KindInvoiceOverdue: 2},
			completed: true},
	},
	{
		name: "lost", policy: policy(nil),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 30"), d.activate(1), d.closeLost)
		},
		want: expect{stage: workflows.StageClose, status: workflows.StatusLost, quotes: []string{"Closed/Lost"},
			messages: map[string]int{workflows.KindReengage: 1}, completed: true},
	},
	{
		name: "disqualified", policy: policy(nil),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.editLead, d.disqualify)
		},
		want: expect{stage: workflows.StageQualify, status: workflows.StatusDisqualified, messages: map[string]int{}, completed: true},
	},
	{
		name: "order-canceled", policy: policy(map[string]any{"thankYouAfter": "1h"}),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 60"), d.activate(1), d.closeWon, d.cancelOrder)
		},
		want: expect{stage: workflows.StageOrder, status: workflows.StatusCanceled, quotes: []string{"Won/"},
			order: workflows.OrderCanceled, messages: map[string]int{}, completed: true},
	},
	{
		// Never touched: two reminders to the owner, then the manager.
		name: "idle-lead", policy: policy(map[string]any{"leadReminderAfter": "4s", "leadReminders": 2}),
		script: func(ctx context.Context, d *deal) error { return d.run(ctx, d.create) },
		want: expect{stage: workflows.StageQualify, status: workflows.StatusOpen,
			messages: map[string]int{workflows.KindLeadReminder: 2, workflows.KindLeadEscalation: 1}},
	},
	{
		// Presented and left unanswered: reminded, then expired.
		name: "quote-expired", policy: policy(map[string]any{"quoteValidity": "10s", "quoteReminderBefore": "5s"}),
		script: func(ctx context.Context, d *deal) error {
			return d.run(ctx, d.create, d.qualify, d.develop, d.propose("Net 30"), d.activate(1))
		},
		want: expect{stage: workflows.StagePropose, status: workflows.StatusOpen, quotes: []string{"Closed/Expired"},
			messages: map[string]int{workflows.KindQuoteExpiring: 1, workflows.KindQuoteExpired: 1}},
	},
}

// deal is one deal of the run and what its script did.
type deal struct {
	id  string
	sc  *scenario
	rep *rep
	// step numbers the requests, for their Idempotency-Keys.
	step int
	// actions are the rep actions the API accepted, in order.
	actions []string
	// total and balance of the invoice, once there is one.
	total, balance decimal.Decimal
	// err is why the script did not finish.
	err error
}

type step func(ctx context.Context) error

func (d *deal) run(ctx context.Context, steps ...step) error {
	for _, s := range steps {
		if err := s(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (d *deal) key() string {
	d.step++
	return fmt.Sprintf("%s/%d", d.id, d.step)
}

func (d *deal) path(sub string) string { return "/v1/leads/" + d.id + sub }

// phone is the deal's contact's phone number, its own: two deals with one
// number would be possible duplicates (409).
func (d *deal) phone() string {
	h := fnv.New32a()
	h.Write([]byte(d.id))
	return fmt.Sprintf("+44 20 %08d", h.Sum32()%100000000)
}

// act sends one rep action, which must be accepted (200).
func (d *deal) act(ctx context.Context, method, sub string, body any, action workflows.Action) (answer, error) {
	a, err := d.rep.call(ctx, method, d.path(sub), body, d.key())
	if err != nil {
		return a, err
	}
	if a.Status != http.StatusOK {
		return a, fmt.Errorf("%s %s (%s): %d %s: %w", method, d.path(sub), action, a.Status, a.Raw, errUnexpected)
	}
	d.actions = append(d.actions, string(action))
	return a, nil
}

func (d *deal) create(ctx context.Context) error {
	body := map[string]any{
		"id": d.id, "topic": "Chaos " + d.sc.name + " " + d.id,
		"firstName": "Ada", "lastName": "Lovelace", "company": "Engines " + d.id, "jobTitle": "CTO",
		"email": d.id + "@customer.example", "phone": d.phone(), "source": "Web", "rating": "Warm",
		"budget": "25000", "estimatedValue": "21000.00", "purchaseTimeframe": "This Quarter",
		"purchaseProcess": "Committee", "decisionMakerIdentified": true,
		"policy": d.sc.policy,
	}
	a, err := d.rep.call(ctx, http.MethodPost, "/v1/leads", body, d.key())
	if err != nil {
		return err
	}
	switch a.Status {
	case http.StatusCreated, http.StatusOK:
	case http.StatusAccepted:
		// Recorded, still being set up: read it until it answers.
		for {
			g, err := d.rep.call(ctx, http.MethodGet, d.path(""), nil, "")
			if err != nil {
				return err
			}
			if g.Status == http.StatusOK {
				break
			}
			if g.Status != http.StatusNotFound {
				return fmt.Errorf("GET %s after 202: %d %s: %w", d.path(""), g.Status, g.Raw, errUnexpected)
			}
			time.Sleep(200 * time.Millisecond)
		}
	default:
		return fmt.Errorf("create %s: %d %s: %w", d.id, a.Status, a.Raw, errUnexpected)
	}
	d.actions = append(d.actions, "create")
	return nil
}

func (d *deal) editLead(ctx context.Context) error {
	_, err := d.act(ctx, http.MethodPatch, "", map[string]any{"jobTitle": "Chief Engines Officer", "rating": "Hot"}, workflows.ActEditLead)
	return err
}

func (d *deal) qualify(ctx context.Context) error {
	when := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	_, err := d.act(ctx, http.MethodPost, "/qualify", map[string]any{"estimatedCloseDate": when}, workflows.ActQualify)
	return err
}

func (d *deal) develop(ctx context.Context) error {
	steps := []struct {
		method, sub string
		body        any
		action      workflows.Action
	}{
		{http.MethodPatch, "", map[string]any{"customerNeed": "faster engines", "proposedSolution": "difference engine no. 2"}, workflows.ActEditOpportunity},
		{http.MethodPost, "/stakeholders", map[string]any{"name": "Charles Babbage", "email": "cb@customer.example", "role": "Decision Maker"}, workflows.ActAddStakeholder},
		{http.MethodPost, "/lines", map[string]any{"product": "Engine", "quantity": "3", "unitPrice": "1999.99", "discount": "100", "tax": "50.25"}, workflows.ActAddLine},
		{http.MethodPost, "/lines", map[string]any{"product": "Installation", "quantity": "1", "unitPrice": "15000"}, workflows.ActAddLine},
		{http.MethodPost, "/competitors", map[string]any{"name": "Jacquard Looms"}, workflows.ActAddCompetitor},
	}
	for _, s := range steps {
		if _, err := d.act(ctx, s.method, s.sub, s.body, s.action); err != nil {
			return err
		}
	}
	return nil
}

func (d *deal) propose(terms string) step {
	return func(ctx context.Context) error {
		_, err := d.act(ctx, http.MethodPost, "/quotes", map[string]any{"paymentTerms": terms}, workflows.ActPropose)
		return err
	}
}

func (d *deal) activate(rev int) step {
	return func(ctx context.Context) error {
		_, err := d.act(ctx, http.MethodPost, fmt.Sprintf("/quotes/%d/activate", rev), nil, workflows.ActActivateQuote)
		return err
	}
}

func (d *deal) revise(rev int) step {
	return func(ctx context.Context) error {
		_, err := d.act(ctx, http.MethodPost, fmt.Sprintf("/quotes/%d/revise", rev), nil, workflows.ActReviseQuote)
		return err
	}
}

func (d *deal) editQuote(rev int) step {
	return func(ctx context.Context) error {
		_, err := d.act(ctx, http.MethodPatch, fmt.Sprintf("/quotes/%d", rev), map[string]any{"lines": []map[string]any{
			{"product": "Engine", "quantity": "2", "unitPrice": "2100", "tax": "42"},
			{"product": "Installation", "quantity": "1", "unitPrice": "12500"},
		}}, workflows.ActEditQuote)
		return err
	}
}

func (d *deal) closeWon(ctx context.Context) error {
	_, err := d.act(ctx, http.MethodPost, "/close", map[string]any{"outcome": "won"}, workflows.ActClose)
	return err
}

func (d *deal) closeLost(ctx context.Context) error {
	_, err := d.act(ctx, http.MethodPost, "/close", map[string]any{"outcome": "lost", "reason": "Out-Sold", "competitor": "Jacquard Looms"}, workflows.ActClose)
	return err
}

func (d *deal) disqualify(ctx context.Context) error {
	_, err := d.act(ctx, http.MethodPost, "/disqualify", map[string]any{"reason": "No Longer Interested"}, workflows.ActDisqualify)
	return err
}

func (d *deal) cancelOrder(ctx context.Context) error {
	_, err := d.act(ctx, http.MethodPost, "/order/cancel", map[string]any{"reason": "budget frozen"}, workflows.ActCancelOrder)
	return err
}

func (d *deal) fulfill(ctx context.Context) error {
	a, err := d.act(ctx, http.MethodPost, "/order/fulfill", nil, workflows.ActFulfillOrder)
	if err != nil {
		return err
	}
	if d.total, err = decimal.NewFromString(a.str("total")); err != nil {
		return fmt.Errorf("fulfill %s: total %q: %w", d.id, a.str("total"), err)
	}
	d.balance = d.total
	return nil
}

func (d *deal) pay(amount string) step {
	return func(ctx context.Context) error {
		a, err := d.act(ctx, http.MethodPost, "/invoice/payments", map[string]any{"amount": amount}, workflows.ActRecordPayment)
		if err != nil {
			return err
		}
		if d.balance, err = decimal.NewFromString(a.str("balance")); err != nil {
			return fmt.Errorf("pay %s: balance %q: %w", d.id, a.str("balance"), err)
		}
		return nil
	}
}

// payShare pays share (a fraction) of the invoice total.
func (d *deal) payShare(share string) step {
	return func(ctx context.Context) error {
		return d.pay(d.total.Mul(decimal.RequireFromString(share)).Round(2).String())(ctx)
	}
}

func (d *deal) payRest(ctx context.Context) error {
	if err := d.pay(d.balance.String())(ctx); err != nil {
		return err
	}
	if !d.balance.IsZero() {
		return fmt.Errorf("deal %s: balance %s after paying the rest: %w", d.id, d.balance, errUnexpected)
	}
	return nil
}

// waitMessages waits until the deal has sent n follow-ups of kind.
func (d *deal) waitMessages(kind string, n int) step {
	return func(ctx context.Context) error {
		for {
			a, err := d.rep.call(ctx, http.MethodGet, d.path(""), nil, "")
			if err != nil {
				return err
			}
			if a.Status != http.StatusOK {
				return fmt.Errorf("GET %s: %d %s: %w", d.path(""), a.Status, a.Raw, errUnexpected)
			}
			got := 0
			msgs, _ := a.Body["messages"].([]any)
			for _, m := range msgs {
				if mm, _ := m.(map[string]any); mm["kind"] == kind {
					got++
				}
			}
			if got >= n {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("deal %s: %d of %d %s follow-ups: %w", d.id, got, n, kind, ctx.Err())
			case <-time.After(time.Second):
			}
		}
	}
}
