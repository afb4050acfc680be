package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"dealflow/workflows"
)

// The open loop: rep actions arriving at a fixed rate, whether or not the
// earlier ones were answered, as users arrive; the floor and product runs
// are closed loops whose latencies are queueing times.

// actionsPerDeal is the number of rep actions of a product deal: the create
// and the steps to the paid invoice.
var actionsPerDeal = 1 + len(dealSteps)

// allArrivals names the open loop's row that pools every action, create
// included (every arrival is one of them).
const allArrivals = "all arrivals"

// Open is the open-loop run: one level per fraction of the saturation rate.
type Open struct {
	// SaturationPerSec is the rate the levels are fractions of, in rep
	// actions per second: the product phase's deals/s × ActionsPerDeal, or
	// -open-rate (RateFrom says which).
	SaturationPerSec float64 `json:"saturationActionsPerSecond"`
	RateFrom         string  `json:"rateFrom"`
	ActionsPerDeal   int     `json:"actionsPerDeal"`
	Seed             uint64  `json:"seed"`
	// Duration (or Arrivals, when set) is each level's schedule.
	Duration string      `json:"durationPerLevel,omitempty"`
	Arrivals int         `json:"arrivalsPerLevel,omitempty"`
	Levels   []OpenLevel `json:"levels"`
}

// OpenLevel is one arrival rate. Latency runs from an arrival's scheduled
// send time to its answer, so a late sender counts against the stack.
type OpenLevel struct {
	Percent      float64 `json:"percentOfSaturation"`
	TargetPerSec float64 `json:"targetActionsPerSecond"`
	// Arrivals were sent; Seconds runs from the level's start to the
	// sending of its last arrival, so SentPerSec is the rate achieved.
	Arrivals   int     `json:"arrivals"`
	Seconds    float64 `json:"seconds"`
	SentPerSec float64 `json:"sentPerSecond"`
	// Answered arrivals (2xx) over the time from the start to the last
	// answer; Failed ones got an error or another status.
	Answered       int     `json:"answered"`
	Failed         int     `json:"failed"`
	AnsweredPerSec float64 `json:"answeredPerSecond"`
	// Deals created, and of them those taken to the paid invoice; the rest
	// were mid-way when the level ended and are left as they are.
	Deals int `json:"deals"`
	Paid  int `json:"paid"`
	// MaxInFlight is the most arrivals sent and not yet answered at once.
	MaxInFlight int `json:"maxInFlight"`
	// SenderLag is how late the arrivals were sent, from their scheduled
	// time to the request's start (the benchmark's own delay; in the latency).
	SenderLag  ActionStats   `json:"senderLag"`
	Actions    []ActionStats `json:"actions"`
	Processes  []ProcStats   `json:"processes"`
	LoadBefore float64       `json:"loadAvgBefore"`
	LoadAfter  float64       `json:"loadAvgAfter"`
	Breakdown  *Breakdown    `json:"breakdown,omitempty"`
}

// poissonSchedule returns the send times, as offsets from the level's
// start, of a Poisson process of rate perSec drawn from seed: exponential
// inter-arrival times, until the offset passes d or n arrivals (n > 0 wins).
func poissonSchedule(perSec float64, d time.Duration, n int, seed uint64) []time.Duration {
	if perSec <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f70656e /* "open" */))
	var out []time.Duration
	at := 0.0
	for {
		at += rng.ExpFloat64() / perSec
		off := time.Duration(at * float64(time.Second))
		if (n > 0 && len(out) >= n) || (n <= 0 && off > d) {
			return out
		}
		out = append(out, off)
	}
}

// openDeal is a deal of the open loop's pool: its rep's token and the
// index in dealSteps of its next action.
type openDeal struct {
	id, token string
	next      int
}

// openPool holds the deals whose last action was answered, oldest first.
// An arrival takes the oldest one and sends its next action; when none is
// ready (every deal has an action in flight) it creates a deal. Every deal
// created goes through all its actions unless the level ends first, so the
// mix is the product phase's: one create and one of each step per deal.
type openPool struct {
	mu       sync.Mutex
	ready    []*openDeal
	inFlight int
	maxIn    int
	created  int
	paid     []string        // workflow IDs, in the order paid
	live     map[string]bool // workflow IDs of created deals not paid
}

// take returns the deal the next arrival acts on, or nil: create one.
func (p *openPool) take() *openDeal {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight++
	p.maxIn = max(p.maxIn, p.inFlight)
	if len(p.ready) == 0 {
		return nil
	}
	d := p.ready[0]
	p.ready[0] = nil
	p.ready = p.ready[1:]
	return d
}

// answered returns d to the pool after its action; ok is false when the
// action failed, which drops the deal.
func (p *openPool) answered(d *openDeal, created, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight--
	if !ok {
		return
	}
	wid := workflows.WorkflowID(d.id)
	if created {
		p.created++
		p.live[wid] = true
	}
	if d.next == len(dealSteps) {
		p.paid = append(p.paid, wid)
		delete(p.live, wid)
		return
	}
	p.ready = append(p.ready, d)
}

