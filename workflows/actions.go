package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action names a rep action. Each is a Workflow Update of that name with a
// validator, and a Signal of the same name for tools that can only signal.
type Action string

const (
	ActEditLead          Action = "edit_lead"
	ActQualify           Action = "qualify"
	ActDisqualify        Action = "disqualify"
	ActReactivate        Action = "reactivate"
	ActAssign            Action = "assign"
	ActEditOpportunity   Action = "edit_opportunity"
	ActAddStakeholder    Action = "add_stakeholder"
	ActRemoveStakeholder Action = "remove_stakeholder"
	ActAddCompetitor     Action = "add_competitor"
	ActRemoveCompetitor  Action = "remove_competitor"
	ActAddTeamMember     Action = "add_team_member"
	ActRemoveTeamMember  Action = "remove_team_member"
	ActAddLine           Action = "add_line"
	ActRemoveLine        Action = "remove_line"
	// ActPropose creates a draft quote from the opportunity lines.
	ActPropose       Action = "propose"
	ActEditQuote     Action = "edit_quote"
	ActActivateQuote Action = "activate_quote"
	ActReviseQuote   Action = "revise_quote"
	ActClose         Action = "close"
	ActReopen        Action = "reopen"
	ActFulfillOrder  Action = "fulfill_order"
	ActCancelOrder   Action = "cancel_order"
	ActRecordPayment Action = "record_payment"
	ActCancelInvoice Action = "cancel_invoice"
	// Activities: calls, emails, tasks, appointments and notes, on a deal
	// in any stage.
	ActAddActivity      Action = "add_activity"
	ActEditActivity     Action = "edit_activity"
	ActCompleteActivity Action = "complete_activity"
	ActCancelActivity   Action = "cancel_activity"
)

// Route is where the API takes an action: a method and a path under
// /v1/leads/{id}. A path may name the quote revision (":revision") or the
// item (":itemId"), which the API sets on the command. The zero Route: the
// action has no route of its own (PATCH /v1/leads/{id} picks edit_lead or
// edit_opportunity by the stage).
type Route struct {
	Method, Path string
	// ManagerOnly: reps get 403.
	ManagerOnly bool
}

// ActionSpec is everything about one rep action: its name, its command,
// where it is allowed (DESIGN.md §2's stage table), its route in the API and
// the method that applies it.
type ActionSpec struct {
	Action   Action
	Route    Route
	stages   []Stage
	statuses []Status
	command  func() Command
	plan     func(d *Deal, cmd Command, now time.Time) (effect, error)
}

// effect is what an accepted action does to the deal: the records to write
// and the answer. An action's method checks everything first and returns its
// effect without changing the deal, so the validator can check an action
// without a copy, and a refusal leaves the deal as it was.
type effect func() (Change, Result)

// spec builds the row of an action whose command is a C (a *T).
func spec[T any, C interface {
	*T
	Command
}](a Action, stages []Stage, statuses []Status, route Route, plan func(*Deal, C, time.Time) (effect, error)) ActionSpec {
	return ActionSpec{Action: a, Route: route, stages: stages, statuses: statuses,
		command: func() Command { return C(new(T)) },
		plan:    func(d *Deal, cmd Command, now time.Time) (effect, error) { return plan(d, cmd.(C), now) },
	}
}

var (
	opportunityStages = []Stage{StageDevelop, StagePropose, StageClose}
	anyStage          = Stages
	anyStatus         = Statuses
	open              = []Status{StatusOpen}
	won               = []Status{StatusWon}
)

// post is a POST route at path.
func post(path string) Route { return Route{Method: "POST", Path: path} }

// deleteItem is the DELETE route of one item under path.
func deleteItem(path string) Route { return Route{Method: "DELETE", Path: path + "/:itemId"} }

