// Command record drives deals along every path of the process through a
// running stack with the Temporal client, and saves their histories as JSON
// for the replay test (every run of a deal that continued as new). Run it
// against a stack whose worker runs today's committed workflow code: `make
// up` in a clean worktree of HEAD, so that uncommitted work in the tree
// cannot reach the worker (the recorder itself needs only workflows/):
//
//	git worktree add /tmp/v6wt HEAD
//	(cd /tmp/v6wt && make up)     # until Ctrl-C; the Temporal CLI comes from the user cache
//	go run ./workflows/testdata/record -prefix v6- -out workflows/testdata/histories
//
// The continue-as-new path needs a server that suggests it early: start a
// second dev server with
//
//	--dynamic-config-value limit.historyCount.suggestContinueAsNew=40
//
// and a worker on it (TEMPORAL_ADDRESS=ADDR, the stack's DATABASE_URL), and
// record only that script there (-only continue-as-new -temporal ADDR); in
// /tmp/v6wt:
//
//	.dev/bin/temporal server start-dev --ip 127.0.0.1 --port 7460 --headless --namespace default \
//	  --search-attribute SalesStage=Keyword --search-attribute SalesOwner=Keyword \
//	  --search-attribute DealStatus=Keyword --search-attribute Customer=Keyword \
//	  --search-attribute LeadSource=Keyword --search-attribute EstimatedRevenue=Double \
//	  --search-attribute ExpectedCloseDate=Datetime \
//	  --dynamic-config-value limit.historyCount.suggestContinueAsNew=40
//	TEMPORAL_ADDRESS=127.0.0.1:7460 WORKER_METRICS_ADDR= \
//	  DATABASE_URL='postgres://postgres@127.0.0.1:5433/dealflow?sslmode=disable' .dev/bin/worker
//
// and in the repository:
//
//	go run ./workflows/testdata/record -prefix v6- -out workflows/testdata/histories -only continue-as-new -temporal 127.0.0.1:7460
//
// Then stop the worker, the server and the stack (Ctrl-C), and `git worktree
// remove /tmp/v6wt`.
//
// The stack encrypts payloads (DEALFLOW_CODEC_KEY, or the dev key `make up`
// keeps in .dev/codec.env): give the recorder the same keys, e.g. `set -a;
// . /tmp/v6wt/.dev/codec.env; set +a` before `go run`. It saves the
// histories decrypted (search attributes are never encrypted), so the replay
// tests need no key, and it refuses to save a history it cannot decrypt.
//
// It lives under testdata so `go build ./...` and `go vet ./...` skip it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"dealflow/internal/codec"
	"dealflow/internal/config"
	"dealflow/workflows"
)

func main() {
	addr := flag.String("temporal", "127.0.0.1:7233", "Temporal frontend")
	out := flag.String("out", "workflows/testdata/histories", "output folder")
	prefix := flag.String("prefix", "", "file name prefix: the newest workflow version the histories carry, e.g. v3-")
	only := flag.String("only", "", "comma-separated script names to run (default: all but continue-as-new)")
	flag.Parse()
	// The payload keys of the environment (DEALFLOW_CODEC_*), as the
	// worker's; none: payloads go out plain, which the worker reads too.
	r := config.NewReader()
	conn := r.Temporal()
	if err := r.Err(); err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: *addr,
		DataConverter: conn.Options.DataConverter, FailureConverter: conn.Options.FailureConverter})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	suffix := time.Now().UTC().Format("20060102150405")
	all := scripts()
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	if *only != "" {
		names = strings.Split(*only, ",")
	} else {
		names = slices.DeleteFunc(names, func(n string) bool { return n == "continue-as-new" })
	}
	for _, name := range names {
		sc, ok := all[name]
		if !ok {
			log.Fatalf("no script %q", name)
		}
		id := "record-" + name + "-" + suffix
		runs, err := drive(ctx, c, id, sc)
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		for i, runID := range runs {
			file := *prefix + name + ".json"
			if len(runs) > 1 {
				file = fmt.Sprintf("%s%s-run%d.json", *prefix, name, i+1)
			}
			if err := save(ctx, c, conn.Encryption, id, runID, filepath.Join(*out, file)); err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			fmt.Println("recorded", file, id, runID)
		}
	}
}

// step is one thing the script does to the deal: an Update (refused when
// reject is set), a Signal (raw when payload is set), or a wait until the
// deal's state satisfies until.
type step struct {
	act     workflows.Action
	cmd     any
	signal  bool
	payload *commonpb.Payload
	reject  string
	until   func(workflows.DealView) bool
	what    string // what a wait waits for
	// id is the Update's ID when it must be a given one (a retry).
	id string
	// mk builds the command when the step is taken, from the deal's state
	// then: an activity's id, a due time a few seconds ahead.
	mk func(workflows.DealView) any
}

// withID gives an Update a fixed ID, so that a later step can retry it.
func withID(id string, st step) step { st.id = id; return st }

