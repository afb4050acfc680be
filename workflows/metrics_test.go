package workflows

import (
	"log/slog"
	"os"
	"testing"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"dealflow/internal/metricstest"
)

// newMeteredScenario is newScenario with the workflow's metrics counted in m.
func newMeteredScenario(t *testing.T, m *metricstest.Handler) *scenario {
	skipInShortMode(t)
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	suite.SetMetricsHandler(m)
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	rec := &recorder{}
	env.RegisterWorkflowWithOptions(DealWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(rec.ApplyChange, activity.RegisterOptions{Name: ActivityApplyChange})
	return &scenario{t: t, env: env, rec: rec}
}

// A won deal counts its creation, each stage it moved through and its win
// with its actual revenue; refused actions and follow-ups count nothing.
func TestMetricsOfAWonDeal(t *testing.T) {
	m := metricstest.New()
	s := newMeteredScenario(t, m)
	developSequence(s).
		refuse(minute, ActClose, Close{Outcome: "won"}, RejectGate).
		do(minute, ActPropose, Propose{}).
		do(minute, ActActivateQuote, ActivateQuote{Revision: 1}).
		do(minute, ActClose, Close{Outcome: "won", ActualRevenue: dptr("48000.13")}).
		do(minute, ActFulfillOrder, FulfillOrder{}).
		do(minute, ActRecordPayment, RecordPayment{Amount: dec("50000")})
	v := s.run(fastLead("met1"))
	if v.Stage != StagePaid {
		t.Fatalf("stage %s", v.Stage)
	}
	if n := m.Count(MetricDealsCreated); n != 1 {
		t.Errorf("created %d", n)
	}
	path := []Stage{StageQualify, StageDevelop, StagePropose, StageClose, StageOrder, StageInvoice, StagePaid}
	for i := 1; i < len(path); i++ {
		if n := m.Count(MetricStageTransitions, "from="+string(path[i-1]), "to="+string(path[i])); n != 1 {
			t.Errorf("%s → %s: %d", path[i-1], path[i], n)
		}
	}
	if n := m.Count(MetricStageTransitions); n != int64(len(path)-1) {
		t.Errorf("%d transitions, want %d", n, len(path)-1)
	}
	if n := m.Count(MetricDealsWon, "currency=EUR"); n != 1 {
		t.Errorf("won %d", n)
	}
	if n := m.Count(MetricDealsWonValue, "currency=EUR"); n != 48000130 {
		t.Errorf("won value %d thousandths, want 48000130", n)
	}
	if n := m.Count(MetricDealsLost) + m.Count(MetricDealsDisqualified); n != 0 {
		t.Errorf("lost or disqualified %d", n)
	}
}

// A lost deal counts its loss with its expected value, each time it is
// lost; reopening it is a move back to Develop; a disqualified lead counts
// once. The run continued as new counts no second creation.
func TestMetricsOfLostAndDisqualifiedDeals(t *testing.T) {
	m := metricstest.New()
	s := newMeteredScenario(t, m)
	developSequence(s).
		do(minute, ActPropose, Propose{}).
		do(minute, ActActivateQuote, ActivateQuote{Revision: 1}).
		do(minute, ActClose, Close{Outcome: "lost", Reason: "Out-Sold", Competitor: "Fabrikam"}).
		do(minute, ActReopen, Reopen{}).
		check(minute, func(t *testing.T, v DealView) { s.env.SetContinueAsNewSuggested(true) })
	s.run(fastLead("met2"))
	in := continuedWith(t, s)

	s2 := newMeteredScenario(t, m)
	s2.env.SetStartTime(s.env.Now())
	s2.do(minute, ActClose, Close{Outcome: "lost", Reason: "Canceled"})
	s2.run(in)

	if n := m.Count(MetricDealsCreated); n != 1 {
		t.Errorf("created %d", n)
	}
	if n := m.Count(MetricDealsLost, "currency=EUR"); n != 2 {
		t.Errorf("lost %d", n)
	}
	// 50 laptops at 1000 EUR, twice.
	if n := m.Count(MetricDealsLostValue, "currency=EUR"); n != 2*50000*1000 {
		t.Errorf("lost value %d", n)
	}
	if n := m.Count(MetricStageTransitions, "from=Close", "to=Develop"); n != 1 {
		t.Errorf("reopened: %d", n)
	}

	m3 := metricstest.New()
	s3 := newMeteredScenario(t, m3)
	s3.do(minute, ActDisqualify, Disqualify{Reason: "Cannot Contact"}).
		do(minute, ActReactivate, Reactivate{}).
		do(minute, ActDisqualify, Disqualify{Reason: "Lost"})
	s3.run(fastLead("met3"))
	if n := m3.Count(MetricDealsDisqualified); n != 2 {
		t.Errorf("disqualified %d", n)
	}
	if n := m3.Count(MetricStageTransitions) + m3.Count(MetricDealsWon) + m3.Count(MetricDealsLost); n != 0 {
		t.Errorf("a lead that never qualified: %v", m3)
	}
}
