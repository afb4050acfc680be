package httpapi

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"dealflow/internal/store"
	"dealflow/internal/web"
	"dealflow/workflows"
)

// reportPage: GET /report, the pipeline report of GET /v1/pipeline
// (store.Pipeline, the same query and scope) as a page: a bar chart per
// currency drawn server-side, the figures per stage, the win rate and, for
// managers, each owner's share.
func (s *Server) reportPage(c *gin.Context) error {
	ctx := c.Request.Context()
	rep, err := store.Pipeline(ctx, s.cfg.Pool, userOf(c))
	if err != nil {
		return pgErr(ctx, err)
	}
	s.render(c, http.StatusOK, "report", "Pipeline report", "report", reportData(rep))
	return nil
}

// reportData is the page's view of a pipeline report.
func reportData(rep store.PipelineReport) web.Report {
	stages := make([]string, 0, len(workflows.Stages))
	for _, st := range workflows.Stages {
		stages = append(stages, string(st))
	}
	var values []web.StageValue
	out := web.Report{Won: rep.Won, Lost: rep.Lost, WinRate: web.Percent(rep.WinRate), LeadToWinDays: web.Days(rep.LeadToWinDays)}
	for _, f := range rep.Stages {
		row := web.ReportStage{Stage: string(f.Stage), Count: f.Count, Values: amounts(f.Value), AvgDays: "—"}
		if d, ok := rep.AvgDaysInStage[string(f.Stage)]; ok {
			row.AvgDays = web.Days(&d)
		}
		out.Stages = append(out.Stages, row)
		for _, m := range f.Value {
			values = append(values, web.StageValue{Stage: string(f.Stage), Currency: m.Currency, Amount: m.Amount})
		}
	}
	out.Charts = web.Charts(stages, values)
	for _, o := range rep.Owners {
		line := web.ReportOwner{Owner: o.Owner, Won: o.Won, Lost: o.Lost, WinRate: web.Percent(o.WinRate)}
		byCur := map[string]store.Money{}
		var curs []string
		for _, f := range o.Stages {
			line.Deals += f.Count
			for _, m := range f.Value {
				t, seen := byCur[m.Currency]
				if !seen {
					curs = append(curs, m.Currency)
					t.Currency = m.Currency
				}
				t.Amount = t.Amount.Add(m.Amount)
				byCur[m.Currency] = t
			}
		}
		slices.Sort(curs)
		total := make([]store.Money, 0, len(curs))
		for _, cur := range curs {
			total = append(total, byCur[cur])
		}
		line.Values = amounts(total)
		out.Owners = append(out.Owners, line)
	}
	return out
}

// amounts writes each currency's amount on its own (never summed across
// currencies).
func amounts(ms []store.Money) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if a := web.Amount(m.Amount, m.Currency); a != "" {
			out = append(out, a)
		}
	}
	return out
}
