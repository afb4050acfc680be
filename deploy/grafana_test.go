package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"dealflow/activities"
	"dealflow/internal/leadimport"
	"dealflow/workflows"
)

// sdkSeries are the Temporal SDK's series a dealflow worker and api export
// (SDK v1.51 through contrib/opentelemetry and the OTel Prometheus exporter,
// which adds _seconds to latencies), taken from a live scrape of the e2e
// stack's /metrics. internal/tests/e2e TestBusinessMetrics checks every
// metric the dashboard queries against a live scrape too.
var sdkSeries = []string{
	"temporal_local_activity_execution_latency_seconds_bucket",
	"temporal_local_activity_succeed_endtoend_latency_seconds_bucket",
	"temporal_local_activity_total",
	"temporal_long_request", "temporal_long_request_latency_seconds_bucket",
	"temporal_num_pollers", "temporal_poller_start",
	"temporal_request", "temporal_request_failure", "temporal_request_latency_seconds_bucket",
	"temporal_sticky_cache_hit", "temporal_sticky_cache_size",
	"temporal_worker_start", "temporal_worker_task_slots_available", "temporal_worker_task_slots_used",
	"temporal_workflow_task_execution_latency_seconds_bucket",
	"temporal_workflow_task_queue_poll_succeed",
	"temporal_workflow_task_replay_latency_seconds_bucket",
	"temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var promMetric = regexp.MustCompile(`\b(?:dealflow|temporal|go|process)_[a-zA-Z0-9_:]+`)

// TestGrafanaDashboard: deploy/grafana/dealflow.json is a dashboard on a
// Prometheus data source chosen when it is imported; it charts every
// business metric the code counts, and queries only metrics that exist:
// ours by the names the code declares, the SDK's by the names a live scrape
// showed.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("grafana", "dealflow.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/dealflow.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("no Prometheus data source variable: %+v", d.Templating.List)
	}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: %d queries on data source %q", p.Title, len(p.Targets), p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			names := promMetric.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}

	business := []string{
		workflows.MetricDealsCreated, workflows.MetricStageTransitions,
		workflows.MetricDealsWon, workflows.MetricDealsWonValue, workflows.MetricDealsLost, workflows.MetricDealsLostValue,
		workflows.MetricDealsDisqualified,
		activities.MetricFollowUpsSent, activities.MetricFollowUpsFailed,
		leadimport.MetricRowsAccepted, leadimport.MetricRowsRejected,
	}
	for _, n := range business {
		if !used[n] {
			t.Errorf("the dashboard does not chart %s", n)
		}
	}
	source := goSource(t)
	for n := range used {
		switch {
		case strings.HasPrefix(n, "temporal_"):
			if !slices.Contains(sdkSeries, n) {
				t.Errorf("the dashboard queries %s, which the SDK does not export (as scraped)", n)
			}
		case strings.HasPrefix(n, "dealflow_"):
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !strings.Contains(source, `"`+base+`"`) {
				t.Errorf("the dashboard queries %s, which no Go source declares", n)
			}
		}
	}
}

// goSource is the text of the repository's Go files, tests left out.
func goSource(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "tools" || strings.HasPrefix(e.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sb.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}
