package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"dealflow/internal/money"
	"dealflow/workflows"
)

// The product catalog and its price lists (issue 14). A deal line that names
// a product copies its price (PriceOf) when it is made; nothing in the deal's
// records refers back to a price list item, so editing or removing a price
// here never changes a line, quote, order or invoice already made.

// Errors of the catalog's writes and reads. Test for them with errors.Is;
// the error's text names the product or price list.
var (
	// ErrProductExists: CreateProduct was given the id of a product with
	// other fields.
	ErrProductExists = errors.New("product exists")
	// ErrProductNotFound: no product has the id.
	ErrProductNotFound = errors.New("no such product")
	// ErrPriceListExists: the id or (whatever the case) the name of a new
	// price list, or a price list's new name, is taken.
	ErrPriceListExists = errors.New("price list exists")
	// ErrPriceListNotFound: no price list has the id.
	ErrPriceListNotFound = errors.New("no such price list")
)

// Product statuses: a retired product stays in the catalog (lines made
// with it keep it) but no new line may name it.
const (
	ProductActive  = "Active"
	ProductRetired = "Retired"
)

// ProductStatuses lists the statuses a product may have.
var ProductStatuses = []string{ProductActive, ProductRetired}

// DefaultUnit is the unit of a product created without one.
const DefaultUnit = "each"

// Input limits of the catalog.
const (
	maxCatalogText = 200
	maxUnit        = 50
	maxDescription = 4000
)

// Product is a catalog product.
type Product struct {
	// ID is the product number the user gave ("SKU-100").
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Unit        string    `json:"unit"` // the default unit of its lines
	Description string    `json:"description"`
	Status      string    `json:"status"` // ProductActive or ProductRetired
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// NewProduct is the input of CreateProduct and UpsertProduct. Unit defaults
// to DefaultUnit, Status to ProductActive.
type NewProduct struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Unit        string `json:"unit"`
	Description string `json:"description"`
	Status      string `json:"status"`
}

// normalized trims the texts a user types and fills in the defaults.
func (n NewProduct) normalized() NewProduct {
	n.ID = strings.TrimSpace(n.ID)
	n.Name = strings.TrimSpace(n.Name)
	n.Unit = strings.TrimSpace(n.Unit)
	if n.Unit == "" {
		n.Unit = DefaultUnit
	}
	if n.Status == "" {
		n.Status = ProductActive
	}
	return n
}

// Validate checks the new product's fields, as normalized (a blank unit or
// status takes its default).
func (n NewProduct) Validate() []workflows.FieldError {
	n = n.normalized()
	var c fieldChecker
	c.id("id", n.ID)
	c.text("name", n.Name, true, maxCatalogText)
	c.text("unit", n.Unit, true, maxUnit)
	c.text("description", n.Description, false, maxDescription)
	c.oneOf("status", n.Status, ProductStatuses)
	return c.errs
}

// ProductPatch is the input of UpdateProduct: nil fields stay as they are.
type ProductPatch struct {
	Name        *string `json:"name"`
	Unit        *string `json:"unit"`
	Description *string `json:"description"`
	Status      *string `json:"status"`
}

func (p ProductPatch) normalized() ProductPatch {
	trim := func(s *string) *string {
		if s == nil {
			return nil
		}
		t := strings.TrimSpace(*s)
		return &t
	}
	p.Name, p.Unit = trim(p.Name), trim(p.Unit)
	return p
}

// Validate checks the fields the patch sets.
func (p ProductPatch) Validate() []workflows.FieldError {
	p = p.normalized()
	var c fieldChecker
	if p.Name != nil {
		c.text("name", *p.Name, true, maxCatalogText)
	}
	if p.Unit != nil {
		c.text("unit", *p.Unit, true, maxUnit)
	}
	if p.Description != nil {
		c.text("description", *p.Description, false, maxDescription)
	}
	if p.Status != nil {
		c.oneOf("status", *p.Status, ProductStatuses)
	}
	return c.errs
}

// Outcome says what an idempotent write did.
type Outcome int

// The outcomes of a write: a repeat of the same write is Unchanged, and
// leaves the row (its updated_at too) as it was.
const (
	Unchanged Outcome = iota
	Created
	Updated
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	}
	return "unchanged"
}

const productCols = `id, name, unit, description, status, created_at, updated_at`

func scanProduct(row pgx.Row, p *Product, extra ...any) error {
	return row.Scan(append([]any{&p.ID, &p.Name, &p.Unit, &p.Description, &p.Status, &p.CreatedAt, &p.UpdatedAt}, extra...)...)
}

