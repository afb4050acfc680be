package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"dealflow/internal/deals"
	"dealflow/internal/store"
	"dealflow/workflows"
)

// readyWait bounds how long creating a lead waits for the workflow to have
// written the lead row and to answer the deal's view (its created Update, or
// else its state query).
const readyWait = 10 * time.Second

// notReadyRetry is the pause between attempts to reach a deal whose
// workflow has not registered its handlers yet (it is writing the lead).
const notReadyRetry = 100 * time.Millisecond

// errNotReady: the deal's workflow is still setting itself up.
var errNotReady = errors.New("the deal is still being set up")

// noDeal is the 404 of a deal that does not exist or that the user may not
// see: the two are worded alike, so a rep learns nothing of others' deals.
func noDeal(id string) *Problem { return notFound("no lead " + id) }

// dealView asks the deal's workflow for its state (also for a completed
// deal) and checks that the user may see it.
func (s *Server) dealView(ctx context.Context, u User, id string) (*workflows.DealView, error) {
	if !workflows.ValidID(id) {
		return nil, noDeal(id)
	}
	if err := s.health.up(ctx); err != nil {
		return nil, err
	}
	var view *workflows.DealView
	err := retryNotReady(ctx, func() error {
		v, err := s.queryState(ctx, id)
		view = v
		return err
	})
	if errors.Is(err, errNotReady) {
		p := unavailable("the deal", err)
		p.Detail, p.RetryAfter = "the deal is still being set up; retry in a moment", 1
		return nil, p
	}
	if err != nil {
		return nil, err
	}
	if !u.Manager() && !view.OnTeam(u.Email) {
		return nil, noDeal(id)
	}
	return view, nil
}

func (s *Server) queryState(ctx context.Context, id string) (*workflows.DealView, error) {
	val, err := s.cfg.Temporal.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryState)
	if err != nil {
		return nil, s.queryErr(ctx, id, err)
	}
	var view workflows.DealView
	if err := val.Get(&view); err != nil {
		return nil, internal(fmt.Errorf("decode state of lead %s: %w", id, err))
	}
	if view.Deal == nil {
		return nil, errNotReady
	}
	return &view, nil
}

// retryNotReady repeats fn while the deal is still being set up, until ctx ends.
func retryNotReady(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, errNotReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(notReadyRetry):
		}
	}
}

// dealResponse is a deal as the API answers it: as the workflow holds it,
// but with its policy as the API takes it (the field hides the Deal's own).
type dealResponse struct {
	*workflows.DealView
	Policy policyInput `json:"policy"`
}

func showDeal(v *workflows.DealView) dealResponse {
	return dealResponse{DealView: v, Policy: policyView(v.Policy)}
}

