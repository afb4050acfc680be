// Command bench measures dealflow against the bare Temporal engine under it,
// on one stack:
//
//  1. product: N deals from lead to paid invoice through the HTTP API, C
//     reps at a time (create, qualify, edit opportunity, stakeholder, line,
//     quote, activate, close won, fulfil, pay), with a policy whose reminder
//     timers are armed but far off and whose thank-you fires a second after
//     the close, so every deal's workflow completes;
//  2. floor: the same number of deals through a minimal workflow with the
//     same Updates, activities (local, as the deal's; -floor-local=false for
//     remote ones) and timer but no-op bodies, driven through the
//     SDK client by the same number of clients, on the same Temporal server,
//     its worker a separate process with the deal worker's options;
//  3. open: the product's rep actions arriving at a fixed rate (a seeded
//     Poisson process) at fractions of the product's saturation throughput,
//     each sent at its scheduled time whether or not the earlier ones were
//     answered, its latency counted from that time (not in the default
//     -phases: -phases product,open);
//  4. idle: deals parked in Qualify with their reminder timers pending, the
//     worker's memory, and the latency of rep actions on random parked deals.
//
// It prints a table (deals/s and their ratio, latency percentiles per
// action, CPU seconds and peak RSS per process) and writes it as JSON with
// -json. With -self it starts its own stack (internal/tests/e2e: Temporal dev
// server, PostgreSQL, worker and API built from this tree) and stops it at
// the end; otherwise it runs against -api and -temporal.
//
//	go run ./bench -self -json bench.json
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"dealflow/internal/config"
	"dealflow/internal/dev/devstack"
	"dealflow/internal/temporalx"
	"dealflow/internal/tests/e2e"
)

