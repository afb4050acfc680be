// Command api serves the reps' and managers' HTTP API (internal/httpapi):
// it migrates the database, dials Temporal lazily (so it starts, and says it
// is not ready, while Temporal is down), serves until SIGTERM/SIGINT and
// then lets in-flight requests finish. `api users …` manages API users and
// their tokens.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"dealflow/internal/config"
	"dealflow/internal/httpapi"
	"dealflow/internal/store"
	"dealflow/internal/temporalx"
)

// openapiSpec is the hand-written OpenAPI 3 description of every route,
// served at /openapi.yaml.
//
//go:embed openapi.yaml
var openapiSpec []byte

const about = `Serves the dealflow HTTP API (JSON under /v1; /healthz, /readyz, /openapi.yaml; /metrics on API_METRICS_ADDR).

Commands:
  api                                                       serve the API
  api users create --email E --name N --role rep|manager    create the user if new and print a fresh
                                                            token (the last line of the output)
  api users revoke --token T|- | --email E                  revoke one token ("-": read from stdin), or every
                                                            token of a user
  api healthcheck                                           exit 0 if the API at API_ADDR is ready (/readyz
                                                            answers 200), else print why and exit 1`

type settings struct {
	addr, databaseURL string
	metricsAddr       string
	temporal          config.Temporal
	logLevel          slog.Level
	rateLimit         float64
	requestTimeout    time.Duration
	temporalUI        string
	codec             config.CodecServer
}

func load() (settings, []config.Var, error) {
	r := config.NewReader()
	s := settings{
		addr:           r.Addr(config.APIAddr, true),
		metricsAddr:    r.Addr(config.APIMetricsAddr, false),
		temporal:       r.Temporal(),
		databaseURL:    r.PostgresURL(config.DatabaseURL),
		logLevel:       r.LogLevel(config.LogLevel),
		rateLimit:      r.Float(config.APIRateLimit),
		requestTimeout: r.Duration(config.APIRequestTimeout),
		temporalUI:     r.HTTPURL(config.TemporalUIURL),
	}
	s.codec = r.CodecServer(s.temporal.Encryption, s.temporalUI)
	return s, r.Vars(), r.Err()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "users" {
		os.Exit(usersCommand(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	s, vars, err := load()
	config.ParseFlags("api", about, vars)
	if len(os.Args) > 1 && os.Args[1] != "" && os.Args[1][0] != '-' {
		fmt.Fprintf(os.Stderr, "api: unknown command %q (see api -h)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "api: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := config.NewLogger(s.logLevel)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, s, log); err != nil {
		log.Error("api stopped", "error", err)
		os.Exit(1)
	}
}

// healthcheck is `api healthcheck`, for container healthchecks (the image
// has no shell): it reads only API_ADDR and asks /readyz, which checks
// Temporal and PostgreSQL.
func healthcheck() int {
	r := config.NewReader()
	addr := r.Addr(config.APIAddr, true)
	err := r.Err()
	if err == nil {
		err = config.Probe(context.Background(), config.APIAddr, addr, "/readyz")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "api healthcheck: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, s settings, log *slog.Logger) error {
	// The pool connects on demand, so the API starts while PostgreSQL is
	// down (and answers 503 until it is back).
	pool, err := store.Open(ctx, s.databaseURL, store.Options{Name: "dealflow-api", Lazy: true})
	if err != nil {
		return err
	}
	defer pool.Close()

	// Migrate in the background until it succeeds: /readyz and /v1 say 503
	// meanwhile, rather than the process refusing to start.
	var migrated atomic.Bool
	migrateDone := make(chan struct{})
	go func() {
		defer close(migrateDone)
		migrate(ctx, pool, log, &migrated)
	}()

	metrics, err := temporalx.NewMetrics()
	if err != nil {
		return err
	}
	tc, err := temporalx.Dial(ctx, temporalx.Options{Conn: s.temporal, Logger: log, Metrics: metrics, Lazy: true})
	if err != nil {
		return err
	}
	defer tc.Close()

	api, err := httpapi.New(httpapi.Config{
		Temporal: tc, Pool: pool, Logger: log, Registry: metrics.Registry, Metrics: metrics.Handler,
		RateLimit: s.rateLimit, RequestTimeout: s.requestTimeout, OpenAPI: openapiSpec,
		TemporalUI: s.temporalUI, Namespace: tc.Namespace,
		SchemaReady: func() error {
			if !migrated.Load() {
				return errors.New("migrations not applied yet")
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A request may take RequestTimeout waiting for Temporal, plus the
		// time to write its answer.
		WriteTimeout: s.requestTimeout + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	stopMetrics, err := startMetricsServer(ctx, s.metricsAddr, api.MetricsHandler(), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	stopCodec, err := startCodecServer(ctx, s, log)
	if err != nil {
		return err
	}
	defer stopCodec()
	if s.temporal.Encryption == nil || s.temporal.Encryption.CurrentKeyID() == "" {
		log.Warn("payload encryption is off: contact names, emails and amounts are stored in Temporal in plain text; set " +
			config.CodecKeyID.Name + " and " + config.CodecKey.Name)
	}
	log.Info("api listening", "addr", ln.Addr().String(), "temporal", tc.Address, "namespace", tc.Namespace,
		"temporalAuth", s.temporal.Auth(), "temporalProfile", s.temporal.Profile,
		"rateLimit", s.rateLimit, "requestTimeout", s.requestTimeout.String(), "payloadEncryption", s.temporal.Encryption.String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// In-flight requests finish (each is bounded by the request timeout);
	// new connections are refused.
	log.Info("api shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout+10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-migrateDone
	log.Info("api stopped")
	return nil
}

// migrate applies the migrations, retrying until they apply or ctx ends.
func migrate(ctx context.Context, pool *store.Pool, log *slog.Logger, done *atomic.Bool) {
	delay := 500 * time.Millisecond
	for {
		err := store.Migrate(ctx, pool)
		if err == nil {
			done.Store(true)
			log.Info("database migrated")
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("migrate database; retrying", "error", err, "retryIn", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}
