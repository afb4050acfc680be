package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/workflows"
)

// Activity is an activity as the API lists it: the workflow's record (as
// ApplyChange wrote it) with the deal it is on.
type Activity struct {
	LeadID   string `json:"leadId"`
	Topic    string `json:"topic"`
	Customer string `json:"customer"`
	workflows.Activity
}

// ActivityList is a page of activities; NextCursor fetches the next page.
type ActivityList struct {
	Items      []Activity `json:"items"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// The due-time windows of the to-do list (ActivityFilter.Due).
const (
	DueOverdue = "overdue" // due before now
	DueToday   = "today"   // due on now's UTC day
	DueWeek    = "week"    // due in the 7 days from now
)

// DueWindows lists the due-time windows.
var DueWindows = []string{DueOverdue, DueToday, DueWeek}

// ActivityStatuses lists the statuses an activity may have.
var ActivityStatuses = []string{workflows.ActivityOpen, workflows.ActivityCompleted, workflows.ActivityCanceled}

// ActivityFilter selects one owner's activities for the to-do list, by due
// time: a task's due time, an appointment's start (the others, which are
// due at no time, come last and are in no due window). Validate names its
// faults by the GET /v1/activities query parameters: owner, status, due,
// cursor and limit.
type ActivityFilter struct {
	// Owner is the owner's email (matched whatever the case); required.
	Owner string
	// Status is open, completed or canceled; open when empty.
	Status string
	// Due is DueOverdue, DueToday, DueWeek, or empty for any due time.
	Due string
	// Now is the time the due windows are taken from.
	Now time.Time
	// Cursor is a NextCursor: the page after it.
	Cursor string
	// Limit is the page's size (50 when not positive).
	Limit int
}

func (f ActivityFilter) status() string {
	if f.Status == "" {
		return workflows.ActivityOpen
	}
	return f.Status
}

// Validate checks the filter; the page size is the caller's to bound.
func (f ActivityFilter) Validate() []workflows.FieldError {
	var errs []workflows.FieldError
	if strings.TrimSpace(f.Owner) == "" {
		errs = append(errs, workflows.FieldError{Field: "owner", Reason: "is required"})
	}
	if !slices.Contains(ActivityStatuses, f.status()) {
		errs = append(errs, workflows.FieldError{Field: "status", Reason: "must be one of: " + strings.Join(ActivityStatuses, ", ")})
	}
	if f.Due != "" && !slices.Contains(DueWindows, f.Due) {
		errs = append(errs, workflows.FieldError{Field: "due", Reason: "must be one of: " + strings.Join(DueWindows, ", ")})
	}
	if f.Cursor != "" {
		if _, ok := decodeActivityCursor(f.Cursor); !ok {
			errs = append(errs, workflows.FieldError{Field: "cursor", Reason: "is not a cursor this API returned"})
		}
	}
	return errs
}

// activityCursor is the opaque position after the last row of a page: its
// due time (RFC 3339, "" for none), deal and id.
type activityCursor struct {
	Due    string `json:"d,omitempty"`
	LeadID string `json:"l"`
	ID     string `json:"id"`
}

func (c activityCursor) encode() string { return encodeOpaque(c) }

func decodeActivityCursor(s string) (activityCursor, bool) {
	c, ok := decodeOpaque[activityCursor](s)
	if !ok || c.ID == "" || c.LeadID == "" {
		return activityCursor{}, false
	}
	if c.Due != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.Due); err != nil {
			return activityCursor{}, false
		}
	}
	return c, true
}

// dueSQL is an activity's due time as the to-do index has it.
const dueSQL = `COALESCE(a.due_at, a.start_at, 'infinity'::timestamptz)`

// activityColumns are the columns scanActivity reads.
const activityColumns = `a.lead_id, l.topic, l.customer, a.id, a.type, a.subject, a.description, a.owner, a.status,
	a.direction, a.phone_number, a."to", a.sent, a.due_at, a.priority, a.start_at, a.end_at, a.location,
	a.attendees, a.outcome, a.created_at, a.created_by, a.completed_at, a.canceled_at`

func scanActivity(rows pgx.Rows) (Activity, error) {
	var a Activity
	err := rows.Scan(&a.LeadID, &a.Topic, &a.Customer, &a.ID, &a.Type, &a.Subject, &a.Description, &a.Owner, &a.Status,
		&a.Direction, &a.PhoneNumber, &a.To, &a.Sent, &a.DueAt, &a.Priority, &a.StartAt, &a.EndAt, &a.Location,
		&a.Attendees, &a.Outcome, &a.CreatedAt, &a.CreatedBy, &a.CompletedAt, &a.CanceledAt)
	if len(a.Attendees) == 0 {
		a.Attendees = nil
	}
	return a, err
}

// LeadActivities returns the activities of a deal, newest first. Whether the
// caller may see the deal is the caller's to check (LeadVisible).
func LeadActivities(ctx context.Context, pool *Pool, leadID string) ([]Activity, error) {
	rows, err := pool.Query(ctx, `SELECT `+activityColumns+`
		FROM activities a JOIN leads l ON l.id = a.lead_id
		WHERE a.lead_id = $1 ORDER BY a.created_at DESC, a.id DESC`, leadID)
	if err != nil {
		return nil, fmt.Errorf("activities of lead %s: %w", leadID, err)
	}
	defer rows.Close()
	out := []Activity{}
	for rows.Next() {
		a, err := scanActivity(rows)
		if err != nil {
			return nil, fmt.Errorf("activities of lead %s: %w", leadID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activities of lead %s: %w", leadID, err)
	}
	return out, nil
}

// ListActivities returns the page of the to-do list f selects, soonest due
// first: an *InvalidError when f fails Validate. It lists the owner's
// activities on every deal, also those whose deal the owner may not see
// otherwise: an activity is its owner's to do.
func ListActivities(ctx context.Context, pool *Pool, f ActivityFilter) (ActivityList, error) {
	if errs := f.Validate(); len(errs) > 0 {
		return ActivityList{}, &InvalidError{What: "activity filter", Fields: errs}
	}
	sql, args, limit := f.query()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return ActivityList{}, fmt.Errorf("list activities: %w", err)
	}
	defer rows.Close()
	out := ActivityList{Items: []Activity{}}
	for rows.Next() {
		a, err := scanActivity(rows)
		if err != nil {
			return ActivityList{}, fmt.Errorf("list activities: %w", err)
		}
		if len(out.Items) == limit {
			// One row past the page: there is a next page, from after the last.
			last := out.Items[len(out.Items)-1]
			cur := activityCursor{LeadID: last.LeadID, ID: last.ID}
			if t := last.Activity.Due(); t != nil {
				cur.Due = t.UTC().Format(time.RFC3339Nano)
			}
			out.NextCursor = cur.encode()
			break
		}
		out.Items = append(out.Items, a)
	}
	if err := rows.Err(); err != nil {
		return ActivityList{}, fmt.Errorf("list activities: %w", err)
	}
	return out, nil
}

// query is the SQL of the page f selects: one row more than the page, to
// tell whether another follows.
func (f ActivityFilter) query() (sql string, args []any, limit int) {
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"lower(a.owner) = lower(" + arg(strings.TrimSpace(f.Owner)) + ")", "a.status = " + arg(f.status())}
	now := f.Now.UTC()
	switch f.Due {
	case DueOverdue:
		where = append(where, dueSQL+" < "+arg(now))
	case DueToday:
		day := now.Truncate(24 * time.Hour)
		where = append(where, dueSQL+" >= "+arg(day), dueSQL+" < "+arg(day.Add(24*time.Hour)))
	case DueWeek:
		where = append(where, dueSQL+" >= "+arg(now), dueSQL+" < "+arg(now.Add(7*24*time.Hour)))
	}
	if f.Cursor != "" {
		cur, _ := decodeActivityCursor(f.Cursor)
		after := "'infinity'::timestamptz"
		if cur.Due != "" {
			t, _ := time.Parse(time.RFC3339Nano, cur.Due)
			after = arg(t)
		}
		where = append(where, fmt.Sprintf("(%s, a.lead_id, a.id) > (%s, %s, %s)", dueSQL, after, arg(cur.LeadID), arg(cur.ID)))
	}
	limit = f.Limit
	if limit <= 0 {
		limit = 50
	}
	sql = `SELECT ` + activityColumns + `
		FROM activities a JOIN leads l ON l.id = a.lead_id
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + dueSQL + `, a.lead_id, a.id LIMIT ` + arg(limit+1)
	return sql, args, limit
}
