package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"dealflow/internal/store"
	"dealflow/internal/web"
	"dealflow/workflows"
)

// Board limits: the deals of each status listed, and how many cards ask
// their deal's workflow for the next step (one query each, a few at once).
const (
	boardLimit     = 200
	boardQueries   = 60
	boardQueryPool = 4
)

// boardStages are the board's columns.
var boardStages = []workflows.Stage{workflows.StageQualify, workflows.StageDevelop, workflows.StagePropose,
	workflows.StageClose, workflows.StageOrder, workflows.StageInvoice, workflows.StagePaid}

type boardPage struct {
	Owner, Source, Q string
	Sources          []string
	Columns          []boardColumn
	TemporalUI       string
	Truncated        bool
	Limit            int
	Form             web.Form
}

type boardColumn struct {
	Stage workflows.Stage
	Cards []boardCard
}

type boardCard struct {
	ID, Topic, Customer, Owner string
	Value, Currency            string
	Days                       int
	NextStep                   string
	Overdue                    bool
}

// board: GET /board, the open deals the user may see (and the won ones on
// their way to Paid) as cards in columns by stage, from the read model
// (store.ListLeads, as GET /v1/leads); each card's next step and overdue mark
// come from its deal's state.
func (s *Server) board(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	q := c.Request.URL.Query()
	page := boardPage{Source: q.Get("source"), Q: q.Get("q"), Sources: workflows.LeadSources, Limit: boardLimit}
	f := store.LeadFilter{Source: page.Source, Query: page.Q, Limit: boardLimit}
	if u.Manager() {
		page.Owner = strings.TrimSpace(q.Get("owner"))
		f.Owner = page.Owner
		page.TemporalUI = s.temporalUIList(page.Owner)
	}
	if errs := f.Validate(); len(errs) > 0 {
		page.Form = formState(q, invalid(errs...))
		f = store.LeadFilter{Limit: boardLimit}
	}
	var summaries []store.LeadSummary
	for _, status := range []workflows.Status{workflows.StatusOpen, workflows.StatusWon} {
		f.Status = string(status)
		list, err := store.ListLeads(ctx, s.cfg.Pool, u, f)
		if err != nil {
			return pgErr(ctx, err)
		}
		summaries = append(summaries, list.Items...)
		page.Truncated = page.Truncated || list.NextCursor != ""
	}
	now := s.cfg.Now()
	views := s.boardViews(ctx, u, summaries)
	for _, st := range boardStages {
		col := boardColumn{Stage: st}
		for _, l := range summaries {
			if l.Stage != st {
				continue
			}
			card := boardCard{ID: l.ID, Topic: l.Topic, Customer: l.Customer, Owner: l.Owner,
				Value: web.Amount(l.Value, l.Currency), Currency: l.Currency,
				Days: int(now.Sub(l.StageEnteredAt).Hours() / 24)}
			if v := views[l.ID]; v != nil {
				card.NextStep, card.Overdue = web.NextStep(l.Stage, v.NextStep), overdue(v, now)
			}
			col.Cards = append(col.Cards, card)
		}
		page.Columns = append(page.Columns, col)
	}
	s.render(c, http.StatusOK, "board", "Pipeline", "board", page)
	return nil
}

// boardViews asks the first boardQueries deals' workflows for their state,
// a few at once; a deal that does not answer shows without its next step.
func (s *Server) boardViews(ctx context.Context, u User, ls []store.LeadSummary) map[string]*workflows.DealView {
	out := map[string]*workflows.DealView{}
	if len(ls) > boardQueries {
		ls = ls[:boardQueries]
	}
	if len(ls) == 0 || s.health.up(ctx) != nil {
		return out
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, boardQueryPool)
	)
	for _, l := range ls {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := s.queryState(ctx, l.ID)
			if err != nil {
				return
			}
			mu.Lock()
			out[l.ID] = v
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// overdue: a follow-up went out that the rep has not acted on since (the
// workflow resets them when the rep acts), a pending one is past due, or an
// open activity is past its due time.
func overdue(v *workflows.DealView, now time.Time) bool {
	f := v.FollowUps
	if f.LeadReminders > 0 || f.Escalated || f.Nudges > 0 || f.OverdueSent > 0 {
		return true
	}
	for _, r := range v.Pending {
		if r.Due.Before(now) {
			return true
		}
	}
	for _, a := range v.Activities {
		if at := a.OverdueAt(); a.Status == workflows.ActivityOpen && at != nil && at.Before(now) {
			return true
		}
	}
	return false
}

// temporalUIList links to the Web UI's list of the running deals (of one
// owner), "" when no Web UI is configured.
func (s *Server) temporalUIList(owner string) string {
	if s.cfg.TemporalUI == "" {
		return ""
	}
	query := `WorkflowType="` + workflows.WorkflowName + `" AND ExecutionStatus="Running"`
	if owner != "" {
		query += ` AND SalesOwner="` + strings.ReplaceAll(owner, `"`, ``) + `"`
	}
	return strings.TrimRight(s.cfg.TemporalUI, "/") + "/namespaces/" + url.PathEscape(s.namespace()) +
		"/workflows?query=" + url.QueryEscape(query)
}

// temporalUIDeal links to one deal's workflow in the Web UI.
func (s *Server) temporalUIDeal(id string) string {
	if s.cfg.TemporalUI == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.TemporalUI, "/") + "/namespaces/" + url.PathEscape(s.namespace()) +
		"/workflows/" + url.PathEscape(workflows.WorkflowID(id))
}