// getLead: GET /v1/leads/{id}.
func (s *Server) getLead(c *gin.Context) error {
	view, err := s.dealView(c.Request.Context(), userOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	setETag(c, view.Version())
	c.JSON(http.StatusOK, showDeal(view))
	return nil
}

// createLeadRequest is the body of POST /v1/leads: the lead's fields, plus
// an optional id, owner (managers only), manager, currency and follow-up
// policy.
type createLeadRequest struct {
	ID       string       `json:"id"`
	Owner    string       `json:"owner"`
	Manager  string       `json:"manager"`
	Currency string       `json:"currency"`
	Policy   *policyInput `json:"policy"`
	// PriceListID is the price list catalog lines are priced from (default:
	// the currency's default price list).
	PriceListID string `json:"priceListId"`
	// AllowDuplicate creates the lead although it may duplicate records on
	// file (recorded on the timeline).
	AllowDuplicate bool `json:"allowDuplicate"`
	workflows.LeadFields
}

// createLead: POST /v1/leads. The same id (or the same Idempotency-Key from
// the same user) always leads to the same deal: the workflow ID is derived
// from it, and Temporal never runs two workflows with one ID.
//
// The deal is started with its created Update (deals.StartAndView): one call
// to Temporal starts the workflow, waits for its lead to be written and
// answers the deal's view, which is the 201's body. An existing deal fails
// the start itself (conflict policy Fail), so no look-up precedes it, and of
// two concurrent creations of one id the second is told by the start.
func (s *Server) createLead(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	in, err := s.newLead(c, u)
	if err != nil {
		return err
	}
	if err := s.beforeStart(ctx, u, in); err != nil {
		return err
	}
	// The wait for the new deal, within the request's deadline so that a
	// deal not ready in time still gets its 202. The Update waits on the
	// worker; a start Temporal recorded stands whatever becomes of the wait.
	wctx, cancel := context.WithTimeout(ctx, readyBudget(ctx))
	defer cancel()
	view, created, err := deals.StartAndView(wctx, s.cfg.Temporal, in)
	var (
		inv    *deals.InvalidLeadError
		noView *deals.NoViewError
	)
	switch {
	case errors.As(err, &inv):
		return invalid(inv.Fields...)
	case errors.As(err, &noView):
		// Started, but the Update did not answer: a worker from before it
		// refused it as unknown, its workflow task failed, or the wait ran
		// out. Ask the deal as before the Update existed.
		s.leadStarted(u, in, "createdUpdate", noView.Err.Error())
		c.Header("Location", "/v1/leads/"+in.ID)
		return s.answerCreated(wctx, c, in.ID)
	case err != nil:
		return s.startUnsure(wctx, c, u, in, err)
	case !created:
		return s.existingLead(c, u, in.ID)
	}
	s.leadStarted(u, in)
	c.Header("Location", "/v1/leads/"+in.ID)
	setETag(c, view.Version())
	c.JSON(http.StatusCreated, showDeal(view))
	return nil
}

// startUnsure answers a creation whose Update-with-Start failed without
// saying whether the start happened: the wait ran out while the Update
// waited for a worker (after Temporal recorded the start), or the call failed
// outright (before it, or after it, as when the new workflow's first task
// failed). Whether the workflow exists tells which. One that exists is taken
// as this creation's when the user may see it (a manager, or its owner: a
// rep creates leads for no one else), which the 202 or 201 then shows no more
// than a GET would; another's is answered as any existing deal.
func (s *Server) startUnsure(wctx context.Context, c *gin.Context, u User, in workflows.NewLead, err error) error {
	ctx := c.Request.Context()
	if ctx.Err() != nil {
		return s.temporalErr(ctx, err)
	}
	desc, derr := s.cfg.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(in.ID), "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(derr, &nf):
		return s.temporalErr(ctx, err) // nothing was started
	case derr != nil:
		return s.temporalErr(ctx, derr)
	}
	if !u.Manager() && !strings.EqualFold(startedOwner(desc), u.Email) {
		return s.existingLead(c, u, in.ID)
	}
	s.leadStarted(u, in, "startError", err.Error())
	c.Header("Location", "/v1/leads/"+in.ID)
	return s.answerCreated(wctx, c, in.ID)
}

// startedOwner is the owner a deal's workflow shows in its search
// attributes ("" when it shows none).
func startedOwner(desc *workflowservice.DescribeWorkflowExecutionResponse) string {
	p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SASalesOwner.GetName()]
	var owner string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &owner) != nil {
		return ""
	}
	return owner
}

func (s *Server) leadStarted(u User, in workflows.NewLead, args ...any) {
	s.log.Info("lead workflow started", append([]any{"leadID", in.ID, "owner", in.Owner, "by", u.Email}, args...)...)
}

// beforeStart is what a lead's creation checks before it starts the deal:
// possible duplicates on file, and that Temporal is up (503 at once, not
// after the SDK's retries).
func (s *Server) beforeStart(ctx context.Context, u User, in workflows.NewLead) error {
	if err := s.checkNewLead(ctx, u, in); err != nil {
		return err
	}
	return s.health.up(ctx)
}

// startLead starts the new lead's deal workflow after the duplicate check,
// for the web form, which shows the deal's page next (the API's creation is
// createLead); created is false when a deal with its id exists already (a
// repeated request, or a concurrent one that started it first): the start
// itself tells, with no look-up before it.
func (s *Server) startLead(ctx context.Context, u User, in workflows.NewLead) (created bool, err error) {
	if err := s.beforeStart(ctx, u, in); err != nil {
		return false, err
	}
	created, err = deals.Start(ctx, s.cfg.Temporal, in)
	if err != nil {
		return false, s.temporalErr(ctx, err)
	}
	if created {
		s.leadStarted(u, in)
	}
	return created, nil
}

