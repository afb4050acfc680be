package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"dealflow/internal/deals"
	"dealflow/workflows"
)

type demoFlags struct {
	temporal       temporalFlags
	owner, manager string
	ui             string
	tick           time.Duration
	tag            string
	timeout        time.Duration
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f demoFlags
	fs := flag.NewFlagSet("starter demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := f.temporal.register(fs); err != nil {
		fmt.Fprintf(stderr, "starter demo: %v\n", err)
		return 2
	}
	fs.StringVar(&f.owner, "owner", "rep@example.com", "owner of the demo deals (make up creates this rep)")
	fs.StringVar(&f.manager, "manager", "manager@example.com", "manager of the demo deals (make up creates this manager)")
	fs.StringVar(&f.ui, "ui", "http://localhost:8233", "base URL of the Temporal Web UI, for the links")
	fs.DurationVar(&f.tick, "tick", 2*time.Second, "the walk-through deal's follow-up period: its lead reminder and thank-you come this long after the step before")
	fs.StringVar(&f.tag, "tag", "", "run tag in the lead ids demo-TAG-<stage> (default: the time, so every run makes new deals)")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: starter demo [flags]

Creates a lead and drives it through every stage (Qualify, Develop, Propose,
Close, Order, Invoice, Paid) with a follow-up policy of seconds, so that its
reminders fire while you watch, printing each step, the ids of the records
it creates and the deal's Web UI link. Then it leaves one deal in each stage,
plus a lost and a disqualified one, on the real follow-up policy, for the
Web UI to show a manager. It needs a running worker (make up).

Flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "starter demo: unexpected arguments %q\n", pos)
		return 2
	}
	if f.tick < 100*time.Millisecond {
		fmt.Fprintf(stderr, "starter demo: -tick must be at least 100ms\n")
		return 2
	}
	if f.tag == "" {
		f.tag = time.Now().Format("0102-150405")
	}
	if !workflows.ValidID("demo-" + f.tag + "-disqualified") {
		fmt.Fprintf(stderr, "starter demo: -tag %q makes invalid lead ids (letters, digits, '-', '_', '.')\n", f.tag)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := f.temporal.dial(ctx, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "starter demo: %v\n", err)
		return 1
	}
	defer c.Close()
	d := &demo{c: c, out: stdout, f: f}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "starter demo: %v\n", err)
		return 1
	}
	return 0
}

// demo drives deals through Temporal directly, as the API would: every step
// is the deal's Workflow Update, refused by its validator when not allowed.
type demo struct {
	c   client.Client
	out io.Writer
	f   demoFlags
	n   int // steps printed
}

func (d *demo) id(stage string) string { return "demo-" + d.f.tag + "-" + stage }

// link is the deal's page in the Web UI.
func (d *demo) link(id string) string {
	return strings.TrimRight(d.f.ui, "/") + "/namespaces/" + url.PathEscape(d.f.temporal.namespace) +
		"/workflows/" + url.PathEscape(workflows.WorkflowID(id))
}

func (d *demo) step(format string, args ...any) {
	d.n++
	fmt.Fprintf(d.out, "%2d. %s\n", d.n, fmt.Sprintf(format, args...))
}

func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.out, "    %s\n", fmt.Sprintf(format, args...))
}

// prospect is a made-up lead of the demo.
type prospect struct {
	stage, topic, first, last, title, company, email, phone, source, rating, budget, value string
	// product, qty and price make the deal's main line; a service line
	// (installation, with tax) is added to every deal.
	product, qty, price string
}

