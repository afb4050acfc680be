// Command worker runs the deal workflow and its activities: it migrates the
// database, checks the search attributes, then polls the dealflow task queue
// until SIGTERM/SIGINT, finishing in-flight tasks before it exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/workflow"

	"dealflow/activities"
	"dealflow/internal/config"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
	"dealflow/workflows"
)

type settings struct {
	temporalAddr, namespace, databaseURL, metricsAddr, smtpAddr, smtpFrom string
	logLevel                                                              slog.Level
}

func load() (settings, []config.Var, error) {
	r := config.NewReader()
	s := settings{
		temporalAddr: r.Addr(config.TemporalAddress, true),
		namespace:    r.String(config.TemporalNamespace, true),
		databaseURL:  r.PostgresURL(config.DatabaseURL),
		metricsAddr:  r.Addr(config.WorkerMetricsAddr, false),
		smtpAddr:     r.Addr(config.SMTPAddr, false),
		smtpFrom:     r.String(config.SMTPFrom, false),
		logLevel:     r.LogLevel(config.LogLevel),
	}
	return s, r.Vars(), r.Err()
}

func main() {
	s, vars, err := load()
	config.ParseFlags("worker", "Runs the dealflow deal workflows and activities.", vars)
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := config.NewLogger(s.logLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log); err != nil {
		log.Error("worker stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, s settings, log *slog.Logger) error {
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pool, err := store.Open(startCtx, s.databaseURL, store.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(startCtx, pool); err != nil {
		return err
	}
	metrics, err := temporalx.NewMetrics()
	if err != nil {
		return err
	}
	c, err := temporalx.Dial(startCtx, temporalx.Options{Address: s.temporalAddr, Namespace: s.namespace, Logger: log, Metrics: metrics})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := temporalx.EnsureSearchAttributes(startCtx, c, s.namespace); err != nil {
		return err
	}
	if s.metricsAddr != "" {
		srv := &http.Server{Addr: s.metricsAddr, Handler: metricsMux(metrics), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "error", err)
			}
		}()
		defer srv.Close()
	}

	var mailer activities.Mailer = activities.RecordingMailer{}
	if s.smtpAddr != "" {
		mailer = activities.NewSMTPMailer(s.smtpAddr, s.smtpFrom)
	}
	acts := activities.New(pool, mailer, log)

	w := temporalx.NewWorker(c, workflows.TaskQueue)
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(acts) // each method under its name, as the workflow calls it
	log.Info("worker started", "taskQueue", workflows.TaskQueue, "temporal", s.temporalAddr, "namespace", s.namespace)
	// Run returns when ctx's signal arrives, after in-flight tasks finish.
	return w.Run(interruptCh(ctx))
}

func metricsMux(m *temporalx.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.HTTPHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux
}

// interruptCh turns the context into the channel worker.Run stops on.
func interruptCh(ctx context.Context) <-chan any {
	ch := make(chan any, 1)
	go func() { <-ctx.Done(); ch <- struct{}{} }()
	return ch
}
