package deploy

import (
	"slices"
	"strconv"
	"testing"

	"dealflow/internal/config"
)

// TestAPIMetricsOffThePublicPort: in compose the api serves /metrics on a
// listener of its own (API_METRICS_ADDR), another port than API_ADDR's,
// reachable by Prometheus on the compose network (exposed) and not
// published on the host, as the worker's.
func TestAPIMetricsOffThePublicPort(t *testing.T) {
	p := loadProject(t)
	for _, c := range []struct {
		service string
		v       config.Var
	}{{"api", config.APIMetricsAddr}, {"worker", config.WorkerMetricsAddr}} {
		s := service(t, p, c.service)
		addr := env(s)[c.v.Name]
		port, err := portOf(addr)
		if err != nil {
			t.Errorf("%s: %s=%q: %v", c.service, c.v.Name, addr, err)
			continue
		}
		if host := addr[:len(addr)-len(strconv.Itoa(port))-1]; host != "" && host != "0.0.0.0" {
			t.Errorf("%s: %s=%q listens on %s only: Prometheus on the compose network cannot scrape it", c.service, c.v.Name, addr, host)
		}
		if !slices.Contains(s.Expose, strconv.Itoa(port)) {
			t.Errorf("%s: the metrics port %d is not exposed: %v", c.service, port, s.Expose)
		}
		for _, pp := range s.Ports {
			if int(pp.Target) == port {
				t.Errorf("%s: the metrics port %d is published on the host (%s)", c.service, port, pp.Published)
			}
		}
	}
	api := env(service(t, p, "api"))
	pub, _ := portOf(api[config.APIAddr.Name])
	if m, _ := portOf(api[config.APIMetricsAddr.Name]); m == pub {
		t.Errorf("api: API_METRICS_ADDR and API_ADDR share port %d", m)
	}
}