func update(act workflows.Action, cmd any) step { return step{act: act, cmd: cmd} }
func refused(act workflows.Action, cmd any, code string) step {
	return step{act: act, cmd: cmd, reject: code}
}
func signal(act workflows.Action, cmd any) step { return step{act: act, cmd: cmd, signal: true} }

// later makes st's command when it is taken (see step.mk).
func later(st step, mk func(workflows.DealView) any) step { st.mk = mk; return st }

// ahead is the time d from now, the moment a step is taken.
func ahead(d time.Duration) *time.Time {
	t := time.Now().UTC().Add(d).Truncate(time.Millisecond)
	return &t
}

// activityID is the id of the deal's last activity with the subject.
func activityID(v workflows.DealView, subject string) string {
	for i := len(v.Activities) - 1; i >= 0; i-- {
		if v.Activities[i].Subject == subject {
			return v.Activities[i].ID
		}
	}
	return "no-activity-" + subject
}
func rawSignal(act workflows.Action, p *commonpb.Payload) step {
	return step{act: act, signal: true, payload: p}
}
func wait(what string, until func(workflows.DealView) bool) step {
	return step{what: what, until: until}
}

// sent waits until the deal has sent n messages of each kind.
func sent(kinds ...string) step {
	return wait("messages "+strings.Join(kinds, ","), func(v workflows.DealView) bool {
		want := map[string]int{}
		for _, k := range kinds {
			want[k]++
		}
		for _, m := range v.Messages {
			want[m.Kind]--
		}
		for _, n := range want {
			if n > 0 {
				return false
			}
		}
		return true
	})
}

// events waits until the timeline holds n entries: a signal has been taken.
func events(n int) step {
	return wait(fmt.Sprintf("%d timeline entries", n), func(v workflows.DealView) bool { return len(v.Timeline) >= n })
}

type script struct {
	steps []step
	// policy shortens the follow-ups so that every one fires within seconds.
	policy workflows.Policy
	// open: the deal is left running (not waited for) when the script ends.
	open bool
	// minRuns is the number of runs the deal must have had (continue-as-new).
	minRuns int
	// currency is the deal's currency (default USD); priceList its price
	// list (default none: the currency's default list).
	currency, priceList string
	// allowDuplicate creates the lead although the API found possible
	// duplicates (NewLead.AllowDuplicate).
	allowDuplicate bool
}

func d(s string) decimal.Decimal   { return decimal.RequireFromString(s) }
func s(v string) *string           { return &v }
func d2(v string) *decimal.Decimal { x := d(v); return &x }

// catalog is a catalog line as the API sends it once it has priced it from
// the deal's price list: the recorder plays the API, a trusted operator.
func catalog(list, cur, id, name, unit, price string, qty string) workflows.LineInput {
	return workflows.LineInput{ProductID: id, Quantity: d(qty), Catalog: &workflows.CatalogPrice{
		PriceListID: list, Currency: cur, ProductID: id, Product: name, Unit: unit, UnitPrice: d(price)}}
}

// paid waits until the invoice is paid in full, the last payment having
// earned the early-payment discount given (0: none). It checks that the
// money rules settled the invoice as the script expects.
func paid(discount string) step {
	return wait("the invoice paid, last discount "+discount, func(v workflows.DealView) bool {
		inv := v.Invoice
		return inv != nil && inv.Status == workflows.InvoicePaid && len(inv.Payments) > 0 &&
			inv.Payments[len(inv.Payments)-1].Discount.Equal(d(discount))
	})
}

// quick ends deals within seconds: no idle follow-up fires unless a script
// waits for it.
func quick() workflows.Policy {
	p := workflows.DefaultPolicy()
	p.ThankYouAfter, p.ReengageAfter, p.Retention = time.Second, time.Second, 3*time.Second
	return p
}

// timed makes every follow-up fire within a few seconds of its cause.
func timed() workflows.Policy {
	return workflows.Policy{
		LeadReminderAfter: time.Second, LeadReminders: 2,
		StageNudgeAfter: 1500 * time.Millisecond, StageNudges: 2,
		QuoteValidity: 5 * time.Second, QuoteReminderBefore: 2 * time.Second,
		InvoiceReminderBefore: time.Second, OverdueEvery: time.Second, OverdueNotices: 2,
		ReengageAfter: time.Second, ThankYouAfter: time.Second, Retention: 3 * time.Second,
		Day: 100 * time.Millisecond, // Net 30 is due 3 s after the invoice
	}
}

// activityTimers reminds of an appointment or a task 2 s before it is due.
// TaskReminderAt is 23:00 UTC, after the tasks' due times (seconds ahead,
// recorded before 23:00), so a task reminds 2 s before it is due rather than
// the morning of its day, already past.
func activityTimers() workflows.Policy {
	p := quick()
	p.ActivityReminderBefore, p.TaskReminderAt = 2*time.Second, 23*time.Hour
	return p
}

// today is midnight UTC of the day: a close date the deal's creation day
// allows.
func today() *time.Time { t := time.Now().UTC().Truncate(24 * time.Hour); return &t }

