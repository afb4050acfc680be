// Package metricstest is an in-memory Temporal SDK metrics handler
// (client.MetricsHandler) for tests of the code that counts business
// metrics through one: the workflow test suite, the importer, activities.
package metricstest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// Handler keeps every counter it is given, by name and tags; gauges and
// timers are dropped. Its WithTags handlers count into the same store.
type Handler struct {
	mu     *sync.Mutex
	counts map[string]int64 // "name{k=v,…}", tags sorted
	tags   map[string]string
}

var _ client.MetricsHandler = (*Handler)(nil)

// New returns an empty handler.
func New() *Handler {
	return &Handler{mu: new(sync.Mutex), counts: map[string]int64{}, tags: map[string]string{}}
}

// WithTags returns a handler that adds tags to every series.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	all := maps.Clone(h.tags)
	maps.Copy(all, tags)
	return &Handler{mu: h.mu, counts: h.counts, tags: all}
}

// Counter counts into the series of name and the handler's tags.
func (h *Handler) Counter(name string) client.MetricsCounter {
	key := name + "{" + tagString(h.tags) + "}"
	return counter(func(d int64) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.counts[key] += d
	})
}

// Gauge drops what it is given.
func (h *Handler) Gauge(string) client.MetricsGauge { return gauge{} }

// Timer drops what it is given.
func (h *Handler) Timer(string) client.MetricsTimer { return timer{} }

// Count sums counter name over its series that carry every tag of tags,
// each "key=value".
func (h *Handler) Count(name string, tags ...string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for key, v := range h.counts {
		series, labels, _ := strings.Cut(strings.TrimSuffix(key, "}"), "{")
		if series != name {
			continue
		}
		have := strings.Split(labels, ",")
		all := true
		for _, t := range tags {
			all = all && slices.Contains(have, t)
		}
		if all {
			n += v
		}
	}
	return n
}

// Has reports whether counter name has a series at all (one counted 0 too).
func (h *Handler) Has(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key := range h.counts {
		if strings.HasPrefix(key, name+"{") {
			return true
		}
	}
	return false
}

// String lists every series and its count, for failure messages.
func (h *Handler) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(h.counts)) {
		out = append(out, k+" "+itoa(h.counts[k]))
	}
	return strings.Join(out, "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func tagString(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

type counter func(int64)

func (c counter) Inc(d int64) { c(d) }

type gauge struct{}

func (gauge) Update(float64) {}

type timer struct{}

func (timer) Record(time.Duration) {}
