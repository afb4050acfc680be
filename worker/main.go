// Command worker runs the deal workflow and its activities: it migrates the
// database, checks the search attributes, then polls the dealflow task queue
// until SIGTERM/SIGINT. It then stops polling and lets in-flight workflow
// tasks and activities finish for up to WORKER_STOP_TIMEOUT before it exits.
// `worker healthcheck` asks a running worker's /healthz (for container
// healthchecks: the image has no shell).
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

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"dealflow/activities"
	"dealflow/internal/config"
	"dealflow/internal/profiling"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
	"dealflow/workflows"
)

type settings struct {
	temporal                 config.Temporal
	databaseURL, metricsAddr string
	smtp                     config.SMTP
	logLevel                 slog.Level
	stopTimeout              time.Duration
}

func load() (settings, []config.Var, error) {
	r := config.NewReader()
	s := settings{
		temporal:    r.Temporal(),
		databaseURL: r.PostgresURL(config.DatabaseURL),
		metricsAddr: r.Addr(config.WorkerMetricsAddr, false),
		smtp:        r.SMTP(),
		logLevel:    r.LogLevel(config.LogLevel),
		stopTimeout: r.Duration(config.WorkerStopTimeout),
	}
	return s, r.Vars(), r.Err()
}

const about = `Runs the dealflow deal workflows and activities.

Commands:
  worker               run the worker
  worker healthcheck   exit 0 if the worker at WORKER_METRICS_ADDR answers 200 on /healthz
                       (it polls Temporal), else print why and exit 1`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	s, vars, err := load()
	config.ParseFlags("worker", about, vars)
	if len(os.Args) > 1 && os.Args[1] != "" && os.Args[1][0] != '-' {
		fmt.Fprintf(os.Stderr, "worker: unknown command %q (see worker -h)\n", os.Args[1])
		os.Exit(2)
	}
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

// healthcheck is `worker healthcheck`: it reads only WORKER_METRICS_ADDR.
func healthcheck() int {
	r := config.NewReader()
	addr := r.Addr(config.WorkerMetricsAddr, false)
	err := r.Err()
	if err == nil {
		err = config.Probe(context.Background(), config.WorkerMetricsAddr, addr, "/healthz")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker healthcheck: %v\n", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, s settings, log *slog.Logger) error {
	metrics, err := temporalx.NewMetrics()
	if err != nil {
		return err
	}
	// /healthz answers from the start: 503 until the worker polls.
	health := temporalx.NewHealth(workflows.TaskQueue, temporalx.Identity())
	if s.metricsAddr != "" {
		srv := &http.Server{Addr: s.metricsAddr, Handler: metricsMux(metrics, health), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "error", err)
			}
		}()
		defer srv.Close()
	}

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
	c, err := temporalx.Dial(startCtx, temporalx.Options{Conn: s.temporal, Logger: log, Metrics: metrics})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := temporalx.EnsureSearchAttributes(startCtx, c, c.Namespace); err != nil {
		return c.Explain(err)
	}

	var mailer activities.Mailer = activities.RecordingMailer{}
	if m := s.smtp; m.Addr != "" {
		smtp, err := activities.NewSMTPMailer(activities.SMTPConfig{Addr: m.Addr, From: m.From,
			Username: m.Username, Password: m.Password, Auth: m.Auth, TLS: m.TLS, RootCAs: m.RootCAs, Timeout: m.Timeout})
		if err != nil {
			return err
		}
		mailer = smtp
		log.Info("follow-up mail over SMTP", "addr", m.Addr, "from", m.From, "tls", m.TLS, "username", m.Username)
	}
	acts := activities.New(pool, mailer, log)

	fatal := make(chan error, 1)
	w := temporalx.NewWorker(c, workflows.TaskQueue, func(o *worker.Options) {
		o.WorkerStopTimeout = s.stopTimeout
		o.OnFatalError = func(err error) {
			select {
			case fatal <- err:
			default:
			}
		}
	})
	w.RegisterWorkflowWithOptions(workflows.DealWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(acts) // each method under its name, as the workflow calls it
	if err := w.Start(); err != nil {
		return c.Explain(err)
	}
	health.Started(c)
	log.Info("worker started", "taskQueue", workflows.TaskQueue, "temporal", c.Address, "namespace", c.Namespace,
		"auth", s.temporal.Auth(), "profile", s.temporal.Profile, "stopTimeout", s.stopTimeout.String(),
		"payloadEncryption", s.temporal.Encryption.String())
	if s.temporal.Encryption == nil || s.temporal.Encryption.CurrentKeyID() == "" {
		log.Warn("payload encryption is off: contact names, emails and amounts are stored in Temporal in plain text; set " +
			config.CodecKeyID.Name + " and " + config.CodecKey.Name)
	}
	select {
	case <-ctx.Done():
	case err := <-fatal:
		health.Stopping()
		w.Stop()
		return c.Explain(err)
	}
	// Stop returns once in-flight tasks have finished, or after the stop
	// timeout, when it cancels the activities still running (their
	// attempts then fail and are retried by whichever worker polls next).
	health.Stopping()
	log.Info("worker stopping: finishing in-flight tasks", "stopTimeout", s.stopTimeout.String())
	stopped := time.Now()
	w.Stop()
	log.Info("worker stopped", "took", time.Since(stopped).Round(time.Millisecond).String())
	return nil
}

func metricsMux(m *temporalx.Metrics, health http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.HTTPHandler())
	mux.Handle("/healthz", health)
	profiling.Register(mux)
	return mux
}
