// Package temporalx dials Temporal the same way for every binary: the
// connection read from the environment (config.Reader.Temporal), the slog
// logger, the SDK's metrics exported to Prometheus, and the start-up check
// that the deal's search attributes exist.
package temporalx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"

	"dealflow/workflows"
)

// Metrics is a Prometheus registry that also carries the Temporal SDK's
// metrics (schedule-to-start latencies, request latency, …) through the
// OpenTelemetry Prometheus exporter.
type Metrics struct {
	Registry *prometheus.Registry
	Handler  client.MetricsHandler
}

// NewMetrics builds the registry with Go runtime and process collectors.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	h := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:   mp.Meter("temporal-sdk-go"),
		OnError: func(err error) { slog.Warn("temporal metric", "error", err) },
	})
	return &Metrics{Registry: reg, Handler: h}, nil
}

// HTTPHandler serves the registry at /metrics.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// EnsureSearchAttributes checks that every search attribute the deal upserts
// is registered on the namespace, and registers the missing ones. An
// unregistered attribute would fail the deal's workflow task forever (the
// deal looks stuck), so the worker refuses to start when this fails.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, sa := range workflows.SearchAttributes {
		want, err := indexedType(sa.Type)
		if err != nil {
			return err
		}
		got, ok := resp.GetCustomAttributes()[sa.Name]
		if !ok {
			got, ok = resp.GetSystemAttributes()[sa.Name]
		}
		switch {
		case !ok:
			missing[sa.Name] = want
		case got != want:
			return fmt.Errorf("search attribute %s is registered as %s, the deal needs %s", sa.Name, got, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		names := make([]string, 0, len(missing))
		for n, t := range missing {
			names = append(names, n+"="+strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_"))
		}
		sort.Strings(names)
		return fmt.Errorf("search attributes %s are missing on namespace %s and could not be registered (%w); "+
			"register them, e.g. `temporal operator search-attribute create --namespace %s --name NAME --type TYPE`",
			strings.Join(names, ", "), namespace, err, namespace)
	}
	return nil
}

func indexedType(name string) (enums.IndexedValueType, error) {
	switch name {
	case "Keyword":
		return enums.INDEXED_VALUE_TYPE_KEYWORD, nil
	case "Double":
		return enums.INDEXED_VALUE_TYPE_DOUBLE, nil
	case "Datetime":
		return enums.INDEXED_VALUE_TYPE_DATETIME, nil
	case "Text":
		return enums.INDEXED_VALUE_TYPE_TEXT, nil
	case "Int":
		return enums.INDEXED_VALUE_TYPE_INT, nil
	case "Bool":
		return enums.INDEXED_VALUE_TYPE_BOOL, nil
	}
	return 0, fmt.Errorf("unknown search attribute type %q", name)
}
