package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// timeline: GET /v1/leads/{id}/timeline?after=SEQ&limit=N, from the read
// model (store.Timeline).
func (s *Server) timeline(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	id := c.Param("id")
	q := c.Request.URL.Query()
	errs := checkParams(q, "after", "limit")
	after := 0
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, workflows.FieldError{Field: "after", Reason: "must be a non-negative integer"})
		}
		after = n
	}
	limit := limitParam(q, 100, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	if !workflows.ValidID(id) {
		return noDeal(id)
	}
	if ok, err := store.LeadVisible(ctx, s.cfg.Pool, u, id); err != nil {
		return pgErr(ctx, err)
	} else if !ok {
		return noDeal(id)
	}
	page, err := store.Timeline(ctx, s.cfg.Pool, id, after, limit)
	if err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, page)
	return nil
}

// pipeline: GET /v1/pipeline. Reps get their own deals; managers every
// deal and each owner's share (store.Pipeline).
func (s *Server) pipeline(c *gin.Context) error {
	ctx := c.Request.Context()
	if errs := checkParams(c.Request.URL.Query()); len(errs) > 0 {
		return invalid(errs...)
	}
	report, err := store.Pipeline(ctx, s.cfg.Pool, userOf(c))
	if err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, report)
	return nil
}