func main() {
	if os.Getenv(roleEnv) == roleFloorWorker {
		os.Exit(runFloorWorker())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the benchmark's flags.
type options struct {
	self                          bool
	apiURL, tokens                string
	temporal, namespace           string
	conn                          config.Temporal // TLS and credentials from the TEMPORAL_* environment (without -self)
	workerPID, apiPID, serverPID  int
	n, conc, idle, idleActions    int
	thankYou                      time.Duration
	phases                        string
	jsonPath                      string
	temporalDB                    string
	cluster                       bool
	workers                       int
	floorLocal, restartIdleWorker bool
	encrypt                       bool
	// The open loop's rate (rep actions/s at saturation; 0: from the
	// product phase), levels (percent of it), schedule and seed.
	openRate     float64
	openLevels   []float64
	openDuration time.Duration
	openArrivals int
	openSeed     uint64
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench [-self | -api URL -token T -temporal HOST:PORT] [flags]\n\n"+
			"Measures deals/s and rep-action latency of the product (HTTP API) against the bare\n"+
			"Temporal floor, rep-action latency at fixed arrival rates below saturation (open),\n"+
			"then worker memory with deals parked in Qualify.\n\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.self, "self", false, "start a stack of its own (Temporal dev server, PostgreSQL, worker and API built from this tree) and stop it at the end")
	fs.StringVar(&o.apiURL, "api", "http://localhost:8080", "API base URL (without -self)")
	fs.StringVar(&o.tokens, "token", os.Getenv("REP_TOKEN"), "bearer token(s) of the reps, comma-separated, used round-robin (without -self; default $REP_TOKEN). One token for all reps is throttled by API_RATE_LIMIT")
	// Without -self, Temporal is reached as the worker reaches it: the
	// TEMPORAL_* variables and the temporal CLI's profile file.
	r := config.NewReader()
	o.conn = r.Temporal()
	if err := r.Err(); err != nil {
		return o, fmt.Errorf("environment: %w", err)
	}
	fs.StringVar(&o.temporal, "temporal", o.conn.Address, "Temporal frontend host:port (without -self; default "+config.TemporalAddress.Name+")")
	fs.StringVar(&o.namespace, "namespace", o.conn.Namespace, "Temporal namespace (without -self; default "+config.TemporalNamespace.Name+")")
	fs.IntVar(&o.workerPID, "worker-pid", 0, "pid of the worker, to report its CPU and memory (without -self)")
	fs.IntVar(&o.apiPID, "api-pid", 0, "pid of the API, to report its CPU and memory (without -self)")
	fs.IntVar(&o.serverPID, "temporal-pid", 0, "pid of the Temporal server, to report its CPU and memory (without -self)")
	fs.IntVar(&o.n, "n", 500, "deals in the product and the floor run")
	fs.IntVar(&o.conc, "c", 25, "concurrent reps (product) and clients (floor)")
	fs.IntVar(&o.idle, "idle", 10000, "deals to park in Qualify for the idle run")
	fs.IntVar(&o.idleActions, "idle-actions", 100, "rep actions on random parked deals")
	fs.DurationVar(&o.thankYou, "thank-you", time.Second, "the won deal's thank-you delay, after which its workflow completes")
	fs.StringVar(&o.phases, "phases", "floor,product,idle", "phases to run, comma-separated, in this order: floor, product, open, idle")
	fs.Float64Var(&o.openRate, "open-rate", 0, "open: the saturation throughput in rep actions/s (deals/s × "+strconv.Itoa(actionsPerDeal)+") the levels are fractions of; 0 takes the product phase's, which must run before open")
	levels := fs.String("open-levels", "50,80", "open: arrival rates, in percent of the saturation throughput, comma-separated, one level each")
	fs.DurationVar(&o.openDuration, "open-duration", time.Minute, "open: how long each level's arrivals run")
	fs.IntVar(&o.openArrivals, "open-actions", 0, "open: arrivals per level instead of -open-duration (0: by duration)")
	fs.Uint64Var(&o.openSeed, "open-seed", 1, "open: seed of the arrival times (level i uses seed+i)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.temporalDB, "temporal-db", "file", "with -self: the dev server's SQLite store, file (WAL, as make up) or memory")
	fs.BoolVar(&o.cluster, "cluster", false, "with -self: run Temporal as a cluster (frontend, matching, two history and the worker service as separate processes on PostgreSQL, mTLS) instead of the dev server")
	fs.IntVar(&o.workers, "workers", 1, "with -self: deal worker processes on the task queue")
	fs.BoolVar(&o.encrypt, "encrypt", false, "with -self: the worker and the API encrypt every payload they send to Temporal (a fresh DEALFLOW_CODEC_KEY), as make up does; the floor stays plain")
	fs.BoolVar(&o.floorLocal, "floor-local", true, "run the floor's activities as local activities, as the deal runs ApplyChange; -floor-local=false runs them as remote activities")
	fs.BoolVar(&o.restartIdleWorker, "restart-worker", true, "with -self: restart the worker before the idle run, so its memory is that of the parked deals alone")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.n < 0 || o.conc < 1 || o.idle < 0 || o.idleActions < 0 {
		return o, errors.New("-n, -idle and -idle-actions must not be negative, -c must be at least 1")
	}
	if o.workers < 1 || (!o.self && (o.workers != 1 || o.cluster)) {
		return o, errors.New("-workers (at least 1) and -cluster go with -self")
	}
	if o.temporalDB != "file" && o.temporalDB != "memory" {
		return o, errors.New("-temporal-db must be file or memory")
	}
	for _, p := range strings.Split(o.phases, ",") {
		if p != "floor" && p != "product" && p != "open" && p != "idle" {
			return o, fmt.Errorf("unknown phase %q (floor, product, open, idle)", p)
		}
	}
	for _, f := range strings.Split(*levels, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return o, fmt.Errorf("-open-levels: %q is not a positive percentage", f)
		}
		o.openLevels = append(o.openLevels, v)
	}
	if o.openRate < 0 || o.openArrivals < 0 || o.openDuration <= 0 {
		return o, errors.New("-open-rate and -open-actions must not be negative, -open-duration must be positive")
	}
	if o.has("open") && o.openRate == 0 && (o.index("product") < 0 || o.index("product") > o.index("open")) {
		return o, errors.New("the open phase takes its rate from the product phase: run product before open, or give -open-rate")
	}
	if !o.self && o.tokens == "" && (o.has("product") || o.has("open") || o.has("idle")) {
		return o, errors.New("-token (or $REP_TOKEN) is needed without -self")
	}
	return o, nil
}

func (o options) has(phase string) bool { return o.index(phase) >= 0 }

// index is the phase's place in -phases, or -1.
func (o options) index(phase string) int {
	for i, p := range strings.Split(o.phases, ",") {
		if p == phase {
			return i
		}
	}
	return -1
}

// Report is the benchmark's result, as written by -json.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Config  Config    `json:"config"`
	Floor   *Run      `json:"floor,omitempty"`
	Product *Run      `json:"product,omitempty"`
	// Ratio is product deals/s over floor deals/s.
	Ratio float64 `json:"productOverFloor,omitempty"`
	Open  *Open   `json:"open,omitempty"`
	Idle  *Idle   `json:"idle,omitempty"`
}

// Config is how the benchmark ran.
type Config struct {
	Deals       int    `json:"deals"`
	Concurrency int    `json:"concurrency"`
	ThankYou    string `json:"thankYouAfter"`
	Self        bool   `json:"self"`
	TemporalDB  string `json:"temporalDB,omitempty"`
	// Temporal is "dev" (the CLI's dev server) or "cluster" (-cluster).
	Temporal   string `json:"temporal,omitempty"`
	Workers    int    `json:"workers,omitempty"`
	FloorLocal bool   `json:"floorLocalActivities"`
	// Encrypted: the worker and the API encrypted their payloads (-encrypt).
	Encrypted bool   `json:"encrypted,omitempty"`
	Command   string `json:"command"`
}

// Run is one throughput run.
type Run struct {
	Deals       int           `json:"deals"`
	Failed      int           `json:"failed"`
	Seconds     float64       `json:"seconds"`
	DealsPerSec float64       `json:"dealsPerSecond"`
	Actions     []ActionStats `json:"actions"`
	Processes   []ProcStats   `json:"processes"`
	LoadBefore  float64       `json:"loadAvgBefore"`
	LoadAfter   float64       `json:"loadAvgAfter"`
	Breakdown   *Breakdown    `json:"breakdown,omitempty"`
}

// Idle is the idle-scale run.
type Idle struct {
	Deals int `json:"deals"`
	// ParkSeconds is the time to start them all and see them parked.
	ParkSeconds float64 `json:"parkSeconds"`
	// WorkerRSSMB is the worker's resident memory with every deal parked;
	// WorkerPeakRSSMB its peak while they were created.
	WorkerRSSMB     float64       `json:"workerRssMB"`
	WorkerPeakRSSMB float64       `json:"workerPeakRssMB"`
	Actions         []ActionStats `json:"actions"`
	Processes       []ProcStats   `json:"processes"`
	LoadBefore      float64       `json:"loadAvgBefore"`
	LoadAfter       float64       `json:"loadAvgAfter"`
	// WorkerGo is what the worker's Go runtime reports with every deal
	// parked (from its /metrics; only with -self).
	WorkerGo *GoRuntime `json:"workerGoRuntime,omitempty"`
	// Breakdown is that of the deals acted on.
	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	rep, err := bench(ctx, o, "go run ./bench "+strings.Join(args, " "), stderr)
	if rep != nil {
		printReport(stdout, rep)
		if o.jsonPath != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintf(stderr, "bench: %v\n", werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// target is the stack under test.
type target struct {
	apiURL              string
	tokens              []string
	temporal, namespace string
	conn                config.Temporal // zero (plaintext) with -self
	worker, api, server proc
	extra               []proc // PostgreSQL, the floor worker
	workerMetrics       string // the worker's /metrics URL (-self)
	stack               *e2e.Stack
}

// dial connects to the target's Temporal; the SDK's log is discarded.
func (t *target) dial(ctx context.Context) (*temporalx.Client, error) {
	return temporalx.Dial(ctx, temporalx.Options{Conn: t.conn, Address: t.temporal, Namespace: t.namespace,
		Logger: slog.New(slog.DiscardHandler)})
}

// temporalEnv is the environment that lets the floor worker reach the
// target's Temporal: without -self, this process's TEMPORAL_* variables
// (TLS, credentials, profile), with the address and namespace in use.
func (t *target) temporalEnv() map[string]string {
	env := map[string]string{}
	if t.stack != nil && t.stack.Cluster != nil {
		env = t.stack.Cluster.ClientEnv()
	}
	if t.stack == nil {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TEMPORAL_") {
				env[k] = v
			}
		}
	}
	env[config.TemporalAddress.Name], env[config.TemporalNamespace.Name] = t.temporal, t.namespace
	return env
}

func (t *target) procs(floorWorker proc) []proc {
	ps := []proc{t.worker, t.api, floorWorker, t.server}
	ps = append(ps, t.extra...)
	ps = append(ps, proc{Name: "bench", PID: os.Getpid()})
	return ps
}

func bench(ctx context.Context, o options, command string, progress io.Writer) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), Machine: machine(runtime.Version(), runtime.NumCPU()),
		Config: Config{Deals: o.n, Concurrency: o.conc, ThankYou: o.thankYou.String(), Self: o.self,
			FloorLocal: o.floorLocal, Encrypted: o.encrypt && o.self, Command: command}}
	t, stop, err := startTarget(ctx, o, progress)
	if err != nil {
		return nil, err
	}
	defer stop()
	if o.self {
		rep.Config.Temporal, rep.Config.Workers = "dev", o.workers
		if o.cluster {
			rep.Config.Temporal = "cluster"
		} else {
			rep.Config.TemporalDB = o.temporalDB
		}
	}
	tc, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	runID := strconv.FormatInt(time.Now().UnixMilli(), 36)
	a := newAPI(t.apiURL, o.conc)

	for _, phase := range strings.Split(o.phases, ",") {
		switch phase {
		case "floor":
			fw, stopFW, err := startFloorWorker(ctx, t)
			if err != nil {
				return rep, err
			}
			r := &Run{Deals: o.n, LoadBefore: loadAvg()}
			m := startMeter(t.procs(fw))
			res, err := floorRun(ctx, tc, runID, o.n, o.conc, o.thankYou, o.floorLocal, progress)
			r.Processes, r.LoadAfter = m.stop(), loadAvg()
			stopFW()
			finishRun(ctx, tc, r, res)
			rep.Floor = r
			if err != nil {
				return rep, fmt.Errorf("floor: %w", err)
			}
		case "product":
			r := &Run{Deals: o.n, LoadBefore: loadAvg()}
			m := startMeter(t.procs(proc{}))
			res, err := productRun(ctx, a, tc, t.tokens, runID, o.n, o.conc, o.thankYou, progress)
			r.Processes, r.LoadAfter = m.stop(), loadAvg()
			finishRun(ctx, tc, r, res)
			rep.Product = r
			if err != nil {
				return rep, fmt.Errorf("product: %w", err)
			}
		case "open":
			rate, from := o.openRate, "-open-rate"
			if rate == 0 {
				if rep.Product == nil || rep.Product.DealsPerSec <= 0 {
					return rep, errors.New("open: no product throughput to take the rate from")
				}
				rate, from = rep.Product.DealsPerSec*float64(actionsPerDeal), "product"
			}
			op, err := openRun(ctx, o, t, tc, runID, rate, from, progress)
			rep.Open = op
			if err != nil {
				return rep, fmt.Errorf("open: %w", err)
			}
		case "idle":
			idle, err := idleRun(ctx, o, t, a, tc, runID, progress)
			rep.Idle = idle
			if err != nil {
				return rep, fmt.Errorf("idle: %w", err)
			}
		}
		if rep.Floor != nil && rep.Product != nil && rep.Floor.DealsPerSec > 0 {
			rep.Ratio = round2(rep.Product.DealsPerSec / rep.Floor.DealsPerSec)
		}
	}
	return rep, nil
}

