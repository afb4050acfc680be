package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"dealflow/internal/httpapi"
	"dealflow/workflows"
)

// loadSpec parses and validates the embedded spec.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiSpec)
	if err != nil {
		t.Fatalf("parse api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// newServer builds the API with dependencies that are never contacted:
// only its routes are looked at.
func newServer(t *testing.T) *httpapi.Server {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	s, err := httpapi.New(httpapi.Config{Temporal: tc, Pool: pool, OpenAPI: openapiSpec})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var ginParam = regexp.MustCompile(`:([A-Za-z]+)`)

// specPath turns a gin path (/v1/leads/:id) into an OpenAPI one (/v1/leads/{id}).
func specPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// Every gin route is in the spec, and every operation of the spec is routed.
func TestSpecMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	routed := map[string]bool{}
	for _, r := range newServer(t).Routes() {
		key := r.Method + " " + specPath(r.Path)
		routed[key] = true
		item := doc.Paths.Value(specPath(r.Path))
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("route %s %s is not in api/openapi.yaml", r.Method, r.Path)
		}
	}
	if len(routed) < 30 {
		t.Fatalf("only %d routes: the server's routes were not listed", len(routed))
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			if !routed[method+" "+path] {
				t.Errorf("api/openapi.yaml documents %s %s, which is not routed", method, path)
			}
		}
	}
}

// Each action route names its Workflow Update in x-temporal-update, and
// every action of the process is reachable.
func TestSpecNamesUpdates(t *testing.T) {
	doc := loadSpec(t)
	seen := map[workflows.Action]bool{workflows.ActEditLead: true, workflows.ActEditOpportunity: true} // PATCH /v1/leads/{id}
	for _, ra := range httpapi.RouteActions() {
		op := doc.Paths.Value(specPath(ra.Path)).GetOperation(ra.Method)
		if op == nil {
			t.Errorf("%s %s missing from the spec", ra.Method, ra.Path)
			continue
		}
		if got := fmt.Sprint(op.Extensions["x-temporal-update"]); got != string(ra.Action) {
			t.Errorf("%s %s: x-temporal-update %q, want %q", ra.Method, ra.Path, got, ra.Action)
		}
		seen[ra.Action] = true
	}
	for _, a := range workflows.Actions {
		if !seen[a] {
			t.Errorf("action %s has no route", a)
		}
	}
	patch := doc.Paths.Value("/v1/leads/{id}").GetOperation(http.MethodPatch)
	if !strings.Contains(fmt.Sprint(patch.Extensions["x-temporal-update"]), "edit_opportunity") {
		t.Errorf("PATCH /v1/leads/{id} does not name its Updates")
	}
}
