package httpapi

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// Lists and reports read the PostgreSQL read model the worker writes
// (through the store); Temporal visibility lags and is not built for list
// traffic.

// checkParams rejects query parameters the route does not know.
func checkParams(q url.Values, known ...string) []workflows.FieldError {
	var errs []workflows.FieldError
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, k) {
			errs = append(errs, workflows.FieldError{Field: k, Reason: "is not a known query parameter"})
		}
	}
	return errs
}

// limitParam reads ?limit (default def, 1..200).
func limitParam(q url.Values, def int, errs *[]workflows.FieldError) int {
	s := q.Get("limit")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		*errs = append(*errs, workflows.FieldError{Field: "limit", Reason: "must be an integer from 1 to 200"})
		return def
	}
	return n
}

// listLeads: GET /v1/leads with filters, sort and cursor pagination
// (store.LeadFilter).
func (s *Server) listLeads(c *gin.Context) error {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	errs := checkParams(q, "stage", "status", "owner", "source", "q", "min_value", "sort", "cursor", "limit")
	f := store.LeadFilter{Stage: q.Get("stage"), Status: q.Get("status"), Owner: q.Get("owner"),
		Source: q.Get("source"), Query: q.Get("q"), MinValue: q.Get("min_value"),
		Sort: q.Get("sort"), Cursor: q.Get("cursor")}
	errs = append(errs, f.Validate()...)
	f.Limit = limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	list, err := store.ListLeads(ctx, s.cfg.Pool, userOf(c), f)
	if err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, list)
	return nil
}
