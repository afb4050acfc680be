package httpapi_test

import (
	"bytes"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"

	"dealflow/internal/httpapi"
	"dealflow/internal/tests/testenv"
)

// newCatalogEnv is an API on a fresh database whose Temporal is never
// contacted: the catalog lives in PostgreSQL only.
func newCatalogEnv(t *testing.T) *env {
	t.Helper()
	pool := testenv.Pool(t)
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e := &env{t: t, pool: pool, logBuf: &bytes.Buffer{}}
	e.cfg = httpapi.Config{Temporal: tc, Pool: pool, Logger: slog.New(slog.NewJSONHandler(e.logBuf, nil)),
		OpenAPI: []byte("openapi: 3.0.3\n")}
	e.setTimeout(0)
	e.repA = e.user("a@example.com", httpapi.RoleRep)
	e.mgr = e.user("boss@example.com", httpapi.RoleManager)
	return e
}

// wantFields checks a 422 and the fields it names.
func wantFields(t *testing.T, r resp, fields ...string) {
	t.Helper()
	wantProblem(t, r, 422, "invalid-fields")
	errs, _ := r.body["errors"].([]any)
	var got []string
	for _, e := range errs {
		got = append(got, e.(map[string]any)["field"].(string))
	}
	if len(got) != len(fields) {
		t.Fatalf("fields %v, want %v: %s", got, fields, r.raw)
	}
	for i := range got {
		if got[i] != fields[i] {
			t.Fatalf("fields %v, want %v: %s", got, fields, r.raw)
		}
	}
}