func finishRun(ctx context.Context, tc client.Client, r *Run, res runResult) {
	r.Failed = res.failed
	r.Actions = res.lat.stats()
	r.Seconds = round2(res.took.Seconds())
	if res.took > 0 {
		r.DealsPerSec = round2(float64(r.Deals-res.failed) / res.took.Seconds())
	}
	r.Breakdown = breakdown(ctx, tc, res.ids, breakdownDeals)
}

// breakdownDeals is how many deals' histories the breakdown reads.
const breakdownDeals = 200

// idleRun parks o.idle deals, reads the worker's memory and times rep
// actions on random parked deals.
func idleRun(ctx context.Context, o options, t *target, a *api, tc client.Client, runID string, progress io.Writer) (*Idle, error) {
	if t.stack != nil && o.restartIdleWorker {
		// A fresh worker holds only the parked deals, not what the earlier
		// runs left in its heap.
		if err := t.stack.StopWorker(); err != nil {
			return nil, err
		}
		if err := t.stack.StartWorker(ctx); err != nil {
			return nil, err
		}
		t.worker.PID = t.stack.Worker().PID()
	}
	r := &Idle{Deals: o.idle, LoadBefore: loadAvg()}
	m := startMeter(t.procs(proc{}))
	start := time.Now()
	// One deal through the API tells whose deals the token's rep may act on.
	probe := "idle-" + runID + "-probe"
	b, err := a.do(ctx, newLatencies(), "create", "POST", "/v1/leads", t.tokens[0], newLeadBody(probe, o.thankYou), "")
	if err != nil {
		return r, fmt.Errorf("create %s: %w", probe, err)
	}
	var who people
	if err := json.Unmarshal(b, &who); err != nil || who.Owner == "" {
		return r, fmt.Errorf("create %s: no owner in the answer: %.200s", probe, b)
	}
	ids, err := parkDeals(ctx, tc, who, runID, o.idle, 2*o.conc, progress)
	if err != nil {
		return r, err
	}
	r.ParkSeconds = round2(time.Since(start).Seconds())
	ids = append(ids, probe)
	parked := m.stop()
	for _, p := range parked {
		if p.PID == t.worker.PID {
			r.WorkerRSSMB, r.WorkerPeakRSSMB = p.RSSMB, p.PeakRSSMB
		}
	}
	if t.workerMetrics != "" {
		r.WorkerGo = scrapeGo(ctx, t.workerMetrics)
	}
	lat, acted := idleActions(ctx, a, t.tokens[0], ids, o.idleActions)
	r.Actions = lat.stats()
	r.Processes, r.LoadAfter = m.stop(), loadAvg()
	r.Breakdown = breakdown(ctx, tc, acted, breakdownDeals)
	return r, nil
}

