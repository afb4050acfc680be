package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// get fetches url (a /metrics) and fails unless it answers 200.
func get(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
	}
	return b, err
}

// scrape is the Prometheus text at url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	b, err := get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}

// sample sums the series of name (exactly) whose labels include each of
// labels (`key="value"`).
func sample(text, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || !(series == name || strings.HasPrefix(series, name+"{")) {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(series, l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && all {
			sum += v
		}
	}
	return sum
}

// exported lists the series names a scrape exports: every family, and a
// histogram's _bucket, _sum and _count.
func exported(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		out[f[2]] = true
		if f[3] == "histogram" || f[3] == "summary" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f[2]+s] = true
			}
		}
	}
	return out
}

// TestBusinessMetrics: deals made through the API show on the worker's
// /metrics (counted by the workflow, once), with the SDK's own; the web
// import's counters and the HTTP ones on the API's metrics listener, and
// none on the API's public port; and every metric the Grafana dashboard
// (deploy/grafana/dealflow.json) queries is one of them.
func TestBusinessMetrics(t *testing.T) {
	rep := apiClient{t, stack.RepToken}
	before := scrape(t, stack.WorkerMetricsURL)

	won, lost, idle, dq := apiNewID("met-won"), apiNewID("met-lost"), apiNewID("met-idle"), apiNewID("met-dq")
	var total string
	for _, id := range []string{won, lost} {
		rep.do(http.MethodPost, "/v1/leads", qualifiedLead(id, "metrics "+id)).must(t, 201, "create "+id)
		rep.do(http.MethodPost, "/v1/leads/"+id+"/qualify", nil).must(t, 200, "qualify "+id)
		total = developToClose(t, rep, id)
	}
	rep.do(http.MethodPost, "/v1/leads/"+won+"/close", map[string]any{"outcome": "won"}).must(t, 200, "close won")
	rep.do(http.MethodPost, "/v1/leads/"+lost+"/close", map[string]any{"outcome": "lost", "reason": "Canceled"}).must(t, 200, "close lost")
	// A lead whose reminder is due at once: a follow-up delivered.
	body := qualifiedLead(idle, "metrics idle")
	body["policy"] = map[string]any{"leadReminderAfter": "1s", "leadReminders": 1}
	rep.do(http.MethodPost, "/v1/leads", body).must(t, 201, "create "+idle)
	rep.do(http.MethodPost, "/v1/leads", qualifiedLead(dq, "metrics disqualified")).must(t, 201, "create "+dq)
	rep.do(http.MethodPost, "/v1/leads/"+dq+"/disqualify", map[string]any{"reason": "Cannot Contact"}).must(t, 200, "disqualify")

	sent := `kind="lead_reminder"`
	var after string
	for deadline := time.Now().Add(60 * time.Second); ; {
		after = scrape(t, stack.WorkerMetricsURL)
		if sample(after, "dealflow_followups_sent_total", sent) > sample(before, "dealflow_followups_sent_total", sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lead reminder counted as sent after a minute:\n%s", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	delta := func(name string, labels ...string) float64 {
		return sample(after, name, labels...) - sample(before, name, labels...)
	}
	value, err := decimal.NewFromString(total)
	if err != nil {
		t.Fatalf("quote total %q: %v", total, err)
	}
	milli := value.Shift(3).InexactFloat64()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dealflow_deals_created_total", nil, 4},
		{"dealflow_deals_disqualified_total", nil, 1},
		{"dealflow_stage_transitions_total", []string{`from="Qualify"`, `to="Develop"`}, 2},
		{"dealflow_stage_transitions_total", []string{`from="Develop"`, `to="Propose"`}, 2},
		{"dealflow_stage_transitions_total", []string{`from="Propose"`, `to="Close"`}, 2},
		{"dealflow_stage_transitions_total", []string{`from="Close"`, `to="Order"`}, 1},
		{"dealflow_deals_won_total", []string{`currency="USD"`}, 1},
		{"dealflow_deals_won_value_milli_total", []string{`currency="USD"`}, milli},
		{"dealflow_deals_lost_total", []string{`currency="USD"`}, 1},
		{"dealflow_deals_lost_value_milli_total", []string{`currency="USD"`}, milli},
	} {
		// Other tests of the package may add deals meanwhile: at least.
		if got := delta(c.name, c.labels...); got < c.want {
			t.Errorf("%s%v went up by %v, want at least %v", c.name, c.labels, got, c.want)
		}
	}
	// The workflow's series carry the worker's tags.
	if sample(after, "dealflow_deals_created_total", `workflow_type="Deal"`, `task_queue="dealflow"`) < 4 {
		t.Errorf("dealflow_deals_created_total lacks the workflow's tags:\n%s", grep(after, "dealflow_deals_created_total"))
	}

	api := scrape(t, stack.APIMetricsURL)
	for _, name := range []string{"dealflow_http_requests_total", "dealflow_import_rows_accepted_total", "dealflow_import_rows_rejected_total"} {
		if !strings.Contains(api, name) {
			t.Errorf("the API's metrics lack %s", name)
		}
	}
	// The public port has no /metrics.
	resp, b, err := stack.Do(context.Background(), http.MethodGet, "/metrics", "", nil)
	if err != nil || resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), "dealflow_") {
		t.Errorf("GET /metrics on the API's port: %v %v %.300s", resp, err, b)
	}

	// The dashboard queries only what the worker and the API export.
	names := exported(after)
	for n := range exported(api) {
		names[n] = true
	}
	t.Logf("exported: %s", strings.Join(slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}), " "))
	used := dashboardMetrics(t, filepath.Join(stack.Root, "deploy", "grafana", "dealflow.json"))
	if len(used) < 10 {
		t.Fatalf("the dashboard names only %d metrics: %v", len(used), used)
	}
	for _, n := range used {
		if !names[n] {
			t.Errorf("deploy/grafana/dealflow.json queries %s, which neither the worker nor the API exports", n)
		}
	}
}

// grep returns the lines of text that mention s.
func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metricName is a series name in a PromQL expression: ours, the SDK's, Go's
// or the process's (labels, functions and keywords never start so).
var metricName = regexp.MustCompile(`\b(?:dealflow|temporal|go|process)_[a-zA-Z0-9_:]+`)

// dashboardMetrics lists the metrics the dashboard's queries name.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				seen[n] = true
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for n := range seen {
			if !yield(n) {
				return
			}
		}
	})
}