var prospects = map[string]prospect{
	"paid":         {"Paid", "Standing desks for the new office", "Ada", "Park", "Facilities Manager", "Northwind Traders", "ada.park@northwind.example.com", "+1 206 555 0142", "Web", "Hot", "30000", "24500", "Standing desk, electric", "40", "549.00"},
	"qualify":      {"Qualify", "Handheld scanners for two warehouses", "Bruno", "Silva", "Operations Lead", "Fabrikam Logistics", "bruno.silva@fabrikam.example.com", "+351 21 555 0199", "Trade Show", "Warm", "", "18000", "Handheld scanner", "60", "289.00"},
	"develop":      {"Develop", "CRM training for 40 reps", "Chloé", "Martin", "Head of Sales Ops", "Contoso Pharma", "chloe.martin@contoso.example.com", "+33 1 55 55 01 23", "Seminar", "Warm", "15000", "12000", "Sales training seat", "40", "275.00"},
	"propose":      {"Propose", "Fleet telematics pilot", "Dev", "Patel", "Fleet Director", "Tailspin Freight", "dev.patel@tailspin.example.com", "+44 20 7946 0958", "Partner", "Hot", "60000", "52000", "Telematics unit", "85", "560.00"},
	"close":        {"Close", "Annual security audit", "Eva", "Novak", "CISO", "Litware Systems", "eva.novak@litware.example.com", "+420 2 5555 0101", "External Referral", "Hot", "40000", "38000", "Security audit, per site", "4", "8750.00"},
	"order":        {"Order", "Bike fitting stations", "Farid", "Haddad", "Store Manager", "Adventure Works Cycles", "farid.haddad@adventure-works.example.com", "+1 425 555 0177", "Word of Mouth", "Hot", "22000", "19800", "Bike fitting station", "6", "2990.00"},
	"invoice":      {"Invoice", "Cold-chain sensors for 12 trucks", "Greta", "Lindqvist", "Quality Manager", "Wide World Importers", "greta.lindqvist@wwi.example.com", "+46 8 555 0133", "Advertisement", "Hot", "9000", "8400", "Cold-chain sensor", "48", "159.90"},
	"lost":         {"Develop", "Data warehouse migration", "Hiro", "Tanaka", "CTO", "Proseware Analytics", "hiro.tanaka@proseware.example.com", "+81 3 5555 0155", "Web", "Cold", "120000", "95000", "Warehouse migration sprint", "8", "11250.00"},
	"disqualified": {"Qualify", "Self-service kiosks for 30 branches", "Ines", "Moreau", "Branch Network Manager", "Woodgrove Bank", "ines.moreau@woodgrove.example.com", "+32 2 555 0188", "Public Relations", "Cold", "200000", "150000", "Kiosk", "30", "4800.00"},
}

func (p prospect) lead(id, owner, manager string, policy *workflows.Policy) workflows.NewLead {
	money := func(s string) *decimal.Decimal {
		if s == "" {
			return nil
		}
		v := decimal.RequireFromString(s)
		return &v
	}
	return workflows.NewLead{
		ID: id, Owner: owner, Manager: manager, Currency: "USD", Policy: policy, CreatedBy: "starter demo",
		Lead: workflows.LeadFields{
			Topic: p.topic, FirstName: p.first, LastName: p.last, JobTitle: p.title, Company: p.company,
			Email: p.email, Phone: p.phone, Source: p.source, Rating: p.rating,
			Budget: money(p.budget), EstimatedValue: money(p.value),
			PurchaseTimeframe: "This Quarter", PurchaseProcess: "Committee",
			DecisionMakerIdentified: p.budget != "",
		},
	}
}

// fastPolicy is the walk-through deal's follow-up policy: reminders come
// tick after the step before, so they fire while the demo runs.
func fastPolicy(tick time.Duration) workflows.Policy {
	return workflows.Policy{
		LeadReminderAfter: tick, LeadReminders: 1,
		StageNudgeAfter: 30 * tick, StageNudges: 1,
		QuoteValidity: time.Hour, QuoteReminderBefore: 10 * time.Minute,
		InvoiceReminderBefore: tick, OverdueEvery: 30 * tick, OverdueNotices: 1,
		ReengageAfter: time.Hour, ThankYouAfter: tick, Retention: time.Hour,
		Day: tick,
	}
}

