package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// ProblemType prefixes every problem type: a URN, because the types name
// error classes rather than documents to fetch.
const ProblemType = "urn:dealflow:problem:"

// Problem is an RFC 9457 problem detail. Errors lists invalid fields (422),
// Missing what a stage gate still needs (409).
type Problem struct {
	Type    string                 `json:"type"`
	Title   string                 `json:"title"`
	Status  int                    `json:"status"`
	Detail  string                 `json:"detail,omitempty"`
	Errors  []workflows.FieldError `json:"errors,omitempty"`
	Missing []string               `json:"missing,omitempty"`
	// Stage and DealStatus say where the deal stood when an action was refused.
	Stage      workflows.Stage  `json:"stage,omitempty"`
	DealStatus workflows.Status `json:"dealStatus,omitempty"`
	// Checks says which dependency is down (readiness).
	Checks map[string]string `json:"checks,omitempty"`
	// Matches are the records a new lead or a qualification may duplicate
	// (409 possible-duplicate).
	Matches []store.DuplicateMatch `json:"matches,omitempty"`
	// ETag is the deal's current ETag when an If-Match named another (412);
	// it is sent as the ETag header too.
	ETag string `json:"etag,omitempty"`

	// RetryAfter, in seconds, is sent as the Retry-After header (429, 503).
	RetryAfter int `json:"-"`
	// cause is logged, never shown.
	cause error
}

func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", p.Status, p.Title, p.Detail, p.cause)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

func (p *Problem) Unwrap() error { return p.cause }

// problem classes: one constructor per status the API answers with.

func newProblem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: ProblemType + slug, Title: title, Status: status, Detail: detail}
}

func malformed(detail string) *Problem {
	return newProblem(http.StatusBadRequest, "malformed-request", "Malformed request", detail)
}

func invalid(errs ...workflows.FieldError) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, "invalid-fields", "Invalid fields", workflows.Describe(errs))
	p.Errors = errs
	return p
}

func unauthorized(detail string) *Problem {
	return newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", detail)
}

func forbidden(detail string) *Problem {
	return newProblem(http.StatusForbidden, "forbidden", "Forbidden", detail)
}

func notFound(detail string) *Problem {
	return newProblem(http.StatusNotFound, "not-found", "Not found", detail)
}

func conflict(slug, title, detail string) *Problem {
	return newProblem(http.StatusConflict, slug, title, detail)
}

func tooLarge() *Problem {
	return newProblem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
		fmt.Sprintf("the body must not exceed %d bytes", MaxBodyBytes))
}

func unavailable(what string, cause error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", what+" is unreachable; retry later")
	p.RetryAfter = 5
	p.cause = cause
	return p
}

func timedOut(cause error) *Problem {
	p := newProblem(http.StatusGatewayTimeout, "timeout", "Request timed out",
		"the request did not complete in time; repeat it with the same Idempotency-Key to learn its outcome without doing it twice")
	p.cause = cause
	return p
}

func internal(cause error) *Problem {
	p := newProblem(http.StatusInternalServerError, "internal", "Internal error", "the server could not handle the request; it has been logged")
	p.cause = cause
	return p
}

// writeProblem answers with p as application/problem+json.
func writeProblem(c *gin.Context, p *Problem) {
	if p.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="dealflow"`)
	}
	if p.ETag != "" {
		c.Header("ETag", p.ETag)
	}
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	c.Status(p.Status)
	body, err := jsonMarshal(p)
	if err != nil {
		body = []byte(`{"type":"` + ProblemType + `internal","title":"Internal error","status":500}`)
	}
	_, _ = c.Writer.Write(body)
}

// Infrastructure an error may come from, for 503 details.
const (
	depTemporal = "Temporal"
	depPostgres = "PostgreSQL"
)

// classify turns an error from a dependency into a problem: 503 when the
// dependency cannot be reached, 504 when the request ran out of time, else
// a logged 500. A *Problem passes through.
func classify(ctx context.Context, dep string, err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge()
	}
	var inv *store.InvalidError
	if errors.As(err, &inv) {
		return invalid(inv.Fields...)
	}
	if unreachable(err) {
		return unavailable(dep, err)
	}
	if timeout(ctx, err) {
		return timedOut(err)
	}
	return internal(fmt.Errorf("%s: %w", dep, err))
}

// unreachable reports a connection failure (refused, reset, DNS, TLS), a
// gRPC Unavailable or PostgreSQL refusing connections: the dependency is down
// rather than slow.
func unreachable(err error) bool {
	var unavail *serviceerror.Unavailable
	if errors.As(err, &unavail) {
		return true
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable {
		return true
	}
	if store.Unreachable(err) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// timeout reports that the request's deadline passed (or its client left).
func timeout(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var de *serviceerror.DeadlineExceeded
	if errors.As(err, &de) {
		return true
	}
	// Temporal's own "context canceled" (a query it gave up on as the
	// worker answering it died), as a service error rather than a status.
	var ce *serviceerror.Canceled
	if errors.As(err, &ce) {
		return true
	}
	var ue *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if errors.As(err, &ue) {
		return true
	}
	if s, ok := status.FromError(err); ok && (s.Code() == codes.DeadlineExceeded || s.Code() == codes.Canceled) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
