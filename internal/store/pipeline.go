package store

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// Money is an exact amount in a currency.
type Money struct {
	Currency string          `json:"currency"`
	Amount   decimal.Decimal `json:"amount"`
}

// StageFigures are the deals now in one stage (open or won, not closed
// lost, disqualified or canceled) and their value per currency.
type StageFigures struct {
	Stage workflows.Stage `json:"stage"`
	Count int             `json:"count"`
	Value []Money         `json:"value"`
}

// PipelineFigures are the figures of the pipeline report for a set of deals.
type PipelineFigures struct {
	Stages   []StageFigures `json:"stages"`
	Statuses map[string]int `json:"statuses"`
	// Won and Lost count closed opportunities; WinRate is Won/(Won+Lost),
	// null before any closed.
	Won     int      `json:"won"`
	Lost    int      `json:"lost"`
	WinRate *float64 `json:"winRate"`
	// AvgDaysInStage averages the stays in each stage that have ended.
	AvgDaysInStage map[string]float64 `json:"avgDaysInStage"`
	// LeadToWinDays is the average time from lead creation to close won.
	LeadToWinDays *float64 `json:"leadToWinDays"`
}

// PipelineReport is the pipeline of the deals a user may see (all for a
// manager), and for managers each owner's share.
type PipelineReport struct {
	PipelineFigures
	Owners []OwnerPipeline `json:"owners,omitempty"`
}

// OwnerPipeline is one owner's part of the pipeline.
type OwnerPipeline struct {
	Owner string `json:"owner"`
	PipelineFigures
}

// pipelineAcc accumulates the raw sums of one pipeline.
type pipelineAcc struct {
	stageCount map[string]int
	stageValue map[string]map[string]decimal.Decimal
	statuses   map[string]int
	won, lost  int
	stageSecs  map[string]float64
	stageStays map[string]int
	winSecs    float64
	winDeals   int
}

func newAcc() *pipelineAcc {
	return &pipelineAcc{stageCount: map[string]int{}, stageValue: map[string]map[string]decimal.Decimal{},
		statuses: map[string]int{}, stageSecs: map[string]float64{}, stageStays: map[string]int{}}
}

func (a *pipelineAcc) result() PipelineFigures {
	p := PipelineFigures{Stages: []StageFigures{}, Statuses: map[string]int{}, Won: a.won, Lost: a.lost,
		AvgDaysInStage: map[string]float64{}}
	for _, stage := range workflows.Stages {
		st := string(stage)
		f := StageFigures{Stage: stage, Count: a.stageCount[st], Value: []Money{}}
		curs := make([]string, 0, len(a.stageValue[st]))
		for cur := range a.stageValue[st] {
			curs = append(curs, cur)
		}
		slices.Sort(curs)
		for _, cur := range curs {
			f.Value = append(f.Value, Money{Currency: cur, Amount: a.stageValue[st][cur]})
		}
		p.Stages = append(p.Stages, f)
		if n := a.stageStays[st]; n > 0 {
			p.AvgDaysInStage[st] = days(a.stageSecs[st] / float64(n))
		}
	}
	for _, st := range workflows.Statuses {
		p.Statuses[string(st)] = a.statuses[string(st)]
	}
	if a.won+a.lost > 0 {
		r := math.Round(float64(a.won)/float64(a.won+a.lost)*10000) / 10000
		p.WinRate = &r
	}
	if a.winDeals > 0 {
		d := days(a.winSecs / float64(a.winDeals))
		p.LeadToWinDays = &d
	}
	return p
}

func days(seconds float64) float64 { return math.Round(seconds/86400*100) / 100 }

// Pipeline reports on the deals u may see (see LeadVisible): their figures
// together and, for a manager, each owner's.
func Pipeline(ctx context.Context, pool *Pool, u User) (PipelineReport, error) {
	q := &pipelineQuery{pool: pool, manager: u.Manager(), scope: "true", total: newAcc(), owners: map[string]*pipelineAcc{}}
	if !q.manager {
		q.scope, q.args = visibleSQL("$1"), []any{u.Email}
	}
	for _, step := range []func(context.Context) error{q.stageValues, q.outcomes, q.stays} {
		if err := step(ctx); err != nil {
			return PipelineReport{}, err
		}
	}
	return q.report(), nil
}

// pipelineQuery sums one user's pipeline: over every deal they may see, and
// per owner for a manager.
type pipelineQuery struct {
	pool    *Pool
	manager bool
	scope   string // the SQL condition on leads l the user may see
	args    []any
	total   *pipelineAcc
	owners  map[string]*pipelineAcc
}