func (d *demo) run(ctx context.Context) error {
	if err := d.checkWorker(ctx); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "dealflow demo %s: Temporal %s, namespace %s, owner %s\n\n",
		d.f.tag, d.f.temporal.address, d.f.temporal.namespace, d.f.owner)
	if err := d.walkThrough(ctx); err != nil {
		return err
	}
	return d.park(ctx)
}

// checkWorker fails early, and says what to do, when no worker polls the
// deal task queue: every step would wait for it forever.
func (d *demo) checkWorker(ctx context.Context) error {
	resp, err := d.c.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return fmt.Errorf("describe task queue %s: %w", workflows.TaskQueue, err)
	}
	if len(resp.GetPollers()) == 0 {
		return fmt.Errorf("no worker polls task queue %s on %s (namespace %s): start the stack first (make up)",
			workflows.TaskQueue, d.f.temporal.address, d.f.temporal.namespace)
	}
	return nil
}

// walkThrough takes one lead from creation to the paid invoice.
func (d *demo) walkThrough(ctx context.Context) error {
	id := d.id("paid")
	p := prospects["paid"]
	policy := fastPolicy(d.f.tick)
	in := p.lead(id, d.f.owner, d.f.manager, &policy)
	fmt.Fprintf(d.out, "Walk-through: one lead from first contact to the paid invoice (follow-ups every %s)\n", d.f.tick)
	created := time.Now()
	if err := d.start(ctx, in); err != nil {
		return err
	}
	d.step("Created lead %s: %q — %s (%s %s), owner %s", id, p.topic, p.company, p.first, p.last, d.f.owner)
	d.detail("workflow  %s", workflows.WorkflowID(id))
	d.detail("Web UI    %s", d.link(id))

	d.step("Waiting for the lead's follow-up timer (%s of no action on an unqualified lead)…", d.f.tick)
	m, err := d.waitMessage(ctx, id, workflows.KindLeadReminder)
	if err != nil {
		return err
	}
	d.detail("reminder fired after %s: %q to %s", m.At.Sub(created).Round(100*time.Millisecond), m.Subject, m.Recipient)
	d.detail("message   %s (in the messages table)", m.Key)

	if err := d.qualify(ctx, id, true); err != nil {
		return err
	}
	if err := d.develop(ctx, id, true); err != nil {
		return err
	}
	rev, err := d.propose(ctx, id, true)
	if err != nil {
		return err
	}
	if err := d.present(ctx, id, rev, true); err != nil {
		return err
	}
	won := time.Now()
	if err := d.win(ctx, id, true); err != nil {
		return err
	}
	balance, err := d.fulfill(ctx, id, true)
	if err != nil {
		return err
	}
	if err := d.pay(ctx, id, balance, true); err != nil {
		return err
	}

	d.step("Waiting for the thank-you follow-up (%s after the win)…", d.f.tick)
	m, err = d.waitMessage(ctx, id, workflows.KindThankYou)
	if err != nil {
		return err
	}
	d.detail("thank-you fired %s after the win: %q to %s", m.At.Sub(won).Round(100*time.Millisecond), m.Subject, m.Recipient)
	d.detail("message   %s", m.Key)
	if err := d.waitCompleted(ctx, id); err != nil {
		return err
	}
	d.detail("nothing left to do: the deal's workflow completed (stage Paid, status won)")
	fmt.Fprintln(d.out)
	return nil
}