// CreateProduct adds a product: an *InvalidError when n fails Validate,
// ErrProductExists when its id is taken by a product with other fields. A
// product equal to n already there is returned with created false, so a
// repeated request does no harm.
func CreateProduct(ctx context.Context, pool *Pool, n NewProduct) (p Product, created bool, err error) {
	if errs := n.Validate(); len(errs) > 0 {
		return Product{}, false, &InvalidError{What: "product", Fields: errs}
	}
	n = n.normalized()
	err = scanProduct(pool.QueryRow(ctx, `INSERT INTO products (id, name, unit, description, status)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING `+productCols,
		n.ID, n.Name, n.Unit, n.Description, n.Status), &p)
	if err == nil {
		return p, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Product{}, false, fmt.Errorf("create product %s: %w", n.ID, err)
	}
	p, err = GetProduct(ctx, pool, n.ID)
	if err != nil {
		return Product{}, false, err
	}
	if (NewProduct{p.ID, p.Name, p.Unit, p.Description, p.Status}) != n {
		return Product{}, false, withKind(ErrProductExists, fmt.Errorf("product %s exists (%s)", p.ID, p.Name))
	}
	return p, false, nil
}

// UpsertProduct creates the product or sets every field of the one with its
// id (an import's "the file is the truth"): an *InvalidError when n fails
// Validate. Writing what is there already changes nothing.
func UpsertProduct(ctx context.Context, pool *Pool, n NewProduct) (Product, Outcome, error) {
	if errs := n.Validate(); len(errs) > 0 {
		return Product{}, Unchanged, &InvalidError{What: "product", Fields: errs}
	}
	n = n.normalized()
	var (
		p        Product
		inserted bool
	)
	err := scanProduct(pool.QueryRow(ctx, `INSERT INTO products AS p (id, name, unit, description, status)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit,
			description = EXCLUDED.description, status = EXCLUDED.status, updated_at = now()
		WHERE (p.name, p.unit, p.description, p.status) IS DISTINCT FROM
			(EXCLUDED.name, EXCLUDED.unit, EXCLUDED.description, EXCLUDED.status)
		RETURNING `+productCols+`, xmax = 0`,
		n.ID, n.Name, n.Unit, n.Description, n.Status), &p, &inserted)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // there, and equal
		p, err = GetProduct(ctx, pool, n.ID)
		return p, Unchanged, err
	case err != nil:
		return Product{}, Unchanged, fmt.Errorf("upsert product %s: %w", n.ID, err)
	case inserted:
		return p, Created, nil
	}
	return p, Updated, nil
}

// UpdateProduct sets the fields patch names: an *InvalidError when it fails
// Validate, ErrProductNotFound when there is no such product. Retiring a
// product is setting its status to ProductRetired. A patch that changes
// nothing writes nothing.
func UpdateProduct(ctx context.Context, pool *Pool, id string, patch ProductPatch) (Product, error) {
	if errs := patch.Validate(); len(errs) > 0 {
		return Product{}, &InvalidError{What: "product", Fields: errs}
	}
	patch = patch.normalized()
	var p Product
	err := scanProduct(pool.QueryRow(ctx, `UPDATE products SET
			name = coalesce($2::text, name), unit = coalesce($3::text, unit),
			description = coalesce($4::text, description), status = coalesce($5::text, status),
			updated_at = now()
		WHERE id = $1 AND (name, unit, description, status) IS DISTINCT FROM
			(coalesce($2::text, name), coalesce($3::text, unit), coalesce($4::text, description), coalesce($5::text, status))
		RETURNING `+productCols,
		id, patch.Name, patch.Unit, patch.Description, patch.Status), &p)
	if errors.Is(err, pgx.ErrNoRows) { // no such product, or nothing to change
		return GetProduct(ctx, pool, id)
	}
	if err != nil {
		return Product{}, fmt.Errorf("update product %s: %w", id, err)
	}
	return p, nil
}

