package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"dealflow/internal/store"
	"dealflow/workflows"
)

func TestDecodeObject(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int      // 0: decodes
		fields []string // 422: the fields named
	}{
		{name: "lead", body: `{"topic":"t","budget":"12.50","estimatedValue":12.5,"decisionMakerIdentified":true}`},
		{name: "null fields", body: `{"topic":"t","budget":null}`},
		{name: "empty", body: ``, status: 400},
		{name: "whitespace", body: " \n ", status: 400},
		{name: "syntax", body: `{"topic":"t",}`, status: 400},
		{name: "array", body: `[]`, status: 400},
		{name: "string", body: `"x"`, status: 400},
		{name: "null", body: `null`, status: 400},
		{name: "two values", body: `{} {}`, status: 400},
		{name: "unknown and reserved", body: `{"topic":"t","nope":1,"actor":"x"}`, status: 422, fields: []string{"actor", "nope"}},
		{name: "types", body: `{"topic":1,"budget":"1e","decisionMakerIdentified":"y","policy":{"day":1}}`, status: 422,
			fields: []string{"budget", "decisionMakerIdentified", "policy", "topic"}},
		{name: "nested unknown", body: `{"topic":"t","policy":{"nope":"1h"}}`, status: 422, fields: []string{"policy"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req createLeadRequest
			err := decodeObject([]byte(c.body), &req, false, "actor")
			if c.status == 0 {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Status != c.status {
				t.Fatalf("got %v, want a %d problem", err, c.status)
			}
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
			}
			if !slices.Equal(got, c.fields) {
				t.Fatalf("fields %v, want %v", got, c.fields)
			}
		})
	}

	var req createLeadRequest
	if err := decodeObject([]byte(`{"topic":"T","budget":"12.50","id":"x1"}`), &req, false); err != nil {
		t.Fatal(err)
	}
	if req.Topic != "T" || req.ID != "x1" || req.Budget == nil || req.Budget.String() != "12.5" {
		t.Fatalf("decoded %+v", req)
	}
	var add workflows.AddLine
	if err := decodeObject([]byte(`{"product":"p","quantity":"2","unitPrice":3}`), &add, false); err != nil {
		t.Fatal(err)
	}
	if add.Product != "p" || add.Quantity.String() != "2" || add.UnitPrice.String() != "3" {
		t.Fatalf("embedded LineInput not decoded: %+v", add)
	}
	var empty workflows.Reopen
	if err := decodeObject(nil, &empty, true); err != nil {
		t.Fatalf("an empty body where one is optional: %v", err)
	}
}

func TestReadBodyLimit(t *testing.T) {
	req, _ := http.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	req.ContentLength = -1 // chunked: the limit is found while reading
	_, err := readBody(req)
	var p *Problem
	if !errors.As(err, &p) || p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want 413", err)
	}
	req, _ = http.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", MaxBodyBytes)))
	if b, err := readBody(req); err != nil || len(b) != MaxBodyBytes {
		t.Fatalf("1 MiB exactly: %d bytes, %v", len(b), err)
	}
}

// FuzzDecodeCommand: any body decodes into any command, or is a 400 or a
// 422 naming fields, and never panics.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{`{}`, `{"topic":"t"}`, `{"amount":"1.5"}`, `{"lines":[{"product":"p","quantity":"1","unitPrice":"2"}]}`,
		`{"estimatedCloseDate":"2026-01-02T03:04:05Z"}`, `[`, `{"a":`, `{"lines":[1]}`, "{\"outcome\":\"won\",\"actualRevenue\":1e400}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []any{new(createLeadRequest), new(store.NewUser)}
		for _, a := range workflows.Actions {
			cmd, _ := workflows.NewCommand(a)
			targets = append(targets, cmd)
		}
		for _, dst := range targets {
			err := decodeObject(body, dst, true, "actor")
			if err == nil {
				if cmd, ok := dst.(workflows.Command); ok {
					_ = cmd.Validate()
				}
				continue
			}
			var p *Problem
			if !errors.As(err, &p) || (p.Status != 400 && p.Status != 422) {
				t.Fatalf("%T: %v", dst, err)
			}
			if p.Status == 422 && len(p.Errors) == 0 {
				t.Fatalf("%T: a 422 naming no field", dst)
			}
		}
	})
}
