package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/gin-gonic/gin"

	"dealflow/workflows"
)

// actionRoute maps one route under /v1/leads/{id} to a rep action.
type actionRoute struct {
	method string
	path   string
	action workflows.Action
	// managerOnly actions answer 403 to reps.
	managerOnly bool
	// revision: the path names the quote revision (":revision").
	revision bool
	// item: the path names the item to remove (":itemId").
	item bool
}

// actionRoutes are every Update the API exposes, except PATCH /v1/leads/{id}
// whose action depends on the stage (edit_lead, then edit_opportunity).
var actionRoutes = []actionRoute{
	{method: http.MethodPost, path: "/assign", action: workflows.ActAssign, managerOnly: true},
	{method: http.MethodPost, path: "/qualify", action: workflows.ActQualify},
	{method: http.MethodPost, path: "/disqualify", action: workflows.ActDisqualify},
	{method: http.MethodPost, path: "/reactivate", action: workflows.ActReactivate},
	{method: http.MethodPost, path: "/stakeholders", action: workflows.ActAddStakeholder},
	{method: http.MethodDelete, path: "/stakeholders/:itemId", action: workflows.ActRemoveStakeholder, item: true},
	{method: http.MethodPost, path: "/competitors", action: workflows.ActAddCompetitor},
	{method: http.MethodDelete, path: "/competitors/:itemId", action: workflows.ActRemoveCompetitor, item: true},
	{method: http.MethodPost, path: "/team", action: workflows.ActAddTeamMember},
	{method: http.MethodDelete, path: "/team/:itemId", action: workflows.ActRemoveTeamMember, item: true},
	{method: http.MethodPost, path: "/lines", action: workflows.ActAddLine},
	{method: http.MethodDelete, path: "/lines/:itemId", action: workflows.ActRemoveLine, item: true},
	{method: http.MethodPost, path: "/quotes", action: workflows.ActPropose},
	{method: http.MethodPatch, path: "/quotes/:revision", action: workflows.ActEditQuote, revision: true},
	{method: http.MethodPost, path: "/quotes/:revision/activate", action: workflows.ActActivateQuote, revision: true},
	{method: http.MethodPost, path: "/quotes/:revision/revise", action: workflows.ActReviseQuote, revision: true},
	{method: http.MethodPost, path: "/close", action: workflows.ActClose},
	{method: http.MethodPost, path: "/reopen", action: workflows.ActReopen},
	{method: http.MethodPost, path: "/order/fulfill", action: workflows.ActFulfillOrder},
	{method: http.MethodPost, path: "/order/cancel", action: workflows.ActCancelOrder},
	{method: http.MethodPost, path: "/invoice/payments", action: workflows.ActRecordPayment},
	{method: http.MethodPost, path: "/invoice/cancel", action: workflows.ActCancelInvoice},
}

// action handles one actionRoute: it decodes and validates the command
// (422 without a round trip), checks that the user may act on the deal,
// then runs the Update.
func (s *Server) action(a actionRoute) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		u := userOf(c)
		id := c.Param("id")
		if a.managerOnly && !u.Manager() {
			return forbidden(string(a.action) + " is for managers")
		}
		body, err := readBody(c.Request)
		if err != nil {
			return err
		}
		cmd, ok := workflows.NewCommand(a.action)
		if !ok {
			return internal(fmt.Errorf("no command for action %s", a.action))
		}
		reserved := []string{"actor", "actorRole"}
		if a.revision {
			reserved = append(reserved, "revision")
		}
		if a.item {
			reserved = append(reserved, "id")
		}
		if err := decodeObject(body, cmd, true, reserved...); err != nil {
			return err
		}
		if a.revision {
			rev, err := strconv.Atoi(c.Param("revision"))
			if err != nil || rev < 1 {
				return notFound("no quote revision " + c.Param("revision"))
			}
			setField(cmd, "Revision", rev)
		}
		if a.item {
			cmd.(*workflows.RemoveItem).ID = c.Param("itemId")
		}
		setActor(cmd, u)
		if errs := cmd.Validate(); len(errs) > 0 {
			return invalid(errs...)
		}
		ctx := c.Request.Context()
		switch cmd := cmd.(type) {
		case *workflows.Assign:
			nu, ok, err := UserByEmail(ctx, s.cfg.Pool, cmd.Owner)
			if err != nil {
				return pgErr(ctx, err)
			}
			if !ok {
				return invalid(workflows.FieldError{Field: "owner", Reason: "is not a user"})
			}
			cmd.Owner = nu.Email
		case *workflows.AddTeamMember:
			nu, ok, err := UserByEmail(ctx, s.cfg.Pool, cmd.UserID)
			if err != nil {
				return pgErr(ctx, err)
			}
			if !ok {
				return invalid(workflows.FieldError{Field: "userId", Reason: "is not a user"})
			}
			cmd.UserID = nu.Email
		}
		// Whether u may act on this deal is checked by the deal's Update
		// validator (workflows.Deal.Authorize): no read before the action.
		return s.run(c, u, id, cmd)
	}
}

// editLead: PATCH /v1/leads/{id} edits the lead while it is in Qualify and
// the opportunity after; the fields accepted follow the stage.
func (s *Server) editLead(c *gin.Context) error {
	u := userOf(c)
	id := c.Param("id")
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	view, err := s.dealView(ctx, u, id)
	if err != nil {
		return err
	}
	var cmd workflows.Command = new(workflows.EditOpportunity)
	if view.Stage == workflows.StageQualify {
		cmd = new(workflows.EditLead)
	}
	if err := decodeObject(body, cmd, false, "actor", "actorRole"); err != nil {
		if p, ok := err.(*Problem); ok && p.Status == http.StatusUnprocessableEntity {
			p.Detail = fmt.Sprintf("%s (a lead in stage %s takes the fields of %s)", p.Detail, view.Stage, cmd.Action())
		}
		return err
	}
	setActor(cmd, u)
	if errs := cmd.Validate(); len(errs) > 0 {
		return invalid(errs...)
	}
	return s.run(c, u, id, cmd)
}

// setActor records who acts: the authenticated user, never the body.
func setActor(cmd workflows.Command, u User) {
	setField(cmd, "Actor", workflows.Actor{Actor: u.Email, ActorRole: u.Role})
}

// setField sets a field of the command struct cmd points to.
func setField(cmd workflows.Command, name string, v any) {
	f := reflect.ValueOf(cmd).Elem().FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		panic(fmt.Sprintf("command %T has no field %s", cmd, name))
	}
	f.Set(reflect.ValueOf(v))
}

// RouteAction names the Update behind one route, for the OpenAPI check.
type RouteAction struct {
	Method, Path string // Path in gin form, e.g. /v1/leads/:id/qualify
	Action       workflows.Action
}

// RouteActions lists the routes that run one fixed Update.
func RouteActions() []RouteAction {
	out := make([]RouteAction, len(actionRoutes))
	for i, a := range actionRoutes {
		out[i] = RouteAction{Method: a.method, Path: "/v1/leads/:id" + a.path, Action: a.action}
	}
	return out
}
