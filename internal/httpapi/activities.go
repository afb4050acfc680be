package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// Activities are added, edited, completed and canceled by the action
// routes of workflows.Specs (Updates, like every rep action); they are read
// from PostgreSQL here: a deal's, and a user's to-do list across deals.

// leadActivities: GET /v1/leads/{id}/activities, the deal's activities,
// newest first. Whoever may see the deal may see them (any other deal is a
// 404).
func (s *Server) leadActivities(c *gin.Context) error {
	ctx := c.Request.Context()
	id := c.Param("id")
	if errs := checkParams(c.Request.URL.Query()); len(errs) > 0 {
		return invalid(errs...)
	}
	if !workflows.ValidID(id) {
		return noDeal(id)
	}
	if ok, err := store.LeadVisible(ctx, s.cfg.Pool, userOf(c), id); err != nil {
		return pgErr(ctx, err)
	} else if !ok {
		return noDeal(id)
	}
	items, err := store.LeadActivities(ctx, s.cfg.Pool, id)
	if err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, gin.H{"leadId": id, "items": items})
	return nil
}

// ownerMe is the owner parameter that names the caller.
const ownerMe = "me"

// listActivities: GET /v1/activities, a to-do list across deals: one
// owner's activities of one status (default: the caller's open ones),
// soonest due first, optionally those due in a window (overdue, today,
// week) of the server's clock (Config.Now). A rep may ask only for their
// own; a manager for anyone's.
func (s *Server) listActivities(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	q := c.Request.URL.Query()
	errs := checkParams(q, "owner", "due", "status", "cursor", "limit")
	owner := strings.TrimSpace(q.Get("owner"))
	if owner == "" || owner == ownerMe {
		owner = u.Email
	}
	f := store.ActivityFilter{Owner: owner, Status: q.Get("status"), Due: q.Get("due"), Cursor: q.Get("cursor"),
		Now: s.cfg.Now()}
	errs = append(errs, f.Validate()...)
	f.Limit = limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	if !u.Manager() && !strings.EqualFold(owner, u.Email) {
		return forbidden("a rep's to-do list is their own: owner must be me (managers may name anyone)")
	}
	list, err := store.ListActivities(ctx, s.cfg.Pool, f)
	if err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, list)
	return nil
}
