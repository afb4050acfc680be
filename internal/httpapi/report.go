package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// Timeline is a page of a deal's timeline; NextAfter continues it.
type Timeline struct {
	LeadID    string            `json:"leadId"`
	Items     []workflows.Event `json:"items"`
	NextAfter int               `json:"nextAfter,omitempty"`
}

// timeline: GET /v1/leads/{id}/timeline?after=SEQ&limit=N, from deal_events.
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
	if ok, err := s.visibleLead(ctx, u, id); err != nil {
		return err
	} else if !ok {
		return noDeal(id)
	}
	rows, err := s.cfg.Pool.Query(ctx, `SELECT seq, at, actor, action, accepted, detail, stage
		FROM deal_events WHERE lead_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit+1)
	if err != nil {
		return pgErr(ctx, err)
	}
	defer rows.Close()
	out := Timeline{LeadID: id, Items: []workflows.Event{}}
	for rows.Next() {
		var e workflows.Event
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Accepted, &e.Detail, &e.Stage); err != nil {
			return pgErr(ctx, err)
		}
		if len(out.Items) == limit {
			out.NextAfter = out.Items[len(out.Items)-1].Seq
			break
		}
		out.Items = append(out.Items, e)
	}
	if err := rows.Err(); err != nil {
		return pgErr(ctx, err)
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// visibleLead reports whether the lead's row exists and the user may see it.
func (s *Server) visibleLead(ctx context.Context, u User, id string) (bool, error) {
	if !workflows.ValidID(id) {
		return false, nil
	}
	sql := `SELECT true FROM leads l WHERE l.id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + visibleSQL("$2")
		args = append(args, u.Email)
	}
	var ok bool
	err := s.cfg.Pool.QueryRow(ctx, sql, args...).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, pgErr(ctx, err)
	}
	return ok, nil
}

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

// Pipeline is the report of GET /v1/pipeline, for a set of deals.
type Pipeline struct {
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

// PipelineReport is the whole answer: the user's deals (all for a manager),
// and per owner for managers.
type PipelineReport struct {
	Pipeline
	Owners []OwnerPipeline `json:"owners,omitempty"`
}

// OwnerPipeline is one owner's part of the pipeline.
type OwnerPipeline struct {
	Owner string `json:"owner"`
	Pipeline
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

func (a *pipelineAcc) result() Pipeline {
	p := Pipeline{Stages: []StageFigures{}, Statuses: map[string]int{}, Won: a.won, Lost: a.lost,
		AvgDaysInStage: map[string]float64{}}
	for _, st := range stages {
		f := StageFigures{Stage: workflows.Stage(st), Count: a.stageCount[st], Value: []Money{}}
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
	for _, st := range statuses {
		p.Statuses[st] = a.statuses[st]
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

// pipeline: GET /v1/pipeline. Reps get their own deals; managers every
// deal and each owner's share.
func (s *Server) pipeline(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	if errs := checkParams(c.Request.URL.Query()); len(errs) > 0 {
		return invalid(errs...)
	}
	scope, args := "true", []any{}
	if !u.Manager() {
		scope, args = visibleSQL("$1"), []any{u.Email}
	}
	total := newAcc()
	owners := map[string]*pipelineAcc{}
	acc := func(owner string) []*pipelineAcc {
		if !u.Manager() {
			return []*pipelineAcc{total}
		}
		a, ok := owners[owner]
		if !ok {
			a = newAcc()
			owners[owner] = a
		}
		return []*pipelineAcc{total, a}
	}
	each := func(sql string, scan func(rows pgx.Rows) error) error {
		rows, err := s.cfg.Pool.Query(ctx, sql, args...)
		if err != nil {
			return pgErr(ctx, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return pgErr(ctx, err)
			}
		}
		if err := rows.Err(); err != nil {
			return pgErr(ctx, err)
		}
		return nil
	}

	// Deals per stage and value per currency, and counts per status.
	err := each(`SELECT l.owner, l.stage, l.status, l.currency, count(*), sum(l.value)::text
		FROM leads l WHERE `+scope+` GROUP BY 1, 2, 3, 4`, func(rows pgx.Rows) error {
		var owner, stage, status, cur, sum string
		var n int
		if err := rows.Scan(&owner, &stage, &status, &cur, &n, &sum); err != nil {
			return err
		}
		v, err := decimal.NewFromString(sum)
		if err != nil {
			return fmt.Errorf("value sum %q: %w", sum, err)
		}
		for _, a := range acc(owner) {
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
	if err != nil {
		return err
	}

	// Won and lost opportunities, and the lead-to-win time of the won.
	err = each(`SELECT l.owner,
			count(*) FILTER (WHERE o.status = 'Won'),
			count(*) FILTER (WHERE o.status = 'Lost'),
			count(o.closed_at) FILTER (WHERE o.status = 'Won'),
			coalesce(sum(extract(epoch FROM o.closed_at - l.created_at)) FILTER (WHERE o.status = 'Won'), 0)::float8
		FROM leads l JOIN opportunities o ON o.lead_id = l.id WHERE `+scope+` GROUP BY 1`, func(rows pgx.Rows) error {
		var owner string
		var won, lost, winDeals int
		var winSecs float64
		if err := rows.Scan(&owner, &won, &lost, &winDeals, &winSecs); err != nil {
			return err
		}
		for _, a := range acc(owner) {
			a.won += won
			a.lost += lost
			a.winDeals += winDeals
			a.winSecs += winSecs
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Stays in each stage, from the timeline: a stay starts with the first
	// event in a stage and ends with the first event in the next one.
	err = each(`WITH ev AS (
			SELECT e.lead_id, e.seq, e.at, e.stage, lag(e.stage) OVER (PARTITION BY e.lead_id ORDER BY e.seq) AS prev
			FROM deal_events e JOIN leads l ON l.id = e.lead_id
			WHERE e.stage <> '' AND `+scope+`
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
		for _, a := range acc(owner) {
			a.stageStays[stage] += n
			a.stageSecs[stage] += secs
		}
		return nil
	})
	if err != nil {
		return err
	}

	out := PipelineReport{Pipeline: total.result()}
	if u.Manager() {
		names := make([]string, 0, len(owners))
		for o := range owners {
			names = append(names, o)
		}
		slices.Sort(names)
		out.Owners = []OwnerPipeline{}
		for _, o := range names {
			out.Owners = append(out.Owners, OwnerPipeline{Owner: o, Pipeline: owners[o].result()})
		}
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// createUser: POST /v1/users (managers). The token is shown this once.
func (s *Server) createUser(c *gin.Context) error {
	ctx := c.Request.Context()
	u := userOf(c)
	if !u.Manager() {
		return forbidden("creating users is for managers")
	}
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	var req NewUser
	if err := decodeObject(body, &req, false); err != nil {
		return err
	}
	nu, err := CreateUser(ctx, s.cfg.Pool, req)
	if errors.Is(err, ErrUserExists) {
		return conflict("user-exists", "User exists", "a user with email "+req.Email+" exists already")
	}
	if err != nil {
		return pgErr(ctx, err)
	}
	tok, err := IssueToken(ctx, s.cfg.Pool, nu.ID, "created by "+u.Email)
	if err != nil {
		return pgErr(ctx, err)
	}
	s.log.Info("user created", "userID", nu.ID, "email", nu.Email, "role", nu.Role, "by", u.Email)
	c.JSON(http.StatusCreated, struct {
		User
		Token string `json:"token"`
	}{nu, tok})
	return nil
}