// Specs is every action, one row each, in a fixed order (the order signals
// of different actions waiting at once are taken in: keep it).
var Specs = []ActionSpec{
	spec(ActEditLead, []Stage{StageQualify}, open, Route{}, (*Deal).editLead),
	spec(ActQualify, []Stage{StageQualify}, open, post("/qualify"), (*Deal).qualify),
	spec(ActDisqualify, []Stage{StageQualify}, open, post("/disqualify"), (*Deal).disqualify),
	spec(ActReactivate, []Stage{StageQualify}, []Status{StatusDisqualified}, post("/reactivate"), (*Deal).reactivate),
	spec(ActAssign, []Stage{StageQualify, StageDevelop, StagePropose, StageClose, StageOrder, StageInvoice}, []Status{StatusOpen, StatusWon},
		Route{Method: "POST", Path: "/assign", ManagerOnly: true}, (*Deal).assign),
	spec(ActEditOpportunity, opportunityStages, open, Route{}, (*Deal).editOpportunity),
	spec(ActAddStakeholder, opportunityStages, open, post("/stakeholders"), (*Deal).addStakeholder),
	spec(ActRemoveStakeholder, opportunityStages, open, deleteItem("/stakeholders"), (*Deal).removeStakeholder),
	spec(ActAddCompetitor, opportunityStages, open, post("/competitors"), (*Deal).addCompetitor),
	spec(ActRemoveCompetitor, opportunityStages, open, deleteItem("/competitors"), (*Deal).removeCompetitor),
	spec(ActAddTeamMember, opportunityStages, open, post("/team"), (*Deal).addTeamMember),
	spec(ActRemoveTeamMember, opportunityStages, open, deleteItem("/team"), (*Deal).removeTeamMember),
	spec(ActAddLine, opportunityStages, open, post("/lines"), (*Deal).addLine),
	spec(ActRemoveLine, opportunityStages, open, deleteItem("/lines"), (*Deal).removeLine),
	spec(ActPropose, []Stage{StageDevelop, StagePropose}, open, post("/quotes"), (*Deal).propose),
	spec(ActEditQuote, []Stage{StagePropose}, open, Route{Method: "PATCH", Path: "/quotes/:revision"}, (*Deal).editQuote),
	spec(ActActivateQuote, []Stage{StagePropose}, open, post("/quotes/:revision/activate"), (*Deal).activateQuote),
	spec(ActReviseQuote, []Stage{StagePropose, StageClose}, open, post("/quotes/:revision/revise"), (*Deal).reviseQuote),
	spec(ActClose, opportunityStages, open, post("/close"), (*Deal).closeOpportunity),
	spec(ActReopen, opportunityStages, []Status{StatusLost}, post("/reopen"), (*Deal).reopen),
	spec(ActFulfillOrder, []Stage{StageOrder}, won, post("/order/fulfill"), (*Deal).fulfillOrder),
	spec(ActCancelOrder, []Stage{StageOrder}, won, post("/order/cancel"), (*Deal).cancelOrder),
	spec(ActRecordPayment, []Stage{StageInvoice}, won, post("/invoice/payments"), (*Deal).recordPayment),
	spec(ActCancelInvoice, []Stage{StageInvoice}, won, post("/invoice/cancel"), (*Deal).cancelInvoice),
	spec(ActAddActivity, anyStage, anyStatus, post("/activities"), (*Deal).addActivity),
	spec(ActEditActivity, anyStage, anyStatus, Route{Method: "PATCH", Path: "/activities/:itemId"}, (*Deal).editActivity),
	spec(ActCompleteActivity, anyStage, anyStatus, post("/activities/:itemId/complete"), (*Deal).completeActivity),
	spec(ActCancelActivity, anyStage, anyStatus, post("/activities/:itemId/cancel"), (*Deal).cancelActivity),
}

// Actions lists every action, in Specs' order.
var Actions = func() []Action {
	out := make([]Action, len(Specs))
	for i, s := range Specs {
		out[i] = s.Action
	}
	return out
}()

// SpecOf returns the action's row.
func SpecOf(a Action) (ActionSpec, bool) {
	i := slices.IndexFunc(Specs, func(s ActionSpec) bool { return s.Action == a })
	if i < 0 {
		return ActionSpec{}, false
	}
	return Specs[i], true
}

// NewCommand returns an empty command of the action, for decoding.
func NewCommand(a Action) (Command, bool) {
	s, ok := SpecOf(a)
	if !ok {
		return nil, false
	}
	cmd := s.command()
	if r, ok := cmd.(*RemoveItem); ok {
		r.Kind = a // the action, not the payload, says what is removed
	}
	return cmd, true
}

