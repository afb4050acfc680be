package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"dealflow/internal/config"
	"dealflow/internal/profiling"
)

// startMetricsServer serves the API's Prometheus metrics (its HTTP requests,
// the web import's rows, the Temporal client's and Go's) at /metrics on a
// listener of its own, API_METRICS_ADDR, as the worker serves its own: the
// public port shows none of them (routes, rates and errors are for
// operators), and it can be left unpublished. Empty disables it. The
// returned function stops it.
func startMetricsServer(ctx context.Context, addr string, metrics http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	profiling.Register(mux)
	return serveOwnListener(ctx, config.APIMetricsAddr, addr, mux, 5*time.Second, log, "api metrics")
}