func TestCatalogProducts(t *testing.T) {
	e := newCatalogEnv(t)
	widget := map[string]any{"id": "SKU-100", "name": "Widget", "description": "blue"}

	wantProblem(t, e.do("POST", "/v1/products", e.repA, widget), 403, "forbidden")
	r := e.do("POST", "/v1/products", e.mgr, widget)
	if r.code != 201 || r.header.Get("Location") != "/v1/products/SKU-100" || r.str("unit") != "each" || r.str("status") != "Active" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := e.do("POST", "/v1/products", e.mgr, widget); r.code != 200 {
		t.Fatalf("repeat: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("POST", "/v1/products", e.mgr, map[string]any{"id": "SKU-100", "name": "Gadget"}), 409, "product-exists")
	wantFields(t, e.do("POST", "/v1/products", e.mgr, map[string]any{"id": "a b", "name": " ", "colour": "red"}), "colour")
	wantFields(t, e.do("POST", "/v1/products", e.mgr, map[string]any{"id": "a b", "name": " ", "status": "Gone"}), "id", "name", "status")
	wantProblem(t, e.do("POST", "/v1/products", e.mgr, `{"id":`), 400, "malformed-request")

	if r := e.do("GET", "/v1/products/SKU-100", e.repA, nil); r.code != 200 || r.str("name") != "Widget" {
		t.Fatalf("rep reads: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("GET", "/v1/products/SKU-404", e.repA, nil), 404, "not-found")

	wantProblem(t, e.do("PATCH", "/v1/products/SKU-100", e.repA, map[string]any{"status": "Retired"}), 403, "forbidden")
	r = e.do("PATCH", "/v1/products/SKU-100", e.mgr, map[string]any{"status": "Retired"})
	if r.code != 200 || r.str("status") != "Retired" || r.str("description") != "blue" {
		t.Fatalf("retire: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("PATCH", "/v1/products/SKU-100", e.mgr, map[string]any{"unit": ""}), "unit")
	wantProblem(t, e.do("PATCH", "/v1/products/SKU-404", e.mgr, map[string]any{"name": "x"}), 404, "not-found")

	for _, id := range []string{"A-1", "A-2", "A-3"} {
		if r := e.do("POST", "/v1/products", e.mgr, map[string]any{"id": id, "name": "Anvil"}); r.code != 201 {
			t.Fatalf("create %s: %d %s", id, r.code, r.raw)
		}
	}
	r = e.do("GET", "/v1/products?q=anvil&limit=2", e.repA, nil)
	if r.code != 200 || len(r.list("items")) != 2 || r.str("nextCursor") == "" {
		t.Fatalf("page 1: %d %s", r.code, r.raw)
	}
	r = e.do("GET", "/v1/products?q=anvil&limit=2&cursor="+r.str("nextCursor"), e.repA, nil)
	if r.code != 200 || len(r.list("items")) != 1 || r.str("items.0.id") != "A-3" || r.str("nextCursor") != "" {
		t.Fatalf("page 2: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", "/v1/products?status=Retired", e.repA, nil); r.code != 200 || len(r.list("items")) != 1 {
		t.Fatalf("retired: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("GET", "/v1/products?status=x&limit=0&sort=id", e.repA, nil), "sort", "status", "limit")
}

func TestCatalogPriceLists(t *testing.T) {
	e := newCatalogEnv(t)
	for _, p := range []map[string]any{{"id": "SKU-1", "name": "Widget"}, {"id": "SKU-2", "name": "Consulting", "unit": "day"}} {
		if r := e.do("POST", "/v1/products", e.mgr, p); r.code != 201 {
			t.Fatalf("product: %d %s", r.code, r.raw)
		}
	}
	eu := map[string]any{"id": "EU-2026", "name": "EU 2026", "currency": "EUR", "isDefault": true, "validFrom": "2026-01-01"}
	wantProblem(t, e.do("POST", "/v1/price-lists", e.repA, eu), 403, "forbidden")
	r := e.do("POST", "/v1/price-lists", e.mgr, eu)
	if r.code != 201 || r.header.Get("Location") != "/v1/price-lists/EU-2026" || r.str("isDefault") != "true" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := e.do("POST", "/v1/price-lists", e.mgr, eu); r.code != 200 {
		t.Fatalf("repeat: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("POST", "/v1/price-lists", e.mgr, map[string]any{"id": "EU-B", "name": "eu 2026", "currency": "EUR"}), 409, "price-list-exists")
	wantFields(t, e.do("POST", "/v1/price-lists", e.mgr,
		map[string]any{"id": "X", "name": "x", "currency": "EURO", "validFrom": "2026-02-01", "validTo": "2026-01-01"}), "currency", "validTo")
	wantFields(t, e.do("POST", "/v1/price-lists", e.mgr, map[string]any{"id": "X", "name": "x", "currency": "EUR", "isDefault": "yes"}), "isDefault")

	// Prices: PUT twice is one row; the currency's decimals are enforced.
	r = e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"price": "19.99"})
	if r.code != 201 || r.str("unit") != "each" || r.str("price") != "19.99" || r.str("currency") != "EUR" || r.str("productName") != "Widget" {
		t.Fatalf("set price: %d %s", r.code, r.raw)
	}
	if r := e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"unit": "each", "price": "19.99"}); r.code != 200 {
		t.Fatalf("same price: %d %s", r.code, r.raw)
	}
	if n := e.count(`SELECT count(*) FROM price_list_items`); n != 1 {
		t.Fatalf("%d price rows after two PUTs", n)
	}
	r = e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"price": "19.999"})
	wantFields(t, r, "price")
	if got := r.str("errors.0.reason"); got != "has more than 2 decimal places, the most EUR allows" {
		t.Fatalf("reason %q", got)
	}
	wantFields(t, e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"unit": "each"}), "price")
	wantFields(t, e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"price": "cheap"}), "price")
	wantFields(t, e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.mgr, map[string]any{"price": "-1"}), "price")
	wantProblem(t, e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-9", e.mgr, map[string]any{"price": "1"}), 404, "not-found")
	wantProblem(t, e.do("PUT", "/v1/price-lists/NOPE/items/SKU-1", e.mgr, map[string]any{"price": "1"}), 404, "not-found")
	wantProblem(t, e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-1", e.repA, map[string]any{"price": "1"}), 403, "forbidden")
	if r := e.do("PUT", "/v1/price-lists/EU-2026/items/SKU-2", e.mgr, map[string]any{"price": 800}); r.code != 201 || r.str("unit") != "day" {
		t.Fatalf("a JSON number: %d %s", r.code, r.raw)
	}

	r = e.do("GET", "/v1/price-lists/EU-2026", e.repA, nil)
	if r.code != 200 || r.str("itemCount") != "2" || r.str("items.0.productId") != "SKU-1" || r.str("items.0.price") != "19.99" {
		t.Fatalf("get: %d %s", r.code, r.raw)
	}
	wantProblem(t, e.do("GET", "/v1/price-lists/NOPE", e.repA, nil), 404, "not-found")

	r = e.do("PATCH", "/v1/price-lists/EU-2026", e.mgr, map[string]any{"validTo": "2026-12-31", "name": "EU 2026 list"})
	if r.code != 200 || r.str("validTo") != "2026-12-31" || r.str("name") != "EU 2026 list" || r.str("itemCount") != "2" {
		t.Fatalf("patch: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("PATCH", "/v1/price-lists/EU-2026", e.mgr, map[string]any{"currency": "USD"}), "currency")
	wantFields(t, e.do("PATCH", "/v1/price-lists/EU-2026", e.mgr, map[string]any{"validTo": "2025-01-01"}), "validTo")
	wantProblem(t, e.do("PATCH", "/v1/price-lists/EU-2026", e.repA, map[string]any{"name": "x"}), 403, "forbidden")

	if r := e.do("POST", "/v1/price-lists", e.mgr, map[string]any{"id": "US", "name": "US", "currency": "USD"}); r.code != 201 {
		t.Fatalf("US: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", "/v1/price-lists?currency=USD", e.repA, nil); r.code != 200 || len(r.list("items")) != 1 || r.str("items.0.id") != "US" {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
	wantFields(t, e.do("GET", "/v1/price-lists?currency=usd", e.repA, nil), "currency")

	// DELETE is idempotent; ?unit picks the unit (the product's by default).
	wantProblem(t, e.do("DELETE", "/v1/price-lists/EU-2026/items/SKU-1", e.repA, nil), 403, "forbidden")
	for range 2 {
		if r := e.do("DELETE", "/v1/price-lists/EU-2026/items/SKU-2?unit=day", e.mgr, nil); r.code != 204 {
			t.Fatalf("delete: %d %s", r.code, r.raw)
		}
	}
	wantFields(t, e.do("DELETE", "/v1/price-lists/EU-2026/items/SKU-1?units=each", e.mgr, nil), "units")
	if n := e.count(`SELECT count(*) FROM price_list_items`); n != 1 {
		t.Fatalf("%d price rows after the delete", n)
	}
}
