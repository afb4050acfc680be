package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// Business metrics for operators, counted by the deal's workflow through the
// SDK's metrics handler (the worker exports it to Prometheus, on its
// /metrics). The handler workflow.GetMetricsHandler returns records nothing
// while the workflow replays its history (a worker that lost the deal from
// its cache, a retried workflow task), so each step is counted when it is
// first taken, not again on every replay; a workflow task that fails after
// its step and runs again counts it again (rare; these are operators'
// rates, not the books).
//
// The SDK's counters take whole numbers, so deal values are counted in
// thousandths of the currency's unit (exact for every currency: none has
// more than 3 decimals); divide by 1000.
const (
	// MetricDealsCreated counts new deals (not the runs continued as new).
	MetricDealsCreated = "dealflow_deals_created_total"
	// MetricStageTransitions counts moves between stages, labelled from and to.
	MetricStageTransitions = "dealflow_stage_transitions_total"
	// MetricDealsWon and MetricDealsLost count deals closed as won or lost,
	// by currency; the _value_milli ones their value (the actual revenue of a
	// won deal, the expected value of a lost one) in thousandths.
	MetricDealsWon       = "dealflow_deals_won_total"
	MetricDealsWonValue  = "dealflow_deals_won_value_milli_total"
	MetricDealsLost      = "dealflow_deals_lost_total"
	MetricDealsLostValue = "dealflow_deals_lost_value_milli_total"
	// MetricDealsDisqualified counts leads disqualified.
	MetricDealsDisqualified = "dealflow_deals_disqualified_total"
)

// dealMeter counts a deal's steps: it remembers what it last saw of the
// deal, and counts what changed since.
type dealMeter struct {
	stages int    // how many stages the deal's history held
	status Status // the deal's status
}

// newDealMeter starts counting d's steps; created is true for a new deal.
func newDealMeter(ctx workflow.Context, d *Deal, created bool) dealMeter {
	if created {
		workflow.GetMetricsHandler(ctx).Counter(MetricDealsCreated).Inc(1)
	}
	return dealMeter{stages: len(d.History), status: d.Status}
}

// observe counts the steps that brought the deal to d.
func (m *dealMeter) observe(ctx workflow.Context, d *Deal) {
	h := workflow.GetMetricsHandler(ctx)
	for i := max(m.stages, 1); i < len(d.History); i++ {
		h.WithTags(map[string]string{"from": string(d.History[i-1].Stage), "to": string(d.History[i].Stage)}).
			Counter(MetricStageTransitions).Inc(1)
	}
	if d.Status != m.status {
		byCurrency := h.WithTags(map[string]string{"currency": d.Currency})
		switch d.Status {
		case StatusWon:
			countValue(byCurrency, MetricDealsWon, MetricDealsWonValue, d)
		case StatusLost:
			countValue(byCurrency, MetricDealsLost, MetricDealsLostValue, d)
		case StatusDisqualified:
			h.Counter(MetricDealsDisqualified).Inc(1)
		}
	}
	m.stages, m.status = len(d.History), d.Status
}

// countValue counts one deal and its value, in thousandths.
func countValue(h client.MetricsHandler, count, value string, d *Deal) {
	h.Counter(count).Inc(1)
	h.Counter(value).Inc(d.Value().Shift(3).Round(0).IntPart())
}
