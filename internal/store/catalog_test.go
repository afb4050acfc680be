package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/internal/store"
	"dealflow/internal/tests/testenv"
)

func ptr[T any](v T) *T { return &v }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// invalidFields returns the field names of an *InvalidError, or fails.
func invalidFields(t *testing.T, err error) []string {
	t.Helper()
	var inv *store.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v, want an *InvalidError", err)
	}
	return fieldNames(inv.Fields)
}

func TestProducts(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)

	p, created, err := store.CreateProduct(ctx, pool, store.NewProduct{ID: "SKU-100", Name: " Widget ", Description: "blue"})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if p.Name != "Widget" || p.Unit != store.DefaultUnit || p.Status != store.ProductActive || p.CreatedAt.IsZero() {
		t.Fatalf("created %+v", p)
	}
	// The same request again is no error and creates nothing.
	again, created, err := store.CreateProduct(ctx, pool, store.NewProduct{ID: "SKU-100", Name: "Widget", Description: "blue", Unit: "each"})
	if err != nil || created || again.UpdatedAt != p.UpdatedAt {
		t.Fatalf("repeat: %+v %v %v", again, created, err)
	}
	// Another product under the same number is a conflict.
	if _, _, err := store.CreateProduct(ctx, pool, store.NewProduct{ID: "SKU-100", Name: "Gadget"}); !errors.Is(err, store.ErrProductExists) {
		t.Fatalf("duplicate: %v", err)
	}

	cases := []struct {
		name string
		in   store.NewProduct
		want []string
	}{
		{"bad id and blank name", store.NewProduct{ID: "no spaces", Name: "  "}, []string{"id", "name"}},
		{"unknown status", store.NewProduct{ID: "X", Name: "x", Status: "Sleeping"}, []string{"status"}},
		{"long unit, NUL description", store.NewProduct{ID: "X", Name: "x", Unit: string(make([]byte, 51)), Description: "a\x00"}, []string{"unit", "description"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := store.CreateProduct(ctx, pool, tc.in)
			if got := invalidFields(t, err); !slices.Equal(got, tc.want) {
				t.Fatalf("fields %v, want %v", got, tc.want)
			}
		})
	}

	// Patch: only the named fields change; a patch that changes nothing
	// leaves updated_at.
	up, err := store.UpdateProduct(ctx, pool, "SKU-100", store.ProductPatch{Unit: ptr("hour")})
	if err != nil || up.Unit != "hour" || up.Name != "Widget" || up.Description != "blue" {
		t.Fatalf("patch: %+v %v", up, err)
	}
	same, err := store.UpdateProduct(ctx, pool, "SKU-100", store.ProductPatch{Unit: ptr("hour"), Name: ptr("Widget")})
	if err != nil || !same.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("no-op patch moved updated_at: %v → %v (%v)", up.UpdatedAt, same.UpdatedAt, err)
	}
	if _, err := store.UpdateProduct(ctx, pool, "SKU-100", store.ProductPatch{Unit: ptr(" "), Status: ptr("Gone")}); !slices.Equal(invalidFields(t, err), []string{"unit", "status"}) {
		t.Fatalf("invalid patch: %v", err)
	}
	if _, err := store.UpdateProduct(ctx, pool, "SKU-404", store.ProductPatch{Name: ptr("x")}); !errors.Is(err, store.ErrProductNotFound) {
		t.Fatalf("patch of a missing product: %v", err)
	}
	if _, err := store.GetProduct(ctx, pool, "SKU-404"); !errors.Is(err, store.ErrProductNotFound) || err.Error() != "product SKU-404 is not in the catalog" {
		t.Fatalf("get missing: %v", err)
	}

	// Upsert: created, unchanged, updated.
	n := store.NewProduct{ID: "SKU-200", Name: "Support", Unit: "month"}
	for i, want := range []store.Outcome{store.Created, store.Unchanged} {
		if _, o, err := store.UpsertProduct(ctx, pool, n); err != nil || o != want {
			t.Fatalf("upsert %d: %v %v, want %v", i, o, err, want)
		}
	}
	n.Status = store.ProductRetired
	if p, o, err := store.UpsertProduct(ctx, pool, n); err != nil || o != store.Updated || p.Status != store.ProductRetired {
		t.Fatalf("upsert change: %+v %v %v", p, o, err)
	}

	// List: filter, search, pages.
	for _, id := range []string{"A-1", "A-2", "A-3"} {
		if _, _, err := store.CreateProduct(ctx, pool, store.NewProduct{ID: id, Name: "Anvil " + id}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	f := store.ProductFilter{Query: "anvil", Limit: 2}
	for range 3 {
		l, err := store.ListProducts(ctx, pool, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l.Items {
			ids = append(ids, p.ID)
		}
		if l.NextCursor == "" {
			break
		}
		f.Cursor = l.NextCursor
	}
	if !slices.Equal(ids, []string{"A-1", "A-2", "A-3"}) {
		t.Fatalf("pages %v", ids)
	}
	l, err := store.ListProducts(ctx, pool, store.ProductFilter{Status: store.ProductRetired})
	if err != nil || len(l.Items) != 1 || l.Items[0].ID != "SKU-200" {
		t.Fatalf("retired: %+v %v", l, err)
	}
	if _, err := store.ListProducts(ctx, pool, store.ProductFilter{Status: "x", Cursor: "zz"}); !slices.Equal(invalidFields(t, err), []string{"status", "cursor"}) {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestPriceLists(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)

	eu := store.NewPriceList{ID: "EU-2026", Name: "EU 2026", Currency: "EUR", IsDefault: true, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"}
	pl, created, err := store.CreatePriceList(ctx, pool, eu)
	if err != nil || !created || !pl.IsDefault || pl.ValidFrom != "2026-01-01" || pl.ValidTo != "2026-12-31" {
		t.Fatalf("create: %+v %v %v", pl, created, err)
	}
	if _, created, err := store.CreatePriceList(ctx, pool, eu); err != nil || created {
		t.Fatalf("repeat: %v %v", created, err)
	}
	if _, _, err := store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "EU-2026", Name: "Other", Currency: "EUR"}); !errors.Is(err, store.ErrPriceListExists) {
		t.Fatalf("same id: %v", err)
	}
	if _, _, err := store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "EU-X", Name: "eu 2026", Currency: "EUR"}); !errors.Is(err, store.ErrPriceListExists) {
		t.Fatalf("same name: %v", err)
	}
	_, _, err = store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "bad id", Name: "", Currency: "XXX", ValidFrom: "2026-02-01", ValidTo: "2026-01-31"})
	if got := invalidFields(t, err); !slices.Equal(got, []string{"id", "name", "currency", "validTo"}) {
		t.Fatalf("invalid: %v", got)
	}
	_, _, err = store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "X", Name: "x", Currency: "EUR", ValidFrom: "2026-02-30"})
	if got := invalidFields(t, err); !slices.Equal(got, []string{"validFrom"}) {
		t.Fatalf("invalid day: %v", got)
	}

	// A second default for EUR takes over; one per currency.
	eu2, _, err := store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "EU-2027", Name: "EU 2027", Currency: "EUR", IsDefault: true})
	if err != nil || !eu2.IsDefault {
		t.Fatalf("second default: %+v %v", eu2, err)
	}
	if old, err := store.GetPriceList(ctx, pool, "EU-2026"); err != nil || old.IsDefault {
		t.Fatalf("old default: %+v %v", old, err)
	}
	if _, err := store.UpdatePriceList(ctx, pool, "EU-2026", store.PriceListPatch{IsDefault: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	var defaults int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM price_lists WHERE currency = 'EUR' AND is_default`).Scan(&defaults); err != nil || defaults != 1 {
		t.Fatalf("%d EUR defaults (%v)", defaults, err)
	}

	// Patch: the period is checked with the day it keeps; the currency stays.
	if _, err := store.UpdatePriceList(ctx, pool, "EU-2026", store.PriceListPatch{ValidTo: ptr("2025-06-30")}); !slices.Equal(invalidFields(t, err), []string{"validTo"}) {
		t.Fatalf("validTo before the kept validFrom: %v", err)
	}
	if _, err := store.UpdatePriceList(ctx, pool, "EU-2026", store.PriceListPatch{Currency: ptr("USD")}); !slices.Equal(invalidFields(t, err), []string{"currency"}) {
		t.Fatalf("currency change: %v", err)
	}
	if _, err := store.UpdatePriceList(ctx, pool, "EU-2026", store.PriceListPatch{Name: ptr("EU 2027")}); !errors.Is(err, store.ErrPriceListExists) {
		t.Fatalf("rename onto another's name: %v", err)
	}
	if _, err := store.UpdatePriceList(ctx, pool, "nope", store.PriceListPatch{}); !errors.Is(err, store.ErrPriceListNotFound) {
		t.Fatalf("missing: %v", err)
	}
	open, err := store.UpdatePriceList(ctx, pool, "EU-2027", store.PriceListPatch{ValidFrom: ptr("2027-01-01")})
	if err != nil || open.ValidFrom != "2027-01-01" || open.ValidTo != "" {
		t.Fatalf("set validFrom: %+v %v", open, err)
	}
	if cleared, err := store.UpdatePriceList(ctx, pool, "EU-2027", store.PriceListPatch{ValidFrom: ptr("")}); err != nil || cleared.ValidFrom != "" {
		t.Fatalf("clear validFrom: %+v %v", cleared, err)
	}

	// Items: a price PUT twice is one row; decimals follow the currency.
	if _, _, err := store.CreateProduct(ctx, pool, store.NewProduct{ID: "SKU-1", Name: "Widget"}); err != nil {
		t.Fatal(err)
	}
	it, o, err := store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "", dec("19.90"))
	if err != nil || o != store.Created || it.Unit != "each" || it.ProductName != "Widget" || !it.Price.Equal(dec("19.9")) {
		t.Fatalf("set: %+v %v %v", it, o, err)
	}
	if it2, o, err := store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "each", dec("19.9")); err != nil || o != store.Unchanged || !it2.UpdatedAt.Equal(it.UpdatedAt) {
		t.Fatalf("same price: %+v %v %v", it2, o, err)
	}
	if _, o, err := store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "", dec("21")); err != nil || o != store.Updated {
		t.Fatalf("new price: %v %v", o, err)
	}
	if _, o, err := store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "hour", dec("80")); err != nil || o != store.Created {
		t.Fatalf("second unit: %v %v", o, err)
	}
	_, _, err = store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "", dec("1.005"))
	var inv *store.InvalidError
	if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Field != "price" ||
		inv.Fields[0].Reason != "has more than 2 decimal places, the most EUR allows" {
		t.Fatalf("too many decimals: %v", err)
	}
	if got := invalidFields(t, second(store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "", dec("-1")))); !slices.Equal(got, []string{"price"}) {
		t.Fatalf("negative: %v", got)
	}
	if _, _, err := store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-9", "", dec("1")); !errors.Is(err, store.ErrProductNotFound) {
		t.Fatalf("missing product: %v", err)
	}
	if _, _, err := store.SetPriceListItem(ctx, pool, "nope", "SKU-1", "", dec("1")); !errors.Is(err, store.ErrPriceListNotFound) {
		t.Fatalf("missing list: %v", err)
	}
	got, err := store.GetPriceList(ctx, pool, "EU-2026")
	if err != nil || got.ItemCount != 2 || len(got.Items) != 2 || got.Items[0].Unit != "each" || !got.Items[0].Price.Equal(dec("21")) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if removed, err := store.RemovePriceListItem(ctx, pool, "EU-2026", "SKU-1", "hour"); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if removed, err := store.RemovePriceListItem(ctx, pool, "EU-2026", "SKU-1", "hour"); err != nil || removed {
		t.Fatalf("remove again: %v %v", removed, err)
	}

	// JPY has no decimals.
	if _, _, err := store.CreatePriceList(ctx, pool, store.NewPriceList{ID: "JP", Name: "Japan", Currency: "JPY"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = store.SetPriceListItem(ctx, pool, "JP", "SKU-1", "", dec("100.5"))
	if !errors.As(err, &inv) || inv.Fields[0].Reason != "has decimals, and JPY amounts have none" {
		t.Fatalf("JPY decimals: %v", err)
	}
	if _, _, err := store.SetPriceListItem(ctx, pool, "JP", "SKU-1", "", dec("2500.000")); err != nil {
		t.Fatalf("JPY with trailing zeros: %v", err)
	}

	l, err := store.ListPriceLists(ctx, pool, store.PriceListFilter{Currency: "EUR"})
	if err != nil || len(l.Items) != 2 || l.Items[0].ID != "EU-2026" || l.Items[0].ItemCount != 1 || l.Items[0].Items != nil {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := store.ListPriceLists(ctx, pool, store.PriceListFilter{Currency: "eur"}); !slices.Equal(invalidFields(t, err), []string{"currency"}) {
		t.Fatalf("bad currency filter: %v", err)
	}
	if found, err := store.FindPriceList(ctx, pool, "japan"); err != nil || found.ID != "JP" {
		t.Fatalf("find by name: %+v %v", found, err)
	}
}

func second[A, B any](_ A, _ B, err error) error { return err }

func TestPriceOf(t *testing.T) {
	ctx := context.Background()
	pool := testenv.Pool(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []store.NewProduct{
		{ID: "SKU-1", Name: "Widget"},
		{ID: "SKU-2", Name: "Old widget", Status: store.ProductRetired},
		{ID: "SKU-3", Name: "Consulting", Unit: "day"},
	} {
		_, _, err := store.CreateProduct(ctx, pool, p)
		must(err)
	}
	for _, pl := range []store.NewPriceList{
		{ID: "EU-2026", Name: "EU 2026", Currency: "EUR", IsDefault: true, ValidFrom: "2026-01-01", ValidTo: "2026-12-31"},
		{ID: "EU-2027", Name: "EU 2027", Currency: "EUR", ValidFrom: "2027-01-01"},
		{ID: "US", Name: "US list", Currency: "USD"},
	} {
		_, _, err := store.CreatePriceList(ctx, pool, pl)
		must(err)
	}
	for _, it := range []struct{ list, product, unit, price string }{
		{"EU-2026", "SKU-1", "", "19.99"},
		{"EU-2026", "SKU-2", "", "5"},
		{"EU-2026", "SKU-3", "", "800"},
		{"EU-2027", "SKU-1", "", "21.50"},
		{"US", "SKU-1", "", "22"},
	} {
		_, _, err := store.SetPriceListItem(ctx, pool, it.list, it.product, it.unit, dec(it.price))
		must(err)
	}
	day := time.Date(2026, 6, 15, 23, 30, 0, 0, time.UTC)

	p, err := store.PriceOf(ctx, pool, "", "EUR", "SKU-1", "", day)
	must(err)
	want := store.Price{PriceListID: "EU-2026", PriceListName: "EU 2026", Currency: "EUR",
		ProductID: "SKU-1", ProductName: "Widget", Unit: "each", UnitPrice: dec("19.99")}
	if p.UnitPrice.Equal(want.UnitPrice) {
		p.UnitPrice = want.UnitPrice
	}
	if p != want {
		t.Fatalf("default list: %+v, want %+v", p, want)
	}
	if p, err := store.PriceOf(ctx, pool, "EU-2027", "EUR", "SKU-1", "each", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || !p.UnitPrice.Equal(dec("21.5")) {
		t.Fatalf("named list: %+v %v", p, err)
	}

	cases := []struct {
		name                          string
		list, currency, product, unit string
		on                            time.Time
		code                          store.CatalogCode
		msg                           string
	}{
		{"not in the catalog", "", "EUR", "SKU-9", "", day, store.CatalogUnknownProduct, "product SKU-9 is not in the catalog"},
		{"retired", "", "EUR", "SKU-2", "", day, store.CatalogRetiredProduct, "product SKU-2 (Old widget) is retired"},
		{"no price in the unit", "", "EUR", "SKU-3", "hour", day, store.CatalogNoPrice, `product SKU-3 has no price on price list "EU 2026" for unit hour`},
		{"no price on the list", "US", "USD", "SKU-3", "", day, store.CatalogNoPrice, `product SKU-3 has no price on price list "US list" for unit day`},
		{"other currency", "EU-2026", "USD", "SKU-1", "", day, store.CatalogCurrency, `price list "EU 2026" is in EUR, the deal is in USD`},
		{"no default", "", "JPY", "SKU-1", "", day, store.CatalogNoDefault, "no default price list for JPY: name one"},
		{"not yet valid", "EU-2027", "EUR", "SKU-1", "", day, store.CatalogNotValid, `price list "EU 2027" is valid from 2027-01-01`},
		{"expired", "", "EUR", "SKU-1", "", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), store.CatalogNotValid, `price list "EU 2026" was valid until 2026-12-31`},
		{"unknown list", "EU-1999", "EUR", "SKU-1", "", day, store.CatalogUnknownPriceList, "price list EU-1999 does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.PriceOf(ctx, pool, tc.list, tc.currency, tc.product, tc.unit, tc.on)
			var ce *store.CatalogError
			if !errors.As(err, &ce) || ce.Code != tc.code || ce.Message != tc.msg {
				t.Fatalf("error %v, want %s %q", err, tc.code, tc.msg)
			}
		})
	}

	// A price change does not reach back: PriceOf answers the new price to
	// new lines only (deals copy the price they were given).
	_, _, err = store.SetPriceListItem(ctx, pool, "EU-2026", "SKU-1", "", dec("24.99"))
	must(err)
	if p, err := store.PriceOf(ctx, pool, "", "EUR", "SKU-1", "", day); err != nil || !p.UnitPrice.Equal(dec("24.99")) {
		t.Fatalf("after the change: %+v %v", p, err)
	}
}
