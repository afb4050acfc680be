package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"dealflow/internal/config"
	"dealflow/internal/leadimport"
	"dealflow/internal/money"
	"dealflow/internal/store"
	"dealflow/workflows"
)

// catalogColumns are the columns of a catalog file. Headers match in any
// case, with or without spaces, '_', '-' and '.' ("Product ID" is
// product_id).
var catalogColumns = []string{"product_id", "name", "unit", "description", "status", "price_list", "currency", "price", "default"}

const catalogHelp = `Usage: starter catalog FILE.csv

Imports products and their prices into the catalog, through the store
(PostgreSQL at DATABASE_URL, migrated first; Temporal is not needed).

FILE is CSV with a header row. Columns: %s
(product_id and name required). A row upserts its product (unit default
"each", status Active or Retired, default Active; a column the file does
not have leaves that field of an existing product as it is). A row with price_list and
price also sets the product's price on that price list, in the row's unit:
price_list names a list by id or name; one that does not exist is created,
in the row's currency, and is the currency's default only when the default
column says true. Prices have at most the currency's decimals (2 for EUR,
0 for JPY).

Running the same file again changes nothing. Rejected rows are reported on
stderr with their line and reason, and never stop the import. The summary
goes to stdout. Exit status: 0 done (rejects included), 1 the file or the
database could not be read, or no row could be imported, 2 usage.
`

func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("starter catalog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), catalogHelp, strings.Join(catalogColumns, ", ")) }
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "starter catalog: want exactly one FILE, got %d\n", len(pos))
		fs.Usage()
		return 2
	}
	r := config.NewReader()
	dbURL := r.PostgresURL(config.DatabaseURL)
	if err := r.Err(); err != nil {
		fmt.Fprintf(stderr, "starter catalog: environment: %v\n", err)
		return 2
	}
	name := pos[0]
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(stderr, "starter catalog: %v\n", err)
		return 1
	}
	defer f.Close()
	src, err := newCatalogReader(f)
	if err != nil {
		fmt.Fprintf(stderr, "starter catalog: %s: %v\n", name, err)
		return 1
	}
	pool, err := store.Open(ctx, dbURL, store.Options{Name: "starter"})
	if err != nil {
		fmt.Fprintf(stderr, "starter catalog: %v\n", err)
		return 1
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		fmt.Fprintf(stderr, "starter catalog: %v\n", err)
		return 1
	}
	im := &catalogImport{pool: pool, file: name, stderr: stderr,
		lists: map[string]store.PriceList{}, products: map[string]store.Outcome{}, listOutcomes: map[string]store.Outcome{}}
	err = im.run(ctx, src)
	fmt.Fprintln(stdout, im.summary())
	if err != nil {
		fmt.Fprintf(stderr, "starter catalog: stopped: %v\n", err)
		return 1
	}
	if im.rows > 0 && im.rejected == im.rows {
		return 1
	}
	return 0
}

// catalogReader reads a catalog CSV a row at a time.
type catalogReader struct {
	r    *csv.Reader
	cols []string // the column of each field of a row
}

// catalogRow is one row: its line in the file and its values by column, or
// why it cannot be read.
type catalogRow struct {
	line   int
	vals   map[string]string
	reject string
}

func foldHeader(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '_', '-', '.':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

func newCatalogReader(in io.Reader) (*catalogReader, error) {
	r, header, err := leadimport.OpenCSV(in)
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	for _, c := range catalogColumns {
		known[foldHeader(c)] = c
	}
	cr := &catalogReader{r: r, cols: make([]string, len(header))}
	var unknown []string
	for i, h := range header {
		col, ok := known[foldHeader(h)]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", h))
			continue
		}
		if slices.Contains(cr.cols, col) {
			return nil, fmt.Errorf("column %s appears twice in the header row", col)
		}
		cr.cols[i] = col
	}
	if len(unknown) > 0 { // a typo would drop data
		return nil, fmt.Errorf("unknown column %s in the header row (known: %s)", strings.Join(unknown, ", "), strings.Join(catalogColumns, ", "))
	}
	for _, col := range []string{"product_id", "name"} {
		if !slices.Contains(cr.cols, col) {
			return nil, fmt.Errorf("the header row has no %s column (columns: %s)", col, strings.Join(header, ", "))
		}
	}
	return cr, nil
}

