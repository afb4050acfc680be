package leadimport

import "go.temporal.io/sdk/client"

// Operators' counters of imported rows (Config.Metrics), through the
// Temporal SDK's metrics handler (client.MetricsHandler: the api's and the
// starter's temporalx.Metrics export it to Prometheus). Every row read is
// counted once, as accepted or rejected, when it is done.
const (
	// MetricRowsAccepted counts the rows whose deal was started (result
	// "started") or existed already (result "existing": an earlier import,
	// or the same row earlier in the file).
	MetricRowsAccepted = "dealflow_import_rows_accepted_total"
	// MetricRowsRejected counts the rows refused (invalid, possible
	// duplicates, refused by Temporal), each with its reason in the rejects.
	MetricRowsRejected = "dealflow_import_rows_rejected_total"
)

// The results of an accepted row.
const (
	ResultStarted  = "started"
	ResultExisting = "existing"
)

// InitMetrics makes every import counter exist, at 0, so that a process
// that imports exports them before its first import (a dashboard's rate of a
// series that does not exist yet shows nothing, not 0).
func InitMetrics(h client.MetricsHandler) {
	for _, r := range []string{ResultStarted, ResultExisting} {
		h.WithTags(map[string]string{"result": r}).Counter(MetricRowsAccepted).Inc(0)
	}
	h.Counter(MetricRowsRejected).Inc(0)
}

// count counts one row done; result labels an accepted one.
func (im *importer) count(name, result string) {
	h := im.cfg.Metrics
	if h == nil {
		return
	}
	if result != "" {
		h = h.WithTags(map[string]string{"result": result})
	}
	h.Counter(name).Inc(1)
}