// openRun runs one level per percentage of saturation (rep actions/s).
func openRun(ctx context.Context, o options, t *target, tc client.Client, runID string, saturation float64, rateFrom string, progress io.Writer) (*Open, error) {
	r := &Open{SaturationPerSec: round2(saturation), RateFrom: rateFrom, ActionsPerDeal: actionsPerDeal, Seed: o.openSeed}
	if o.openArrivals > 0 {
		r.Arrivals = o.openArrivals
	} else {
		r.Duration = o.openDuration.String()
	}
	// More kept-alive connections than the closed loops': the requests in
	// flight are as many as the stack is slow.
	a := newAPI(t.apiURL, 4*o.conc)
	for i, pct := range o.openLevels {
		lv, err := openLevel(ctx, o, t, a, tc, fmt.Sprintf("open-%s-%d", runID, i), pct, saturation*pct/100, o.openSeed+uint64(i), progress)
		r.Levels = append(r.Levels, lv)
		if err != nil {
			return r, fmt.Errorf("%g%%: %w", pct, err)
		}
	}
	return r, nil
}

// openLevel sends the arrivals of one Poisson schedule, each at its
// scheduled time by a goroutine of its own, waits for every answer, and
// reads the histories of the deals it paid.
func openLevel(ctx context.Context, o options, t *target, a *api, tc client.Client, prefix string, pct, perSec float64, seed uint64, progress io.Writer) (OpenLevel, error) {
	lv := OpenLevel{Percent: pct, TargetPerSec: round2(perSec), LoadBefore: loadAvg()}
	sched := poissonSchedule(perSec, o.openDuration, o.openArrivals, seed)
	if len(sched) == 0 {
		return lv, fmt.Errorf("no arrivals at %.2f actions/s", perSec)
	}
	lat, all, lag := newLatencies(), newLatencies(), newLatencies()
	lat.seen("create")
	for _, s := range dealSteps {
		lat.seen(s.action)
	}
	pool := &openPool{live: map[string]bool{}}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lastDone time.Time
		errs     int
	)
	name := fmt.Sprintf("open %g%%", pct)
	fmt.Fprintf(progress, "%s: %d arrivals at %.2f actions/s (seed %d)\n", name, len(sched), perSec, seed)
	m := startMeter(t.procs(proc{}))
	quit := make(chan struct{})
	start := time.Now()
	go func() {
		for {
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Second):
				pool.mu.Lock()
				n := pool.inFlight
				pool.mu.Unlock()
				fmt.Fprintf(progress, "%s: %s of %s, %d in flight, load %.2f\n", name,
					time.Since(start).Round(time.Second), sched[len(sched)-1].Round(time.Second), n, loadAvg())
			}
		}
	}()
	sent := 0
	for i, off := range sched {
		at := start.Add(off)
		if w := time.Until(at); w > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(w):
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		d := pool.take()
		created := d == nil
		if created {
			d = &openDeal{id: fmt.Sprintf("%s-%d", prefix, i), token: t.tokens[i%len(t.tokens)]}
		}
		wg.Go(func() {
			lag.add("sender lag", time.Since(at))
			action, err := openAction(ctx, a, lat, d, created, o.thankYou)
			took := time.Since(at)
			if err != nil {
				lat.fail(action)
				all.fail(allArrivals)
				mu.Lock()
				if errs++; errs <= 5 {
					fmt.Fprintf(progress, "%s: %s %s: %v\n", name, action, d.id, err)
				}
				mu.Unlock()
			} else {
				lat.add(action, took)
				all.add(allArrivals, took)
			}
			mu.Lock()
			if now := time.Now(); now.After(lastDone) {
				lastDone = now
			}
			mu.Unlock()
			pool.answered(d, created, err == nil)
		})
	}
	lv.Arrivals, lv.Seconds = sent, round2(time.Since(start).Seconds())
	wg.Wait()
	close(quit)
	lv.Processes, lv.LoadAfter = m.stop(), loadAvg()
	lv.Actions = append(lat.stats(), all.stats()...)
	if s := lag.stats(); len(s) > 0 {
		lv.SenderLag = s[0]
		lv.SenderLag.Action = "sender lag"
	}
	for _, s := range all.stats() {
		lv.Answered, lv.Failed = s.Count, s.Failed
	}
	if lv.Seconds > 0 {
		lv.SentPerSec = round2(float64(lv.Arrivals) / lv.Seconds)
	}
	if s := lastDone.Sub(start).Seconds(); s > 0 {
		lv.AnsweredPerSec = round2(float64(lv.Answered) / s)
	}
	lv.Deals, lv.Paid, lv.MaxInFlight = pool.created, len(pool.paid), pool.maxIn
	// The histories of paid deals first (whole deals, as the product's),
	// each closed (a second after its payment, by the thank-you).
	ids := slices.Clone(pool.paid[:min(len(pool.paid), breakdownDeals)])
	if _, err := lastClose(ctx, tc, ids); err != nil {
		fmt.Fprintf(progress, "%s: %v\n", name, err)
	}
	ids = append(ids, slices.Sorted(maps.Keys(pool.live))...)
	lv.Breakdown = breakdown(ctx, tc, ids, breakdownDeals)
	return lv, ctx.Err()
}

// openAction sends deal d's next action (its create, when created) and
// advances it on success; it returns the action's name.
func openAction(ctx context.Context, a *api, lat *latencies, d *openDeal, created bool, thankYou time.Duration) (string, error) {
	if created {
		_, err := a.do(ctx, lat, "create", http.MethodPost, "/v1/leads", d.token, newLeadBody(d.id, thankYou), "")
		return "create", err
	}
	s := dealSteps[d.next]
	key := ""
	if s.key {
		key = s.action + "-" + d.id
	}
	if _, err := a.do(ctx, lat, s.action, s.method, "/v1/leads/"+d.id+s.path, d.token, s.body, key); err != nil {
		return s.action, err
	}
	d.next++
	return s.action, nil
}
