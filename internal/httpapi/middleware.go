package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"dealflow/internal/store"
)

// httpMetrics are the API's request count and latency by route and status,
// and the requests being served by route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dealflow_http_requests_total",
			Help: "HTTP requests answered by the API, by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dealflow_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method, route and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealflow_http_requests_in_flight",
			Help: "HTTP requests the API is serving now, by method and route.",
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Context keys.
const (
	ctxUser     = "dealflow.user"
	ctxTokenKey = "dealflow.token"
)

// observe gives the request an id, and once it is answered records its
// metrics and logs one line carrying the lead id, never the token.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	rid := c.GetHeader("X-Request-ID")
	if rid == "" || len(rid) > 128 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rid = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-ID", rid)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	inFlight := s.metrics.inFlight.WithLabelValues(c.Request.Method, route)
	inFlight.Inc()
	c.Next()
	inFlight.Dec()

	status := c.Writer.Status()
	code := strconv.Itoa(status)
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(c.Request.Method, route, code).Inc()
	s.metrics.latency.WithLabelValues(c.Request.Method, route, code).Observe(elapsed.Seconds())

	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		if status < 500 {
			return
		}
	}
	attrs := []slog.Attr{
		slog.String("requestID", rid),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("ms", float64(elapsed.Microseconds())/1000),
	}
	if id := c.Param("id"); id != "" {
		attrs = append(attrs, slog.String("leadID", id))
	} else if id := c.GetString("leadID"); id != "" {
		attrs = append(attrs, slog.String("leadID", id))
	}
	if u, ok := c.Get(ctxUser); ok {
		attrs = append(attrs, slog.String("user", u.(User).Email))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if len(c.Errors) > 0 {
		attrs = append(attrs, slog.String("error", c.Errors.String()))
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// authenticate resolves the bearer token to its user: 401 without one, or
// with an unknown or revoked one. Each 401 takes from its client address's
// bucket (the rate limit's), and an address whose bucket is empty gets 429
// before its token is looked up: guessing tokens, or a client stuck on a
// revoked one, cannot load PostgreSQL. The address is the connection's peer:
// behind a reverse proxy all clients share the proxy's bucket, which only
// requests that fail authentication draw from.
func (s *Server) authenticate(c *gin.Context) {
	peer := peerAddress(c.Request)
	if wait, blocked := s.authFailures.empty(peer); blocked {
		fail(c, rateLimited("too many requests without a valid token from this address", wait))
		return
	}
	refuse := func(detail string) {
		s.authFailures.allow(peer)
		fail(c, unauthorized(detail))
	}
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		refuse("send Authorization: Bearer <token>")
		return
	}
	ctx := c.Request.Context()
	u, found, err := store.UserByToken(ctx, s.cfg.Pool, token)
	if err != nil {
		fail(c, pgErr(ctx, err))
		return
	}
	if !found {
		refuse("the token is unknown or revoked")
		return
	}
	c.Set(ctxUser, u)
	c.Set(ctxTokenKey, hex.EncodeToString(store.HashToken(token)))
}

// userOf is the authenticated user.
func userOf(c *gin.Context) User { return c.MustGet(ctxUser).(User) }

// throttle applies the per-token rate limit: 429 with Retry-After past it.
func (s *Server) throttle(c *gin.Context) {
	if wait, ok := s.limiter.allow(c.GetString(ctxTokenKey)); !ok {
		fail(c, rateLimited("this token's request rate is over the limit", wait))
	}
}

// rateLimited is the 429 for a limit that frees a request after wait.
func rateLimited(why string, wait time.Duration) *Problem {
	p := newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests",
		why+"; retry after the delay in Retry-After")
	p.RetryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return p
}

// peerAddress is the host of the request's TCP peer.
func peerAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// rateLimiter keeps one token bucket per key (a token, or a client address).
type rateLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	mu    sync.Mutex
	seen  map[string]*bucket
	sweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newRateLimiter refills its buckets as now advances.
func newRateLimiter(perSecond float64, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{
		limit: rate.Limit(perSecond),
		burst: max(1, int(math.Ceil(2*perSecond))),
		now:   now,
		seen:  map[string]*bucket{},
	}
}

// idleBucket is how long an unused token's bucket is kept.
const idleBucket = 10 * time.Minute

// allow takes one request from key's bucket, or says how long to wait.
func (r *rateLimiter) allow(key string) (time.Duration, bool) {
	if r == nil {
		return 0, true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.sweep) > idleBucket {
		for k, b := range r.seen {
			if now.Sub(b.last) > idleBucket {
				delete(r.seen, k)
			}
		}
		r.sweep = now
	}
	b, ok := r.seen[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(r.limit, r.burst)}
		r.seen[key] = b
	}
	b.last = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// empty says whether key's bucket is empty, and how long until it holds a
// request again, without taking from it.
func (r *rateLimiter) empty(key string) (time.Duration, bool) {
	if r == nil {
		return 0, false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.seen[key]
	if !ok {
		return 0, false
	}
	tokens := b.lim.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(r.limit) * float64(time.Second)), true
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// redactedError shortens a dependency's error for /readyz.
func redactedError(err error) string {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}