// next returns the next row that is not blank, or io.EOF.
func (cr *catalogReader) next() (catalogRow, error) {
	for {
		rec, err := cr.r.Read()
		if errors.Is(err, io.EOF) {
			return catalogRow{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// The record is unreadable (a stray or missing quote); the
			// reader goes on at the next line.
			return catalogRow{line: pe.StartLine, reject: "not valid CSV: " + pe.Err.Error()}, nil
		}
		if err != nil {
			return catalogRow{}, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.r.FieldPos(0)
		if !slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" }) {
			continue
		}
		if len(rec) != len(cr.cols) {
			return catalogRow{line: line, reject: fmt.Sprintf("has %d fields, the header row has %d", len(rec), len(cr.cols))}, nil
		}
		row := catalogRow{line: line, vals: map[string]string{}}
		for i, v := range rec {
			row.vals[cr.cols[i]] = strings.TrimSpace(v)
		}
		return row, nil
	}
}

// catalogImport writes a catalog file's rows through the store.
type catalogImport struct {
	pool   *store.Pool
	file   string
	stderr io.Writer

	lists map[string]store.PriceList // by the price_list value, folded

	rows, rejected int
	// What each product and price list named in the file went through (the
	// most: created over updated over unchanged), and the prices.
	products, listOutcomes map[string]store.Outcome
	prices                 [3]int // by store.Outcome
}

// rowError is a row's fault: the row is rejected, the import goes on.
type rowError struct{ reason string }

func (e *rowError) Error() string { return e.reason }

func rejectf(format string, args ...any) error { return &rowError{fmt.Sprintf(format, args...)} }

func (im *catalogImport) run(ctx context.Context, src *catalogReader) error {
	for {
		row, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		im.rows++
		if row.reject == "" {
			err = im.importRow(ctx, row)
		} else {
			err = &rowError{row.reject}
		}
		var re *rowError
		if errors.As(err, &re) {
			im.rejected++
			fmt.Fprintf(im.stderr, "%s:%d: %s\n", im.file, row.line, re.reason)
			continue
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", row.line, err)
		}
	}
}

// The column each field of the store's inputs comes from.
var (
	productColumn = map[string]string{"id": "product_id"}
	listColumn    = map[string]string{"id": "price_list", "name": "price_list"}
)

// describe words a store's field errors with the file's column names.
func describe(fields []workflows.FieldError, columns map[string]string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		col := f.Field
		if c, ok := columns[col]; ok {
			col = c
		}
		parts[i] = col + " " + f.Reason
	}
	return strings.Join(parts, "; ")
}

// importRow checks the whole row first, so that a rejected row writes
// nothing, then writes its product, its price list and its price.
func (im *catalogImport) importRow(ctx context.Context, row catalogRow) error {
	v := row.vals
	p := store.NewProduct{ID: v["product_id"], Name: v["name"], Unit: v["unit"], Description: v["description"],
		Status: leadimport.Canonical(store.ProductStatuses, v["status"])}
	if errs := p.Validate(); len(errs) > 0 {
		return rejectf("%s", describe(errs, productColumn))
	}
	if err := keepAbsent(ctx, im.pool, &p, v); err != nil {
		return err
	}
	pr, err := im.priceOf(ctx, row)
	if err != nil {
		return err
	}
	_, outcome, err := store.UpsertProduct(ctx, im.pool, p)
	if err != nil {
		return err
	}
	im.products[p.ID] = most(im.products[p.ID], outcome)
	if pr == nil {
		return nil
	}
	pl, err := im.priceList(ctx, pr)
	if err != nil {
		return err
	}
	_, outcome, err = store.SetPriceListItem(ctx, im.pool, pl.ID, p.ID, p.Unit, pr.price)
	var inv *store.InvalidError
	if errors.As(err, &inv) {
		return rejectf("%s", describe(inv.Fields, nil))
	}
	if err != nil {
		return err
	}
	im.prices[outcome]++
	return nil
}

