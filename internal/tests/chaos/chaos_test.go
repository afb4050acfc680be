package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"dealflow/internal/config"
	"dealflow/internal/tests/e2e"
)

var (
	flagDeals   = flag.Int("chaos.deals", 40, "deals to run through the API while processes crash")
	flagClients = flag.Int("chaos.clients", 8, "reps working their deals at the same time")
	flagSeed    = flag.Uint64("chaos.seed", defaultSeed, "seed of the crash schedule and the deal ids (0: a new one from the clock); printed to reproduce a run")
	flagSettle  = flag.Duration("chaos.settle", 4*time.Minute, "how long deals may take to reach their outcome after the scripts end")
)

// defaultSeed pins the crash schedule (the order of the kills and the pauses
// between them) and the deal ids, so that every `make test` breaks the stack
// in the same order at the same moments, and a failed run's schedule can be
// run again with its printed seed. Where the kills land among the reps'
// requests and the deals' timers still varies with the machine's load, so a
// race one run hit may take a few repeats to hit again. -chaos.seed=0 draws
// a fresh schedule.
const defaultSeed = 19

var (
	stack *e2e.Stack
	sink  *mailSink
)

func TestMain(m *testing.M) {
	var err error
	if sink, err = startMailSink(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: mail sink: %v\n", err)
		os.Exit(1)
	}
	code := e2e.Main(m, e2e.Options{
		// Temporal keeps its state in a file, so that a crash of the server
		// loses nothing.
		TemporalDBFile: true,
		WorkerEnv: map[string]string{
			config.SMTPAddr.Name: sink.Addr(),
			config.SMTPTLS.Name:  config.SMTPTLSNone, // the test sink is plain SMTP
			config.SMTPFrom.Name: "dealflow@chaos.test",
			// The worker's log stays readable at this volume.
			config.LogLevel.Name: "info",
		},
	}, &stack)
	sink.Close()
	os.Exit(code)
}

// TestCrashRestart runs -chaos.deals deals through the HTTP API, each with a
// scripted outcome, while the worker is SIGKILLed (at least three times),
// Temporal and PostgreSQL are killed and started again, and the API is killed
// in the middle of a request. Then every deal must have reached its outcome
// with nothing lost and nothing done twice.
func TestCrashRestart(t *testing.T) {
	started := time.Now()
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos: %d deals, %d clients, seed %d (-chaos.seed=%d repeats the crash schedule)", *flagDeals, *flagClients, seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: failed with seed %d; repeat its crash schedule with -chaos.seed=%d -chaos.deals=%d", seed, seed, *flagDeals)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	tr := newTraffic()
	run := fmt.Sprintf("c%x", seed&0xffffff)
	deals := newDeals(stack, tr, run, *flagDeals)

	// The reps work their deals while the chaos runner breaks things.
	var cr crashes
	chaosDone := make(chan error, 1)
	loadDone := make(chan struct{})
	go func() { chaosDone <- cr.run(ctx, rng, tr, started, loadDone) }()

	runScripts(ctx, deals, *flagClients)
	close(loadDone)
	scriptsTook := time.Since(started)
	if err := <-chaosDone; err != nil {
		t.Fatalf("chaos: %v\n%s", err, stack.Logs(60))
	}
	t.Logf("chaos: scripts done in %s; crashes:\n  %s", scriptsTook.Round(time.Second), strings.Join(cr.log, "\n  "))

	var failed int
	for _, d := range deals {
		if d.err != nil {
			failed++
			t.Errorf("deal %s (%s): script failed: %v", d.id, d.sc.name, d.err)
		}
	}
	tr.mu.Lock()
	for _, f := range tr.failures {
		t.Errorf("server error: %s", f)
	}
	tr.mu.Unlock()

	res := verify(ctx, t, stack, deals, run)
	f := figures{deals: len(deals), crashes: &cr, traffic: tr, result: res, scriptsFailed: failed, wall: time.Since(started)}
	t.Log(f.String())
	if res.duplicates != 0 || res.lost != 0 || res.differing != 0 {
		t.Errorf("duplicates found %d, lost %d, records differing %d: want 0, 0 and 0", res.duplicates, res.lost, res.differing)
	}
	if t.Failed() {
		t.Log(stack.Logs(40))
	}
}

// newDeals returns n deals of run, the scenarios in turn, worked by the
// stack's rep.
func newDeals(s *e2e.Stack, tr *traffic, run string, n int) []*deal {
	deals := make([]*deal, n)
	for i := range deals {
		deals[i] = &deal{id: fmt.Sprintf("%s-%03d", run, i), sc: scenarios[i%len(scenarios)],
			rep: newRep(s.APIURL, s.RepToken, tr)}
	}
	return deals
}

// runScripts has clients reps work the deals, each its scenario's script,
// and returns when every script has ended (or 15 minutes have passed).
func runScripts(ctx context.Context, deals []*deal, clients int) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	jobs := make(chan *deal)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for d := range jobs {
				d.err = d.sc.script(ctx, d)
			}
		})
	}
	for _, d := range deals {
		jobs <- d
	}
	close(jobs)
	wg.Wait()
}

// crashes breaks the stack's processes at random moments, one after the
// other, each brought back before the next.
type crashes struct {
	workerKills, temporalRestarts, pgRestarts, apiKills int
	log                                                 []string
}

