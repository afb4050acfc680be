package web

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Report is the pipeline report page: its bar charts (one per currency),
// the figures per stage, the win rate and, for managers, each owner's share.
type Report struct {
	Charts        []Chart
	Stages        []ReportStage
	Won, Lost     int
	WinRate       string // "62.5 %", "—" before any deal closed
	LeadToWinDays string
	Owners        []ReportOwner
}

// ReportStage is one row of the report's table: the deals now in the stage,
// their value in each currency (never summed across currencies) and the
// average days a deal spent in it.
type ReportStage struct {
	Stage   string
	Count   int
	Values  []string
	AvgDays string
}

// ReportOwner is one owner's line of a manager's report.
type ReportOwner struct {
	Owner     string
	Deals     int
	Won, Lost int
	WinRate   string
	Values    []string
}

// StageValue is the value of the deals in one stage in one currency.
type StageValue struct {
	Stage, Currency string
	Amount          decimal.Decimal
}

// Chart is one currency's bar chart, drawn server-side as inline SVG: one
// bar per stage, scaled to that currency's largest stage (amounts in
// different currencies are never drawn on one scale).
type Chart struct {
	Currency      string
	Width, Height int
	// BarX is where the bars start (after the stage names).
	BarX int
	Bars []Bar
}

// Bar is one stage's bar: its row's top (Y), its length, and where its
// label and amount are written.
type Bar struct {
	Label, Amount string
	Y, W, TextY   int
	AmountX       int
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 640
	chartLabelW = 90
	chartBarMax = 400
	chartRow    = 28
	chartBarH   = 18
)

// Charts draws one chart per currency found in values, a bar per stage in
// stages' order (a stage without deals in that currency has no bar).
func Charts(stages []string, values []StageValue) []Chart {
	byCur := map[string]map[string]decimal.Decimal{}
	for _, v := range values {
		if byCur[v.Currency] == nil {
			byCur[v.Currency] = map[string]decimal.Decimal{}
		}
		byCur[v.Currency][v.Stage] = byCur[v.Currency][v.Stage].Add(v.Amount)
	}
	curs := make([]string, 0, len(byCur))
	for c := range byCur {
		curs = append(curs, c)
	}
	slices.Sort(curs)
	var out []Chart
	for _, cur := range curs {
		amounts := byCur[cur]
		maxV := decimal.Zero
		for _, a := range amounts {
			if a.GreaterThan(maxV) {
				maxV = a
			}
		}
		ch := Chart{Currency: cur, Width: chartWidth, Height: len(stages)*chartRow + 4, BarX: chartLabelW}
		for i, st := range stages {
			a := amounts[st]
			w := 0
			if a.IsPositive() && maxV.IsPositive() {
				w = int(a.Mul(decimal.NewFromInt(chartBarMax)).Div(maxV).IntPart())
				w = max(w, 2)
			}
			y := i*chartRow + 4
			ch.Bars = append(ch.Bars, Bar{Label: st, Amount: Amount(a, cur), Y: y, W: w,
				TextY: y + chartBarH - 4, AmountX: chartLabelW + w + 6})
		}
		out = append(out, ch)
	}
	return out
}

// Percent is a ratio (0.625) as "62.5 %", "—" when unknown.
func Percent(r *float64) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", *r*100)
}

// Days is an average number of days ("3.5"), "—" when unknown.
func Days(d *float64) string {
	if d == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f", *d)
}