// newLead reads the request into the workflow's input (leadInput), the
// Idempotency-Key header its key.
func (s *Server) newLead(c *gin.Context, u User) (workflows.NewLead, error) {
	body, err := readBody(c.Request)
	if err != nil {
		return workflows.NewLead{}, err
	}
	var req createLeadRequest
	if err := decodeObject(body, &req, false); err != nil {
		return workflows.NewLead{}, err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return workflows.NewLead{}, err
	}
	in, err := s.leadInput(c.Request.Context(), u, req, key)
	c.Set("leadID", in.ID)
	return in, err
}

// leadInput turns a creation request into the workflow's input: the lead's
// id (the request's, one derived from its idempotency key, or a new one),
// validated, with its owner and manager named as the users table does.
func (s *Server) leadInput(ctx context.Context, u User, req createLeadRequest, key string) (workflows.NewLead, error) {
	id := req.ID
	switch {
	case id != "":
	case key != "":
		id = deals.DerivedID(u.ID, key) // the same user and key, the same lead
	default:
		id = randomID("ld-")
	}

	in := workflows.NewLead{ID: id, Owner: req.Owner, Manager: req.Manager, Currency: req.Currency,
		Lead: req.LeadFields, CreatedBy: u.Email, PriceListID: req.PriceListID, AllowDuplicate: req.AllowDuplicate}
	var errs []workflows.FieldError
	if req.Policy != nil {
		p, perrs := req.Policy.policy()
		if errs = perrs; len(errs) == 0 {
			in.Policy = &p
		}
	}
	if in.Owner == "" {
		in.Owner = u.Email
	}
	errs = append(errs, in.Validate()...)
	if len(errs) > 0 {
		return in, invalid(errs...)
	}
	if !strings.EqualFold(in.Owner, u.Email) && !u.Manager() {
		return in, forbidden("only a manager may create a lead for another owner")
	}
	if err := s.dealPriceList(ctx, &in); err != nil {
		return in, err
	}
	return in, s.resolveUsers(ctx, u, &in)
}

// answerCreated waits, within wctx, for the new deal's workflow to answer
// and to have written the lead row: then every action works and the lead is
// in lists (201). It asks as creations did before the created Update (whose
// answer createLead takes when it comes): the state query, which the
// workflow answers before its first activity has written the row, so the
// answer alone does not say the row is there, then the read model. A deal
// whose worker is down is still created, durably; it says so with 202, as
// when wctx has run out already.
func (s *Server) answerCreated(wctx context.Context, c *gin.Context, id string) error {
	ctx := c.Request.Context()
	var view *workflows.DealView
	err := wctx.Err() // the Update may have spent the wait
	if err == nil {
		err = retryNotReady(wctx, func() error {
			if view == nil {
				v, err := s.queryState(wctx, id)
				if err != nil {
					return err
				}
				view = v
			}
			return s.leadRecorded(wctx, id)
		})
	}
	if err != nil {
		// The wait's bound ran out: seen by the context, or first by Temporal,
		// which answers a query a moment before its caller's deadline (504).
		var p *Problem
		waitEnded := wctx.Err() != nil || errors.As(err, &p) && p.Status == http.StatusGatewayTimeout
		if ctx.Err() == nil && (errors.Is(err, errNotReady) || waitEnded) {
			c.JSON(http.StatusAccepted, gin.H{"id": id, "workflowId": workflows.WorkflowID(id),
				"message": "the lead is recorded and its deal is being set up; GET its Location shortly"})
			return nil
		}
		return err
	}
	setETag(c, view.Version())
	c.JSON(http.StatusCreated, showDeal(view))
	return nil
}

// leadRecorded returns errNotReady until the lead's row is in the read model.
func (s *Server) leadRecorded(ctx context.Context, id string) error {
	ok, err := store.LeadRecorded(ctx, s.cfg.Pool, id)
	if err != nil {
		return pgErr(ctx, err)
	}
	if !ok {
		return errNotReady
	}
	return nil
}

// existingLead answers a creation whose lead id is taken: with the deal
// (200) when the user may see it, so that a repeated request gets back what
// the first one made, else with a 409 that shows nothing of it.
func (s *Server) existingLead(c *gin.Context, u User, id string) error {
	view, err := s.dealView(c.Request.Context(), u, id)
	var p *Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return conflict("id-taken", "Lead id taken", "a lead with id "+id+" exists already; choose another id")
	}
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/leads/"+id)
	setETag(c, view.Version())
	c.JSON(http.StatusOK, showDeal(view))
	return nil
}