func scripts() map[string]script {
	develop := []step{
		update(workflows.ActEditLead, workflows.EditLead{Rating: s("Hot")}),
		update(workflows.ActQualify, workflows.Qualify{}),
		update(workflows.ActEditOpportunity, workflows.EditOpportunity{CustomerNeed: s("faster month-end close"), ProposedSolution: s("hosted ledger")}),
		update(workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Dana Fox", Role: "Decision Maker"}),
		update(workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam"}),
		update(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("25"), UnitPrice: d2("480.00"), Tax: d2("960")}}),
		update(workflows.ActPropose, workflows.Propose{PaymentTerms: "Net 30"}),
		update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}),
	}
	join := func(a []step, b ...step) []step { return append(append([]step{}, a...), b...) }
	state := func(what string, f func(workflows.DealView) bool) step { return wait(what, f) }
	return map[string]script{
		"won": {policy: quick(), steps: join(develop,
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("5000")}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("7960")}))},
		"lost": {policy: quick(), steps: join(develop,
			update(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"}))},
		"revised": {policy: quick(), steps: join(develop,
			update(workflows.ActReviseQuote, workflows.ReviseQuote{Revision: 1}),
			update(workflows.ActEditQuote, workflows.EditQuote{Revision: 2, Lines: &[]workflows.LineInput{{Product: "Ledger seat", Quantity: d("30"), UnitPrice: d2("450")}}}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActCancelOrder, workflows.CancelOrder{Reason: "customer merged with another"}))},

		// Every item of the opportunity removed again, the deal reassigned,
		// won, paid in part by a Signal and its invoice canceled.
		"items-invoice-canceled": {policy: quick(), steps: join(develop,
			update(workflows.ActAddTeamMember, workflows.AddTeamMember{UserID: "carol@example.com", Role: "Presales"}),
			update(workflows.ActRemoveTeamMember, workflows.RemoveItem{ID: "team-4"}),
			update(workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Lee Park", Role: "Influencer"}),
			update(workflows.ActRemoveStakeholder, workflows.RemoveItem{ID: "stakeholder-5"}),
			update(workflows.ActRemoveCompetitor, workflows.RemoveItem{ID: "competitor-2"}),
			update(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Setup", Quantity: d("1"), UnitPrice: d2("900")}}),
			update(workflows.ActRemoveLine, workflows.RemoveItem{ID: "line-6"}),
			update(workflows.ActAssign, workflows.Assign{Owner: "rep2@example.com"}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			signal(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("2000")}),
			state("the payment taken", func(v workflows.DealView) bool { return v.Invoice != nil && len(v.Invoice.Payments) == 1 }),
			update(workflows.ActCancelInvoice, workflows.CancelInvoice{Reason: "billed the wrong entity"}))},

		// The invoice's actions as Signals: fulfilled, then canceled.
		"invoice-signals": {policy: quick(), steps: join(develop,
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			signal(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			state("the invoice", func(v workflows.DealView) bool { return v.Invoice != nil }),
			signal(workflows.ActCancelInvoice, workflows.CancelInvoice{Reason: "customer disputes the delivery"}))},

		// Activities as Updates, on a lead created although the API found
		// possible duplicates: a call completed (the lead is Contacted),
		// an email sent through the outbox, a task whose reminder fires, is
		// moved (new reminders, keyed by the new due time) and goes overdue
		// before it is completed, an appointment reminded and overdue
		// (every one from a timer), a note, a task canceled; then qualified
		// allowing duplicates, developed and won with a close date (today;
		// tomorrow refused) and a description, fulfilled and paid, a call
		// left open that the workflow cancels as it ends.
		"activities": {policy: activityTimers(), allowDuplicate: true, steps: []step{
			update(workflows.ActAddActivity, workflows.AddActivity{Type: workflows.ActivityPhoneCall, ActivityFields: workflows.ActivityFields{
				Subject: s("Intro call"), Direction: s("outgoing"), PhoneNumber: s("+1 555 0100")}}),
			state("a new lead", func(v workflows.DealView) bool { return v.Lead.StatusReason == workflows.LeadNew }),
			later(update(workflows.ActCompleteActivity, nil), func(v workflows.DealView) any {
				return workflows.CompleteActivity{ID: activityID(v, "Intro call"), Outcome: "interested; wants a demo"}
			}),
			state("the lead contacted", func(v workflows.DealView) bool { return v.Lead.StatusReason == workflows.LeadContacted }),
			update(workflows.ActAddActivity, workflows.AddActivity{Type: workflows.ActivityEmail, Send: true, ActivityFields: workflows.ActivityFields{
				Subject: s("Thanks for your time"), Description: s("As promised, the demo invitation follows."), To: s("pat@contoso.example")}}),
			sent(workflows.KindActivityEmail),
			later(update(workflows.ActAddActivity, nil), func(workflows.DealView) any {
				return workflows.AddActivity{Type: workflows.ActivityTask, ActivityFields: workflows.ActivityFields{
					Subject: s("Send the security questionnaire"), DueAt: ahead(6 * time.Second), Priority: s("high")}}
			}),
			sent(workflows.KindActivityEmail, workflows.KindActivityReminder),
			later(update(workflows.ActEditActivity, nil), func(v workflows.DealView) any {
				return workflows.EditActivity{ID: activityID(v, "Send the security questionnaire"), ActivityFields: workflows.ActivityFields{DueAt: ahead(5 * time.Second)}}
			}),
			sent(workflows.KindActivityEmail, workflows.KindActivityReminder, workflows.KindActivityReminder, workflows.KindActivityOverdue),
			later(update(workflows.ActCompleteActivity, nil), func(v workflows.DealView) any {
				return workflows.CompleteActivity{ID: activityID(v, "Send the security questionnaire"), Outcome: "sent, a day late"}
			}),
			later(update(workflows.ActAddActivity, nil), func(workflows.DealView) any {
				return workflows.AddActivity{Type: workflows.ActivityAppointment, ActivityFields: workflows.ActivityFields{
					Subject: s("Demo"), StartAt: ahead(4 * time.Second), EndAt: ahead(6 * time.Second), Location: s("Contoso HQ"),
					Attendees: &[]string{"pat@contoso.example", "rep@example.com"}}}
			}),
			sent(workflows.KindActivityEmail, workflows.KindActivityReminder, workflows.KindActivityReminder, workflows.KindActivityReminder,
				workflows.KindActivityOverdue, workflows.KindActivityOverdue),
			later(update(workflows.ActCompleteActivity, nil), func(v workflows.DealView) any {
				return workflows.CompleteActivity{ID: activityID(v, "Demo"), Outcome: "went well"}
			}),
			update(workflows.ActAddActivity, workflows.AddActivity{Type: workflows.ActivityNote, ActivityFields: workflows.ActivityFields{
				Description: s("Prefers quarterly billing")}}),
			later(update(workflows.ActAddActivity, nil), func(workflows.DealView) any {
				return workflows.AddActivity{Type: workflows.ActivityTask, ActivityFields: workflows.ActivityFields{
					Subject: s("Chase legal"), DueAt: ahead(time.Hour)}}
			}),
			later(update(workflows.ActCancelActivity, nil), func(v workflows.DealView) any {
				return workflows.CancelActivity{ID: activityID(v, "Chase legal")}
			}),
			state("every activity done", func(v workflows.DealView) bool {
				return len(v.Activities) == 6 && !slices.ContainsFunc(v.Activities, func(a workflows.Activity) bool {
					return a.Status == workflows.ActivityOpen && a.Type != workflows.ActivityNote
				})
			}),
			update(workflows.ActEditLead, workflows.EditLead{Rating: s("Hot")}),
			update(workflows.ActQualify, workflows.Qualify{AllowDuplicate: true}),
			develop[2], develop[3], develop[4], develop[5], develop[6], develop[7],
			later(refused(workflows.ActClose, nil, workflows.RejectInvalid), func(workflows.DealView) any {
				return workflows.Close{Outcome: "won", CloseDate: ahead(48 * time.Hour)}
			}),
			later(update(workflows.ActClose, nil), func(workflows.DealView) any {
				return workflows.Close{Outcome: "won", CloseDate: today(), Description: "Signed after the demo"}
			}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			// Left open: the paid deal's workflow cancels it as it ends.
			update(workflows.ActAddActivity, workflows.AddActivity{Type: workflows.ActivityPhoneCall, ActivityFields: workflows.ActivityFields{
				Subject: s("Call about the renewal")}}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("12960")}),
		}},

		// Refusals: Updates refused by the validator (never in the history,
		// but replay must not need them) and by the gate, and a refused
		// Signal, which is recorded in the timeline.
		"refused": {policy: quick(), steps: []step{
			refused(workflows.ActPropose, workflows.Propose{}, workflows.RejectWrongStage),
			refused(workflows.ActAddLine, map[string]any{"product": "x", "quantity": "-2", "unitPrice": "1"}, workflows.RejectInvalid),
			update(workflows.ActEditLead, workflows.EditLead{Budget: d2("0")}),
			refused(workflows.ActQualify, workflows.Qualify{}, workflows.RejectGate),
			signal(workflows.ActQualify, workflows.Qualify{}), // the gate again, now as a signal: recorded refused
			events(3),
			update(workflows.ActEditLead, workflows.EditLead{Budget: d2("20000")}),
			update(workflows.ActQualify, workflows.Qualify{}),
			refused(workflows.ActRemoveLine, workflows.RemoveItem{ID: "line-9"}, workflows.RejectNotFound),
			refused(workflows.ActAddTeamMember, workflows.AddTeamMember{Actor: workflows.Actor{Actor: "eve@example.com", ActorRole: workflows.RoleRep}, UserID: "eve@example.com"}, workflows.RejectNoAccess),
			update(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Canceled"}),
		}},

		// Every action as a Signal, with malformed, invalid, wrong-stage and
		// unreadable payloads among them; the deal ends canceled.
		"signals": {policy: quick(), steps: signalsAll()},

		"disqualify-reactivate": {policy: quick(), steps: []step{
			update(workflows.ActDisqualify, workflows.Disqualify{Reason: "Cannot Contact"}),
			refused(workflows.ActQualify, workflows.Qualify{}, workflows.RejectWrongStage),
			update(workflows.ActReactivate, workflows.Reactivate{}),
			update(workflows.ActQualify, workflows.Qualify{}),
			update(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Canceled"}),
		}},

		// Lost, re-engaged, reopened, and lost again: the retention window
		// ends it.
		"lost-reopen": {policy: quick(), steps: join(develop,
			update(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"}),
			sent(workflows.KindReengage),
			update(workflows.ActReopen, workflows.Reopen{}),
			update(workflows.ActPropose, workflows.Propose{}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2}),
			update(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Canceled"}))},

		// An untouched lead: two reminders, the escalation, then disqualified
		// and ended by its retention window.
		"followups-lead": {policy: timed(), steps: []step{
			sent(workflows.KindLeadReminder, workflows.KindLeadReminder, workflows.KindLeadEscalation),
			update(workflows.ActDisqualify, workflows.Disqualify{Reason: "No Longer Interested"}),
		}},

		// A quote left unanswered: stage nudges, the expiry reminder, the
		// expiry; then won, an idle order nudged, an invoice reminded and
		// overdue twice, paid, thanked.
		"followups-deal": {policy: timed(), steps: join(develop,
			sent(workflows.KindStageNudge, workflows.KindStageNudge, workflows.KindQuoteExpiring, workflows.KindQuoteExpired),
			update(workflows.ActPropose, workflows.Propose{PaymentTerms: "Net 30"}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			sent(workflows.KindThankYou),
			state("an idle order nudged", func(v workflows.DealView) bool { return v.Stage == workflows.StageOrder && v.FollowUps.Nudges > 0 }),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			sent(workflows.KindInvoiceDue, workflows.KindInvoiceOverdue, workflows.KindInvoiceOverdue),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("12960")}))},

		// The money rules (version 1 of "currency-pricing") in yen, which has
		// no minor unit, on the deal's own price list: write-in and catalog
		// lines with percentage discounts and tax rates (each product and
		// share rounded to the yen), refusals of amounts with decimals (a
		// payment also as a Signal, its refusal recorded), of a write-in line
		// without a price and of a line priced from another price list,
		// quote charges (a percentage discount and freight, then an amount
		// and more freight), and the invoice settled within the "2% 10,
		// Net 30" window by the discounted amount, written with trailing
		// zeros. Rules: README "Money"; rounding half away from zero.
		//
		//	seat  3 × 33333 = 99999, -12.5% 12499.875→12500, +10% of 87499 = 8749.9→8750
		//	setup 1 × 150000 (catalog), +10% 15000
		//	detail 237499, tax 23750; propose -5% 11874.95→11875 +2500 freight = 251874
		//	edit -10000 +3000 freight = 254249; 2% of it 5084.98→5085; due 249164
		"money-jpy": {policy: quick(), currency: "JPY", priceList: "jpy-list-2027", steps: join(develop[:5],
			refused(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("3")}}, workflows.RejectInvalid),
			refused(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("3"), UnitPrice: d2("33333.5")}}, workflows.RejectInvalid),
			refused(workflows.ActAddLine, workflows.AddLine{LineInput: catalog("jpy-list-2026", "JPY", "ledger-setup", "Ledger setup", "each", "150000", "1")}, workflows.RejectInvalid),
			update(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Unit: "seat", Quantity: d("3"), UnitPrice: d2("33333"),
				DiscountPercent: d2("12.5"), TaxPercent: d2("10")}}),
			update(workflows.ActAddLine, workflows.AddLine{LineInput: func() workflows.LineInput {
				l := catalog("jpy-list-2027", "JPY", "ledger-setup", "Ledger setup", "each", "150000", "1")
				l.TaxPercent = d2("10")
				return l
			}()}),
			update(workflows.ActPropose, workflows.Propose{PaymentTerms: "2% 10, Net 30", Charges: workflows.Charges{DiscountPercent: d2("5"), Freight: d2("2500")}}),
			state("the quote priced", func(v workflows.DealView) bool {
				return len(v.Quotes) == 1 && v.Quotes[0].Total.Equal(d("251874"))
			}),
			update(workflows.ActEditQuote, workflows.EditQuote{Revision: 1, Charges: workflows.Charges{Discount: d2("10000"), Freight: d2("3000")}}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			refused(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("249163.5")}, workflows.RejectInvalid),
			// The same as a Signal: refused, and the refusal recorded.
			signal(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("249163.5")}),
			state("the payment signal refused", func(v workflows.DealView) bool {
				last := v.Timeline[len(v.Timeline)-1]
				return last.Action == string(workflows.ActRecordPayment) && !last.Accepted
			}),
			// Sent as JSON so that the trailing zeros reach the workflow (a
			// decimal.Decimal marshals without them).
			update(workflows.ActRecordPayment, map[string]any{"amount": "249164.00000"}),
			paid("5085"))},

		// The money rules in euros, on the currency's default price list:
		// a catalog line with a percentage discount beside a write-in one,
		// a fixed quote discount and freight on the proposal, then the
		// quote's lines replaced (the catalog line with an amount discount)
		// and a percentage discount; the invoice's full face value paid
		// within the "2% 10, Net 30" window, which settles it with no
		// discount.
		//
		//	propose: day 2.5 × 1234.56 = 3086.40, -7.5% 231.48, +19% of 2854.92 = 542.4348→542.43
		//	         seat 10 × 39.90 = 399.00, -10% 39.90, +19% of 359.10 = 68.229→68.23
		//	         detail 3214.02 -150.00 +45.50 freight +610.66 tax = 3720.18
		//	edit:    day 3 × 1234.56 = 3703.68, -7.5% 277.776→277.78, +19% of 3425.90 = 650.921→650.92
		//	         seat 12 × 39.90 = 478.80, -20.00, +19% of 458.80 = 87.172→87.17
		//	         detail 3884.70 -2.5% 97.1175→97.12 +60 freight +738.09 tax = 4585.67
		"money-eur": {policy: quick(), currency: "EUR", steps: join(develop[:5],
			update(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Consulting day", Unit: "day", Quantity: d("2.5"), UnitPrice: d2("1234.56"),
				DiscountPercent: d2("7.5"), TaxPercent: d2("19")}}),
			update(workflows.ActAddLine, workflows.AddLine{LineInput: func() workflows.LineInput {
				l := catalog("eur-list-2027", "EUR", "ledger-seat", "Ledger seat", "seat", "39.90", "10")
				l.DiscountPercent, l.TaxPercent = d2("10"), d2("19")
				return l
			}()}),
			update(workflows.ActPropose, workflows.Propose{PaymentTerms: "2% 10, Net 30", Charges: workflows.Charges{Discount: d2("150.00"), Freight: d2("45.50")}}),
			state("the quote priced", func(v workflows.DealView) bool {
				return len(v.Quotes) == 1 && v.Quotes[0].Total.Equal(d("3720.18"))
			}),
			update(workflows.ActEditQuote, workflows.EditQuote{Revision: 1, Lines: &[]workflows.LineInput{
				{Product: "Consulting day", Unit: "day", Quantity: d("3"), UnitPrice: d2("1234.56"), DiscountPercent: d2("7.5"), TaxPercent: d2("19")},
				func() workflows.LineInput {
					l := catalog("eur-list-2027", "EUR", "ledger-seat", "Ledger seat", "seat", "39.90", "12")
					l.Discount, l.TaxPercent = d2("20.00"), d2("19")
					return l
				}(),
			}, Charges: workflows.Charges{DiscountPercent: d2("2.5"), Freight: d2("60")}}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			state("the invoice of 4585.67", func(v workflows.DealView) bool { return v.Invoice != nil && v.Invoice.Total.Equal(d("4585.67")) }),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("4585.67")}),
			paid("0"))},

		// A long deal on a server that suggests continue-as-new after a few
		// dozen events: it crosses runs mid-way, and a retried Update (same
		// ID) after the move is answered from the carried state.
		"continue-as-new": {policy: quick(), minRuns: 2, steps: join(develop[:4],
			withID("first-competitor", update(workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam"})),
			update(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("25"), UnitPrice: d2("480.00"), Tax: d2("960")}}),
			update(workflows.ActPropose, workflows.Propose{PaymentTerms: "Net 30"}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1}),
			update(workflows.ActReviseQuote, workflows.ReviseQuote{Revision: 1}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2}),
			update(workflows.ActReviseQuote, workflows.ReviseQuote{Revision: 2}),
			update(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 3}),
			update(workflows.ActClose, workflows.Close{Outcome: "won"}),
			update(workflows.ActFulfillOrder, workflows.FulfillOrder{}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("1000")}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("1000")}),
			// By now the deal has moved to a later run: the same Update
			// again is answered from the carried state (a second Fabrikam
			// would be refused by the gate).
			withID("first-competitor", update(workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam"})),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("1000")}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("1000")}),
			update(workflows.ActRecordPayment, workflows.RecordPayment{Amount: d("8960")}))},
	}
}

