package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// Lists read the PostgreSQL read model the worker writes; Temporal
// visibility lags and is not built for list traffic.

// visibleSQL restricts leads l to those a rep owns or works on (the
// opportunity's sales team); arg is the placeholder of the rep's email.
func visibleSQL(arg string) string {
	return `(l.owner = ` + arg + ` OR EXISTS (SELECT 1 FROM opportunities o
		JOIN opportunity_team t ON t.opportunity_id = o.id
		WHERE o.lead_id = l.id AND t.user_id = ` + arg + `))`
}

// LeadSummary is one row of GET /v1/leads.
type LeadSummary struct {
	ID             string           `json:"id"`
	Topic          string           `json:"topic"`
	Customer       string           `json:"customer"`
	Company        string           `json:"company,omitempty"`
	Contact        string           `json:"contact,omitempty"`
	Email          string           `json:"email,omitempty"`
	Source         string           `json:"source,omitempty"`
	Rating         string           `json:"rating,omitempty"`
	Owner          string           `json:"owner"`
	Stage          workflows.Stage  `json:"stage"`
	Status         workflows.Status `json:"status"`
	Currency       string           `json:"currency"`
	Value          decimal.Decimal  `json:"value"`
	CreatedAt      time.Time        `json:"createdAt"`
	StageEnteredAt time.Time        `json:"stageEnteredAt"`
	ClosedAt       *time.Time       `json:"closedAt,omitempty"`
	UpdatedAt      time.Time        `json:"updatedAt"`
}

// LeadList is a page of leads; NextCursor fetches the next page.
type LeadList struct {
	Items      []LeadSummary `json:"items"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// sortKeys are the orders GET /v1/leads offers: the column and its type.
var sortKeys = map[string]struct{ col, typ string }{
	"created": {"l.created_at", "timestamptz"},
	"updated": {"l.updated_at", "timestamptz"},
	"value":   {"l.value", "numeric"},
}

// cursor is the opaque position after the last row of a page.
type cursor struct {
	Sort  string `json:"s"`
	Value string `json:"v"`
	ID    string `json:"id"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return cursor{}, false
	}
	return c, true
}

var stages = []string{"Qualify", "Develop", "Propose", "Close", "Order", "Invoice", "Paid"}
var statuses = []string{"open", "won", "lost", "disqualified", "canceled"}

// checkParams rejects query parameters the route does not know.
func checkParams(q url.Values, known ...string) []workflows.FieldError {
	var errs []workflows.FieldError
	for _, k := range sortedKeys(q) {
		if !slices.Contains(known, k) {
			errs = append(errs, workflows.FieldError{Field: k, Reason: "is not a known query parameter"})
		}
	}
	return errs
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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

// listLeads: GET /v1/leads with filters, sort and cursor pagination.
func (s *Server) listLeads(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	q := c.Request.URL.Query()
	errs := checkParams(q, "stage", "status", "owner", "source", "q", "min_value", "sort", "cursor", "limit")

	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !u.Manager() {
		where = append(where, visibleSQL(arg(u.Email)))
	}
	if v := q.Get("stage"); v != "" {
		if !slices.Contains(stages, v) {
			errs = append(errs, workflows.FieldError{Field: "stage", Reason: "must be one of: " + strings.Join(stages, ", ")})
		}
		where = append(where, "l.stage = "+arg(v))
	}
	if v := q.Get("status"); v != "" {
		if !slices.Contains(statuses, v) {
			errs = append(errs, workflows.FieldError{Field: "status", Reason: "must be one of: " + strings.Join(statuses, ", ")})
		}
		where = append(where, "l.status = "+arg(v))
	}
	if v := q.Get("owner"); v != "" {
		where = append(where, "lower(l.owner) = lower("+arg(v)+")")
	}
	if v := q.Get("source"); v != "" {
		where = append(where, "l.source = "+arg(v))
	}
	if v := strings.TrimSpace(q.Get("q")); v != "" {
		if len(v) > 200 {
			errs = append(errs, workflows.FieldError{Field: "q", Reason: "is longer than 200 characters"})
		}
		p := arg("%" + likeEscape(v) + "%")
		where = append(where, "(l.topic ILIKE "+p+" OR l.company ILIKE "+p+" OR l.customer ILIKE "+p+
			" OR (l.first_name || ' ' || l.last_name) ILIKE "+p+" OR l.email ILIKE "+p+")")
	}
	if v := q.Get("min_value"); v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil {
			errs = append(errs, workflows.FieldError{Field: "min_value", Reason: "must be a decimal number"})
		}
		where = append(where, "l.value >= "+arg(d.String())+"::numeric")
	}
	sortName := q.Get("sort")
	if sortName == "" {
		sortName = "-created"
	}
	desc := strings.HasPrefix(sortName, "-")
	key, ok := sortKeys[strings.TrimPrefix(sortName, "-")]
	if !ok {
		errs = append(errs, workflows.FieldError{Field: "sort", Reason: "must be one of: created, -created, updated, -updated, value, -value"})
		key = sortKeys["created"]
	}
	if v := q.Get("cursor"); v != "" {
		cur, ok := decodeCursor(v)
		switch {
		case !ok:
			errs = append(errs, workflows.FieldError{Field: "cursor", Reason: "is not a cursor this API returned"})
		case cur.Sort != sortName:
			errs = append(errs, workflows.FieldError{Field: "cursor", Reason: "belongs to another sort order"})
		default:
			op := ">"
			if desc {
				op = "<"
			}
			where = append(where, fmt.Sprintf("(%s, l.id) %s (%s::%s, %s)", key.col, op, arg(cur.Value), key.typ, arg(cur.ID)))
		}
	}
	limit := limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	sql := `SELECT l.id, l.topic, l.customer, l.company, btrim(l.first_name || ' ' || l.last_name), l.email,
		l.source, l.rating, l.owner, l.stage, l.status, l.currency, l.value::text,
		l.created_at, l.stage_entered_at, l.closed_at, l.updated_at, ` + key.col + `::text
		FROM leads l`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf(" ORDER BY %s %s, l.id %s LIMIT %s", key.col, dir, dir, arg(limit+1))

	rows, err := s.cfg.Pool.Query(ctx, sql, args...)
	if err != nil {
		return pgErr(ctx, err)
	}
	defer rows.Close()
	out := LeadList{Items: []LeadSummary{}}
	var lastSort string
	for rows.Next() {
		var (
			l          LeadSummary
			value, pos string
		)
		if err := rows.Scan(&l.ID, &l.Topic, &l.Customer, &l.Company, &l.Contact, &l.Email,
			&l.Source, &l.Rating, &l.Owner, &l.Stage, &l.Status, &l.Currency, &value,
			&l.CreatedAt, &l.StageEnteredAt, &l.ClosedAt, &l.UpdatedAt, &pos); err != nil {
			return pgErr(ctx, err)
		}
		if l.Value, err = decimal.NewFromString(value); err != nil {
			return internal(fmt.Errorf("lead %s: value %q: %w", l.ID, value, err))
		}
		if len(out.Items) == limit {
			last := out.Items[len(out.Items)-1]
			out.NextCursor = cursor{Sort: sortName, Value: lastSort, ID: last.ID}.encode()
			break
		}
		out.Items = append(out.Items, l)
		lastSort = pos
	}
	if err := rows.Err(); err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