// allows reports whether the stage table allows the action in d's stage and
// status.
func (s ActionSpec) allows(d *Deal) bool {
	return slices.Contains(s.stages, d.Stage) && slices.Contains(s.statuses, d.Status)
}

// Allows reports whether the stage table allows the action in d's stage and
// status: the web pages offer only the actions it allows.
func (s ActionSpec) Allows(d *Deal) bool { return s.allows(d) }

func (s ActionSpec) wrongStage(d *Deal) error {
	return d.reject(RejectWrongStage, s.Action, nil, nil,
		"%s is not allowed in stage %s while the deal is %s (allowed in %s while %s)",
		s.Action, d.Stage, d.Status, JoinNames(s.stages, ", "), JoinNames(s.statuses, " or "))
}

// The actions, one method each, in Specs' order. Each checks everything
// before it returns the effect that changes the deal.

func (d *Deal) editLead(c *EditLead, now time.Time) (effect, error) {
	return func() (Change, Result) {
		l := &d.Lead
		setVal(&l.Topic, c.Topic)
		setVal(&l.FirstName, c.FirstName)
		setVal(&l.LastName, c.LastName)
		setVal(&l.Company, c.Company)
		setVal(&l.JobTitle, c.JobTitle)
		setVal(&l.Email, c.Email)
		setVal(&l.Phone, c.Phone)
		setVal(&l.Source, c.Source)
		setVal(&l.Rating, c.Rating)
		setVal(&l.PurchaseTimeframe, c.PurchaseTimeframe)
		setVal(&l.PurchaseProcess, c.PurchaseProcess)
		setVal(&l.ExistingAccountID, c.ExistingAccountID)
		setVal(&l.ExistingContactID, c.ExistingContactID)
		setVal(&l.Budget, c.Budget)
		setVal(&l.EstimatedValue, c.EstimatedValue)
		setVal(&l.DecisionMakerIdentified, c.DecisionMakerIdentified)
		return Change{}, Result{Message: "lead edited"}
	}, nil
}

func (d *Deal) qualify(c *Qualify, now time.Time) (effect, error) {
	// The records on file the command links may be what the lead lacked.
	lead := d.Lead
	setNonEmpty(&lead.ExistingAccountID, c.ExistingAccountID)
	setNonEmpty(&lead.ExistingContactID, c.ExistingContactID)
	if missing := lead.qualifyMissing(); len(missing) > 0 {
		return nil, d.reject(RejectGate, ActQualify, missing, nil, "cannot qualify: missing %s", strings.Join(missing, ", "))
	}
	return func() (Change, Result) {
		l := &d.Lead
		setNonEmpty(&l.ExistingAccountID, c.ExistingAccountID)
		setNonEmpty(&l.ExistingContactID, c.ExistingContactID)
		l.Status, l.StatusReason = "Qualified", ""
		d.Opportunity = &Opportunity{
			ID: "OPP-" + d.ID, Name: l.Topic, Status: "Open",
			Probability:        map[string]int{"Hot": 70, "Warm": 40, "Cold": 10}[l.Rating],
			EstimatedCloseDate: c.EstimatedCloseDate,
		}
		if l.EstimatedValue.IsPositive() {
			v := l.EstimatedValue
			d.Opportunity.RevenueOverride = &v
		}
		ch := Change{Opportunity: d.Opportunity, Qualify: &QualifyRecord{
			AccountID: l.ExistingAccountID, ContactID: l.ExistingContactID, AccountName: l.Company,
			NewAccountID: NewAccountID(d.ID), NewContactID: NewContactID(d.ID),
			FirstName: l.FirstName, LastName: l.LastName, Email: l.Email, Phone: l.Phone, JobTitle: l.JobTitle,
		}}
		d.enter(StageDevelop, now)
		msg := "lead qualified: opportunity " + d.Opportunity.ID
		if c.AllowDuplicate {
			msg += " (possible duplicates allowed)"
		}
		return ch, Result{ID: d.Opportunity.ID, Message: msg}
	}, nil
}

func (d *Deal) disqualify(c *Disqualify, now time.Time) (effect, error) {
	return func() (Change, Result) {
		d.Lead.Status, d.Lead.DisqualifyReason, d.Lead.StatusReason = "Disqualified", c.Reason, ""
		d.Status, d.ClosedAt = StatusDisqualified, &now
		return Change{}, Result{Message: "lead disqualified: " + c.Reason}
	}, nil
}