// signalsAll sends every action as a Signal, each taken before the next is
// sent (a selector over many channels would otherwise pick by channel, not by
// arrival). Bad payloads are recorded as refused and the deal goes on.
func signalsAll() []step {
	var out []step
	n := 1 // the creation is the first timeline entry
	sig := func(act workflows.Action, cmd any) {
		n++
		out = append(out, signal(act, cmd), events(n))
	}
	sig(workflows.ActEditLead, map[string]any{"rating": "Cold"})
	sig(workflows.ActDisqualify, map[string]any{"reason": 42})        // malformed
	sig(workflows.ActDisqualify, map[string]any{"reason": "Boredom"}) // invalid value
	sig(workflows.ActFulfillOrder, map[string]any{})                  // wrong stage
	n++
	out = append(out, rawSignal(workflows.ActDisqualify, &commonpb.Payload{ // unreadable encoding
		Metadata: map[string][]byte{"encoding": []byte("application/x-nonsense")},
		Data:     []byte(`{"reason":"Lost"}`),
	}), events(n))
	sig(workflows.ActDisqualify, workflows.Disqualify{Reason: "Lost"})
	sig(workflows.ActReactivate, workflows.Reactivate{})
	sig(workflows.ActAssign, workflows.Assign{Owner: "rep2@example.com"})
	sig(workflows.ActQualify, workflows.Qualify{})
	sig(workflows.ActEditOpportunity, workflows.EditOpportunity{CustomerNeed: s("audit trail"), ProposedSolution: s("hosted ledger")})
	sig(workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Dana Fox", Role: "Decision Maker"})
	sig(workflows.ActAddStakeholder, workflows.AddStakeholder{Name: "Lee Park", Role: "Influencer"})
	sig(workflows.ActRemoveStakeholder, workflows.RemoveItem{ID: "stakeholder-2"})
	sig(workflows.ActAddCompetitor, workflows.AddCompetitor{Name: "Fabrikam"})
	sig(workflows.ActRemoveCompetitor, workflows.RemoveItem{ID: "competitor-3"})
	sig(workflows.ActAddTeamMember, workflows.AddTeamMember{UserID: "carol@example.com"})
	sig(workflows.ActRemoveTeamMember, workflows.RemoveItem{ID: "team-4"})
	sig(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Ledger seat", Quantity: d("10"), UnitPrice: d2("480")}})
	sig(workflows.ActAddLine, workflows.AddLine{LineInput: workflows.LineInput{Product: "Setup", Quantity: d("1"), UnitPrice: d2("900")}})
	sig(workflows.ActRemoveLine, workflows.RemoveItem{ID: "line-6"})
	sig(workflows.ActPropose, workflows.Propose{})
	sig(workflows.ActEditQuote, workflows.EditQuote{Revision: 1, Name: s("Ledger, 10 seats")})
	sig(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 1})
	sig(workflows.ActReviseQuote, workflows.ReviseQuote{Revision: 1})
	sig(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 2})
	sig(workflows.ActClose, workflows.Close{Outcome: "lost", Reason: "Canceled"})
	sig(workflows.ActReopen, workflows.Reopen{})
	sig(workflows.ActPropose, workflows.Propose{})
	sig(workflows.ActActivateQuote, workflows.ActivateQuote{Revision: 3})
	// The activity actions, with due times days ahead (no reminder fires
	// while the script runs, which would add to the timeline).
	lsig := func(act workflows.Action, mk func(workflows.DealView) any) {
		n++
		out = append(out, later(signal(act, nil), mk), events(n))
	}
	lsig(workflows.ActAddActivity, func(workflows.DealView) any {
		return workflows.AddActivity{Type: workflows.ActivityTask, ActivityFields: workflows.ActivityFields{
			Subject: s("Book the onboarding"), DueAt: ahead(72 * time.Hour)}}
	})
	lsig(workflows.ActEditActivity, func(v workflows.DealView) any {
		return workflows.EditActivity{ID: activityID(v, "Book the onboarding"), ActivityFields: workflows.ActivityFields{
			DueAt: ahead(96 * time.Hour), Priority: s("high")}}
	})
	lsig(workflows.ActCompleteActivity, func(v workflows.DealView) any {
		return workflows.CompleteActivity{ID: activityID(v, "Book the onboarding"), Outcome: "booked"}
	})
	sig(workflows.ActAddActivity, workflows.AddActivity{Type: workflows.ActivityPhoneCall, ActivityFields: workflows.ActivityFields{
		Subject: s("Call about the order"), Direction: s("incoming")}})
	lsig(workflows.ActCancelActivity, func(v workflows.DealView) any {
		return workflows.CancelActivity{ID: activityID(v, "Call about the order")}
	})
	sig(workflows.ActClose, workflows.Close{Outcome: "won"})
	sig(workflows.ActCancelOrder, workflows.CancelOrder{Reason: "order placed twice"})
	return out
}

