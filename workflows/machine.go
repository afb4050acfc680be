package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// rule says where an action is allowed: the stages and the deal statuses.
// The gates (what an action needs beyond the stage) live in Apply's cases.
type rule struct {
	stages   []Stage
	statuses []Status
}

var (
	opportunityStages = []Stage{StageDevelop, StagePropose, StageClose}
	open              = []Status{StatusOpen}
	won               = []Status{StatusWon}
)

// rules is the stage table of DESIGN.md §2: one line per action.
var rules = map[Action]rule{
	ActEditLead:          {[]Stage{StageQualify}, open},
	ActQualify:           {[]Stage{StageQualify}, open},
	ActDisqualify:        {[]Stage{StageQualify}, open},
	ActReactivate:        {[]Stage{StageQualify}, []Status{StatusDisqualified}},
	ActAssign:            {[]Stage{StageQualify, StageDevelop, StagePropose, StageClose, StageOrder, StageInvoice}, []Status{StatusOpen, StatusWon}},
	ActEditOpportunity:   {opportunityStages, open},
	ActAddStakeholder:    {opportunityStages, open},
	ActRemoveStakeholder: {opportunityStages, open},
	ActAddCompetitor:     {opportunityStages, open},
	ActRemoveCompetitor:  {opportunityStages, open},
	ActAddTeamMember:     {opportunityStages, open},
	ActRemoveTeamMember:  {opportunityStages, open},
	ActAddLine:           {opportunityStages, open},
	ActRemoveLine:        {opportunityStages, open},
	ActPropose:           {[]Stage{StageDevelop, StagePropose}, open},
	ActEditQuote:         {[]Stage{StagePropose}, open},
	ActActivateQuote:     {[]Stage{StagePropose}, open},
	ActReviseQuote:       {[]Stage{StagePropose, StageClose}, open},
	ActClose:             {opportunityStages, open},
	ActReopen:            {opportunityStages, []Status{StatusLost}},
	ActFulfillOrder:      {[]Stage{StageOrder}, won},
	ActCancelOrder:       {[]Stage{StageOrder}, won},
	ActRecordPayment:     {[]Stage{StageInvoice}, won},
	ActCancelInvoice:     {[]Stage{StageInvoice}, won},
}

// Actions lists every action in a stable order.
var Actions = []Action{
	ActEditLead, ActQualify, ActDisqualify, ActReactivate, ActAssign,
	ActEditOpportunity, ActAddStakeholder, ActRemoveStakeholder, ActAddCompetitor, ActRemoveCompetitor,
	ActAddTeamMember, ActRemoveTeamMember, ActAddLine, ActRemoveLine,
	ActPropose, ActEditQuote, ActActivateQuote, ActReviseQuote,
	ActClose, ActReopen, ActFulfillOrder, ActCancelOrder, ActRecordPayment, ActCancelInvoice,
}

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
}

