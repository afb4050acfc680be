package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// An action's route comes from its row in workflows.Specs: every action
// with a Route is served under /v1/leads/{id}. A path naming ":revision" or
// ":itemId" sets that on the command.

// action handles one action's route: it decodes and validates the command
// (422 without a round trip), then runs the Update. Whether the user may act
// on the deal is checked by the deal's Update validator
// (workflows.Deal.Authorize): no read before the action.
func (s *Server) action(spec workflows.ActionSpec) func(c *gin.Context) error {
	return func(c *gin.Context) error {
		u := userOf(c)
		expected, err := ifMatch(c)
		if err != nil {
			return err
		}
		body, err := readBody(c.Request)
		if err != nil {
			return err
		}
		id := c.Param("id")
		cmd, err := s.command(c.Request.Context(), u, spec, id, body, c.Param("revision"), c.Param("itemId"))
		if err != nil {
			return err
		}
		if err := expect(cmd, expected); err != nil {
			return err
		}
		return s.run(c, u, id, cmd)
	}
}

// command reads one action's JSON body into its command, for the deal id:
// decoded strictly, the quote revision or item of the route set, the actor
// set to u, validated, the users it names resolved, catalog lines priced and
// a qualification checked for possible duplicates. The JSON API and the web
// pages (which turn their forms into the same JSON) both act through it.
func (s *Server) command(ctx context.Context, u User, spec workflows.ActionSpec, id string, body []byte, revision, itemID string) (workflows.Command, error) {
	byRevision := strings.Contains(spec.Route.Path, ":revision")
	byItem := strings.Contains(spec.Route.Path, ":itemId")
	if spec.Route.ManagerOnly && !u.Manager() {
		return nil, forbidden(string(spec.Action) + " is for managers")
	}
	cmd, ok := workflows.NewCommand(spec.Action)
	if !ok {
		return nil, internal(fmt.Errorf("no command for action %s", spec.Action))
	}
	reserved := []string{"actor", "actorRole", "ifMatch"}
	if byRevision {
		reserved = append(reserved, "revision")
	}
	if byItem {
		reserved = append(reserved, "id")
	}
	if err := decodeObject(body, cmd, true, reserved...); err != nil {
		return nil, err
	}
	if byRevision {
		rev, err := strconv.Atoi(revision)
		if err != nil || rev < 1 {
			return nil, notFound("no quote revision " + revision)
		}
		cmd.(interface{ SetRevision(int) }).SetRevision(rev)
	}
	if byItem {
		cmd.(interface{ SetItemID(string) }).SetItemID(itemID)
	}
	setActor(cmd, u)
	if errs := cmd.Validate(); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	if err := s.resolveNamedUser(ctx, cmd); err != nil {
		return nil, err
	}
	if err := s.priceLines(ctx, u, id, cmd); err != nil {
		return nil, err
	}
	if err := s.checkQualify(ctx, u, id, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// resolveNamedUser checks that a user a command names exists, and names them as
// the users table does.
func (s *Server) resolveNamedUser(ctx context.Context, cmd workflows.Command) error {
	var field string
	var email *string
	switch cmd := cmd.(type) {
	case *workflows.Assign:
		field, email = "owner", &cmd.Owner
	case *workflows.AddTeamMember:
		field, email = "userId", &cmd.UserID
	case *workflows.AddActivity:
		field, email = "owner", cmd.Owner // nil: the caller owns it
	case *workflows.EditActivity:
		field, email = "owner", cmd.Owner // nil: the owner stays
	}
	if email == nil {
		return nil
	}
	nu, ok, err := store.UserByEmail(ctx, s.cfg.Pool, *email)
	if err != nil {
		return pgErr(ctx, err)
	}
	if !ok {
		return invalid(workflows.FieldError{Field: field, Reason: "is not a user"})
	}
	*email = nu.Email
	return nil
}

// editLead: PATCH /v1/leads/{id} edits the lead while it is in Qualify and
// the opportunity after; the fields accepted follow the stage. With
// If-Match, a deal that has moved on is a 412 at once (it was just read);
// the workflow checks again as it takes the edit.
func (s *Server) editLead(c *gin.Context) error {
	u := userOf(c)
	id := c.Param("id")
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	view, err := s.dealView(c.Request.Context(), u, id)
	if err != nil {
		return err
	}
	if expected != 0 && expected != view.Version() {
		p := dealChanged(id, view.Version())
		p.Stage, p.DealStatus = view.Stage, view.Status
		return p
	}
	cmd, err := s.editCommand(c.Request.Context(), u, view, body)
	if err != nil {
		return err
	}
	if err := expect(cmd, expected); err != nil {
		return err
	}
	return s.run(c, u, id, cmd)
}

// editCommand reads an edit of the deal in view: edit_lead while it is in
// Qualify, edit_opportunity after (the API's PATCH and the web's edit forms).
func (s *Server) editCommand(ctx context.Context, u User, view *workflows.DealView, body []byte) (workflows.Command, error) {
	var cmd workflows.Command = new(workflows.EditOpportunity)
	if view.Stage == workflows.StageQualify {
		cmd = new(workflows.EditLead)
	}
	if err := decodeObject(body, cmd, false, "actor", "actorRole", "ifMatch"); err != nil {
		if p, ok := err.(*Problem); ok && p.Status == http.StatusUnprocessableEntity {
			p.Detail = fmt.Sprintf("%s (a lead in stage %s takes the fields of %s)", p.Detail, view.Stage, cmd.Action())
		}
		return nil, err
	}
	setActor(cmd, u)
	if errs := cmd.Validate(); len(errs) > 0 {
		return nil, invalid(errs...)
	}
	if e, ok := cmd.(*workflows.EditLead); ok {
		if _, err := s.linkedRecords(ctx, u, deref(e.ExistingAccountID), deref(e.ExistingContactID)); err != nil {
			return nil, err
		}
	}
	if e, ok := cmd.(*workflows.EditOpportunity); ok && e.PriceListID != nil {
		if err := s.checkPriceList(ctx, *e.PriceListID, view.Currency); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// setActor records who acts: the authenticated user, never the body.
func setActor(cmd workflows.Command, u User) {
	cmd.SetActor(workflows.Actor{Actor: u.Email, ActorRole: u.Role})
}

// RouteAction names the Update behind one route, for the OpenAPI check.
type RouteAction struct {
	Method, Path string // Path in gin form, e.g. /v1/leads/:id/qualify
	Action       workflows.Action
}

// RouteActions lists the routes that run one fixed Update.
func RouteActions() []RouteAction {
	var out []RouteAction
	for _, s := range workflows.Specs {
		if s.Route.Method != "" {
			out = append(out, RouteAction{Method: s.Route.Method, Path: "/v1/leads/:id" + s.Route.Path, Action: s.Action})
		}
	}
	return out
}
