package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
)

// Operators' counters of follow-up mail, counted through the activity's SDK
// metrics handler (the worker exports it to Prometheus, on its /metrics),
// labelled with the message's kind.
const (
	// MetricFollowUpsSent counts messages settled as delivered, labelled
	// with their delivery (smtp, recorded).
	MetricFollowUpsSent = "dealflow_followups_sent_total"
	// MetricFollowUpsFailed counts failed sends: permanent="true" for a
	// message refused for good (settled as failed, not retried),
	// permanent="false" for an attempt that failed and is retried.
	MetricFollowUpsFailed = "dealflow_followups_failed_total"
)

// countDelivery counts one message's delivery (sendErr nil) or failed
// attempt. Outside an activity (tests calling the methods directly) it
// counts nothing.
func countDelivery(ctx context.Context, kind, delivery string, sendErr error) {
	if !activity.IsActivity(ctx) {
		return
	}
	h := activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": kind})
	failed := func(permanent string) {
		h.WithTags(map[string]string{"permanent": permanent}).Counter(MetricFollowUpsFailed).Inc(1)
	}
	switch {
	case sendErr != nil:
		failed("false")
	case delivery == DeliveryFailed:
		failed("true")
	default:
		h.WithTags(map[string]string{"delivery": delivery}).Counter(MetricFollowUpsSent).Inc(1)
		// The failure series exist from the first delivery on, at 0, so a
		// dashboard shows a rate of 0 rather than nothing.
		for _, p := range []string{"true", "false"} {
			h.WithTags(map[string]string{"permanent": p}).Counter(MetricFollowUpsFailed).Inc(0)
		}
	}
}