func drive(ctx context.Context, c client.Client, id string, sc script) (runs []string, err error) {
	p := sc.policy
	cur := sc.currency
	if cur == "" {
		cur = "USD"
	}
	in := workflows.NewLead{ID: id, Owner: "rep@example.com", Manager: "manager@example.com", Currency: cur, PriceListID: sc.priceList, Policy: &p,
		AllowDuplicate: sc.allowDuplicate,
		Lead: workflows.LeadFields{Topic: "Ledger for " + id, FirstName: "Pat", LastName: "Lee", Company: "Contoso " + id,
			Email: "pat@contoso.example", Source: "Web", Budget: d2("20000"), PurchaseTimeframe: "This Quarter", DecisionMakerIdentified: true}}
	// Started as the API starts a deal: with the created Update
	// (Update-with-Start), so that the histories carry it.
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: workflows.WorkflowID(id), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    workflows.StartSearchAttributes(in), StaticSummary: workflows.Summary(in),
	}, workflows.WorkflowName, in)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateID: id + "-created", UpdateName: workflows.UpdateCreated,
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	if err != nil {
		return nil, err
	}
	var created workflows.DealView
	if err := h.Get(ctx, &created); err != nil {
		return nil, fmt.Errorf("created: %w", err)
	}
	if created.ID != id || len(created.Timeline) != 1 {
		return nil, fmt.Errorf("created answered deal %q with %d timeline entries", created.ID, len(created.Timeline))
	}
	run, err := start.Get(ctx)
	if err != nil {
		return nil, err
	}
	for i, st := range sc.steps {
		updateID := fmt.Sprintf("%s-%d", id, i)
		if st.id != "" {
			updateID = id + "-" + st.id
		}
		if err := do(ctx, c, run.GetID(), updateID, st); err != nil {
			return nil, fmt.Errorf("step %d %s%s: %w", i, st.act, st.what, err)
		}
	}
	if !sc.open {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		// Get follows the chain of continue-as-new to the last run.
		if err := c.GetWorkflow(wctx, run.GetID(), "").Get(wctx, nil); err != nil {
			return nil, fmt.Errorf("wait for the end: %w", err)
		}
	}
	runs, err = chain(ctx, c, run.GetID(), run.GetRunID())
	if err == nil && len(runs) < sc.minRuns {
		err = fmt.Errorf("%d runs, want at least %d: is the server suggesting continue-as-new early?", len(runs), sc.minRuns)
	}
	return runs, err
}