// NewDeal builds the state of a new deal from the workflow input.
func NewDeal(in NewLead, now time.Time) *Deal {
	p := DefaultPolicy()
	if in.Policy != nil {
		p = *in.Policy
	}
	cur := in.Currency
	if cur == "" {
		cur = "USD"
	}
	f := in.Lead
	d := &Deal{
		ID: in.ID, Owner: in.Owner, Manager: in.Manager, Currency: cur,
		Stage: StageQualify, Status: StatusOpen,
		Lead: Lead{Topic: f.Topic, FirstName: f.FirstName, LastName: f.LastName, Company: f.Company,
			JobTitle: f.JobTitle, Email: f.Email, Phone: f.Phone, Source: f.Source, Rating: f.Rating,
			PurchaseTimeframe: f.PurchaseTimeframe, PurchaseProcess: f.PurchaseProcess,
			DecisionMakerIdentified: f.DecisionMakerIdentified, ExistingAccountID: f.ExistingAccountID,
			Status: "Open"},
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
	return d.change(d.record(now, by, "create", true, "lead created: "+d.Lead.Topic))
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
	_, _, err := d.Clone().Apply(cmd, now)
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
	act := cmd.Action()
	if fields := cmd.Validate(); len(fields) > 0 {
		return Change{}, Result{}, d.reject(RejectInvalid, act, nil, fields, "invalid %s input: %s", act, describe(fields))
	}
	r, ok := rules[act]
	if !ok {
		return Change{}, Result{}, d.reject(RejectInvalid, act, nil, nil, "unknown action %q", act)
	}
	if !slices.Contains(r.stages, d.Stage) || !slices.Contains(r.statuses, d.Status) {
		return Change{}, Result{}, d.reject(RejectWrongStage, act, nil, nil,
			"%s is not allowed in stage %s while the deal is %s (allowed in %s while %s)",
			act, d.Stage, d.Status, joinStages(r.stages), joinStatuses(r.statuses))
	}
	// Work on a copy so a rejected gate leaves d untouched.
	next := d.Clone()
	ch, res, err := next.apply(cmd, now)
	if err != nil {
		return Change{}, Result{}, err
	}
	*d = *next
	d.touch(now)
	ev := d.record(now, cmd.By(), string(act), true, res.Message)
	base := d.change(ev)
	base.Qualify, base.Opportunity, base.Quotes, base.Order, base.Invoice = ch.Qualify, ch.Opportunity, ch.Quotes, ch.Order, ch.Invoice
	res.Stage, res.Status = d.Stage, d.Status
	return base, res, nil
}

// Reject records a refused action (a signal the deal could not take) in the
// timeline and returns the Change that persists that event.
func (d *Deal) Reject(act Action, by string, reason string, now time.Time) Change {
	return d.change(d.record(now, by, string(act), false, reason))
}

func (d *Deal) apply(cmd Command, now time.Time) (Change, Result, error) {
	var ch Change
	switch c := cmd.(type) {
	case *EditLead:
		l := &d.Lead
		setStr(&l.Topic, c.Topic)
		setStr(&l.FirstName, c.FirstName)
		setStr(&l.LastName, c.LastName)
		setStr(&l.Company, c.Company)
		setStr(&l.JobTitle, c.JobTitle)
		setStr(&l.Email, c.Email)
		setStr(&l.Phone, c.Phone)
		setStr(&l.Source, c.Source)
		setStr(&l.Rating, c.Rating)
		setStr(&l.PurchaseTimeframe, c.PurchaseTimeframe)
		setStr(&l.PurchaseProcess, c.PurchaseProcess)
		setStr(&l.ExistingAccountID, c.ExistingAccountID)
		if c.Budget != nil {
			l.Budget = *c.Budget
		}
		if c.EstimatedValue != nil {
			l.EstimatedValue = *c.EstimatedValue
		}
		if c.DecisionMakerIdentified != nil {
			l.DecisionMakerIdentified = *c.DecisionMakerIdentified
		}
		return ch, Result{Message: "lead edited"}, nil

	case *Qualify:
		if missing := d.QualifyMissing(); len(missing) > 0 {
			return ch, Result{}, d.reject(RejectGate, ActQualify, missing, nil, "cannot qualify: missing %s", strings.Join(missing, ", "))
		}
		l := &d.Lead
		l.Status = "Qualified"
		d.Opportunity = &Opportunity{
			ID: "OPP-" + d.ID, Name: l.Topic, Status: "Open",
			Probability:        map[string]int{"Hot": 70, "Warm": 40, "Cold": 10}[l.Rating],
			EstimatedCloseDate: c.EstimatedCloseDate,
		}
		if l.EstimatedValue.IsPositive() {
			v := l.EstimatedValue
			d.Opportunity.RevenueOverride = &v
		}
		ch.Qualify = &QualifyRecord{
			AccountID: l.ExistingAccountID, AccountName: l.Company,
			NewAccountID: "ACC-" + d.ID, NewContactID: "CON-" + d.ID,
			FirstName: l.FirstName, LastName: l.LastName, Email: l.Email, Phone: l.Phone, JobTitle: l.JobTitle,
		}
		ch.Opportunity = d.Opportunity
		d.enter(StageDevelop, now)
		return ch, Result{ID: d.Opportunity.ID, Message: "lead qualified: opportunity " + d.Opportunity.ID}, nil

	case *Disqualify:
		d.Lead.Status, d.Lead.DisqualifyReason = "Disqualified", c.Reason
		d.Status, d.ClosedAt = StatusDisqualified, &now
		return ch, Result{Message: "lead disqualified: " + c.Reason}, nil

	case *Reactivate:
		d.Lead.Status, d.Lead.DisqualifyReason = "Open", ""
		d.Status, d.ClosedAt = StatusOpen, nil
		d.FollowUps = FollowUps{}
		return ch, Result{Message: "lead reactivated"}, nil

	case *Assign:
		if c.Owner == d.Owner {
			return ch, Result{}, d.reject(RejectGate, ActAssign, nil, nil, "the deal is already owned by %s", c.Owner)
		}
		old := d.Owner
		d.Owner = c.Owner
		return ch, Result{Message: fmt.Sprintf("owner changed from %s to %s", old, c.Owner)}, nil

	case *EditOpportunity:
		o := d.Opportunity
		setStr(&o.CustomerNeed, c.CustomerNeed)
		setStr(&o.ProposedSolution, c.ProposedSolution)
		if c.EstimatedRevenue != nil {
			v := *c.EstimatedRevenue
			o.RevenueOverride = &v
		}
		if c.ClearRevenueOverride {
			o.RevenueOverride = nil
		}
		if c.EstimatedCloseDate != nil {
			o.EstimatedCloseDate = c.EstimatedCloseDate
		}
		if c.Probability != nil {
			o.Probability = *c.Probability
		}
		ch.Opportunity = o
		return ch, Result{ID: o.ID, Message: "opportunity edited"}, nil

	case *AddStakeholder:
		o := d.Opportunity
		for _, s := range o.Stakeholders {
			if strings.EqualFold(s.Name, c.Name) && s.Role == c.Role {
				return ch, Result{}, d.reject(RejectGate, ActAddStakeholder, nil, nil, "%s is already a stakeholder as %s (%s)", c.Name, c.Role, s.ID)
			}
		}
		id := d.itemID("stakeholder")
		o.Stakeholders = append(o.Stakeholders, Stakeholder{ID: id, Name: c.Name, Email: c.Email, Role: c.Role})
		ch.Opportunity = o
		return ch, Result{ID: id, Message: fmt.Sprintf("stakeholder %s added as %s", c.Name, c.Role)}, nil

	case *AddCompetitor:
		o := d.Opportunity
		for _, x := range o.Competitors {
			if strings.EqualFold(x.Name, c.Name) {
				return ch, Result{}, d.reject(RejectGate, ActAddCompetitor, nil, nil, "%s is already a competitor (%s)", c.Name, x.ID)
			}
		}
		id := d.itemID("competitor")
		o.Competitors = append(o.Competitors, Competitor{ID: id, Name: c.Name, Strengths: c.Strengths})
		ch.Opportunity = o
		return ch, Result{ID: id, Message: "competitor " + c.Name + " added"}, nil

	case *AddTeamMember:
		o := d.Opportunity
		if d.OnTeam(c.UserID) {
			return ch, Result{}, d.reject(RejectGate, ActAddTeamMember, nil, nil, "%s already works this deal", c.UserID)
		}
		id := d.itemID("team")
		o.Team = append(o.Team, TeamMember{ID: id, UserID: c.UserID, Role: c.Role})
		ch.Opportunity = o
		return ch, Result{ID: id, Message: c.UserID + " joined the sales team"}, nil

	case *AddLine:
		o := d.Opportunity
		if len(o.Lines) >= maxLines {
			return ch, Result{}, d.reject(RejectGate, ActAddLine, nil, nil, "the opportunity already has %d lines", maxLines)
		}
		id := d.itemID("line")
		o.Lines = append(o.Lines, c.line(id))
		ch.Opportunity = o
		total := Total(o.Lines)
		return ch, Result{ID: id, Total: &total, Message: fmt.Sprintf("line %s added: %s", id, c.Product)}, nil

	case *RemoveItem:
		o := d.Opportunity
		var removed bool
		switch c.Kind {
		case ActRemoveStakeholder:
			o.Stakeholders, removed = removeByID(o.Stakeholders, c.ID, func(s Stakeholder) string { return s.ID })
		case ActRemoveCompetitor:
			o.Competitors, removed = removeByID(o.Competitors, c.ID, func(s Competitor) string { return s.ID })
		case ActRemoveTeamMember:
			o.Team, removed = removeByID(o.Team, c.ID, func(s TeamMember) string { return s.ID })
		case ActRemoveLine:
			o.Lines, removed = removeByID(o.Lines, c.ID, func(s Line) string { return s.ID })
		}
		if !removed {
			return ch, Result{}, d.reject(RejectNotFound, c.Kind, nil, nil, "no item %s on this opportunity", c.ID)
		}
		ch.Opportunity = o
		return ch, Result{ID: c.ID, Message: fmt.Sprintf("%s %s", c.Kind, c.ID)}, nil

	case *Propose:
		if q := d.CurrentQuote(); q != nil && (q.Status == QuoteDraft || q.Status == QuoteActive) {
			return ch, Result{}, d.reject(RejectGate, ActPropose, nil, nil,
				"quote %s (revision %d) is still %s: edit, activate or revise it instead", q.ID, q.Revision, q.Status)
		}
		if missing := d.DevelopMissing(); len(missing) > 0 {
			return ch, Result{}, d.reject(RejectGate, ActPropose, missing, nil, "cannot propose: missing %s", strings.Join(missing, ", "))
		}
		rev := len(d.Quotes) + 1
		q := Quote{
			ID: fmt.Sprintf("QUO-%s-%d", d.ID, rev), Revision: rev, Name: c.Name, Status: QuoteDraft,
			Lines: slices.Clone(d.Opportunity.Lines), PaymentTerms: c.PaymentTerms,
			EffectiveTo: c.EffectiveTo, CreatedAt: now,
		}
		if q.Name == "" {
			q.Name = d.Opportunity.Name
		}
		if q.PaymentTerms == "" {
			q.PaymentTerms = "Net 30"
		}
		q.Total = Total(q.Lines)
		d.Quotes = append(d.Quotes, q)
		if d.Stage != StagePropose {
			d.enter(StagePropose, now)
		}
		ch.Quotes = []Quote{q}
		return ch, Result{ID: q.ID, Revision: rev, Total: &q.Total, Message: fmt.Sprintf("quote %s drafted", q.ID)}, nil

	case *EditQuote:
		q, err := d.currentQuote(ActEditQuote, c.Revision, QuoteDraft)
		if err != nil {
			return ch, Result{}, err
		}
		setStr(&q.Name, c.Name)
		setStr(&q.PaymentTerms, c.PaymentTerms)
		if c.EffectiveTo != nil {
			q.EffectiveTo = c.EffectiveTo
		}
		if c.Lines != nil {
			q.Lines = q.Lines[:0]
			for i, l := range *c.Lines {
				q.Lines = append(q.Lines, l.line(fmt.Sprintf("qline-%d", i+1)))
			}
		}
		q.Total = Total(q.Lines)
		ch.Quotes = []Quote{*q}
		return ch, Result{ID: q.ID, Revision: q.Revision, Total: &q.Total, Message: fmt.Sprintf("quote %s edited", q.ID)}, nil

	case *ActivateQuote:
		q, err := d.currentQuote(ActActivateQuote, c.Revision, QuoteDraft)
		if err != nil {
			return ch, Result{}, err
		}
		to := q.EffectiveTo
		if c.EffectiveTo != nil {
			to = c.EffectiveTo
		}
		if to == nil {
			t := now.Add(d.Policy.QuoteValidity)
			to = &t
		}
		var missing []string
		// mutate:equivalent "→ if false" a draft always has lines (propose's gate, edit_quote's validation; TestInvariantsOnRandomPaths)
		if len(q.Lines) == 0 {
			missing = append(missing, "quote lines")
		}
		if !to.After(now) {
			missing = append(missing, "an effectiveTo in the future")
		}
		if len(missing) > 0 {
			return ch, Result{}, d.reject(RejectGate, ActActivateQuote, missing, nil, "cannot activate quote %s: missing %s", q.ID, strings.Join(missing, ", "))
		}
		q.Status, q.EffectiveFrom, q.EffectiveTo, q.ActivatedAt = QuoteActive, &now, to, &now
		d.enter(StageClose, now)
		ch.Quotes = []Quote{*q}
		return ch, Result{ID: q.ID, Revision: q.Revision, Total: &q.Total, Message: fmt.Sprintf("quote %s presented, valid until %s", q.ID, to.Format(time.RFC3339))}, nil

	case *ReviseQuote:
		q, err := d.currentQuote(ActReviseQuote, c.Revision, QuoteActive)
		if err != nil {
			return ch, Result{}, err
		}
		q.Status, q.StatusReason, q.ClosedAt = QuoteClosed, QuoteReasonRevised, &now
		old := *q
		rev := old.Revision + 1
		nq := Quote{
			ID: fmt.Sprintf("QUO-%s-%d", d.ID, rev), Revision: rev, Name: old.Name, Status: QuoteDraft,
			Lines: slices.Clone(old.Lines), Total: old.Total, PaymentTerms: old.PaymentTerms, CreatedAt: now,
		}
		d.Quotes = append(d.Quotes, nq)
		d.enter(StagePropose, now)
		ch.Quotes = []Quote{old, nq}
		return ch, Result{ID: nq.ID, Revision: rev, Total: &nq.Total, Message: fmt.Sprintf("quote %s revised: draft %s", old.ID, nq.ID)}, nil

	case *Close:
		o := d.Opportunity
		o.CloseNote, o.CloseCompetitor, o.ClosedAt = c.Note, c.Competitor, &now
		if c.Outcome == "won" {
			q := d.CurrentQuote()
			// An open deal is in Close exactly while its current quote is
			// Active (TestInvariantsOnRandomPaths), so either check decides:
			// mutate:equivalent "→ drop q.Status != QuoteActive" see above
			// mutate:equivalent "→ drop q == nil" see above
			// mutate:equivalent "→ drop d.Stage != StageClose" see above
			if d.Stage != StageClose || q == nil || q.Status != QuoteActive {
				return ch, Result{}, d.reject(RejectGate, ActClose, []string{"an active quote presented to the customer"}, nil,
					"cannot close as won: missing an active quote presented to the customer")
			}
			revenue := q.Total
			if c.ActualRevenue != nil {
				revenue = *c.ActualRevenue
			}
			o.Status, o.ActualRevenue = "Won", &revenue
			q.Status, q.ClosedAt = QuoteWon, &now
			d.Order = &Order{
				ID: "ORD-" + d.ID, QuoteID: q.ID, Lines: slices.Clone(q.Lines), Total: q.Total,
				PaymentTerms: q.PaymentTerms, Status: OrderActive, CreatedAt: now,
			}
			d.Status = StatusWon
			d.enter(StageOrder, now)
			ch.Opportunity, ch.Quotes, ch.Order = o, []Quote{*q}, d.Order
			return ch, Result{ID: d.Order.ID, Total: &d.Order.Total, Message: fmt.Sprintf("deal won for %s %s: order %s", revenue.StringFixed(2), d.Currency, d.Order.ID)}, nil
		}
		o.Status, o.CloseReason = "Lost", c.Reason
		for i := range d.Quotes {
			if q := &d.Quotes[i]; q.Status == QuoteDraft || q.Status == QuoteActive {
				q.Status, q.StatusReason, q.ClosedAt = QuoteClosed, QuoteReasonLost, &now
				ch.Quotes = append(ch.Quotes, *q)
			}
		}
		d.Status, d.ClosedAt = StatusLost, &now
		d.FollowUps.Reengaged = false
		ch.Opportunity = o
		return ch, Result{ID: o.ID, Message: "deal lost: " + c.Reason}, nil

	case *Reopen:
		o := d.Opportunity
		o.Status, o.CloseReason, o.CloseCompetitor, o.CloseNote, o.ClosedAt = "Open", "", "", "", nil
		d.Status, d.ClosedAt = StatusOpen, nil
		d.FollowUps = FollowUps{QuoteReminded: d.FollowUps.QuoteReminded}
		d.enter(StageDevelop, now)
		ch.Opportunity = o
		return ch, Result{ID: o.ID, Message: "opportunity reopened"}, nil

	case *FulfillOrder:
		ord := d.Order
		// mutate:equivalent "→ if false" the stage table allows it only in Order while won, where the order is Active (TestInvariantsOnRandomPaths)
		if ord.Status != OrderActive {
			return ch, Result{}, d.reject(RejectWrongStage, ActFulfillOrder, nil, nil, "order %s is %s", ord.ID, ord.Status)
		}
		ord.Status, ord.FulfilledAt = OrderInvoiced, &now
		d.Invoice = &Invoice{
			ID: "INV-" + d.ID, OrderID: ord.ID, Lines: slices.Clone(ord.Lines), Total: ord.Total,
			PaymentTerms: ord.PaymentTerms, DueDate: now.Add(time.Duration(termDays(ord.PaymentTerms)) * d.Policy.Day),
			Status: InvoiceActive, CreatedAt: now,
		}
		d.enter(StageInvoice, now)
		ch.Order, ch.Invoice = ord, d.Invoice
		return ch, Result{ID: d.Invoice.ID, Total: &d.Invoice.Total, Balance: ptr(d.Invoice.Balance()),
			Message: fmt.Sprintf("order fulfilled: invoice %s due %s", d.Invoice.ID, d.Invoice.DueDate.Format("2006-01-02"))}, nil

	case *CancelOrder:
		ord := d.Order
		// mutate:equivalent "→ if false" the stage table allows it only in Order while won, where the order is Active (TestInvariantsOnRandomPaths)
		if ord.Status != OrderActive {
			return ch, Result{}, d.reject(RejectWrongStage, ActCancelOrder, nil, nil, "order %s is %s", ord.ID, ord.Status)
		}
		ord.Status, ord.CancelReason, ord.CanceledAt = OrderCanceled, c.Reason, &now
		d.Status, d.ClosedAt = StatusCanceled, &now
		ch.Order = ord
		return ch, Result{ID: ord.ID, Message: "order canceled: " + c.Reason}, nil

	case *RecordPayment:
		inv := d.Invoice
		due := inv.AmountDue(now, d.Policy.Day)
		if c.Amount.GreaterThan(due) {
			return ch, Result{}, d.reject(RejectInvalid, ActRecordPayment, nil,
				[]FieldError{{"amount", fmt.Sprintf("exceeds the amount due of %s %s", due.StringFixed(2), d.Currency)}},
				"payment of %s exceeds the amount due of %s %s", c.Amount.String(), due.StringFixed(2), d.Currency)
		}
		p := Payment{Seq: len(inv.Payments) + 1, Amount: c.Amount, At: now}
		if c.Amount.Equal(due) {
			// Settling within the discount window earns the terms' discount.
			p.Discount = inv.Balance().Sub(due)
		}
		inv.Payments = append(inv.Payments, p)
		inv.PaidAmount = inv.PaidAmount.Add(c.Amount)
		msg := fmt.Sprintf("payment %d of %s %s recorded", p.Seq, c.Amount.StringFixed(2), d.Currency)
		if inv.Balance().IsZero() {
			inv.Status, inv.PaidAt = InvoicePaid, &now
			d.enter(StagePaid, now)
			msg += ": invoice paid in full"
		}
		ch.Invoice = inv
		return ch, Result{ID: inv.ID, Total: &inv.Total, Balance: ptr(inv.Balance()), Message: msg}, nil

	case *CancelInvoice:
		inv := d.Invoice
		inv.Status, inv.CancelReason = InvoiceCanceled, c.Reason
		d.Status, d.ClosedAt = StatusCanceled, &now
		ch.Invoice = inv
		return ch, Result{ID: inv.ID, Message: "invoice canceled: " + c.Reason}, nil
	}
	return ch, Result{}, d.reject(RejectInvalid, cmd.Action(), nil, nil, "unsupported command %T", cmd)
}

// QualifyMissing lists what qualification still needs (DESIGN.md §2).
func (d *Deal) QualifyMissing() []string {
	l := d.Lead
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
		return fmt.Sprintf("collect %s %s", d.Invoice.Balance().StringFixed(2), d.Currency)
	}
	return "none"
}