func (d *Deal) reactivate(_ *Reactivate, now time.Time) (effect, error) {
	return func() (Change, Result) {
		d.Lead.Status, d.Lead.DisqualifyReason, d.Lead.StatusReason = "Open", "", LeadNew
		if d.contacted() {
			d.Lead.StatusReason = LeadContacted
		}
		d.Status, d.ClosedAt = StatusOpen, nil
		d.FollowUps = FollowUps{}
		return Change{}, Result{Message: "lead reactivated"}
	}, nil
}

func (d *Deal) assign(c *Assign, now time.Time) (effect, error) {
	if c.Owner == d.Owner {
		return nil, d.reject(RejectGate, ActAssign, nil, nil, "the deal is already owned by %s", c.Owner)
	}
	return func() (Change, Result) {
		old := d.Owner
		d.Owner = c.Owner
		return Change{}, Result{Message: fmt.Sprintf("owner changed from %s to %s", old, c.Owner)}
	}, nil
}

func (d *Deal) editOpportunity(c *EditOpportunity, now time.Time) (effect, error) {
	return func() (Change, Result) {
		o := d.Opportunity
		setVal(&o.CustomerNeed, c.CustomerNeed)
		setVal(&o.ProposedSolution, c.ProposedSolution)
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
		setVal(&o.Probability, c.Probability)
		setVal(&d.PriceListID, c.PriceListID)
		return Change{Opportunity: o}, Result{ID: o.ID, Message: "opportunity edited"}
	}, nil
}

func (d *Deal) addStakeholder(c *AddStakeholder, now time.Time) (effect, error) {
	o := d.Opportunity
	for _, s := range o.Stakeholders {
		if strings.EqualFold(s.Name, c.Name) && s.Role == c.Role {
			return nil, d.reject(RejectGate, ActAddStakeholder, nil, nil, "%s is already a stakeholder as %s (%s)", c.Name, c.Role, s.ID)
		}
	}
	return func() (Change, Result) {
		id := d.itemID("stakeholder")
		o.Stakeholders = append(o.Stakeholders, Stakeholder{ID: id, Name: c.Name, Email: c.Email, Role: c.Role})
		return Change{Opportunity: o}, Result{ID: id, Message: fmt.Sprintf("stakeholder %s added as %s", c.Name, c.Role)}
	}, nil
}

func (d *Deal) addCompetitor(c *AddCompetitor, now time.Time) (effect, error) {
	o := d.Opportunity
	for _, x := range o.Competitors {
		if strings.EqualFold(x.Name, c.Name) {
			return nil, d.reject(RejectGate, ActAddCompetitor, nil, nil, "%s is already a competitor (%s)", c.Name, x.ID)
		}
	}
	return func() (Change, Result) {
		id := d.itemID("competitor")
		o.Competitors = append(o.Competitors, Competitor{ID: id, Name: c.Name, Strengths: c.Strengths})
		return Change{Opportunity: o}, Result{ID: id, Message: "competitor " + c.Name + " added"}
	}, nil
}

func (d *Deal) addTeamMember(c *AddTeamMember, now time.Time) (effect, error) {
	if d.OnTeam(c.UserID) {
		return nil, d.reject(RejectGate, ActAddTeamMember, nil, nil, "%s already works this deal", c.UserID)
	}
	return func() (Change, Result) {
		o := d.Opportunity
		id := d.itemID("team")
		o.Team = append(o.Team, TeamMember{ID: id, UserID: c.UserID, Role: c.Role})
		return Change{Opportunity: o}, Result{ID: id, Message: c.UserID + " joined the sales team"}
	}, nil
}

