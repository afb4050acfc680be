package main

import (
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"dealflow/internal/httpapi"
)

// The spec documents safe concurrent edits: GET /v1/leads/{id} answers an
// ETag; PATCH and every action take If-Match and may answer 412, and their
// 200 carries the new ETag. /metrics is no route of the API's port.
func TestSpecDocumentsETags(t *testing.T) {
	doc := loadSpec(t)
	hasETag := func(r *openapi3.ResponseRef) bool {
		return r != nil && r.Value != nil && r.Value.Headers["ETag"] != nil
	}
	get := doc.Paths.Value("/v1/leads/{id}").GetOperation(http.MethodGet)
	if !hasETag(get.Responses.Status(200)) {
		t.Error("GET /v1/leads/{id}: its 200 has no ETag header")
	}
	ops := []httpapi.RouteAction{{Method: http.MethodPatch, Path: "/v1/leads/:id"}}
	ops = append(ops, httpapi.RouteActions()...)
	for _, ra := range ops {
		item := doc.Paths.Value(specPath(ra.Path))
		op := item.GetOperation(ra.Method)
		params := append(openapi3.Parameters{}, item.Parameters...)
		params = append(params, op.Parameters...)
		ifMatch := false
		for _, p := range params {
			ifMatch = ifMatch || p.Value != nil && p.Value.In == "header" && p.Value.Name == "If-Match"
		}
		if !ifMatch {
			t.Errorf("%s %s takes no If-Match", ra.Method, ra.Path)
		}
		if r := op.Responses.Status(http.StatusPreconditionFailed); r == nil || !hasETag(r) {
			t.Errorf("%s %s: no 412 with the current ETag", ra.Method, ra.Path)
		}
		if !hasETag(op.Responses.Status(200)) {
			t.Errorf("%s %s: its 200 has no ETag header", ra.Method, ra.Path)
		}
	}
	if doc.Paths.Value("/metrics") != nil {
		t.Error("the spec documents /metrics, which the API's port does not serve")
	}
}