// GetProduct reads one product: ErrProductNotFound when there is none.
func GetProduct(ctx context.Context, pool *Pool, id string) (Product, error) {
	var p Product
	err := scanProduct(pool.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1`, id), &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, noProduct(id)
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

func noProduct(id string) error {
	return withKind(ErrProductNotFound, fmt.Errorf("product %s is not in the catalog", id))
}

// ProductFilter says which products ListProducts returns, a page at a time
// in the order of their ids. Validate names its faults by the GET
// /v1/products query parameters: status, q (Query), cursor.
type ProductFilter struct {
	Status string // ProductActive or ProductRetired; "" both
	// Query is a text the id, name or description contain, whatever the case.
	Query string
	// Cursor is a NextCursor ListProducts returned: the page after it.
	Cursor string
	// Limit is the page's size (50 when not positive).
	Limit int
}

// Validate checks the filter; the page size is the caller's to bound.
func (f ProductFilter) Validate() []workflows.FieldError {
	var c fieldChecker
	if f.Status != "" {
		c.oneOf("status", f.Status, ProductStatuses)
	}
	c.query(f.Query)
	c.cursor(f.Cursor, "id")
	return c.errs
}

// ProductList is a page of products; NextCursor fetches the next page.
type ProductList struct {
	Items      []Product `json:"items"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// ListProducts returns the page of products f selects: an *InvalidError when
// f fails Validate.
func ListProducts(ctx context.Context, pool *Pool, f ProductFilter) (ProductList, error) {
	if errs := f.Validate(); len(errs) > 0 {
		return ProductList{}, &InvalidError{What: "product filter", Fields: errs}
	}
	var q pageQuery
	if f.Status != "" {
		q.where("status = " + q.arg(f.Status))
	}
	if v := strings.TrimSpace(f.Query); v != "" {
		p := q.arg("%" + likeEscape(v) + "%")
		q.where("(id ILIKE " + p + " OR name ILIKE " + p + " OR description ILIKE " + p + ")")
	}
	sql, args, limit := q.sql(`SELECT `+productCols+` FROM products`, f.Cursor, f.Limit)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return ProductList{}, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	out := ProductList{Items: []Product{}}
	for rows.Next() {
		var p Product
		if err := scanProduct(rows, &p); err != nil {
			return ProductList{}, fmt.Errorf("list products: %w", err)
		}
		out.Items = append(out.Items, p)
	}
	if err := rows.Err(); err != nil {
		return ProductList{}, fmt.Errorf("list products: %w", err)
	}
	out.Items, out.NextCursor = page(out.Items, limit, func(p Product) string { return p.ID })
	return out, nil
}

// PriceList is a price list: a price per product and unit, in one currency,
// valid between two days.
type PriceList struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	// IsDefault: the price list of its currency's deals that name none. At
	// most one per currency.
	IsDefault bool `json:"isDefault"`
	// ValidFrom and ValidTo are days ("2026-01-31"), both included; "" is
	// open.
	ValidFrom string    `json:"validFrom,omitempty"`
	ValidTo   string    `json:"validTo,omitempty"`
	ItemCount int       `json:"itemCount"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Items are the prices, by product and unit (GetPriceList only).
	Items []PriceListItem `json:"items,omitempty"`
}

// PriceListItem is the price of a product in one unit on a price list, in
// the list's currency.
type PriceListItem struct {
	ProductID   string          `json:"productId"`
	ProductName string          `json:"productName"`
	Unit        string          `json:"unit"`
	Price       decimal.Decimal `json:"price"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// NewPriceList is the input of CreatePriceList.
type NewPriceList struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Currency  string `json:"currency"`
	IsDefault bool   `json:"isDefault"`
	ValidFrom string `json:"validFrom"` // "2026-01-31" or ""
	ValidTo   string `json:"validTo"`
}

func (n NewPriceList) normalized() NewPriceList {
	n.ID = strings.TrimSpace(n.ID)
	n.Name = strings.TrimSpace(n.Name)
	return n
}

// Validate checks the new price list's fields.
func (n NewPriceList) Validate() []workflows.FieldError {
	n = n.normalized()
	var c fieldChecker
	c.id("id", n.ID)
	c.text("name", n.Name, true, maxCatalogText)
	c.currency("currency", n.Currency)
	c.period(n.ValidFrom, n.ValidTo)
	return c.errs
}

// PriceListPatch is the input of UpdatePriceList: nil fields stay as they
// are; "" clears a validity day. The currency cannot change (the prices are
// in it): a patch naming another one is refused.
type PriceListPatch struct {
	Name      *string `json:"name"`
	Currency  *string `json:"currency"`
	IsDefault *bool   `json:"isDefault"`
	ValidFrom *string `json:"validFrom"`
	ValidTo   *string `json:"validTo"`
}

// CreatePriceList adds a price list: an *InvalidError when n fails
// Validate, ErrPriceListExists when its id or name is taken (by a list with
// other fields: one equal to n is returned with created false). A new
// default list takes over from its currency's previous default.
func CreatePriceList(ctx context.Context, pool *Pool, n NewPriceList) (pl PriceList, created bool, err error) {
	if errs := n.Validate(); len(errs) > 0 {
		return PriceList{}, false, &InvalidError{What: "price list", Fields: errs}
	}
	n = n.normalized()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := lockDefault(ctx, tx, n.Currency); err != nil {
			return err
		}
		old, err := getPriceList(ctx, tx, n.ID, false)
		switch {
		case err == nil:
			if (NewPriceList{old.ID, old.Name, old.Currency, old.IsDefault, old.ValidFrom, old.ValidTo}) != n {
				return withKind(ErrPriceListExists, fmt.Errorf("price list %s exists (%q)", old.ID, old.Name))
			}
			pl = old
			return nil
		case !errors.Is(err, ErrPriceListNotFound):
			return err
		}
		if err := nameFree(ctx, tx, n.Name, n.ID); err != nil {
			return err
		}
		if n.IsDefault {
			if err := clearDefault(ctx, tx, n.Currency); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO price_lists (id, name, currency, is_default, valid_from, valid_to)
			VALUES ($1, $2, $3, $4, NULLIF($5, '')::date, NULLIF($6, '')::date)`,
			n.ID, n.Name, n.Currency, n.IsDefault, n.ValidFrom, n.ValidTo); err != nil {
			if uniqueViolation(err) { // created at the same moment
				return withKind(ErrPriceListExists, fmt.Errorf("price list %s or one named %q exists", n.ID, n.Name))
			}
			return err
		}
		created = true
		pl, err = getPriceList(ctx, tx, n.ID, false)
		return err
	})
	if err != nil {
		return PriceList{}, false, wrapCatalog("create price list "+n.ID, err)
	}
	return pl, created, nil
}

// UpdatePriceList sets the fields patch names: ErrPriceListNotFound when
// there is no such list, an *InvalidError for invalid fields (validTo before
// validFrom, counting the days it keeps; another currency),
// ErrPriceListExists when the new name is taken. Made the default, it takes
// over from its currency's previous default. A patch that changes nothing
// writes nothing.
func UpdatePriceList(ctx context.Context, pool *Pool, id string, patch PriceListPatch) (PriceList, error) {
	var pl PriceList
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		old, err := getPriceList(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if err := lockDefault(ctx, tx, old.Currency); err != nil {
			return err
		}
		if old, err = getPriceList(ctx, tx, id, false); err != nil { // as it is under the lock
			return err
		}
		n := NewPriceList{old.ID, old.Name, old.Currency, old.IsDefault, old.ValidFrom, old.ValidTo}
		var c fieldChecker
		if patch.Name != nil {
			n.Name = strings.TrimSpace(*patch.Name)
			c.text("name", n.Name, true, maxCatalogText)
		}
		if patch.Currency != nil && *patch.Currency != old.Currency {
			c.add("currency", fmt.Sprintf("cannot change: the prices are in %s; create another price list", old.Currency))
		}
		setVal(&n.IsDefault, patch.IsDefault)
		setVal(&n.ValidFrom, patch.ValidFrom)
		setVal(&n.ValidTo, patch.ValidTo)
		c.period(n.ValidFrom, n.ValidTo)
		if len(c.errs) > 0 {
			return &InvalidError{What: "price list", Fields: c.errs}
		}
		if n == (NewPriceList{old.ID, old.Name, old.Currency, old.IsDefault, old.ValidFrom, old.ValidTo}) {
			pl = old
			return nil
		}
		if !strings.EqualFold(n.Name, old.Name) {
			if err := nameFree(ctx, tx, n.Name, id); err != nil {
				return err
			}
		}
		if n.IsDefault && !old.IsDefault {
			if err := clearDefault(ctx, tx, n.Currency); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE price_lists SET name = $2, is_default = $3,
				valid_from = NULLIF($4, '')::date, valid_to = NULLIF($5, '')::date, updated_at = now()
			WHERE id = $1`, id, n.Name, n.IsDefault, n.ValidFrom, n.ValidTo); err != nil {
			if uniqueViolation(err) {
				return withKind(ErrPriceListExists, fmt.Errorf("a price list named %q exists", n.Name))
			}
			return err
		}
		pl, err = getPriceList(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return PriceList{}, wrapCatalog("update price list "+id, err)
	}
	return pl, nil
}

func setVal[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// wrapCatalog adds context to an error of PostgreSQL, and passes the
// catalog's own errors (whose text is for the user) as they are.
func wrapCatalog(what string, err error) error {
	var inv *InvalidError
	for _, kind := range []error{ErrProductExists, ErrProductNotFound, ErrPriceListExists, ErrPriceListNotFound} {
		if errors.Is(err, kind) {
			return err
		}
	}
	if errors.As(err, &inv) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// lockDefault serializes, per currency, the writes that may move its
// default price list, so two of them cannot both find no default and make
// one each (the partial unique index would refuse the second).
func lockDefault(ctx context.Context, tx pgx.Tx, currency string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('dealflow.price_list_default.' || $1))`, currency)
	return err
}

// clearDefault makes the currency's default price list, if any, no longer
// the default: another is about to be.
func clearDefault(ctx context.Context, tx pgx.Tx, currency string) error {
	_, err := tx.Exec(ctx, `UPDATE price_lists SET is_default = false, updated_at = now()
		WHERE currency = $1 AND is_default`, currency)
	return err
}

// nameFree returns ErrPriceListExists when a price list other than id has
// the name, whatever the case.
func nameFree(ctx context.Context, tx pgx.Tx, name, id string) error {
	var other string
	err := tx.QueryRow(ctx, `SELECT id FROM price_lists WHERE lower(name) = lower($1) AND id <> $2`, name, id).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return withKind(ErrPriceListExists, fmt.Errorf("price list %s is named %q already", other, name))
}

func uniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const priceListCols = `pl.id, pl.name, pl.currency, pl.is_default,
	coalesce(to_char(pl.valid_from, 'YYYY-MM-DD'), ''), coalesce(to_char(pl.valid_to, 'YYYY-MM-DD'), ''),
	(SELECT count(*) FROM price_list_items i WHERE i.price_list_id = pl.id), pl.created_at, pl.updated_at`

func scanPriceList(row pgx.Row, pl *PriceList) error {
	return row.Scan(&pl.ID, &pl.Name, &pl.Currency, &pl.IsDefault, &pl.ValidFrom, &pl.ValidTo,
		&pl.ItemCount, &pl.CreatedAt, &pl.UpdatedAt)
}

// GetPriceList reads a price list with its items: ErrPriceListNotFound when
// there is none.
func GetPriceList(ctx context.Context, pool *Pool, id string) (PriceList, error) {
	return getPriceList(ctx, pool, id, true)
}

func getPriceList(ctx context.Context, q querier, id string, items bool) (PriceList, error) {
	var pl PriceList
	err := scanPriceList(q.QueryRow(ctx, `SELECT `+priceListCols+` FROM price_lists pl WHERE pl.id = $1`, id), &pl)
	if errors.Is(err, pgx.ErrNoRows) {
		return PriceList{}, withKind(ErrPriceListNotFound, fmt.Errorf("price list %s does not exist", id))
	}
	if err != nil {
		return PriceList{}, fmt.Errorf("get price list %s: %w", id, err)
	}
	if !items {
		return pl, nil
	}
	rows, err := q.Query(ctx, `SELECT i.product_id, p.name, i.unit, i.price::text, i.updated_at
		FROM price_list_items i JOIN products p ON p.id = i.product_id
		WHERE i.price_list_id = $1 ORDER BY i.product_id, i.unit`, id)
	if err != nil {
		return PriceList{}, fmt.Errorf("get price list %s: %w", id, err)
	}
	defer rows.Close()
	pl.Items = []PriceListItem{}
	for rows.Next() {
		var (
			it    PriceListItem
			price string
		)
		if err := rows.Scan(&it.ProductID, &it.ProductName, &it.Unit, &price, &it.UpdatedAt); err != nil {
			return PriceList{}, fmt.Errorf("get price list %s: %w", id, err)
		}
		if it.Price, err = decimal.NewFromString(price); err != nil {
			return PriceList{}, fmt.Errorf("price list %s: price %q: %w", id, price, err)
		}
		pl.Items = append(pl.Items, it)
	}
	if err := rows.Err(); err != nil {
		return PriceList{}, fmt.Errorf("get price list %s: %w", id, err)
	}
	return pl, nil
}

// FindPriceList reads a price list (without its items) by its id, else by
// its name whatever the case: ErrPriceListNotFound when neither matches.
func FindPriceList(ctx context.Context, pool *Pool, idOrName string) (PriceList, error) {
	var pl PriceList
	err := scanPriceList(pool.QueryRow(ctx, `SELECT `+priceListCols+` FROM price_lists pl
		WHERE pl.id = $1 OR lower(pl.name) = lower($1) ORDER BY pl.id = $1 DESC LIMIT 1`, idOrName), &pl)
	if errors.Is(err, pgx.ErrNoRows) {
		return PriceList{}, withKind(ErrPriceListNotFound, fmt.Errorf("price list %q does not exist", idOrName))
	}
	if err != nil {
		return PriceList{}, fmt.Errorf("find price list %q: %w", idOrName, err)
	}
	return pl, nil
}

// PriceListFilter says which price lists ListPriceLists returns, a page at a
// time in the order of their ids. Validate names its faults by the GET
// /v1/price-lists query parameters: currency, q (Query), cursor.
type PriceListFilter struct {
	Currency string
	// Query is a text the id or name contain, whatever the case.
	Query  string
	Cursor string
	Limit  int // 50 when not positive
}

// Validate checks the filter; the page size is the caller's to bound.
func (f PriceListFilter) Validate() []workflows.FieldError {
	var c fieldChecker
	if f.Currency != "" {
		c.currency("currency", f.Currency)
	}
	c.query(f.Query)
	c.cursor(f.Cursor, "id")
	return c.errs
}

// PriceLists is a page of price lists (without their items).
type PriceLists struct {
	Items      []PriceList `json:"items"`
	NextCursor string      `json:"nextCursor,omitempty"`
}

// ListPriceLists returns the page of price lists f selects: an
// *InvalidError when f fails Validate.
func ListPriceLists(ctx context.Context, pool *Pool, f PriceListFilter) (PriceLists, error) {
	if errs := f.Validate(); len(errs) > 0 {
		return PriceLists{}, &InvalidError{What: "price list filter", Fields: errs}
	}
	var q pageQuery
	q.col = "pl.id"
	if f.Currency != "" {
		q.where("pl.currency = " + q.arg(f.Currency))
	}
	if v := strings.TrimSpace(f.Query); v != "" {
		p := q.arg("%" + likeEscape(v) + "%")
		q.where("(pl.id ILIKE " + p + " OR pl.name ILIKE " + p + ")")
	}
	sql, args, limit := q.sql(`SELECT `+priceListCols+` FROM price_lists pl`, f.Cursor, f.Limit)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return PriceLists{}, fmt.Errorf("list price lists: %w", err)
	}
	defer rows.Close()
	out := PriceLists{Items: []PriceList{}}
	for rows.Next() {
		var pl PriceList
		if err := scanPriceList(rows, &pl); err != nil {
			return PriceLists{}, fmt.Errorf("list price lists: %w", err)
		}
		out.Items = append(out.Items, pl)
	}
	if err := rows.Err(); err != nil {
		return PriceLists{}, fmt.Errorf("list price lists: %w", err)
	}
	out.Items, out.NextCursor = page(out.Items, limit, func(pl PriceList) string { return pl.ID })
	return out, nil
}

// SetPriceListItem sets the price of a product in a unit on a price list
// ("" unit: the product's): ErrPriceListNotFound or ErrProductNotFound when
// either is missing, an *InvalidError for a negative price, one with more
// decimals than the list's currency has, or an invalid unit. Setting the
// price it has changes nothing. Deals copy prices when a line is made, so a
// new price never changes a line, quote, order or invoice.
func SetPriceListItem(ctx context.Context, pool *Pool, priceListID, productID, unit string, price decimal.Decimal) (PriceListItem, Outcome, error) {
	pl, p, unit, err := itemKey(ctx, pool, priceListID, productID, unit)
	if err != nil {
		return PriceListItem{}, Unchanged, err
	}
	var c fieldChecker
	c.text("unit", unit, true, maxUnit)
	if price.IsNegative() {
		c.add("price", "must not be negative")
	} else if msg := money.CheckAmount(price, pl.Currency); msg != "" {
		c.add("price", msg)
	}
	if len(c.errs) > 0 {
		return PriceListItem{}, Unchanged, &InvalidError{What: "price", Fields: c.errs}
	}
	it := PriceListItem{ProductID: p.ID, ProductName: p.Name, Unit: unit}
	var (
		stored   string
		inserted bool
	)
	err = pool.QueryRow(ctx, `INSERT INTO price_list_items AS i (price_list_id, product_id, unit, price)
		VALUES ($1, $2, $3, $4::numeric)
		ON CONFLICT (price_list_id, product_id, unit) DO UPDATE SET price = EXCLUDED.price, updated_at = now()
		WHERE i.price <> EXCLUDED.price
		RETURNING i.price::text, i.updated_at, xmax = 0`,
		pl.ID, p.ID, unit, price.String()).Scan(&stored, &it.UpdatedAt, &inserted)
	outcome := Updated
	switch {
	case errors.Is(err, pgx.ErrNoRows): // the same price is there
		outcome = Unchanged
		err = pool.QueryRow(ctx, `SELECT price::text, updated_at FROM price_list_items
			WHERE price_list_id = $1 AND product_id = $2 AND unit = $3`, pl.ID, p.ID, unit).Scan(&stored, &it.UpdatedAt)
	case err == nil && inserted:
		outcome = Created
	}
	if err != nil {
		return PriceListItem{}, Unchanged, fmt.Errorf("set price of %s on price list %s: %w", p.ID, pl.ID, err)
	}
	if it.Price, err = decimal.NewFromString(stored); err != nil {
		return PriceListItem{}, Unchanged, fmt.Errorf("price list %s: price %q: %w", pl.ID, stored, err)
	}
	return it, outcome, nil
}

// RemovePriceListItem removes the price of a product in a unit from a price
// list ("" unit: the product's): ErrPriceListNotFound or ErrProductNotFound
// when either is missing. removed is false when there was no such price
// (removing it twice is no error).
func RemovePriceListItem(ctx context.Context, pool *Pool, priceListID, productID, unit string) (removed bool, err error) {
	pl, p, unit, err := itemKey(ctx, pool, priceListID, productID, unit)
	if err != nil {
		return false, err
	}
	tag, err := pool.Exec(ctx, `DELETE FROM price_list_items WHERE price_list_id = $1 AND product_id = $2 AND unit = $3`,
		pl.ID, p.ID, unit)
	if err != nil {
		return false, fmt.Errorf("remove price of %s from price list %s: %w", p.ID, pl.ID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// itemKey reads the price list and the product an item belongs to, and
// its unit ("" is the product's).
func itemKey(ctx context.Context, pool *Pool, priceListID, productID, unit string) (PriceList, Product, string, error) {
	pl, err := getPriceList(ctx, pool, priceListID, false)
	if err != nil {
		return PriceList{}, Product{}, "", err
	}
	p, err := GetProduct(ctx, pool, productID)
	if err != nil {
		return PriceList{}, Product{}, "", err
	}
	if unit = strings.TrimSpace(unit); unit == "" {
		unit = p.Unit
	}
	return pl, p, unit, nil
}

// Price is what a catalog product costs on a price list on a day: what a
// deal line copies when it names the product.
type Price struct {
	PriceListID, PriceListName, Currency string
	ProductID, ProductName               string
	Unit                                 string // the product's when the request named none
	UnitPrice                            decimal.Decimal
}

// CatalogError is why PriceOf has no price for a line: the product is not
// in the catalog or is retired, the price list is missing, in another
// currency or not valid on the day, or has no price for the product in the
// unit. Message names the product or the price list, for the rep.
type CatalogError struct {
	Code    CatalogCode
	Message string
}

func (e *CatalogError) Error() string { return e.Message }

// CatalogCode tells CatalogErrors apart.
type CatalogCode string

// The reasons PriceOf refuses.
const (
	CatalogUnknownProduct   CatalogCode = "unknown_product"
	CatalogRetiredProduct   CatalogCode = "retired_product"
	CatalogUnknownPriceList CatalogCode = "unknown_price_list"
	CatalogNoDefault        CatalogCode = "no_default_price_list"
	CatalogCurrency         CatalogCode = "currency_mismatch"
	CatalogNotValid         CatalogCode = "price_list_not_valid"
	CatalogNoPrice          CatalogCode = "no_price"
)

func catalogErr(code CatalogCode, format string, args ...any) error {
	return &CatalogError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// PriceOf finds what a catalog product costs on a price list on a day (on's
// date where it is given). priceListID "" means the default price list of
// currency; unit "" the product's unit. A *CatalogError says why there is
// no price; other errors are PostgreSQL's.
func PriceOf(ctx context.Context, pool *Pool, priceListID, currency, productID, unit string, on time.Time) (Price, error) {
	p, err := GetProduct(ctx, pool, productID)
	if errors.Is(err, ErrProductNotFound) {
		return Price{}, catalogErr(CatalogUnknownProduct, "product %s is not in the catalog", productID)
	}
	if err != nil {
		return Price{}, err
	}
	if p.Status == ProductRetired {
		return Price{}, catalogErr(CatalogRetiredProduct, "product %s (%s) is retired", p.ID, p.Name)
	}
	var pl PriceList
	if priceListID == "" {
		err = scanPriceList(pool.QueryRow(ctx, `SELECT `+priceListCols+` FROM price_lists pl
			WHERE pl.currency = $1 AND pl.is_default`, currency), &pl)
		if errors.Is(err, pgx.ErrNoRows) {
			return Price{}, catalogErr(CatalogNoDefault, "no default price list for %s: name one", currency)
		}
	} else {
		pl, err = getPriceList(ctx, pool, priceListID, false)
		if errors.Is(err, ErrPriceListNotFound) {
			return Price{}, catalogErr(CatalogUnknownPriceList, "price list %s does not exist", priceListID)
		}
	}
	if err != nil {
		return Price{}, fmt.Errorf("price of %s: %w", productID, err)
	}
	if pl.Currency != currency {
		return Price{}, catalogErr(CatalogCurrency, "price list %q is in %s, the deal is in %s", pl.Name, pl.Currency, currency)
	}
	day := on.Format(time.DateOnly) // ISO days compare as strings
	if pl.ValidFrom != "" && day < pl.ValidFrom {
		return Price{}, catalogErr(CatalogNotValid, "price list %q is valid from %s", pl.Name, pl.ValidFrom)
	}
	if pl.ValidTo != "" && day > pl.ValidTo {
		return Price{}, catalogErr(CatalogNotValid, "price list %q was valid until %s", pl.Name, pl.ValidTo)
	}
	if unit = strings.TrimSpace(unit); unit == "" {
		unit = p.Unit
	}
	var price string
	err = pool.QueryRow(ctx, `SELECT price::text FROM price_list_items
		WHERE price_list_id = $1 AND product_id = $2 AND unit = $3`, pl.ID, p.ID, unit).Scan(&price)
	if errors.Is(err, pgx.ErrNoRows) {
		return Price{}, catalogErr(CatalogNoPrice, "product %s has no price on price list %q for unit %s", p.ID, pl.Name, unit)
	}
	if err != nil {
		return Price{}, fmt.Errorf("price of %s: %w", productID, err)
	}
	out := Price{PriceListID: pl.ID, PriceListName: pl.Name, Currency: pl.Currency,
		ProductID: p.ID, ProductName: p.Name, Unit: unit}
	if out.UnitPrice, err = decimal.NewFromString(price); err != nil {
		return Price{}, fmt.Errorf("price list %s: price %q: %w", pl.ID, price, err)
	}
	return out, nil
}

// fieldChecker collects the field errors of the catalog's inputs.
type fieldChecker struct{ errs []workflows.FieldError }

func (c *fieldChecker) add(field, reason string) {
	c.errs = append(c.errs, workflows.FieldError{Field: field, Reason: reason})
}

func (c *fieldChecker) id(field, v string) {
	if !workflows.ValidID(v) {
		c.add(field, "must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
}

func (c *fieldChecker) text(field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		c.add(field, "must not be blank")
	case utf8.RuneCountInString(v) > max:
		c.add(field, fmt.Sprintf("is longer than %d characters", max))
	case strings.ContainsRune(v, 0): // PostgreSQL cannot store it
		c.add(field, "must not contain NUL characters")
	case !utf8.ValidString(v):
		c.add(field, "is not valid UTF-8 text")
	}
}

func (c *fieldChecker) oneOf(field, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		c.add(field, "must be one of: "+strings.Join(allowed, ", "))
	}
}

func (c *fieldChecker) currency(field, v string) {
	if !money.Known(v) {
		c.add(field, "must be one of: "+strings.Join(money.Currencies, ", "))
	}
}

// period checks a validity period: two optional days, the second not
// before the first.
func (c *fieldChecker) period(from, to string) {
	day := func(field, v string) bool {
		if v == "" {
			return false
		}
		if t, err := time.Parse(time.DateOnly, v); err != nil || t.Format(time.DateOnly) != v {
			c.add(field, "must be a day such as 2026-01-31")
			return false
		}
		return true
	}
	okFrom, okTo := day("validFrom", from), day("validTo", to)
	if okFrom && okTo && to < from {
		c.add("validTo", "is before validFrom ("+from+")")
	}
}

func (c *fieldChecker) query(q string) {
	if utf8.RuneCountInString(strings.TrimSpace(q)) > maxCatalogText {
		c.add("q", fmt.Sprintf("is longer than %d characters", maxCatalogText))
	}
}

func (c *fieldChecker) cursor(s, sort string) {
	if s == "" {
		return
	}
	cur, ok := decodeCursor(s)
	switch {
	case !ok:
		c.add("cursor", "is not a cursor this API returned")
	case cur.Sort != sort:
		c.add("cursor", "belongs to another list")
	}
}

// pageQuery builds the SQL of a page of a list ordered by its id: one row
// more than the page, to tell whether another follows.
type pageQuery struct {
	col   string // the id column ("id" when empty)
	conds []string
	args  []any
}

func (q *pageQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *pageQuery) where(cond string) { q.conds = append(q.conds, cond) }

func (q *pageQuery) sql(selectFrom, cur string, limit int) (string, []any, int) {
	col := q.col
	if col == "" {
		col = "id"
	}
	if c, ok := decodeCursor(cur); ok {
		q.where(col + " > " + q.arg(c.ID))
	}
	if limit <= 0 {
		limit = 50
	}
	sql := selectFrom
	if len(q.conds) > 0 {
		sql += " WHERE " + strings.Join(q.conds, " AND ")
	}
	sql += " ORDER BY " + col + " LIMIT " + q.arg(limit+1)
	return sql, q.args, limit
}

// page cuts the extra row off items and makes the cursor of the next page.
func page[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	last := id(items[limit-1])
	return items, cursor{Sort: "id", Value: last, ID: last}.encode()
}