func (d *Deal) addLine(c *AddLine, now time.Time) (effect, error) {
	o := d.Opportunity
	if len(o.Lines) >= maxLines {
		return nil, d.reject(RejectGate, ActAddLine, nil, nil, "the opportunity already has %d lines", maxLines)
	}
	// The id the line will get: itemID numbers it when the effect runs.
	line, fields := d.line(c.LineInput, fmt.Sprintf("line-%d", d.NextItem+1), "")
	if len(fields) > 0 {
		return nil, d.reject(RejectInvalid, ActAddLine, nil, fields, "invalid add_line input: %s", Describe(fields))
	}
	return func() (Change, Result) {
		id := d.itemID("line")
		o.Lines = append(o.Lines, line)
		total := Total(o.Lines)
		return Change{Opportunity: o}, Result{ID: id, Total: &total, Message: fmt.Sprintf("line %s added: %s", id, line.Product)}
	}, nil
}

func (d *Deal) removeStakeholder(c *RemoveItem, now time.Time) (effect, error) {
	return removeFrom(d, &d.Opportunity.Stakeholders, c, func(x Stakeholder) string { return x.ID })
}

func (d *Deal) removeCompetitor(c *RemoveItem, now time.Time) (effect, error) {
	return removeFrom(d, &d.Opportunity.Competitors, c, func(x Competitor) string { return x.ID })
}

func (d *Deal) removeTeamMember(c *RemoveItem, now time.Time) (effect, error) {
	return removeFrom(d, &d.Opportunity.Team, c, func(x TeamMember) string { return x.ID })
}

func (d *Deal) removeLine(c *RemoveItem, now time.Time) (effect, error) {
	return removeFrom(d, &d.Opportunity.Lines, c, func(x Line) string { return x.ID })
}

// removeFrom removes the item c names from the opportunity's items.
func removeFrom[T any](d *Deal, items *[]T, c *RemoveItem, id func(T) string) (effect, error) {
	if !slices.ContainsFunc(*items, func(x T) bool { return id(x) == c.ID }) {
		return nil, d.reject(RejectNotFound, c.Kind, nil, nil, "no item %s on this opportunity", c.ID)
	}
	return func() (Change, Result) {
		*items = slices.DeleteFunc(*items, func(x T) bool { return id(x) == c.ID })
		return Change{Opportunity: d.Opportunity}, Result{ID: c.ID, Message: fmt.Sprintf("%s %s", c.Kind, c.ID)}
	}, nil
}

func (d *Deal) propose(c *Propose, now time.Time) (effect, error) {
	if q := d.CurrentQuote(); q != nil && (q.Status == QuoteDraft || q.Status == QuoteActive) {
		return nil, d.reject(RejectGate, ActPropose, nil, nil,
			"quote %s (revision %d) is still %s: edit, activate or revise it instead", q.ID, q.Revision, q.Status)
	}
	if missing := d.DevelopMissing(); len(missing) > 0 {
		return nil, d.reject(RejectGate, ActPropose, missing, nil, "cannot propose: missing %s", strings.Join(missing, ", "))
	}
	lines := slices.Clone(d.Opportunity.Lines)
	var charges QuoteSummary
	c.Charges.apply(&charges)
	summary, total, fields := d.summaryOf(lines, charges)
	if len(fields) > 0 {
		return nil, d.reject(RejectInvalid, ActPropose, nil, fields, "invalid propose input: %s", Describe(fields))
	}
	return func() (Change, Result) {
		rev := len(d.Quotes) + 1
		q := Quote{
			ID: fmt.Sprintf("QUO-%s-%d", d.ID, rev), Revision: rev, Name: c.Name, Status: QuoteDraft,
			Lines: lines, PriceListID: d.quotePriceList(lines), QuoteSummary: summary, Total: total, PaymentTerms: c.PaymentTerms,
			EffectiveTo: c.EffectiveTo, CreatedAt: now,
		}
		if q.Name == "" {
			q.Name = d.Opportunity.Name
		}
		if q.PaymentTerms == "" {
			q.PaymentTerms = "Net 30"
		}
		d.Quotes = append(d.Quotes, q)
		if d.Stage != StagePropose {
			d.enter(StagePropose, now)
		}
		return Change{Quotes: []Quote{q}}, Result{ID: q.ID, Revision: rev, Total: &q.Total, Message: fmt.Sprintf("quote %s drafted", q.ID)}
	}, nil
}