// park leaves one deal in each stage, plus a lost and a disqualified one, on
// the real follow-up policy so they stay put for the Web UI.
func (d *demo) park(ctx context.Context) error {
	order := []string{"qualify", "develop", "propose", "close", "order", "invoice", "lost", "disqualified"}
	type outcome struct {
		lines []string
		err   error
	}
	res := make([]outcome, len(order))
	var wg sync.WaitGroup
	for i, name := range order {
		wg.Go(func() {
			// Each deal writes its steps to its own buffer, printed in order.
			var b strings.Builder
			sub := &demo{c: d.c, out: &b, f: d.f}
			res[i].err = sub.parkOne(ctx, name)
			res[i].lines = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		})
	}
	wg.Wait()
	fmt.Fprintf(d.out, "Deals left in each stage (real follow-up policy), for the Web UI:\n")
	var errs []error
	for i, name := range order {
		id := d.id(name)
		fmt.Fprintf(d.out, "  %-13s %s\n", stageLabel(name), id)
		for _, l := range res[i].lines {
			if l != "" {
				fmt.Fprintf(d.out, "                %s\n", strings.TrimSpace(l))
			}
		}
		fmt.Fprintf(d.out, "                %s\n", d.link(id))
		if res[i].err != nil {
			errs = append(errs, fmt.Errorf("deal %s: %w", id, res[i].err))
		}
	}
	fmt.Fprintf(d.out, "  %-13s %s (the walk-through above)\n", "Paid", d.id("paid"))
	query := fmt.Sprintf("WorkflowId STARTS_WITH %q", workflows.WorkflowID(d.id("")))
	fmt.Fprintf(d.out, "\nAll of them: %s?query=%s\n", strings.TrimRight(d.f.ui, "/")+"/namespaces/"+url.PathEscape(d.f.temporal.namespace)+"/workflows", url.QueryEscape(query))
	fmt.Fprintf(d.out, "or:          temporal workflow list --query '%s'\n", query)
	fmt.Fprintf(d.out, "By stage:    temporal workflow list --query 'SalesStage=\"Close\"'\n")
	return errors.Join(errs...)
}

func stageLabel(name string) string {
	switch name {
	case "lost":
		return "Lost"
	case "disqualified":
		return "Disqualified"
	}
	return prospects[name].stage
}

// parkOne creates the named demo deal and moves it to its stage.
func (d *demo) parkOne(ctx context.Context, name string) error {
	id := d.id(name)
	p := prospects[name]
	if err := d.start(ctx, p.lead(id, d.f.owner, d.f.manager, nil)); err != nil {
		return err
	}
	d.detail("lead %q — %s", p.topic, p.company)
	switch name {
	case "qualify":
		v, err := d.state(ctx, id)
		if err != nil {
			return err
		}
		d.detail("next step: %s", v.NextStep)
		return nil
	case "disqualified":
		_, err := d.act(ctx, id, &workflows.Disqualify{Actor: d.actor(), Reason: "No Longer Interested", Note: "Budget moved to next year."})
		if err == nil {
			d.detail("disqualified: No Longer Interested")
		}
		return err
	}
	if err := d.qualify(ctx, id, false); err != nil || name == "develop" {
		return err
	}
	if err := d.develop(ctx, id, false); err != nil {
		return err
	}
	if name == "lost" {
		_, err := d.act(ctx, id, &workflows.Close{Actor: d.actor(), Outcome: "lost", Reason: "Out-Sold", Competitor: "Globex", Note: "Lower price, existing relationship."})
		if err == nil {
			d.detail("closed as lost: out-sold by Globex")
		}
		return err
	}
	rev, err := d.propose(ctx, id, false)
	if err != nil || name == "propose" {
		return err
	}
	if err := d.present(ctx, id, rev, false); err != nil || name == "close" {
		return err
	}
	if err := d.win(ctx, id, false); err != nil || name == "order" {
		return err
	}
	_, err = d.fulfill(ctx, id, false)
	return err
}

func (d *demo) actor() workflows.Actor { return workflows.Actor{Actor: d.f.owner} }

// say prints a step of the walk-through, or a detail line of a parked deal.
func (d *demo) say(numbered bool, format string, args ...any) {
	if numbered {
		d.step(format, args...)
	} else {
		d.detail(format, args...)
	}
}

func (d *demo) start(ctx context.Context, in workflows.NewLead) error {
	created, err := deals.Start(ctx, d.c, in)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("lead %s exists already: run the demo with another -tag", in.ID)
	}
	return nil
}

