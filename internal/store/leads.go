package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// The lists and reports read the read model the worker writes; Temporal
// visibility lags and is not built for list traffic.

// visibleSQL restricts leads l to those a rep owns or works on (the
// opportunity's sales team); arg is the placeholder of the rep's email.
func visibleSQL(arg string) string {
	return `(l.owner = ` + arg + ` OR EXISTS (SELECT 1 FROM opportunities o
		JOIN opportunity_team t ON t.opportunity_id = o.id
		WHERE o.lead_id = l.id AND t.user_id = ` + arg + `))`
}

// LeadRecorded reports whether the lead's row is in the read model.
func LeadRecorded(ctx context.Context, pool *Pool, id string) (bool, error) {
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, err
	}
	return ok, nil
}

// LeadVisible reports whether the lead's row exists and u may see it: a
// manager every lead, a rep those they own or are on the sales team of.
func LeadVisible(ctx context.Context, pool *Pool, u User, id string) (bool, error) {
	sql := `SELECT true FROM leads l WHERE l.id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + visibleSQL("$2")
		args = append(args, u.Email)
	}
	var ok bool
	err := pool.QueryRow(ctx, sql, args...).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ok, nil
}

// LeadSummary is one row of the lead list.
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

// LeadFilter says which leads ListLeads returns, in which order, from where.
// Every field is optional. Validate names its faults by the GET /v1/leads
// query parameter of each field: stage, status, owner, source, q (Query),
// min_value (MinValue), sort, cursor and limit.
type LeadFilter struct {
	Stage  string // one stage, e.g. "Develop"
	Status string // one status, e.g. "open"
	// Owner matches whatever the case.
	Owner  string
	Source string
	// Query is a text the topic, company, customer, contact name or email
	// contain, whatever the case.
	Query    string
	MinValue string // a decimal number
	// Sort is created, updated or value, "-" first for descending;
	// "-created" when empty.
	Sort string
	// Cursor is a NextCursor of the same sort: the page after it.
	Cursor string
	// Limit is the page's size (50 when not positive).
	Limit int
}

// sortKeys are the orders ListLeads offers: the column and its type.
var sortKeys = map[string]struct{ col, typ string }{
	"created": {"l.created_at", "timestamptz"},
	"updated": {"l.updated_at", "timestamptz"},
	"value":   {"l.value", "numeric"},
}

func (f LeadFilter) sort() string {
	if f.Sort == "" {
		return "-created"
	}
	return f.Sort
}

// Validate checks the filter; the page size is the caller's to bound.
func (f LeadFilter) Validate() []workflows.FieldError {
	var errs []workflows.FieldError
	if f.Stage != "" && !slices.Contains(workflows.Stages, workflows.Stage(f.Stage)) {
		errs = append(errs, workflows.FieldError{Field: "stage", Reason: "must be one of: " + workflows.JoinNames(workflows.Stages, ", ")})
	}
	if f.Status != "" && !slices.Contains(workflows.Statuses, workflows.Status(f.Status)) {
		errs = append(errs, workflows.FieldError{Field: "status", Reason: "must be one of: " + workflows.JoinNames(workflows.Statuses, ", ")})
	}
	if len(strings.TrimSpace(f.Query)) > 200 {
		errs = append(errs, workflows.FieldError{Field: "q", Reason: "is longer than 200 characters"})
	}
	if f.MinValue != "" {
		if _, err := decimal.NewFromString(f.MinValue); err != nil {
			errs = append(errs, workflows.FieldError{Field: "min_value", Reason: "must be a decimal number"})
		}
	}
	if _, ok := sortKeys[strings.TrimPrefix(f.sort(), "-")]; !ok {
		errs = append(errs, workflows.FieldError{Field: "sort", Reason: "must be one of: created, -created, updated, -updated, value, -value"})
	}
	if f.Cursor != "" {
		cur, ok := decodeCursor(f.Cursor)
		switch {
		case !ok:
			errs = append(errs, workflows.FieldError{Field: "cursor", Reason: "is not a cursor this API returned"})
		case cur.Sort != f.sort():
			errs = append(errs, workflows.FieldError{Field: "cursor", Reason: "belongs to another sort order"})
		}
	}
	return errs
}

// cursor is the opaque position after the last row of a page.
type cursor struct {
	Sort  string `json:"s"`
	Value string `json:"v"`
	ID    string `json:"id"`
}

func (c cursor) encode() string { return encodeOpaque(c) }

func decodeCursor(s string) (cursor, bool) {
	c, ok := decodeOpaque[cursor](s)
	return c, ok && c.ID != ""
}

// encodeOpaque writes a page position as the opaque text clients pass back
// (base64 of its JSON); decodeOpaque reads it, ok false for any other text.
func encodeOpaque[T any](c T) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeOpaque[T any](s string) (T, bool) {
	var c T
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		var zero T
		return zero, false
	}
	return c, true
}

// ListLeads returns the page of leads u may see (see LeadVisible) that f
// selects: an *InvalidError when f fails Validate.
func ListLeads(ctx context.Context, pool *Pool, u User, f LeadFilter) (LeadList, error) {
	if errs := f.Validate(); len(errs) > 0 {
		return LeadList{}, &InvalidError{What: "lead filter", Fields: errs}
	}
	sql, args, limit := f.query(u)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return LeadList{}, err
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
			return LeadList{}, err
		}
		if l.Value, err = decimal.NewFromString(value); err != nil {
			return LeadList{}, fmt.Errorf("lead %s: value %q: %w", l.ID, value, err)
		}
		if len(out.Items) == limit {
			// One row past the page: there is a next page, from after the last.
			last := out.Items[len(out.Items)-1]
			out.NextCursor = cursor{Sort: f.sort(), Value: lastSort, ID: last.ID}.encode()
			break
		}
		out.Items = append(out.Items, l)
		lastSort = pos
	}
	if err := rows.Err(); err != nil {
		return LeadList{}, err
	}
	return out, nil
}

// query is the SQL of the page f selects among the leads u may see: one row
// more than the page, to tell whether another follows.
func (f LeadFilter) query(u User) (sql string, args []any, limit int) {
	var where []string
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !u.Manager() {
		where = append(where, visibleSQL(arg(u.Email)))
	}
	if f.Stage != "" {
		where = append(where, "l.stage = "+arg(f.Stage))
	}
	if f.Status != "" {
		where = append(where, "l.status = "+arg(f.Status))
	}
	if f.Owner != "" {
		where = append(where, "lower(l.owner) = lower("+arg(f.Owner)+")")
	}
	if f.Source != "" {
		where = append(where, "l.source = "+arg(f.Source))
	}
	if v := strings.TrimSpace(f.Query); v != "" {
		p := arg("%" + likeEscape(v) + "%")
		where = append(where, "(l.topic ILIKE "+p+" OR l.company ILIKE "+p+" OR l.customer ILIKE "+p+
			" OR (l.first_name || ' ' || l.last_name) ILIKE "+p+" OR l.email ILIKE "+p+")")
	}
	if f.MinValue != "" {
		where = append(where, "l.value >= "+arg(decimal.RequireFromString(f.MinValue).String())+"::numeric")
	}
	sortName := f.sort()
	desc := strings.HasPrefix(sortName, "-")
	key := sortKeys[strings.TrimPrefix(sortName, "-")]
	dir, op := "ASC", ">"
	if desc {
		dir, op = "DESC", "<"
	}
	if f.Cursor != "" {
		cur, _ := decodeCursor(f.Cursor)
		where = append(where, fmt.Sprintf("(%s, l.id) %s (%s::%s, %s)", key.col, op, arg(cur.Value), key.typ, arg(cur.ID)))
	}
	limit = f.Limit
	if limit <= 0 {
		limit = 50
	}
	sql = `SELECT l.id, l.topic, l.customer, l.company, btrim(l.first_name || ' ' || l.last_name), l.email,
		l.source, l.rating, l.owner, l.stage, l.status, l.currency, l.value::text,
		l.created_at, l.stage_entered_at, l.closed_at, l.updated_at, ` + key.col + `::text
		FROM leads l`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf(" ORDER BY %s %s, l.id %s LIMIT %s", key.col, dir, dir, arg(limit+1))
	return sql, args, limit
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