func (d *Deal) editQuote(c *EditQuote, now time.Time) (effect, error) {
	q, err := d.currentQuote(ActEditQuote, c.Revision, QuoteDraft)
	if err != nil {
		return nil, err
	}
	lines := slices.Clone(q.Lines)
	var fields []FieldError
	if c.Lines != nil {
		lines, fields = d.lines(*c.Lines, func(i int) string { return fmt.Sprintf("qline-%d", i+1) }, linePrefix)
	}
	charges := q.QuoteSummary
	c.Charges.apply(&charges)
	summary, total, sumFields := d.summaryOf(lines, charges)
	if fields = append(fields, sumFields...); len(fields) > 0 {
		return nil, d.reject(RejectInvalid, ActEditQuote, nil, fields, "invalid edit_quote input: %s", Describe(fields))
	}
	return func() (Change, Result) {
		setVal(&q.Name, c.Name)
		setVal(&q.PaymentTerms, c.PaymentTerms)
		if c.EffectiveTo != nil {
			q.EffectiveTo = c.EffectiveTo
		}
		q.Lines, q.QuoteSummary, q.Total = lines, summary, total
		return Change{Quotes: []Quote{*q}}, Result{ID: q.ID, Revision: q.Revision, Total: &q.Total, Message: fmt.Sprintf("quote %s edited", q.ID)}
	}, nil
}

func (d *Deal) activateQuote(c *ActivateQuote, now time.Time) (effect, error) {
	q, err := d.currentQuote(ActActivateQuote, c.Revision, QuoteDraft)
	if err != nil {
		return nil, err
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
		return nil, d.reject(RejectGate, ActActivateQuote, missing, nil, "cannot activate quote %s: missing %s", q.ID, strings.Join(missing, ", "))
	}
	return func() (Change, Result) {
		q.Status, q.EffectiveFrom, q.EffectiveTo, q.ActivatedAt = QuoteActive, &now, to, &now
		d.enter(StageClose, now)
		return Change{Quotes: []Quote{*q}}, Result{ID: q.ID, Revision: q.Revision, Total: &q.Total,
			Message: fmt.Sprintf("quote %s presented, valid until %s", q.ID, to.Format(time.RFC3339))}
	}, nil
}

func (d *Deal) reviseQuote(c *ReviseQuote, now time.Time) (effect, error) {
	q, err := d.currentQuote(ActReviseQuote, c.Revision, QuoteActive)
	if err != nil {
		return nil, err
	}
	return func() (Change, Result) {
		q.Status, q.StatusReason, q.ClosedAt = QuoteClosed, QuoteReasonRevised, &now
		old := *q
		rev := old.Revision + 1
		nq := Quote{
			ID: fmt.Sprintf("QUO-%s-%d", d.ID, rev), Revision: rev, Name: old.Name, Status: QuoteDraft,
			Lines: slices.Clone(old.Lines), PriceListID: old.PriceListID, QuoteSummary: old.QuoteSummary, Total: old.Total,
			PaymentTerms: old.PaymentTerms, CreatedAt: now,
		}
		d.Quotes = append(d.Quotes, nq)
		d.enter(StagePropose, now)
		return Change{Quotes: []Quote{old, nq}}, Result{ID: nq.ID, Revision: rev, Total: &nq.Total, Message: fmt.Sprintf("quote %s revised: draft %s", old.ID, nq.ID)}
	}, nil
}

