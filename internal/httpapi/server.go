// Package httpapi is the reps' and managers' JSON API over the deal process:
// every rep action is a Workflow Update on the deal's workflow, one deal is
// read with the workflow's state query, and lists and reports come from the
// PostgreSQL read model the worker writes. Errors are RFC 9457 problems.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"dealflow/internal/leadimport"
	"dealflow/internal/store"
	"dealflow/workflows"
)

// Temporal is what the API asks of the Temporal client.
type Temporal interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	// NewWithStartWorkflowOperation and UpdateWithStartWorkflow create a
	// lead (deals.StartAndView): the SDK takes only an operation made by
	// its own client's NewWithStartWorkflowOperation.
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
	CheckHealth(ctx context.Context, request *client.CheckHealthRequest) (*client.CheckHealthResponse, error)
}

// Config holds the server's dependencies and limits.
type Config struct {
	Temporal Temporal
	Pool     *store.Pool
	Logger   *slog.Logger
	// Registry receives the HTTP metrics; MetricsHandler serves it, on a
	// listener of its own (the api's API_METRICS_ADDR), never on the API's.
	Registry *prometheus.Registry
	// Metrics counts the business metrics of the API's own work (the web
	// import's rows); the SDK's handler of temporalx.Metrics, which exports
	// into Registry. nil: not counted.
	Metrics client.MetricsHandler
	// RateLimit is requests per second per token (burst twice that), and
	// failed authentications per second per client address; 0 disables.
	RateLimit float64
	// RequestTimeout bounds each /v1 request; past it the API answers 504.
	RequestTimeout time.Duration
	// OpenAPI is the spec served at /openapi.yaml.
	OpenAPI []byte
	// SchemaReady reports whether the migrations are applied (nil: they are).
	SchemaReady func() error
	// Now is the clock of the rate limits' buckets and of the health check's
	// cache (nil: time.Now). Tests step it rather than sleep; deadlines
	// and metrics keep the real clock.
	Now func() time.Time
	// TemporalUI is the Temporal Web UI's address, which the web app's
	// pages link managers to ("": no links); Namespace is the deals'.
	TemporalUI, Namespace string
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	engine  *gin.Engine
	limiter *rateLimiter
	// authFailures limits the 401s per client address (authenticate).
	authFailures *rateLimiter
	metrics      *httpMetrics
	health       temporalHealth
}

// ProbeTimeout bounds each readiness check of a dependency.
const ProbeTimeout = 2 * time.Second

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Temporal == nil || cfg.Pool == nil {
		return nil, errors.New("httpapi: Temporal and Pool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = client.MetricsNopHandler
	}
	leadimport.InitMetrics(cfg.Metrics)
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: m,
		limiter: newRateLimiter(cfg.RateLimit, cfg.Now), authFailures: newRateLimiter(cfg.RateLimit, cfg.Now)}
	s.health.client, s.health.now = cfg.Temporal, cfg.Now
	s.engine = s.routes()
	return s, nil
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// MetricsHandler serves Config.Registry (Prometheus): the api serves it on
// a listener of its own, so that the public port does not show them.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry})
}

// Routes lists the API's routes as METHOD and gin path (":id"), for the
// OpenAPI check: the web app's pages are not the API's.
func (s *Server) Routes() gin.RoutesInfo {
	var out gin.RoutesInfo
	for _, r := range s.engine.Routes() {
		if !isPage(r.Path) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.Use(s.observe, gin.CustomRecoveryWithWriter(io.Discard, s.recovered))
	r.NoRoute(func(c *gin.Context) {
		if isPage(c.Request.URL.Path) {
			s.failPage(c, notFound("no such page"))
			return
		}
		writeProblem(c, notFound("no such route: "+c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		if isPage(c.Request.URL.Path) {
			s.failPage(c, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
				c.Request.Method+" is not allowed here"))
			return
		}
		writeProblem(c, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
			c.Request.Method+" is not allowed on "+c.Request.URL.Path))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml", s.cfg.OpenAPI)
	})

	v1 := r.Group("/v1", s.deadline, s.schemaReady, s.authenticate, s.throttle)
	v1.POST("/leads", h(s.createLead))
	v1.GET("/leads", h(s.listLeads))
	v1.GET("/leads/:id", h(s.getLead))
	v1.PATCH("/leads/:id", h(s.editLead))
	v1.GET("/leads/:id/timeline", h(s.timeline))
	v1.GET("/leads/:id/activities", h(s.leadActivities))
	for _, spec := range workflows.Specs {
		if spec.Route.Method == "" {
			continue // PATCH /v1/leads/{id} picks its action by the stage
		}
		v1.Handle(spec.Route.Method, "/leads/:id"+spec.Route.Path, h(s.action(spec)))
	}
	v1.GET("/activities", h(s.listActivities))
	v1.GET("/pipeline", h(s.pipeline))
	v1.POST("/users", h(s.createUser))
	v1.GET("/products", h(s.listProducts))
	v1.POST("/products", h(s.createProduct))
	v1.GET("/products/:id", h(s.getProduct))
	v1.PATCH("/products/:id", h(s.editProduct))
	v1.GET("/price-lists", h(s.listPriceLists))
	v1.POST("/price-lists", h(s.createPriceList))
	v1.GET("/price-lists/:id", h(s.getPriceList))
	v1.PATCH("/price-lists/:id", h(s.editPriceList))
	v1.PUT("/price-lists/:id/items/:productId", h(s.setPrice))
	v1.DELETE("/price-lists/:id/items/:productId", h(s.removePrice))
	v1.GET("/accounts", h(s.listAccounts))
	v1.GET("/accounts/:id", h(s.getAccount))
	v1.PATCH("/accounts/:id", h(s.editAccount))
	v1.GET("/contacts/:id", h(s.getContact))
	v1.PATCH("/contacts/:id", h(s.editContact))
	s.webRoutes(r) // the web app for reps (web.go)
	return r
}

// h adapts a handler that returns its error to gin: the error becomes a
// problem answer (and is logged by observe when it is a 5xx).
func h(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			fail(c, err)
		}
	}
}

