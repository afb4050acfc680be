package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencies collects the durations of each action, safe for concurrent use.
type latencies struct {
	mu    sync.Mutex
	order []string
	by    map[string][]time.Duration
	fails map[string]int
	// retries counts 429/503 answers that were retried (product run).
	retries map[string]int
}

func newLatencies() *latencies {
	return &latencies{by: map[string][]time.Duration{}, fails: map[string]int{}, retries: map[string]int{}}
}

func (l *latencies) add(action string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen(action)
	l.by[action] = append(l.by[action], d)
}

func (l *latencies) fail(action string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen(action)
	l.fails[action]++
}

func (l *latencies) retried(action string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen(action)
	l.retries[action]++
}

func (l *latencies) seen(action string) {
	if _, ok := l.by[action]; !ok {
		l.order = append(l.order, action)
		l.by[action] = nil
	}
}

// ActionStats are one action's latency percentiles in milliseconds.
type ActionStats struct {
	Action  string  `json:"action"`
	Count   int     `json:"count"`
	Failed  int     `json:"failed"`
	Retried int     `json:"retried,omitempty"`
	P50     float64 `json:"p50Ms"`
	P95     float64 `json:"p95Ms"`
	P99     float64 `json:"p99Ms"`
	Max     float64 `json:"maxMs"`
	// TailRatio is p99 / p50.
	TailRatio float64 `json:"p99OverP50"`
}

// allActions names the row that pools every action but "create".
const allActions = "all actions"

// stats returns a row per action, in first-seen order, then the pooled row
// of every action except create (the rep actions, which are Updates).
func (l *latencies) stats() []ActionStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ActionStats
	var pooled []time.Duration
	fails, retries := 0, 0
	for _, a := range l.order {
		out = append(out, summarize(a, l.by[a], l.fails[a], l.retries[a]))
		if a != "create" {
			pooled = append(pooled, l.by[a]...)
			fails += l.fails[a]
			retries += l.retries[a]
		}
	}
	if len(l.order) > 1 {
		out = append(out, summarize(allActions, pooled, fails, retries))
	}
	return out
}

func summarize(action string, ds []time.Duration, failed, retried int) ActionStats {
	s := ActionStats{Action: action, Count: len(ds), Failed: failed, Retried: retried}
	if len(ds) == 0 {
		return s
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	s.P50 = ms(percentile(sorted, 50))
	s.P95 = ms(percentile(sorted, 95))
	s.P99 = ms(percentile(sorted, 99))
	s.Max = ms(sorted[len(sorted)-1])
	if s.P50 > 0 {
		s.TailRatio = round2(s.P99 / s.P50)
	}
	return s
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return round2(float64(d) / float64(time.Millisecond)) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// proc is a process whose CPU time and peak memory a phase reports.
type proc struct {
	Name string
	PID  int
	// Group sums the process and its current children (PostgreSQL's
	// postmaster and backends), plus the children that exited and were waited for.
	Group bool
}

// ProcStats are one process's resource use over a phase.
type ProcStats struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// PeakRSSMB is VmHWM: the peak resident set since the phase began
	// (reset through /proc/PID/clear_refs) or, when that is not permitted,
	// since the process started (PeakSinceStart). RSSMB is VmRSS at the end
	// of the phase. For PostgreSQL (a group of processes sharing buffers)
	// RSSMB is the sum of their proportional set sizes and there is no peak.
	PeakRSSMB      float64 `json:"peakRssMB"`
	RSSMB          float64 `json:"rssMB"`
	PeakSinceStart bool    `json:"peakSinceStart,omitempty"`
}

// procMeter measures a set of processes over one phase.
type procMeter struct {
	procs     []proc
	cpu0      map[int]float64
	peakReset map[int]bool
}

// startMeter records CPU times and resets peak RSS of procs.
func startMeter(procs []proc) *procMeter {
	m := &procMeter{procs: procs, cpu0: map[int]float64{}, peakReset: map[int]bool{}}
	for _, p := range procs {
		if p.PID <= 0 {
			continue
		}
		m.cpu0[p.PID] = cpuSeconds(p)
		// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
		m.peakReset[p.PID] = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.PID), []byte("5"), 0) == nil
	}
	return m
}

// stop returns each process's CPU seconds since start and its peak RSS.
func (m *procMeter) stop() []ProcStats {
	var out []ProcStats
	for _, p := range m.procs {
		if p.PID <= 0 {
			continue
		}
		st := ProcStats{Name: p.Name, PID: p.PID, CPUSeconds: round2(cpuSeconds(p) - m.cpu0[p.PID])}
		hwm, rss := memKB(p.PID)
		st.PeakSinceStart = !m.peakReset[p.PID]
		if p.Group {
			// The processes share their buffers: sum the proportional set
			// sizes, and leave the peak out (there is none to sum).
			hwm, rss = 0, pssKB(p.PID)
			for _, c := range children(p.PID) {
				rss += pssKB(c)
			}
			st.PeakSinceStart = false
		}
		st.PeakRSSMB, st.RSSMB = round2(float64(hwm)/1024), round2(float64(rss)/1024)
		out = append(out, st)
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds is utime+stime of the process (and of its children for a group).
func cpuSeconds(p proc) float64 {
	total := procCPU(p.PID, p.Group)
	if p.Group {
		for _, c := range children(p.PID) {
			total += procCPU(c, false)
		}
	}
	return total
}

// procCPU reads utime+stime (and cutime+cstime when waited) from /proc/PID/stat.
func procCPU(pid int, waited bool) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return 0
	}
	sum := 0.0
	n := 2
	if waited {
		n = 4
	}
	for _, v := range f[11 : 11+n] {
		x, _ := strconv.ParseFloat(v, 64)
		sum += x
	}
	return sum / clockTicks
}

// memKB returns VmHWM and VmRSS of pid in kB.
func memKB(pid int) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		field := func(name string) (int64, bool) {
			rest, ok := strings.CutPrefix(line, name+":")
			if !ok {
				return 0, false
			}
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v, true
		}
		if v, ok := field("VmHWM"); ok {
			hwm = v
		}
		if v, ok := field("VmRSS"); ok {
			rss = v
		}
	}
	return hwm, rss
}

// pssKB returns the proportional set size of pid in kB.
func pssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		c, err := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs     int     `json:"cpus"`
	Model    string  `json:"cpuModel"`
	MemoryGB float64 `json:"memoryGB"`
	GoVer    string  `json:"go"`
}

func machine(goVersion string, cpus int) Machine {
	m := Machine{CPUs: cpus, GoVer: goVersion}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemoryGB = round2(kb / 1024 / 1024)
			}
		}
	}
	return m
}

// loadAvg returns the 1-minute load average, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// GoRuntime is what a process's Prometheus Go collector reports.
type GoRuntime struct {
	Goroutines  int     `json:"goroutines"`
	HeapInuseMB float64 `json:"heapInuseMB"`
	StackMB     float64 `json:"stackInuseMB"`
}

// scrapeGo reads go_goroutines and the heap and stack in use from a
// Prometheus text endpoint; nil when it cannot.
func scrapeGo(ctx context.Context, url string) *GoRuntime {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	g := &GoRuntime{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			g.Goroutines = int(v)
		case "go_memstats_heap_inuse_bytes":
			g.HeapInuseMB = round2(v / (1 << 20))
		case "go_memstats_stack_inuse_bytes":
			g.StackMB = round2(v / (1 << 20))
		}
	}
	return g
}
