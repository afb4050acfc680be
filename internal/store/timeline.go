package store

import (
	"context"

	"dealflow/workflows"
)

// TimelinePage is a page of a deal's timeline; NextAfter continues it.
type TimelinePage struct {
	LeadID    string            `json:"leadId"`
	Items     []workflows.Event `json:"items"`
	NextAfter int               `json:"nextAfter,omitempty"`
}

// Timeline returns up to limit events of the lead's timeline with a seq
// above after, oldest first, from the read model (deal_events).
func Timeline(ctx context.Context, pool *Pool, leadID string, after, limit int) (TimelinePage, error) {
	rows, err := pool.Query(ctx, `SELECT seq, at, actor, action, accepted, detail, stage
		FROM deal_events WHERE lead_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, leadID, after, limit+1)
	if err != nil {
		return TimelinePage{}, err
	}
	defer rows.Close()
	out := TimelinePage{LeadID: leadID, Items: []workflows.Event{}}
	for rows.Next() {
		var e workflows.Event
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Accepted, &e.Detail, &e.Stage); err != nil {
			return TimelinePage{}, err
		}
		if len(out.Items) == limit {
			out.NextAfter = out.Items[len(out.Items)-1].Seq
			break
		}
		out.Items = append(out.Items, e)
	}
	if err := rows.Err(); err != nil {
		return TimelinePage{}, err
	}
	return out, nil
}