func (d *demo) qualify(ctx context.Context, id string, numbered bool) error {
	closeBy := time.Now().AddDate(0, 2, 0).UTC().Truncate(24 * time.Hour)
	res, err := d.act(ctx, id, &workflows.Qualify{Actor: d.actor(), EstimatedCloseDate: &closeBy})
	if err != nil {
		return err
	}
	v, err := d.state(ctx, id)
	if err != nil {
		return err
	}
	// The company or the contact's email may be on file already (an earlier
	// demo): qualification links those records rather than making new ones.
	linked := func(got, made string) string {
		if got == made {
			return got
		}
		return got + " (on file already)"
	}
	d.say(numbered, "Qualified → %s: account %s, contact %s, opportunity %s", res.Stage,
		linked(v.AccountID, "ACC-"+id), linked(v.ContactID, "CON-"+id), res.ID)
	return nil
}

func (d *demo) develop(ctx context.Context, id string, numbered bool) error {
	need, solution := "Replace ageing equipment before the next quarter", "Standard package with installation and a 3-year service plan"
	if _, err := d.act(ctx, id, &workflows.EditOpportunity{Actor: d.actor(), CustomerNeed: &need, ProposedSolution: &solution}); err != nil {
		return err
	}
	p := prospects[strings.TrimPrefix(id, "demo-"+d.f.tag+"-")]
	sh, err := d.act(ctx, id, &workflows.AddStakeholder{Actor: d.actor(), Name: p.first + " " + p.last, Email: p.email, Role: "Decision Maker"})
	if err != nil {
		return err
	}
	// The main line with a 5% discount, and installation with 8% tax.
	qty, price := decimal.RequireFromString(p.qty), decimal.RequireFromString(p.price)
	install := qty.Mul(price).Mul(decimal.New(6, -2)).Round(2)
	lines := []workflows.LineInput{
		{Product: p.product, Quantity: qty, UnitPrice: new(price), Discount: new(qty.Mul(price).Mul(decimal.New(5, -2)).Round(2))},
		{Product: "Installation and service plan", Quantity: decimal.New(1, 0), UnitPrice: new(install), Tax: new(install.Mul(decimal.New(8, -2)).Round(2))},
	}
	var ids []string
	var total decimal.Decimal
	for _, l := range lines {
		res, err := d.act(ctx, id, &workflows.AddLine{Actor: d.actor(), LineInput: l})
		if err != nil {
			return err
		}
		ids = append(ids, res.ID)
		if res.Total != nil {
			total = *res.Total
		}
	}
	d.say(numbered, "Developed: need and solution, stakeholder %s (Decision Maker), lines %s (total %s USD)",
		sh.ID, strings.Join(ids, ", "), total.StringFixed(2))
	return nil
}

func (d *demo) propose(ctx context.Context, id string, numbered bool) (int, error) {
	res, err := d.act(ctx, id, &workflows.Propose{Actor: d.actor(), PaymentTerms: "Net 30"})
	if err != nil {
		return 0, err
	}
	d.say(numbered, "Proposed → %s: draft quote %s (revision %d, %s USD, Net 30)", res.Stage, res.ID, res.Revision, res.Total.StringFixed(2))
	return res.Revision, nil
}

func (d *demo) present(ctx context.Context, id string, rev int, numbered bool) error {
	res, err := d.act(ctx, id, &workflows.ActivateQuote{Actor: d.actor(), Revision: rev})
	if err != nil {
		return err
	}
	d.say(numbered, "Presented quote %s → %s", res.ID, res.Stage)
	return nil
}

func (d *demo) win(ctx context.Context, id string, numbered bool) error {
	res, err := d.act(ctx, id, &workflows.Close{Actor: d.actor(), Outcome: "won"})
	if err != nil {
		return err
	}
	d.say(numbered, "Closed as won → %s: order %s (%s USD)", res.Stage, res.ID, res.Total.StringFixed(2))
	return nil
}