func do(ctx context.Context, c client.Client, wid, updateID string, st step) error {
	if st.mk != nil {
		v, err := query(ctx, c, wid)
		if err != nil {
			return err
		}
		st.cmd = st.mk(v)
	}
	switch {
	case st.until != nil:
		deadline := time.Now().Add(time.Minute)
		for {
			v, err := query(ctx, c, wid)
			if err != nil {
				return err
			}
			if st.until(v) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("waited a minute for %s; state %s/%s, %d messages", st.what, v.Stage, v.Status, len(v.Messages))
			}
			time.Sleep(100 * time.Millisecond)
		}
	case st.payload != nil:
		return c.SignalWorkflow(ctx, wid, "", string(st.act), converter.NewRawValue(st.payload))
	case st.signal:
		return c.SignalWorkflow(ctx, wid, "", string(st.act), st.cmd)
	}
	for {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: wid, UpdateName: string(st.act), Args: []any{st.cmd},
			UpdateID: updateID, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		code := rejection(err)
		var notReady *serviceerror.WorkflowNotReady
		if code == workflows.RejectMoving || errors.As(err, &notReady) {
			// The run is ending to continue as new: send it again, to the
			// next run, as the API does.
			fmt.Println("  retried", st.act, "after", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if st.reject == "" {
			return err
		}
		if code != st.reject {
			return fmt.Errorf("want refusal %q, got %v", st.reject, err)
		}
		return nil
	}
}

// rejection is the code of a refused action's error, "" for any other.
func rejection(err error) string {
	var app *temporal.ApplicationError
	var rej *workflows.Rejection
	if !errors.As(err, &app) || app.Type() != workflows.RejectionErrorType || app.Details(&rej) != nil || rej == nil {
		return ""
	}
	return rej.Code
}

func query(ctx context.Context, c client.Client, wid string) (workflows.DealView, error) {
	var v workflows.DealView
	val, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryState)
	if err == nil {
		err = val.Get(&v)
	}
	return v, err
}

// chain lists the runs from the first, following continue-as-new.
func chain(ctx context.Context, c client.Client, wid, runID string) ([]string, error) {
	runs := []string{runID}
	for {
		it := c.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		var last *historypb.HistoryEvent
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, err
			}
			last = ev
		}
		can := last.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			return runs, nil
		}
		runID = can.GetNewExecutionRunId()
		runs = append(runs, runID)
	}
}

// save writes a run's history, its payloads decrypted with keys (nil: none).
func save(ctx context.Context, c client.Client, keys *codec.Keyring, id, runID, path string) error {
	it := c.GetWorkflowHistory(ctx, workflows.WorkflowID(id), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	if keys != nil {
		if err := codec.DecodeHistory(ctx, keys, h); err != nil {
			return err
		}
	}
	if n, err := codec.EncryptedPayloads(ctx, h); err != nil || n > 0 {
		return fmt.Errorf("the history holds %d encrypted payloads (%v): give the recorder the stack's keys "+
			"(set -a; . .dev/codec.env; set +a)", n, err)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
