package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"dealflow/activities"
	"dealflow/internal/metricstest"
	"dealflow/internal/tests/testenv"
	"dealflow/workflows"
)

// flakyMailer fails its first send with a retryable error and refuses
// addresses at gone.example for good.
type flakyMailer struct {
	mu   sync.Mutex
	fail int
}

func (m *flakyMailer) Send(_ context.Context, msg workflows.Message) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasSuffix(msg.Recipient, "@gone.example") {
		return "", fmt.Errorf("%w: 550 no such user", activities.ErrUndeliverable)
	}
	if m.fail > 0 {
		m.fail--
		return "", errors.New("mail server down")
	}
	return activities.DeliverySMTP, nil
}

// The follow-up counters, as the worker exports them: a failed attempt
// (retried), a message refused for good, a delivery, each by kind; and
// nothing counted twice when the Change is applied again.
func TestFollowUpMetrics(t *testing.T) {
	pool := testenv.Pool(t)
	m := metricstest.New()
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(m)
	env := suite.NewTestActivityEnvironment()
	a := newActivities(t, pool, &flakyMailer{fail: 1})
	env.RegisterActivity(a)
	apply := func(ch workflows.Change) error {
		_, err := env.ExecuteActivity(workflows.ActivityApplyChange, ch)
		return err
	}
	x := newDeal("FM1", "Fabrikam", "pat@fabrikam.example")
	if err := apply(x.change("create")); err != nil {
		t.Fatal(err)
	}
	ch := x.change("followup:invoice-due")
	ch.Messages = []workflows.Message{
		{Key: "FM1/due/1", Kind: workflows.KindInvoiceDue, Recipient: "pat@fabrikam.example", Subject: "Invoice due", Body: "Pay.", At: ch.Event.At},
		{Key: "FM1/due/2", Kind: workflows.KindInvoiceDue, Recipient: "kim@gone.example", Subject: "Invoice due", Body: "Pay.", At: ch.Event.At},
	}
	if err := apply(ch); err == nil {
		t.Fatal("no error while the mail server fails")
	}
	kind := "kind=" + workflows.KindInvoiceDue
	counts := func(sent, retried, refused int64) {
		t.Helper()
		if m.Count(activities.MetricFollowUpsSent, kind, "delivery=smtp") != sent ||
			m.Count(activities.MetricFollowUpsFailed, kind, "permanent=false") != retried ||
			m.Count(activities.MetricFollowUpsFailed, kind, "permanent=true") != refused {
			t.Errorf("want sent %d, failed and retried %d, refused %d:\n%s", sent, retried, refused, m)
		}
	}
	counts(0, 1, 1)
	for range 2 { // the retry, and once more
		if err := apply(ch); err != nil {
			t.Fatal(err)
		}
	}
	counts(1, 1, 1)
}