// most is the outcome a product or price list written twice in a file is
// counted with: created over updated over unchanged.
func most(a, b store.Outcome) store.Outcome {
	rank := map[store.Outcome]int{store.Unchanged: 0, store.Updated: 1, store.Created: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// keepAbsent gives p the unit, description and status the product has
// already where the file has no such column: a file of ids, names and prices
// does not reset them. (A blank value in a column the file has is the
// default: "each", "", Active.)
func keepAbsent(ctx context.Context, pool *store.Pool, p *store.NewProduct, v map[string]string) error {
	_, hasUnit := v["unit"]
	_, hasDescription := v["description"]
	_, hasStatus := v["status"]
	if hasUnit && hasDescription && hasStatus {
		return nil
	}
	old, err := store.GetProduct(ctx, pool, p.ID)
	if errors.Is(err, store.ErrProductNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasUnit {
		p.Unit = old.Unit
	}
	if !hasDescription {
		p.Description = old.Description
	}
	if !hasStatus {
		p.Status = old.Status
	}
	return nil
}

// rowPrice is the price part of a row.
type rowPrice struct {
	list      string // the price_list value
	existing  *store.PriceList
	currency  string
	isDefault bool
	price     decimal.Decimal
}

// priceOf reads and checks a row's price_list, currency, price and default
// columns: nil when the row has no price.
func (im *catalogImport) priceOf(ctx context.Context, row catalogRow) (*rowPrice, error) {
	v := row.vals
	if v["price_list"] == "" && v["price"] == "" && v["currency"] == "" && v["default"] == "" {
		return nil, nil
	}
	switch {
	case v["price_list"] == "":
		return nil, rejectf("price_list is empty: a price needs its price list")
	case v["price"] == "":
		return nil, rejectf("price is empty: a price list needs a price")
	}
	pr := &rowPrice{list: v["price_list"], currency: strings.ToUpper(v["currency"])}
	var err error
	if pr.price, err = decimal.NewFromString(v["price"]); err != nil {
		return nil, rejectf("price %q is not a decimal number such as 19.99", v["price"])
	}
	if pr.price.IsNegative() {
		return nil, rejectf("price must not be negative")
	}
	switch strings.ToLower(v["default"]) {
	case "", "false", "no", "0":
	case "true", "yes", "1":
		pr.isDefault = true
	default:
		return nil, rejectf("default %q is not true or false", v["default"])
	}
	if pl, err := im.findList(ctx, pr.list); err == nil {
		pr.existing = &pl
		if pr.currency == "" {
			pr.currency = pl.Currency
		}
		if pr.currency != pl.Currency {
			return nil, rejectf("price list %q is in %s, the row says %s", pl.Name, pl.Currency, pr.currency)
		}
	} else if !errors.Is(err, store.ErrPriceListNotFound) {
		return nil, err
	}
	switch {
	case pr.currency == "":
		return nil, rejectf("currency is empty: price list %q is new, and needs one", pr.list)
	case !money.Known(pr.currency):
		return nil, rejectf("currency must be one of: %s", strings.Join(money.Currencies, ", "))
	}
	if msg := money.CheckAmount(pr.price, pr.currency); msg != "" {
		return nil, rejectf("price %s", msg)
	}
	return pr, nil
}

// findList finds a price list by id or name, remembering what it found.
func (im *catalogImport) findList(ctx context.Context, name string) (store.PriceList, error) {
	key := strings.ToLower(name)
	if pl, ok := im.lists[key]; ok {
		return pl, nil
	}
	pl, err := store.FindPriceList(ctx, im.pool, name)
	if err != nil {
		return store.PriceList{}, err
	}
	im.lists[key] = pl
	return pl, nil
}

// priceList returns the row's price list: created when it does not exist,
// made the default when the row says so.
func (im *catalogImport) priceList(ctx context.Context, pr *rowPrice) (store.PriceList, error) {
	var (
		pl      store.PriceList
		outcome store.Outcome
		err     error
	)
	if pr.existing != nil {
		pl = *pr.existing
		if pr.isDefault && !pl.IsDefault {
			if pl, err = store.UpdatePriceList(ctx, im.pool, pl.ID, store.PriceListPatch{IsDefault: &pr.isDefault}); err != nil {
				return store.PriceList{}, listErr(err)
			}
			outcome = store.Updated
		}
	} else {
		var created bool
		pl, created, err = store.CreatePriceList(ctx, im.pool, store.NewPriceList{
			ID: listID(pr.list), Name: pr.list, Currency: pr.currency, IsDefault: pr.isDefault})
		if err != nil {
			return store.PriceList{}, listErr(err)
		}
		if created {
			outcome = store.Created
		}
	}
	// A list made the default takes over from another: forget what was
	// found, so the other is read again when a row names it.
	if outcome != store.Unchanged && pl.IsDefault {
		clear(im.lists)
	}
	im.lists[strings.ToLower(pr.list)] = pl
	im.listOutcomes[pl.ID] = most(im.listOutcomes[pl.ID], outcome)
	return pl, nil
}

// listErr makes the store's refusal of a price list the row's fault.
func listErr(err error) error {
	var inv *store.InvalidError
	switch {
	case errors.As(err, &inv):
		return rejectf("%s", describe(inv.Fields, listColumn))
	case errors.Is(err, store.ErrPriceListExists), errors.Is(err, store.ErrPriceListNotFound):
		return rejectf("%v", err)
	}
	return err
}

var notIDChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// listID is the id of a new price list named name: the name with a '-' for
// each run of other characters ("EU 2026" is EU-2026).
func listID(name string) string {
	id := strings.Trim(notIDChars.ReplaceAllString(name, "-"), "-_.")
	if len(id) > 64 {
		id = strings.TrimRight(id[:64], "-_.")
	}
	return id
}

func (im *catalogImport) summary() string {
	count := func(m map[string]store.Outcome) [3]int {
		var n [3]int
		for _, o := range m {
			n[o]++
		}
		return n
	}
	p, l := count(im.products), count(im.listOutcomes)
	total := func(n [3]int) int { return n[0] + n[1] + n[2] }
	return fmt.Sprintf("%s: %d rows: %d products (%d new, %d updated, %d unchanged), "+
		"%d price lists (%d new, %d updated), %d prices (%d new, %d changed, %d unchanged), %d rejected",
		im.file, im.rows, total(p), p[store.Created], p[store.Updated], p[store.Unchanged],
		total(l), l[store.Created], l[store.Updated],
		total(im.prices), im.prices[store.Created], im.prices[store.Updated], im.prices[store.Unchanged], im.rejected)
}