// fail answers with the problem err stands for.
func fail(c *gin.Context, err error) {
	p := classify(c.Request.Context(), "", err)
	if p.cause != nil {
		_ = c.Error(p.cause)
	}
	writeProblem(c, p)
	c.Abort()
}

// recovered answers a panic with a problem instead of a bare 500.
func (s *Server) recovered(c *gin.Context, rec any) {
	_ = c.Error(fmt.Errorf("panic: %v\n%s", rec, debug.Stack()))
	if c.Writer.Written() {
		c.Abort()
		return
	}
	writeProblem(c, internal(fmt.Errorf("panic: %v", rec)))
	c.Abort()
}

// deadline bounds a /v1 request; handlers pass the request's context to
// Temporal and PostgreSQL, whose errors past it become 504s.
func (s *Server) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// schemaReady answers 503 until the migrations are applied.
func (s *Server) schemaReady(c *gin.Context) {
	if s.cfg.SchemaReady == nil {
		return
	}
	if err := s.cfg.SchemaReady(); err != nil {
		fail(c, unavailable(depPostgres+" (schema not migrated yet)", err))
	}
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz checks Temporal and PostgreSQL, each within ProbeTimeout, at once.
func (s *Server) readyz(c *gin.Context) {
	ctx := c.Request.Context()
	checks := map[string]string{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		down []string
	)
	check := func(name string, fn func(ctx context.Context) error) {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		defer cancel()
		err := fn(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			checks[name] = "down: " + redactedError(err)
			down = append(down, name)
			return
		}
		checks[name] = "ok"
	}
	wg.Add(2)
	go check("temporal", func(ctx context.Context) error { return s.health.probe(ctx) })
	go check("postgres", func(ctx context.Context) error {
		if err := s.cfg.Pool.Ping(ctx); err != nil {
			return err
		}
		if s.cfg.SchemaReady != nil {
			return s.cfg.SchemaReady()
		}
		return nil
	})
	wg.Wait()
	if len(down) > 0 {
		names := map[string]string{"temporal": depTemporal, "postgres": depPostgres}
		what := ""
		for i, d := range sortedStrings(down) {
			if i > 0 {
				what += " and "
			}
			what += names[d]
		}
		p := unavailable(what, nil)
		p.Detail = what + " not ready"
		p.Checks = checks
		writeProblem(c, p)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks})
}

// temporalHealth remembers Temporal's last health check for a moment, so a
// request learns quickly that Temporal is down: the SDK retries an
// unreachable server until the request's deadline, which would make every
// request wait its full timeout and then answer 504 instead of 503.
type temporalHealth struct {
	client Temporal
	now    func() time.Time
	mu     sync.Mutex
	at     time.Time
	err    error
}

// healthTTL is how long a health check result is reused.
const healthTTL = time.Second

// probe asks Temporal now.
func (t *temporalHealth) probe(ctx context.Context) error {
	_, err := t.client.CheckHealth(ctx, &client.CheckHealthRequest{})
	t.mu.Lock()
	t.at, t.err = t.now(), err
	t.mu.Unlock()
	return err
}

// up returns a 503 problem when Temporal was found down within healthTTL
// (or is found down now).
func (t *temporalHealth) up(ctx context.Context) error {
	t.mu.Lock()
	fresh, err := t.now().Sub(t.at) < healthTTL, t.err
	t.mu.Unlock()
	if !fresh {
		pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		err = t.probe(pctx)
		cancel()
	}
	if err != nil {
		if ctx.Err() != nil {
			return timedOut(ctx.Err())
		}
		return unavailable(depTemporal, err)
	}
	return nil
}

// pgErr classifies an error of a PostgreSQL call.
func pgErr(ctx context.Context, err error) error {
	return classify(ctx, depPostgres, err)
}