// acc returns the sums a row of owner's adds to.
func (q *pipelineQuery) acc(owner string) []*pipelineAcc {
	if !q.manager {
		return []*pipelineAcc{q.total}
	}
	a, ok := q.owners[owner]
	if !ok {
		a = newAcc()
		q.owners[owner] = a
	}
	return []*pipelineAcc{q.total, a}
}

// each runs sql with the user's scope and scans every row.
func (q *pipelineQuery) each(ctx context.Context, sql string, scan func(rows pgx.Rows) error) error {
	rows, err := q.pool.Query(ctx, sql, q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stageValues: deals per stage and value per currency, and counts per status.
func (q *pipelineQuery) stageValues(ctx context.Context) error {
	return q.each(ctx, `SELECT l.owner, l.stage, l.status, l.currency, count(*), sum(l.value)::text
		FROM leads l WHERE `+q.scope+` GROUP BY 1, 2, 3, 4`, func(rows pgx.Rows) error {
		var owner, stage, status, cur, sum string
		var n int
		if err := rows.Scan(&owner, &stage, &status, &cur, &n, &sum); err != nil {
			return err
		}
		v, err := decimal.NewFromString(sum)
		if err != nil {
			return fmt.Errorf("value sum %q: %w", sum, err)
		}
		for _, a := range q.acc(owner) {
			a.statuses[status] += n
			if status != string(workflows.StatusOpen) && status != string(workflows.StatusWon) {
				continue
			}
			a.stageCount[stage] += n
			if a.stageValue[stage] == nil {
				a.stageValue[stage] = map[string]decimal.Decimal{}
			}
			a.stageValue[stage][cur] = a.stageValue[stage][cur].Add(v)
		}
		return nil
	})
}

// outcomes: won and lost opportunities, and the lead-to-win time of the won.
func (q *pipelineQuery) outcomes(ctx context.Context) error {
	return q.each(ctx, `SELECT l.owner,
			count(*) FILTER (WHERE o.status = 'Won'),
			count(*) FILTER (WHERE o.status = 'Lost'),
			count(o.closed_at) FILTER (WHERE o.status = 'Won'),
			coalesce(sum(extract(epoch FROM o.closed_at - l.created_at)) FILTER (WHERE o.status = 'Won'), 0)::float8
		FROM leads l JOIN opportunities o ON o.lead_id = l.id WHERE `+q.scope+` GROUP BY 1`, func(rows pgx.Rows) error {
		var owner string
		var won, lost, winDeals int
		var winSecs float64
		if err := rows.Scan(&owner, &won, &lost, &winDeals, &winSecs); err != nil {
			return err
		}
		for _, a := range q.acc(owner) {
			a.won += won
			a.lost += lost
			a.winDeals += winDeals
			a.winSecs += winSecs
		}
		return nil
	})
}

// stays: time in each stage, from the timeline: a stay starts with the first
// event in a stage and ends with the first event in the next one.
func (q *pipelineQuery) stays(ctx context.Context) error {
	return q.each(ctx, `WITH ev AS (
			SELECT e.lead_id, e.seq, e.at, e.stage, lag(e.stage) OVER (PARTITION BY e.lead_id ORDER BY e.seq) AS prev
			FROM deal_events e JOIN leads l ON l.id = e.lead_id
			WHERE e.stage <> '' AND `+q.scope+`
		), stays AS (
			SELECT lead_id, stage, at, lead(at) OVER (PARTITION BY lead_id ORDER BY seq) AS left_at
			FROM ev WHERE prev IS NULL OR prev <> stage
		)
		SELECT l.owner, s.stage, count(*), sum(extract(epoch FROM s.left_at - s.at))::float8
		FROM stays s JOIN leads l ON l.id = s.lead_id
		WHERE s.left_at IS NOT NULL GROUP BY 1, 2`, func(rows pgx.Rows) error {
		var owner, stage string
		var n int
		var secs float64
		if err := rows.Scan(&owner, &stage, &n, &secs); err != nil {
			return err
		}
		for _, a := range q.acc(owner) {
			a.stageStays[stage] += n
			a.stageSecs[stage] += secs
		}
		return nil
	})
}

// report is the sums as the API shows them, owners in name order.
func (q *pipelineQuery) report() PipelineReport {
	out := PipelineReport{PipelineFigures: q.total.result()}
	if q.manager {
		names := make([]string, 0, len(q.owners))
		for o := range q.owners {
			names = append(names, o)
		}
		slices.Sort(names)
		out.Owners = []OwnerPipeline{}
		for _, o := range names {
			out.Owners = append(out.Owners, OwnerPipeline{Owner: o, PipelineFigures: q.owners[o].result()})
		}
	}
	return out
}