// closeOpportunity closes the deal as won (with an active quote: the order
// is made from it) or lost (its open quotes close with it).
func (d *Deal) closeOpportunity(c *Close, now time.Time) (effect, error) {
	o := d.Opportunity
	closeDate := now
	if c.CloseDate != nil {
		closeDate = *c.CloseDate
		day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
		switch {
		case day(closeDate).After(day(now)):
			return nil, d.reject(RejectInvalid, ActClose, nil, []FieldError{{"closeDate", "must not be in the future"}},
				"invalid close input: closeDate must not be in the future")
		case day(closeDate).Before(day(d.CreatedAt)):
			return nil, d.reject(RejectInvalid, ActClose, nil, []FieldError{{"closeDate", "must not be before the deal was created (" + d.CreatedAt.UTC().Format(time.DateOnly) + ")"}},
				"invalid close input: closeDate must not be before the deal was created")
		}
	}
	note := c.Note + c.Description // one of them at most (Close.Validate)
	if c.Outcome != "won" {
		return func() (Change, Result) {
			o.CloseNote, o.CloseCompetitor, o.ClosedAt, o.ActualCloseDate = note, c.Competitor, &now, &closeDate
			o.Status, o.CloseReason = "Lost", c.Reason
			var ch Change
			for i := range d.Quotes {
				if q := &d.Quotes[i]; q.Status == QuoteDraft || q.Status == QuoteActive {
					q.Status, q.StatusReason, q.ClosedAt = QuoteClosed, QuoteReasonLost, &now
					ch.Quotes = append(ch.Quotes, *q)
				}
			}
			d.Status, d.ClosedAt = StatusLost, &now
			d.FollowUps.Reengaged = false
			ch.Opportunity = o
			return ch, Result{ID: o.ID, Message: "deal lost: " + c.Reason}
		}, nil
	}
	q := d.CurrentQuote()
	// An open deal is in Close exactly while its current quote is
	// Active (TestInvariantsOnRandomPaths), so either check decides:
	// mutate:equivalent "→ drop q.Status != QuoteActive" see above
	// mutate:equivalent "→ drop q == nil" see above
	// mutate:equivalent "→ drop d.Stage != StageClose" see above
	if d.Stage != StageClose || q == nil || q.Status != QuoteActive {
		return nil, d.reject(RejectGate, ActClose, []string{"an active quote presented to the customer"}, nil,
			"cannot close as won: missing an active quote presented to the customer")
	}
	return func() (Change, Result) {
		o.CloseNote, o.CloseCompetitor, o.ClosedAt, o.ActualCloseDate = note, c.Competitor, &now, &closeDate
		revenue := q.Total
		if c.ActualRevenue != nil {
			revenue = *c.ActualRevenue
		}
		o.Status, o.ActualRevenue = "Won", &revenue
		q.Status, q.ClosedAt = QuoteWon, &now
		d.Order = &Order{
			ID: "ORD-" + d.ID, QuoteID: q.ID, Lines: slices.Clone(q.Lines), PriceListID: q.PriceListID,
			QuoteSummary: q.QuoteSummary, Total: q.Total, PaymentTerms: q.PaymentTerms, Status: OrderActive, CreatedAt: now,
		}
		d.Status = StatusWon
		d.enter(StageOrder, now)
		return Change{Opportunity: o, Quotes: []Quote{*q}, Order: d.Order},
			Result{ID: d.Order.ID, Total: &d.Order.Total, Message: fmt.Sprintf("deal won for %s: order %s", d.describeAmount(revenue), d.Order.ID)}
	}, nil
}

func (d *Deal) reopen(_ *Reopen, now time.Time) (effect, error) {
	return func() (Change, Result) {
		o := d.Opportunity
		o.Status, o.CloseReason, o.CloseCompetitor, o.CloseNote, o.ClosedAt, o.ActualCloseDate = "Open", "", "", "", nil, nil
		d.Status, d.ClosedAt = StatusOpen, nil
		d.FollowUps = FollowUps{QuoteReminded: d.FollowUps.QuoteReminded}
		d.enter(StageDevelop, now)
		return Change{Opportunity: o}, Result{ID: o.ID, Message: "opportunity reopened"}
	}, nil
}

func (d *Deal) fulfillOrder(_ *FulfillOrder, now time.Time) (effect, error) {
	ord := d.Order
	// mutate:equivalent "→ if false" the stage table allows it only in Order while won, where the order is Active (TestInvariantsOnRandomPaths)
	if ord.Status != OrderActive {
		return nil, d.reject(RejectWrongStage, ActFulfillOrder, nil, nil, "order %s is %s", ord.ID, ord.Status)
	}
	return func() (Change, Result) {
		ord.Status, ord.FulfilledAt = OrderInvoiced, &now
		d.Invoice = &Invoice{
			ID: "INV-" + d.ID, OrderID: ord.ID, Lines: slices.Clone(ord.Lines), PriceListID: ord.PriceListID,
			QuoteSummary: ord.QuoteSummary, Total: ord.Total, PaymentTerms: ord.PaymentTerms, DueDate: now.Add(time.Duration(termDays(ord.PaymentTerms)) * d.Policy.Day),
			Status: InvoiceActive, CreatedAt: now,
		}
		d.enter(StageInvoice, now)
		msg := fmt.Sprintf("order fulfilled: invoice %s due %s", d.Invoice.ID, d.Invoice.DueDate.Format("2006-01-02"))
		balance := d.Balance()
		if d.Pricing != PricingExact && balance.IsZero() {
			// Nothing to pay (free items, a 100 % discount): no payment,
			// which must be positive, could ever settle it.
			d.Invoice.Status, d.Invoice.PaidAt = InvoicePaid, &now
			d.enter(StagePaid, now)
			msg = fmt.Sprintf("order fulfilled: invoice %s over nothing, paid", d.Invoice.ID)
		}
		return Change{Order: ord, Invoice: d.Invoice}, Result{ID: d.Invoice.ID, Total: &d.Invoice.Total, Balance: &balance, Message: msg}
	}, nil
}