func (s *Server) namespace() string {
	if s.cfg.Namespace == "" {
		return "default"
	}
	return s.cfg.Namespace
}

type newLeadPage struct {
	Form                                     web.Form
	Key, DefaultCurrency                     string
	Sources, Ratings, Timeframes, Currencies []string
}

func newLeadData(f web.Form) newLeadPage {
	return newLeadPage{Form: f, Key: randomID("web-"), DefaultCurrency: workflows.DefaultCurrency,
		Sources: workflows.LeadSources, Ratings: workflows.Ratings, Timeframes: workflows.PurchaseTimeframes,
		Currencies: workflows.Currencies}
}

// newLeadPage: GET /leads/new.
func (s *Server) newLeadPage(c *gin.Context) error {
	s.render(c, http.StatusOK, "newlead", "New lead", "new", newLeadData(web.Form{}))
	return nil
}

// createLeadPage: POST /leads creates the lead as POST /v1/leads does (the
// form's key is its idempotency key: a form sent twice is one lead) and
// shows its deal; a refusal shows the form again with the input kept.
func (s *Server) createLeadPage(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	v, err := form(c)
	if err != nil {
		return err
	}
	in, err := func() (workflows.NewLead, error) {
		var req createLeadRequest
		if err := decodeObject(formJSON(v, &req, false), &req, false); err != nil {
			return workflows.NewLead{}, err
		}
		key := v.Get("key")
		if len(key) > 255 {
			return workflows.NewLead{}, malformed("the form's key is too long")
		}
		in, err := s.leadInput(ctx, u, req, key)
		if err != nil {
			return in, err
		}
		created, err := s.startLead(ctx, u, in)
		if err == nil && !created {
			// The form sent again, or an id taken: show the deal if it is
			// the user's (dealPage answers 404 otherwise).
			s.log.Info("web lead exists", "leadID", in.ID, "by", u.Email)
		}
		return in, err
	}()
	if err != nil {
		if p := problemOf(c, err); refusal(p) {
			s.render(c, p.Status, "newlead", "New lead", "new", newLeadData(formState(v, p)))
			return nil
		}
		return err
	}
	c.Redirect(http.StatusSeeOther, "/deals/"+url.PathEscape(in.ID))
	return nil
}

type stageItem struct {
	Name          workflows.Stage
	Current, Done bool
}

type dealPage struct {
	D                 *workflows.DealView
	Stages            []stageItem
	Missing           []string
	NextStep          string
	Allowed           map[string]bool
	Forms             map[string]web.Form
	Key               string
	Balance           decimal.Decimal
	Timeline          []workflows.Event
	TemporalUI        string
	Sources           []string
	Timeframes        []string
	Roles             []string
	PaymentTerms      []string
	LostReasons       []string
	DisqualifyReasons []string
	ActivityTypes     []string
}

// dealPage: GET /deals/{id}, the deal as its workflow holds it (dealView, as
// GET /v1/leads/{id}); another rep's deal is the same 404 page as a missing one.
func (s *Server) dealPage(c *gin.Context) error {
	return s.showDeal(c, http.StatusOK, "", web.Form{})
}