// readyBudget is how long a creation may wait for its deal to answer: up
// to readyWait, leaving time within the request's deadline to answer 202.
func readyBudget(ctx context.Context) time.Duration {
	wait := readyWait
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		wait = min(wait, left-min(time.Second, left/4))
	}
	return max(wait, 0)
}

// resolveUsers checks that the owner and manager are users, and picks the
// manager follow-ups escalate to when none is given.
func (s *Server) resolveUsers(ctx context.Context, u User, in *workflows.NewLead) error {
	var errs []workflows.FieldError
	owner, ok, err := store.UserByEmail(ctx, s.cfg.Pool, in.Owner)
	if err != nil {
		return pgErr(ctx, err)
	}
	if !ok {
		errs = append(errs, workflows.FieldError{Field: "owner", Reason: "is not a user"})
	} else {
		in.Owner = owner.Email
	}
	switch {
	case in.Manager != "":
		m, ok, err := store.UserByEmail(ctx, s.cfg.Pool, in.Manager)
		if err != nil {
			return pgErr(ctx, err)
		}
		if !ok || !m.Manager() {
			errs = append(errs, workflows.FieldError{Field: "manager", Reason: "is not a manager"})
		} else {
			in.Manager = m.Email
		}
	case u.Manager():
		in.Manager = u.Email
	default:
		m, err := store.FirstManager(ctx, s.cfg.Pool)
		if err != nil {
			return pgErr(ctx, err)
		}
		in.Manager = m
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	return nil
}

// idempotencyKey returns the request's Idempotency-Key header, or "".
func idempotencyKey(c *gin.Context) (string, error) {
	k := c.GetHeader("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > 255 {
		return "", malformed("Idempotency-Key must be at most 255 characters")
	}
	for _, r := range k {
		if r < 0x20 || r > 0x7e {
			return "", malformed("Idempotency-Key must be printable ASCII")
		}
	}
	return k, nil
}

// updateID is the Update ID of an action with an Idempotency-Key, so that a
// repeated request attaches to the first one's outcome instead of acting
// twice; without a key each request is a new Update.
func updateID(u User, leadID string, act workflows.Action, key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("update\x00" + u.ID + "\x00" + leadID + "\x00" + string(act) + "\x00" + key))
	return string(act) + "-" + hex.EncodeToString(sum[:16])
}

// actionResult is the answer to an accepted action.
type actionResult struct {
	LeadID string `json:"leadId"`
	workflows.Result
}

// run sends an action to the deal's workflow as an Update and waits for its
// outcome; a refusal by the validator becomes a 422, 409, 412 or 404. The
// answer's ETag is the deal's version after the action.
func (s *Server) run(c *gin.Context, u User, id string, cmd workflows.Command) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	res, err := s.update(c.Request.Context(), u, id, cmd, key)
	if err != nil {
		return err
	}
	setETag(c, res.Version)
	c.JSON(http.StatusOK, actionResult{LeadID: id, Result: res})
	return nil
}

// update runs the action as an Update of the deal's workflow and returns its
// outcome; key is the client's idempotency key ("" for none).
func (s *Server) update(ctx context.Context, u User, id string, cmd workflows.Command, key string) (workflows.Result, error) {
	if err := s.health.up(ctx); err != nil {
		return workflows.Result{}, err // at once, not after the client's retries
	}
	// Without an Idempotency-Key the request still sends one Update ID, so
	// that its own retries below are one action.
	uid := updateID(u, id, cmd.Action(), key)
	if uid == "" {
		uid = string(cmd.Action()) + "-" + randomID("req_")
	}
	var res workflows.Result
	err := retryNotReady(ctx, func() error {
		h, err := s.cfg.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			UpdateID:     uid,
			WorkflowID:   workflows.WorkflowID(id),
			UpdateName:   string(cmd.Action()),
			Args:         []any{cmd},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return s.updateErr(ctx, u, id, err)
		}
		if err := h.Get(ctx, &res); err != nil {
			return s.updateErr(ctx, u, id, err)
		}
		return nil
	})
	if errors.Is(err, errNotReady) {
		p := unavailable("the deal", err)
		p.Detail, p.RetryAfter = "the deal is still being set up; retry in a moment", 1
		return workflows.Result{}, p
	}
	if err != nil {
		return workflows.Result{}, err
	}
	s.log.Info("action accepted", "leadID", id, "action", cmd.Action(), "by", u.Email, "stage", res.Stage)
	return res, nil
}