// startTarget starts the stack (-self) or describes the given one; stop
// stops what was started.
func startTarget(ctx context.Context, o options, progress io.Writer) (*target, func(), error) {
	if !o.self {
		t := &target{apiURL: strings.TrimRight(o.apiURL, "/"), tokens: splitTokens(o.tokens),
			temporal: o.temporal, namespace: o.namespace, conn: o.conn,
			worker: proc{Name: "worker", PID: o.workerPID}, api: proc{Name: "api", PID: o.apiPID},
			server: proc{Name: "temporal", PID: o.serverPID}}
		return t, func() {}, nil
	}
	var cluster *devstack.ClusterOptions
	if o.cluster {
		cluster = &devstack.ClusterOptions{}
	}
	env := map[string]string{
		// The product's defaults, not the e2e tests' debug logging and
		// short deadline: a slow answer is measured, not cut at 5 s.
		config.LogLevel.Name:          config.LogLevel.Default,
		config.APIRateLimit.Name:      config.APIRateLimit.Default,
		config.APIRequestTimeout.Name: "60s",
	}
	if o.encrypt {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, nil, err
		}
		env[config.CodecKeyID.Name], env[config.CodecKey.Name] = "bench", base64.StdEncoding.EncodeToString(key)
	}
	s, err := e2e.Start(ctx, e2e.Options{
		Progress:       progress,
		TemporalDBFile: o.temporalDB == "file" && !o.cluster,
		Cluster:        cluster,
		Env:            env,
	})
	if err != nil {
		if s != nil {
			fmt.Fprint(progress, s.Logs(20))
		}
		return nil, nil, err
	}
	stop := func() {
		if err := s.Close(); err != nil {
			fmt.Fprintf(progress, "bench: stop the stack: %v\n", err)
		}
	}
	t := &target{apiURL: s.APIURL, temporal: s.TemporalAddress(), namespace: s.Namespace(), stack: s, workerMetrics: s.WorkerMetricsURL,
		worker: proc{Name: "worker", PID: s.Worker().PID()}, api: proc{Name: "api", PID: s.API().PID()}}
	if s.Cluster != nil {
		r := config.NewReaderFrom(s.Cluster.ClientEnv())
		t.conn = r.Temporal()
		if err := r.Err(); err != nil {
			stop()
			return nil, nil, err
		}
		for i, p := range s.Cluster.Processes() {
			pr := proc{Name: "temporal " + p.Name(), PID: p.Process().PID()}
			if i == 0 {
				t.server = pr
			} else {
				t.extra = append(t.extra, pr)
			}
		}
	} else {
		t.server = proc{Name: "temporal", PID: s.Temporal.Process().PID()}
	}
	for i := 2; i <= o.workers; i++ {
		w, err := startExtraWorker(ctx, s, i)
		if err != nil {
			stop()
			return nil, nil, err
		}
		prev := stop
		stop = func() { _ = w.Stop(0); prev() }
		t.extra = append(t.extra, proc{Name: fmt.Sprintf("worker-%d", i), PID: w.PID()})
	}
	if s.PG != nil {
		if pid := postmasterPID(s.PG.Dir); pid > 0 {
			t.extra = append(t.extra, proc{Name: "postgres", PID: pid, Group: true})
		}
	}
	// One token per rep, as real reps have: the per-token rate limit then
	// applies per rep.
	for i := range o.conc {
		tok, err := s.CreateUser(ctx, fmt.Sprintf("rep%d@example.com", i+1), fmt.Sprintf("Bench Rep %d", i+1), "rep")
		if err != nil {
			stop()
			return nil, nil, err
		}
		t.tokens = append(t.tokens, tok)
	}
	return t, stop, nil
}