func (d *Deal) cancelOrder(c *CancelOrder, now time.Time) (effect, error) {
	ord := d.Order
	// mutate:equivalent "→ if false" the stage table allows it only in Order while won, where the order is Active (TestInvariantsOnRandomPaths)
	if ord.Status != OrderActive {
		return nil, d.reject(RejectWrongStage, ActCancelOrder, nil, nil, "order %s is %s", ord.ID, ord.Status)
	}
	return func() (Change, Result) {
		ord.Status, ord.CancelReason, ord.CanceledAt = OrderCanceled, c.Reason, &now
		d.Status, d.ClosedAt = StatusCanceled, &now
		return Change{Order: ord}, Result{ID: ord.ID, Message: "order canceled: " + c.Reason}
	}, nil
}

// recordPayment records a payment. The full open balance is always
// accepted; within the early-payment window the discounted amount settles
// the invoice too, and the discount is recorded with the payment. Deals
// under PricingExact accept no more than the amount due.
func (d *Deal) recordPayment(c *RecordPayment, now time.Time) (effect, error) {
	inv := d.Invoice
	balance, due := d.Balance(), d.AmountDue(now)
	limit, limitName := balance, "open balance"
	if d.Pricing == PricingExact {
		limit, limitName = due, "amount due"
	}
	if c.Amount.GreaterThan(limit) {
		return nil, d.reject(RejectInvalid, ActRecordPayment, nil,
			[]FieldError{{"amount", fmt.Sprintf("exceeds the %s of %s", limitName, d.describeAmount(limit))}},
			"payment of %s exceeds the %s of %s", c.Amount.String(), limitName, d.describeAmount(limit))
	}
	return func() (Change, Result) {
		p := Payment{Seq: len(inv.Payments) + 1, Amount: c.Amount, At: now}
		if c.Amount.Equal(due) {
			// Settling within the discount window earns the terms' discount.
			p.Discount = balance.Sub(due)
		}
		inv.Payments = append(inv.Payments, p)
		inv.PaidAmount = inv.PaidAmount.Add(c.Amount)
		msg := fmt.Sprintf("payment %d of %s recorded", p.Seq, d.describeAmount(c.Amount))
		if p.Discount.IsPositive() {
			msg += fmt.Sprintf(" with an early-payment discount of %s", d.describeAmount(p.Discount))
		}
		if d.Balance().IsZero() {
			inv.Status, inv.PaidAt = InvoicePaid, &now
			d.enter(StagePaid, now)
			msg += ": invoice paid in full"
		}
		balance := d.Balance()
		return Change{Invoice: inv}, Result{ID: inv.ID, Total: &inv.Total, Balance: &balance, Message: msg}
	}, nil
}

func (d *Deal) cancelInvoice(c *CancelInvoice, now time.Time) (effect, error) {
	return func() (Change, Result) {
		inv := d.Invoice
		inv.Status, inv.CancelReason = InvoiceCanceled, c.Reason
		d.Status, d.ClosedAt = StatusCanceled, &now
		return Change{Invoice: inv}, Result{ID: inv.ID, Message: "invoice canceled: " + c.Reason}
	}, nil
}

// NewAccountID and NewContactID are the deterministic ids of the account and
// contact a deal's qualification creates when none is on file.
func NewAccountID(leadID string) string { return "ACC-" + leadID }
func NewContactID(leadID string) string { return "CON-" + leadID }
