package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Rejection codes.
const (
	// RejectInvalid: the input itself is invalid (the API's 422).
	RejectInvalid = "invalid"
	// RejectWrongStage: the action is not allowed in the deal's stage or status (409).
	RejectWrongStage = "wrong_stage"
	// RejectGate: the stage's gate is not met; Missing says what is missing (409).
	RejectGate = "gate"
	// RejectNotFound: the item the action names does not exist (404).
	RejectNotFound = "not_found"
	// RejectNoAccess: the API's user is neither a manager nor on the deal's
	// team; the API answers as if the deal did not exist (404).
	RejectNoAccess = "no_access"
	// RejectEnded: the deal's workflow is ending; it takes no more actions
	// (409, as for an ended one).
	RejectEnded = "ended"
	// RejectMoving: the deal's workflow is continuing as new; the action is
	// to be sent again, to the new run (the API retries it).
	RejectMoving = "moving"
)

// Rejection is why an action was refused. Nothing was written.
type Rejection struct {
	Code    string       `json:"code"`
	Action  Action       `json:"action"`
	Stage   Stage        `json:"stage"`
	Status  Status       `json:"status"`
	Message string       `json:"message"`
	Missing []string     `json:"missing,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
	// Version is the deal's version when a RejectStale refused the action.
	Version int `json:"version,omitempty"`
}

func (r *Rejection) Error() string { return r.Message }

// Result is what an accepted action returns.
type Result struct {
	Stage  Stage  `json:"stage"`
	Status Status `json:"status"`
	// ID of the record the action created or changed (line, quote, order, …).
	ID       string           `json:"id,omitempty"`
	Revision int              `json:"revision,omitempty"`
	Total    *decimal.Decimal `json:"total,omitempty"`
	Balance  *decimal.Decimal `json:"balance,omitempty"`
	// Message is a one-line account of what happened.
	Message string `json:"message"`
	// Version is the deal's version after the action (the API's ETag).
	Version int `json:"version,omitempty"`
}

// DefaultCurrency is a deal's currency when its lead names none.
const DefaultCurrency = "USD"

// NewDeal builds the state of a new deal from the workflow input, under the
// current money rules.
func NewDeal(in NewLead, now time.Time) *Deal {
	p := DefaultPolicy()
	if in.Policy != nil {
		p = *in.Policy
	}
	cur := in.Currency
	if cur == "" {
		cur = DefaultCurrency
	}
	f := in.Lead
	d := &Deal{
		ID: in.ID, Owner: in.Owner, Manager: in.Manager, Currency: cur,
		PriceListID: in.PriceListID, Pricing: PricingCurrency,
		Stage: StageQualify, Status: StatusOpen,
		Lead: Lead{Topic: f.Topic, FirstName: f.FirstName, LastName: f.LastName, Company: f.Company,
			JobTitle: f.JobTitle, Email: f.Email, Phone: f.Phone, Source: f.Source, Rating: f.Rating,
			PurchaseTimeframe: f.PurchaseTimeframe, PurchaseProcess: f.PurchaseProcess,
			DecisionMakerIdentified: f.DecisionMakerIdentified, ExistingAccountID: f.ExistingAccountID,
			ExistingContactID: f.ExistingContactID, Status: "Open", StatusReason: LeadNew, DuplicateAllowed: in.AllowDuplicate},
		CreatedAt: now, StageEnteredAt: now, LastActivityAt: now,
		Policy:  p,
		History: []StageLog{{StageQualify, now}},
	}
	if f.Budget != nil {
		d.Lead.Budget = *f.Budget
	}
	if f.EstimatedValue != nil {
		d.Lead.EstimatedValue = *f.EstimatedValue
	}
	if d.Manager == "" {
		d.Manager = d.Owner
	}
	return d
}

// Created records the creation of the lead and returns its Change.
func (d *Deal) Created(by string, now time.Time) Change {
	if by == "" {
		by = d.Owner
	}
	detail := "lead created: " + d.Lead.Topic
	if d.Lead.DuplicateAllowed {
		detail += " (possible duplicates allowed)"
	}
	return d.change(d.record(now, by, "create", true, detail))
}

// Clone returns a deep copy, so an action can be tried without touching the
// deal (the Update validator) or applied only once its records are written.
func (d *Deal) Clone() *Deal {
	b, err := json.Marshal(d)
	// mutate:equivalent "→ if false" a Deal always marshals and unmarshals: plain fields only
	if err != nil {
		panic(fmt.Sprintf("clone deal %s: %v", d.ID, err))
	}
	c := new(Deal)
	// mutate:equivalent "→ if false" a Deal always marshals and unmarshals: plain fields only
	if err := json.Unmarshal(b, c); err != nil {
		panic(fmt.Sprintf("clone deal %s: %v", d.ID, err))
	}
	return c
}

// Check reports whether Apply would accept the action now, without changing d.
func (d *Deal) Check(cmd Command, now time.Time) error {
	_, err := d.plan(cmd, now)
	return err
}

// Authorize refuses an API user who may not act on the deal: a rep who is
// neither its owner nor on its sales team. It is checked by the Update
// validator only, so that the API needs no read of the deal before acting
// and the check sees the same state as the action.
func (d *Deal) Authorize(cmd Command) *Rejection {
	role := cmd.ByRole()
	if role == "" || role == RoleManager || d.OnTeam(cmd.By()) {
		return nil
	}
	return &Rejection{Code: RejectNoAccess, Action: cmd.Action(),
		Message: fmt.Sprintf("%s may not act on lead %s", cmd.By(), d.ID)}
}

// Apply runs one rep action: it checks the input, the stage and the gate,
// changes d, records the timeline event and returns the Change to persist.
// On a rejection d is unchanged.
func (d *Deal) Apply(cmd Command, now time.Time) (Change, Result, error) {
	do, err := d.plan(cmd, now)
	if err != nil {
		return Change{}, Result{}, err
	}
	ch, res := do()
	d.touch(now)
	ev := d.record(now, cmd.By(), string(cmd.Action()), true, res.Message)
	base := d.change(ev)
	base.Qualify, base.Opportunity, base.Quotes, base.Order, base.Invoice = ch.Qualify, ch.Opportunity, ch.Quotes, ch.Order, ch.Invoice
	base.Activities, base.Messages = ch.Activities, ch.Messages
	res.Stage, res.Status = d.Stage, d.Status
	return base, res, nil
}

// plan checks the action (its input, the stage table, its method's gates)
// and returns its effect, without changing d.
func (d *Deal) plan(cmd Command, now time.Time) (effect, error) {
	act := cmd.Action()
	if fields := cmd.Validate(); len(fields) > 0 {
		return nil, d.reject(RejectInvalid, act, nil, fields, "invalid %s input: %s", act, Describe(fields))
	}
	if a, ok := cmd.(withAmounts); ok {
		if fields := checkAmounts(d.Pricing, d.Currency, a.amounts()); len(fields) > 0 {
			return nil, d.reject(RejectInvalid, act, nil, fields, "invalid %s input: %s", act, Describe(fields))
		}
	}
	s, ok := SpecOf(act)
	if !ok {
		return nil, d.reject(RejectInvalid, act, nil, nil, "unknown action %q", act)
	}
	if !s.allows(d) {
		return nil, s.wrongStage(d)
	}
	return s.plan(d, cmd, now)
}

// Reject records a refused action (a signal the deal could not take) in the
// timeline and returns the Change that persists that event.
func (d *Deal) Reject(act Action, by string, reason string, now time.Time) Change {
	return d.change(d.record(now, by, string(act), false, reason))
}

// QualifyMissing lists what qualification still needs (DESIGN.md §2).
func (d *Deal) QualifyMissing() []string { return d.Lead.qualifyMissing() }

func (l Lead) qualifyMissing() []string {
	var m []string
	if strings.TrimSpace(l.FirstName+l.LastName) == "" {
		m = append(m, "contact name")
	}
	if l.Email == "" && l.Phone == "" {
		m = append(m, "contact email or phone")
	}
	if l.Company == "" && l.ExistingAccountID == "" {
		m = append(m, "company or existing account")
	}
	if !l.Budget.IsPositive() {
		m = append(m, "budget")
	}
	if l.PurchaseTimeframe == "" || l.PurchaseTimeframe == "Unknown" {
		m = append(m, "purchase timeframe")
	}
	if !l.DecisionMakerIdentified {
		m = append(m, "decision maker identified")
	}
	return m
}

// DevelopMissing lists what the Develop stage still needs before a quote.
func (d *Deal) DevelopMissing() []string {
	o := d.Opportunity
	var m []string
	if strings.TrimSpace(o.CustomerNeed) == "" {
		m = append(m, "customer need")
	}
	if strings.TrimSpace(o.ProposedSolution) == "" {
		m = append(m, "proposed solution")
	}
	if len(o.Stakeholders) == 0 {
		m = append(m, "at least one stakeholder")
	}
	if len(o.Lines) == 0 {
		m = append(m, "at least one product line")
	}
	return m
}

// NextStep tells the rep what the deal needs next, in words.
func (d *Deal) NextStep() string {
	switch d.Status {
	case StatusLost:
		return "reopen the opportunity, or let it expire"
	case StatusDisqualified:
		return "reactivate the lead, or let it expire"
	case StatusCanceled:
		return "none (canceled)"
	}
	switch d.Stage {
	case StageQualify:
		if m := d.QualifyMissing(); len(m) > 0 {
			return "complete the lead: " + strings.Join(m, ", ")
		}
		return "qualify the lead"
	case StageDevelop:
		if m := d.DevelopMissing(); len(m) > 0 {
			return "develop: " + strings.Join(m, ", ")
		}
		return "create a quote"
	case StagePropose:
		// mutate:equivalent "→ drop q != nil" a deal enters Propose only with a quote (TestInvariantsOnRandomPaths)
		if q := d.CurrentQuote(); q != nil && q.Status == QuoteDraft {
			return fmt.Sprintf("activate quote revision %d", q.Revision)
		}
		return "create a quote"
	case StageClose:
		return "close the deal as won or lost"
	case StageOrder:
		return "fulfill the order"
	case StageInvoice:
		return "collect " + d.describeAmount(d.Balance())
	}
	return "none"
}

// AmountDue is what settles the invoice at now: the balance, less the early
// payment discount when the terms grant one and its window is still open.
func (d *Deal) AmountDue(now time.Time) decimal.Decimal {
	b := d.Balance()
	if disc := d.earlyDiscount(now); b.GreaterThan(disc) {
		return b.Sub(disc)
	}
	return b
}

// Balance is what is still open on the invoice, rounded to the currency (an
// invoice of a deal priced before the money rules may carry more decimals).
func (d *Deal) Balance() decimal.Decimal {
	return d.round(d.Invoice.Balance())
}

// earlyDiscount is the discount the terms grant for paying at now: 2% of the
// total within 10 days on "2% 10, Net 30", else zero.
func (d *Deal) earlyDiscount(now time.Time) decimal.Decimal {
	inv := d.Invoice
	if inv.PaymentTerms != "2% 10, Net 30" || now.After(inv.CreatedAt.Add(10*d.Policy.Day)) {
		return decimal.Zero
	}
	if d.Pricing == PricingExact {
		return inv.Total.Mul(decimal.New(2, -2)).Round(2)
	}
	return d.round(inv.Total.Mul(decimal.New(2, -2)))
}

// termDays is the number of days to pay under the payment terms.
func termDays(terms string) int {
	switch terms {
	case "Net 45":
		return 45
	case "Net 60":
		return 60
	}
	return 30 // Net 30 and 2% 10, Net 30
}

func (d *Deal) currentQuote(act Action, rev int, status string) (*Quote, error) {
	q := d.quoteByRevision(rev)
	if q == nil {
		return nil, d.reject(RejectNotFound, act, nil, nil, "no quote revision %d", rev)
	}
	if cur := d.CurrentQuote(); cur.Revision != rev {
		return nil, d.reject(RejectGate, act, nil, nil, "quote revision %d is not the current one (%d is)", rev, cur.Revision)
	}
	if q.Status != status {
		return nil, d.reject(RejectGate, act, nil, nil, "quote %s is %s; %s needs a %s quote", q.ID, q.Status, act, status)
	}
	return q, nil
}

func (d *Deal) reject(code string, act Action, missing []string, fields []FieldError, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Action: act, Stage: d.Stage, Status: d.Status,
		Message: fmt.Sprintf(format, args...), Missing: missing, Fields: fields}
}

// enter moves the deal to a stage.
func (d *Deal) enter(s Stage, now time.Time) {
	d.Stage, d.StageEnteredAt = s, now
	d.History = append(d.History, StageLog{s, now})
}

// touch restarts the idle clock: a rep acted, so idle reminders start over.
func (d *Deal) touch(now time.Time) {
	d.LastActivityAt = now
	d.FollowUps.LeadReminders, d.FollowUps.Escalated, d.FollowUps.Nudges = 0, false, 0
}

// record appends a timeline event.
func (d *Deal) record(now time.Time, actor, action string, accepted bool, detail string) Event {
	d.NextSeq++
	e := Event{Seq: d.NextSeq, At: now, Actor: actor, Action: action, Accepted: accepted, Detail: detail, Stage: d.Stage}
	d.Timeline = append(d.Timeline, e)
	return e
}

// itemID numbers opportunity items deterministically within the deal.
func (d *Deal) itemID(kind string) string {
	d.NextItem++
	return fmt.Sprintf("%s-%d", kind, d.NextItem)
}

// change builds the Change every step writes: header, lead, event, and the
// deal's records as they are after the step. They are the deal's own (not
// copies): a local activity's input is not encoded, and the state a step
// leaves is never changed in place (the next step works on a Clone).
func (d *Deal) change(ev Event) Change {
	return Change{Deal: d.Header(), Lead: d.Lead, Event: ev, Records: &Records{
		Opportunity: d.Opportunity, Quotes: d.Quotes, Order: d.Order, Invoice: d.Invoice,
		Activities: d.Activities, Messages: d.Messages,
	}}
}

// keptBy returns which child rows of ch's touched records are as they were
// in d, the deal at its previous step, whose rows PostgreSQL holds: the store
// need not rewrite those (about half the line rewrites of a won deal). A
// record d lacks is new and keeps nothing. Lists are compared by their JSON:
// the store writes what JSON carries (amounts as decimal strings), and the
// same amount may be held with another exponent after arithmetic than
// after a Clone, which reflect's deep equality would call a change.
func (d *Deal) keptBy(ch Change) *Kept {
	var k Kept
	same := func(a, b any) bool {
		x, errX := json.Marshal(a)
		y, errY := json.Marshal(b)
		return errX == nil && errY == nil && bytes.Equal(x, y)
	}
	if o, p := ch.Opportunity, d.Opportunity; o != nil && p != nil && o.ID == p.ID {
		k.OpportunityLines = same(o.Lines, p.Lines)
		k.Stakeholders = same(o.Stakeholders, p.Stakeholders)
		k.Competitors = same(o.Competitors, p.Competitors)
		k.Team = same(o.Team, p.Team)
	}
	for _, q := range ch.Quotes {
		for _, p := range d.Quotes {
			if p.ID == q.ID && same(q.Lines, p.Lines) {
				k.QuoteLines = append(k.QuoteLines, q.ID)
			}
		}
	}
	if o, p := ch.Order, d.Order; o != nil && p != nil && o.ID == p.ID {
		k.OrderLines = same(o.Lines, p.Lines)
	}
	if i, p := ch.Invoice, d.Invoice; i != nil && p != nil && i.ID == p.ID {
		k.InvoiceLines = same(i.Lines, p.Lines)
	}
	if k.none() {
		return nil
	}
	return &k
}

// Header is the deal's row in the leads table.
func (d *Deal) Header() DealHeader {
	return DealHeader{ID: d.ID, Owner: d.Owner, Stage: d.Stage, Status: d.Status, Currency: d.Currency, PriceListID: d.PriceListID,
		Customer: d.Customer(), Value: d.Value(), AccountID: d.AccountID, ContactID: d.ContactID,
		CreatedAt: d.CreatedAt, StageEnteredAt: d.StageEnteredAt, ClosedAt: d.ClosedAt}
}

// setNonEmpty sets *dst to v when v is not empty.
func setNonEmpty(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// setVal sets *dst to *v when v is given.
func setVal[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Describe joins field errors as "field reason; field reason".
func Describe(fields []FieldError) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + " " + f.Reason
	}
	return strings.Join(parts, "; ")
}

// JoinNames joins names (stages, statuses, …) with sep.
func JoinNames[T ~string](names []T, sep string) string {
	parts := make([]string, len(names))
	for i, x := range names {
		parts[i] = string(x)
	}
	return strings.Join(parts, sep)
}