func (d *demo) fulfill(ctx context.Context, id string, numbered bool) (decimal.Decimal, error) {
	res, err := d.act(ctx, id, &workflows.FulfillOrder{Actor: d.actor()})
	if err != nil {
		return decimal.Zero, err
	}
	if res.Balance == nil {
		return decimal.Zero, fmt.Errorf("fulfill order of lead %s: no invoice balance in the result", id)
	}
	d.say(numbered, "Fulfilled the order → %s: %s", res.Stage, res.Message)
	return *res.Balance, nil
}

func (d *demo) pay(ctx context.Context, id string, amount decimal.Decimal, numbered bool) error {
	res, err := d.act(ctx, id, &workflows.RecordPayment{Actor: d.actor(), Amount: amount})
	if err != nil {
		return err
	}
	d.say(numbered, "Recorded a payment of %s USD on %s → %s", amount.StringFixed(2), res.ID, res.Stage)
	return nil
}

// act runs one rep action as the deal's Workflow Update and waits for its
// outcome; a refusal comes back as an error with the deal's reason.
func (d *demo) act(ctx context.Context, id string, cmd workflows.Command) (workflows.Result, error) {
	var res workflows.Result
	for {
		h, err := d.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   workflows.WorkflowID(id),
			UpdateName:   string(cmd.Action()),
			Args:         []any{cmd},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, &res)
		}
		if err == nil {
			return res, nil
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == workflows.RejectionErrorType {
			var rej *workflows.Rejection
			if derr := appErr.Details(&rej); derr == nil && rej != nil {
				return res, fmt.Errorf("%s on lead %s refused: %s", cmd.Action(), id, rej.Message)
			}
		}
		// A deal still setting itself up does not know its updates yet: the
		// SDK fails the Update, and the deal's state query is not registered
		// either (told by type, not by the SDK's wording).
		if !errors.As(err, &appErr) || !d.settingUp(ctx, id) {
			return res, fmt.Errorf("%s on lead %s: %w", cmd.Action(), id, err)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s on lead %s: %w", cmd.Action(), id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settingUp reports whether the deal's workflow has not registered its
// handlers yet: its state query fails (the SDK's "unknown queryType").
func (d *demo) settingUp(ctx context.Context, id string) bool {
	_, err := d.c.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryState)
	var qf *serviceerror.QueryFailed
	return errors.As(err, &qf)
}

// state asks the deal's workflow for its view, waiting while a deal just
// started has not set up its query handler yet.
func (d *demo) state(ctx context.Context, id string) (*workflows.DealView, error) {
	for {
		val, err := d.c.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryState)
		var qf *serviceerror.QueryFailed // the query is not registered yet
		if err != nil && !errors.As(err, &qf) {
			return nil, fmt.Errorf("query lead %s: %w", id, err)
		}
		if err == nil {
			var v workflows.DealView
			if err := val.Get(&v); err != nil {
				return nil, fmt.Errorf("decode the state of lead %s: %w", id, err)
			}
			if v.Deal != nil {
				return &v, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("query lead %s: not set up yet: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitMessage waits until the deal has sent a follow-up of kind.
func (d *demo) waitMessage(ctx context.Context, id, kind string) (workflows.Message, error) {
	for {
		v, err := d.state(ctx, id)
		if err != nil {
			return workflows.Message{}, err
		}
		for _, m := range v.Messages {
			if m.Kind == kind {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return workflows.Message{}, fmt.Errorf("lead %s: no %s follow-up yet: %w", id, kind, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitCompleted waits until the deal's workflow has completed.
func (d *demo) waitCompleted(ctx context.Context, id string) error {
	for {
		resp, err := d.c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
		if err != nil {
			return fmt.Errorf("describe lead %s: %w", id, err)
		}
		switch st := resp.GetWorkflowExecutionInfo().GetStatus(); st {
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			return nil
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		default:
			return fmt.Errorf("lead %s: workflow %s", id, st)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lead %s: workflow still running: %w", id, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