func (c *crashes) note(start time.Time, format string, args ...any) {
	c.log = append(c.log, fmt.Sprintf("%6.1fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
}

// run kills the worker three times and Temporal, PostgreSQL and the API once
// each, in a random order with random pauses between them; then, until the
// reps are done (loadDone), it kills the worker again every 5 to 20 seconds.
func (c *crashes) run(ctx context.Context, rng *rand.Rand, tr *traffic, start time.Time, loadDone <-chan struct{}) error {
	events := []string{"temporal", "postgres", "api", "worker", "worker", "worker"}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	pause := func(lo, hi time.Duration) {
		d := lo + time.Duration(rng.Int64N(int64(hi-lo)))
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	pause(time.Second, 3*time.Second)
	for i := 0; ; i++ {
		var ev string
		if i < len(events) {
			ev = events[i]
			pause(500*time.Millisecond, 3*time.Second)
		} else {
			select {
			case <-loadDone:
				return nil
			case <-time.After(5*time.Second + time.Duration(rng.Int64N(int64(15*time.Second)))):
			}
			ev = "worker"
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch ev {
		case "worker":
			p := stack.Worker()
			if err := p.Kill(); err != nil {
				return err
			}
			c.workerKills++
			c.note(start, "worker SIGKILL (pid %d, %d requests in flight)", p.PID(), tr.inflight.Load())
			pause(0, 2*time.Second)
			if err := stack.StartWorker(ctx); err != nil {
				return fmt.Errorf("start the worker again: %w", err)
			}
			c.note(start, "worker polling again (pid %d)", stack.Worker().PID())
		case "temporal":
			if err := stack.Temporal.Kill(); err != nil {
				return err
			}
			c.note(start, "Temporal SIGKILL (%d requests in flight)", tr.inflight.Load())
			pause(0, 2*time.Second)
			if err := stack.Temporal.Start(ctx); err != nil {
				return fmt.Errorf("start Temporal again: %w", err)
			}
			c.temporalRestarts++
			c.note(start, "Temporal up again on its file database")
		case "postgres":
			if err := stack.PG.StopImmediate(); err != nil {
				return err
			}
			c.note(start, "PostgreSQL immediate stop (%d requests in flight)", tr.inflight.Load())
			pause(0, 2*time.Second)
			if err := stack.PG.Restart(ctx); err != nil {
				return fmt.Errorf("start PostgreSQL again: %w", err)
			}
			c.pgRestarts++
			c.note(start, "PostgreSQL up again")
		case "api":
			// Mid-request: wait for a write on the wire.
			deadline := time.Now().Add(30 * time.Second)
			for tr.inflightActs.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			n := tr.inflightActs.Load()
			p := stack.API()
			if err := p.Kill(); err != nil {
				return err
			}
			c.apiKills++
			c.note(start, "API SIGKILL with %d writes in flight (pid %d)", n, p.PID())
			pause(0, 2*time.Second)
			if err := stack.StartAPI(ctx); err != nil {
				return fmt.Errorf("start the API again: %w", err)
			}
			c.note(start, "API ready again")
		}
	}
}

// figures is the run's summary.
type figures struct {
	deals, scriptsFailed int
	crashes              *crashes
	traffic              *traffic
	result               result
	wall                 time.Duration
}

func (f figures) String() string {
	tr := f.traffic
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var retries []string
	for cause, n := range tr.retries {
		retries = append(retries, fmt.Sprintf("%s %d", cause, n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chaos figures:\n")
	fmt.Fprintf(&b, "  deals                 %d (%s)\n", f.deals, f.result.byScenario)
	fmt.Fprintf(&b, "  worker SIGKILLs       %d\n", f.crashes.workerKills)
	fmt.Fprintf(&b, "  restarts              Temporal %d (SIGKILL, file DB), PostgreSQL %d (immediate stop), API %d (SIGKILL mid-request), worker %d\n",
		f.crashes.temporalRestarts, f.crashes.pgRestarts, f.crashes.apiKills, f.crashes.workerKills)
	fmt.Fprintf(&b, "  requests              %d (%d attempts; retried: %s; writes retried after an unknown outcome: %d)\n",
		tr.requests, tr.attempts, strings.Join(sortedStrings(retries), ", "), tr.ambiguous)
	fmt.Fprintf(&b, "  follow-ups            %d sent (%d deliveries to SMTP; %d redelivered with the same Message-ID)\n",
		f.result.messages, f.result.deliveries, f.result.redelivered)
	fmt.Fprintf(&b, "  rep actions checked   %d accepted, %d refused\n", f.result.actions, f.result.refused)
	fmt.Fprintf(&b, "  duplicates found      %d\n", f.result.duplicates)
	fmt.Fprintf(&b, "  lost                  %d\n", f.result.lost)
	fmt.Fprintf(&b, "  records differing     %d (of %d rows compared with the workflow state, column by column)\n", f.result.differing, f.result.rows)
	fmt.Fprintf(&b, "  scripts failed        %d; server errors (5xx other than 502/503/504) %d\n", f.scriptsFailed, len(tr.failures))
	fmt.Fprintf(&b, "  wall time             %s", f.wall.Round(time.Second))
	return b.String()
}