// showDeal renders the deal page, with one refused form (action) shown again.
func (s *Server) showDeal(c *gin.Context, status int, action string, f web.Form) error {
	u := userOf(c)
	id := c.Param("id")
	view, err := s.dealView(c.Request.Context(), u, id)
	if err != nil {
		return err
	}
	d := view.Deal
	page := dealPage{D: view, NextStep: web.NextStep(d.Stage, view.NextStep), Allowed: map[string]bool{}, Forms: map[string]web.Form{},
		Key: randomID("web-"), Sources: workflows.LeadSources, Timeframes: workflows.PurchaseTimeframes,
		Roles: workflows.StakeholderRoles, PaymentTerms: workflows.PaymentTermsOptions,
		LostReasons: workflows.LostReasons, DisqualifyReasons: workflows.DisqualifyReasons,
		ActivityTypes: []string{workflows.ActivityPhoneCall, workflows.ActivityTask, workflows.ActivityNote}}
	if action != "" {
		page.Forms[action] = f
	}
	if u.Manager() {
		page.TemporalUI = s.temporalUIDeal(id)
	}
	reached := slices.Index(workflows.Stages, d.Stage)
	for i, st := range workflows.Stages {
		page.Stages = append(page.Stages, stageItem{Name: st, Current: st == d.Stage, Done: i < reached})
	}
	if d.Status == workflows.StatusOpen {
		switch {
		case d.Stage == workflows.StageQualify:
			page.Missing = d.QualifyMissing()
		case d.Stage == workflows.StageDevelop && d.Opportunity != nil:
			page.Missing = d.DevelopMissing()
		}
	}
	for _, spec := range workflows.Specs {
		allowed := spec.Allows(d) && (!spec.Route.ManagerOnly || u.Manager())
		page.Allowed[string(spec.Action)] = allowed
	}
	if d.Invoice != nil {
		page.Balance = d.Balance()
	}
	page.Timeline = slices.Clone(d.Timeline)
	slices.Reverse(page.Timeline)
	s.render(c, status, "deal", d.Lead.Topic, "", page)
	return nil
}

// dealAction: POST /deals/{id}/actions/{action}[/{revision or item}], one
// action's form (whatever the API's method for it: a removal's DELETE, an
// edit's PATCH): turned into the action's JSON (formJSON) and run through
// the JSON API's path (command or editCommand, then update). Success goes
// back to the deal page (303); a refusal shows it with the form's problem
// and the rep's input.
func (s *Server) dealAction(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	id := c.Param("id")
	act := workflows.Action(c.Param("action"))
	spec, ok := workflows.SpecOf(act)
	if !ok {
		return notFound("no such action")
	}
	hasSub := strings.Contains(spec.Route.Path, "/:")
	if hasSub != (c.Param("sub") != "") {
		return notFound("no such action")
	}
	v, err := form(c)
	if err != nil {
		return err
	}
	key := v.Get("key")
	if len(key) > 255 {
		key = ""
	}
	if sub := c.Param("sub"); key != "" && sub != "" {
		// One page's key, one update per item: removing two lines from
		// the same page is two updates.
		key += "/" + sub
	}
	cmd, err := s.formCommand(ctx, u, spec, id, c.Param("sub"), v)
	if err == nil {
		err = expect(cmd, formVersion(v))
	}
	if err == nil {
		_, err = s.update(ctx, u, id, cmd, key)
	}
	if err != nil {
		p := problemOf(c, err)
		if !refusal(p) {
			return err
		}
		if p.Status == http.StatusPreconditionFailed {
			p.Detail = "Someone else changed this deal after you opened the page, so your change was not saved. " +
				"The page now shows the deal as it is: check it, then save your change again if it still applies."
		}
		f := formState(v, p)
		if p.Status == http.StatusPreconditionFailed {
			// The form shows the deal as it is now, with its version: the
			// rep's stale values kept beside a fresh version would save over
			// the other rep's change.
			f.Values = nil
		}
		f.Sub = c.Param("sub")
		if ferr := s.showDeal(c, p.Status, string(act), f); ferr != nil {
			return ferr
		}
		return nil
	}
	c.Redirect(http.StatusSeeOther, "/deals/"+url.PathEscape(id))
	return nil
}

// formVersion is the version of the deal an edit form showed (its hidden
// "version" field), which the edit is taken at only (as If-Match); 0 when
// the form names none, -1 (never matching) when it is not a version.
func formVersion(v url.Values) int {
	s := v.Get("version")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return -1
	}
	return n
}

// formCommand reads an action's form into its command by the JSON API's
// code: command for routed actions, editCommand for the edits.
func (s *Server) formCommand(ctx context.Context, u User, spec workflows.ActionSpec, id, sub string, v url.Values) (workflows.Command, error) {
	if spec.Route.Method == "" { // edit_lead, edit_opportunity: PATCH picks by the stage
		view, err := s.dealView(ctx, u, id)
		if err != nil {
			return nil, err
		}
		var dst workflows.Command = new(workflows.EditOpportunity)
		if view.Stage == workflows.StageQualify {
			dst = new(workflows.EditLead)
		}
		return s.editCommand(ctx, u, view, formJSON(v, dst, true))
	}
	cmd, ok := workflows.NewCommand(spec.Action)
	if !ok {
		return nil, errors.New("no command for " + string(spec.Action))
	}
	return s.command(ctx, u, spec, id, formJSON(v, cmd, false), sub, sub)
}
