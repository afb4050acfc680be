package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// traffic counts what the reps' clients did, for the figures and for the
// chaos runner, which kills the API while a request is in flight.
type traffic struct {
	inflight     atomic.Int64 // requests on the wire
	inflightActs atomic.Int64 // of which POST/PATCH/DELETE

	mu        sync.Mutex
	requests  int            // logical requests (a retried one counts once)
	attempts  int            // HTTP attempts
	retries   map[string]int // retried attempts by cause
	ambiguous int            // writes retried after an attempt whose outcome was unknown
	statuses  map[int]int    // final statuses
	failures  []string       // 5xx other than 502/503/504, and unexpected answers
}

func newTraffic() *traffic {
	return &traffic{retries: map[string]int{}, statuses: map[int]int{}}
}

func (t *traffic) fail(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}

// rep is one sales rep's client: it retries as a real one would. Every
// attempt of one logical request carries the same Idempotency-Key, so a
// write whose answer was lost (connection cut, 504) is not done twice; 502,
// 503, 504 and connection errors are retried after a pause (Retry-After,
// capped), anything else is the answer.
type rep struct {
	base  string
	token string
	t     *traffic
	hc    *http.Client
}

func newRep(base, token string, t *traffic) *rep {
	return &rep{base: base, token: token, t: t, hc: &http.Client{Timeout: 30 * time.Second}}
}

// answer is the final response to one logical request.
type answer struct {
	Status int
	Raw    []byte
	Body   map[string]any
}

func (a answer) str(key string) string {
	v, ok := a.Body[key]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// call sends method path with body (nil, or a value to encode) and key as the
// Idempotency-Key (none when empty), retrying until an answer comes or ctx
// ends.
func (r *rep) call(ctx context.Context, method, path string, body any, key string) (answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	write := method != http.MethodGet
	r.t.mu.Lock()
	r.t.requests++
	r.t.mu.Unlock()
	backoff := 100 * time.Millisecond
	var last string
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return answer{}, fmt.Errorf("%s %s: gave up after %d attempts (last: %s): %w", method, path, attempt, last, ctx.Err())
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		}
		a, retry, cause, err := r.attempt(ctx, method, path, raw, key, write)
		if err != nil {
			return answer{}, err
		}
		if !retry {
			r.t.mu.Lock()
			r.t.statuses[a.Status]++
			r.t.mu.Unlock()
			return a.answer, nil
		}
		last = cause
		r.t.mu.Lock()
		r.t.retries[cause]++
		if write && (cause == "connection" || cause == "504") {
			r.t.ambiguous++
		}
		r.t.mu.Unlock()
		if ra, err := strconv.Atoi(a.headerRetryAfter); err == nil && ra > 0 {
			backoff = min(time.Duration(ra)*time.Second, 2*time.Second)
		}
	}
}

type attemptResult struct {
	answer
	headerRetryAfter string
}

// attempt sends once. retry says whether to try again, and cause why.
func (r *rep) attempt(ctx context.Context, method, path string, raw []byte, key string, write bool) (attemptResult, bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(raw))
	if err != nil {
		return attemptResult{}, false, "", err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	r.t.inflight.Add(1)
	if write {
		r.t.inflightActs.Add(1)
	}
	resp, err := r.hc.Do(req)
	r.t.inflight.Add(-1)
	if write {
		r.t.inflightActs.Add(-1)
	}
	r.t.mu.Lock()
	r.t.attempts++
	r.t.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return attemptResult{}, false, "", fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return attemptResult{}, true, "connection", nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return attemptResult{}, true, "connection", nil
	}
	a := attemptResult{answer: answer{Status: resp.StatusCode, Raw: b}, headerRetryAfter: resp.Header.Get("Retry-After")}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &a.Body)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return a, true, strconv.Itoa(resp.StatusCode), nil
	}
	if resp.StatusCode >= 500 {
		r.t.fail("%s %s (Idempotency-Key %q): %d %s", method, path, key, resp.StatusCode, b)
	}
	return a, false, "", nil
}

// errUnexpected is an answer a script did not expect.
var errUnexpected = errors.New("unexpected answer")