// startExtraWorker starts worker process i beside the stack's own (same
// binary and environment, no metrics port) and waits until it polls.
func startExtraWorker(ctx context.Context, s *e2e.Stack, i int) (*devstack.Process, error) {
	p, err := devstack.StartProcess(devstack.ProcessSpec{
		Name: fmt.Sprintf("worker-%d", i), Path: s.Bin.Worker,
		Env:     append(s.WorkerEnv(), config.WorkerMetricsAddr.Name+"="),
		LogFile: fmt.Sprintf("%s/worker-%d.log", s.Dir, i),
	})
	if err != nil {
		return nil, err
	}
	c, err := s.Client(ctx)
	if err != nil {
		_ = p.Kill()
		return nil, err
	}
	defer c.Close()
	if err := devstack.WaitWorkerPolling(ctx, c, p); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

func splitTokens(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// postmasterPID reads the first line of DIR/postmaster.pid.
func postmasterPID(dir string) int {
	b, err := os.ReadFile(dir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// startFloorWorker runs this program again as the floor worker, a process
// of its own like the deal worker, and waits until it polls.
func startFloorWorker(ctx context.Context, t *target) (proc, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return proc{}, nil, err
	}
	dir, err := os.MkdirTemp("", "dealflow-bench-")
	if err != nil {
		return proc{}, nil, err
	}
	env := append(devstack.AppEnv(t.temporalEnv()), roleEnv+"="+roleFloorWorker)
	p, err := devstack.StartProcess(devstack.ProcessSpec{Name: "floor worker", Path: exe, Env: env, LogFile: dir + "/floor-worker.log"})
	if err != nil {
		os.RemoveAll(dir)
		return proc{}, nil, err
	}
	stop := func() {
		_ = p.Stop(0)
		os.RemoveAll(dir)
	}
	if err := waitPolling(ctx, t, p); err != nil {
		stop()
		return proc{}, nil, err
	}
	return proc{Name: "floor worker", PID: p.PID()}, stop, nil
}

// waitPolling waits until the floor worker's pollers are on its task queue.
func waitPolling(ctx context.Context, t *target, p *devstack.Process) error {
	tc, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		resp, err := tc.DescribeTaskQueue(ctx, floorTaskQueue, 1 /* workflow */)
		if err == nil {
			for _, pi := range resp.GetPollers() {
				if strings.HasPrefix(pi.GetIdentity(), strconv.Itoa(p.PID())+"@") {
					return nil
				}
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("floor worker exited: %s", p.Describe(20))
		case <-ctx.Done():
			return fmt.Errorf("floor worker not polling: %w\n%s", ctx.Err(), p.Describe(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ticker prints a phase's progress every few seconds.
type ticker struct {
	mu    sync.Mutex
	n     int
	count int
	quit  chan struct{}
	once  sync.Once
}

func newTicker(w io.Writer, what string, n int) *ticker {
	t := &ticker{n: n, quit: make(chan struct{})}
	start := time.Now()
	go func() {
		for {
			select {
			case <-t.quit:
				return
			case <-time.After(5 * time.Second):
				t.mu.Lock()
				c := t.count
				t.mu.Unlock()
				fmt.Fprintf(w, "%s: %d/%d deals, %s, load %.2f\n", what, c, n, time.Since(start).Round(time.Second), loadAvg())
			}
		}
	}()
	return t
}

func (t *ticker) done() {
	t.mu.Lock()
	t.count++
	t.mu.Unlock()
}

func (t *ticker) stop() { t.once.Do(func() { close(t.quit) }) }