// AmountDue is what settles the invoice at now: the balance, less the early
// payment discount when the terms grant one and its window is still open.
func (inv *Invoice) AmountDue(now time.Time, dayLen time.Duration) decimal.Decimal {
	b := inv.Balance()
	if inv.PaymentTerms == "2% 10, Net 30" && !now.After(inv.CreatedAt.Add(10*dayLen)) {
		disc := inv.Total.Mul(decimal.New(2, -2)).Round(2)
		if b.GreaterThan(disc) {
			return b.Sub(disc)
		}
	}
	return b
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

// change builds the Change every step writes: header, lead, event.
func (d *Deal) change(ev Event) Change {
	return Change{Deal: d.Header(), Lead: d.Lead, Event: ev}
}

// Header is the deal's row in the leads table.
func (d *Deal) Header() DealHeader {
	return DealHeader{ID: d.ID, Owner: d.Owner, Stage: d.Stage, Status: d.Status, Currency: d.Currency,
		Customer: d.Customer(), Value: d.Value(), AccountID: d.AccountID, ContactID: d.ContactID,
		CreatedAt: d.CreatedAt, StageEnteredAt: d.StageEnteredAt, ClosedAt: d.ClosedAt}
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func ptr[T any](v T) *T { return &v }

func removeByID[T any](items []T, id string, key func(T) string) ([]T, bool) {
	i := slices.IndexFunc(items, func(x T) bool { return key(x) == id })
	if i < 0 {
		return items, false
	}
	return slices.Delete(items, i, i+1), true
}

func describe(fields []FieldError) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + " " + f.Reason
	}
	return strings.Join(parts, "; ")
}

func joinStages(s []Stage) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, ", ")
}

func joinStatuses(s []Status) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, " or ")
}
