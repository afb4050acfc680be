package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// The product catalog and its price lists: managers create and edit them,
// reps read them. Everything is in PostgreSQL (the store); no workflow is
// involved. A deal line copies its price from a price list when it is made,
// so a price changed here never changes a deal's lines, quotes, orders or
// invoices: there is nothing to update there.

// managersOnly refuses a rep: the catalog is the managers' to edit.
func managersOnly(c *gin.Context, what string) error {
	if !userOf(c).Manager() {
		return forbidden(what + " is for managers")
	}
	return nil
}

// catalogErr turns an error of the store's catalog into its problem.
func catalogErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, store.ErrProductNotFound), errors.Is(err, store.ErrPriceListNotFound):
		return notFound(err.Error())
	case errors.Is(err, store.ErrProductExists):
		return conflict("product-exists", "Product exists", err.Error()+"; PATCH it to change it")
	case errors.Is(err, store.ErrPriceListExists):
		return conflict("price-list-exists", "Price list exists", err.Error())
	}
	return pgErr(ctx, err) // an *store.InvalidError is a 422
}

// decodeBody reads the request body into dst strictly (unknown fields are
// refused); an empty body is {} when emptyOK.
func decodeBody(c *gin.Context, dst any, emptyOK bool) error {
	body, err := readBody(c.Request)
	if err != nil {
		return err
	}
	return decodeObject(body, dst, emptyOK)
}

// listProducts: GET /v1/products?status=&q=&cursor=&limit=.
func (s *Server) listProducts(c *gin.Context) error {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	errs := checkParams(q, "status", "q", "cursor", "limit")
	f := store.ProductFilter{Status: q.Get("status"), Query: q.Get("q"), Cursor: q.Get("cursor")}
	errs = append(errs, f.Validate()...)
	f.Limit = limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	list, err := store.ListProducts(ctx, s.cfg.Pool, f)
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.JSON(http.StatusOK, list)
	return nil
}

// createProduct: POST /v1/products (managers). 201, or 200 when the same
// product exists already (a repeated request).
func (s *Server) createProduct(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	var req store.NewProduct
	if err := decodeBody(c, &req, false); err != nil {
		return err
	}
	p, created, err := store.CreateProduct(ctx, s.cfg.Pool, req)
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.Header("Location", "/v1/products/"+p.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("product created", "productID", p.ID, "by", userOf(c).Email)
	}
	c.JSON(status, p)
	return nil
}

// getProduct: GET /v1/products/:id.
func (s *Server) getProduct(c *gin.Context) error {
	ctx := c.Request.Context()
	p, err := store.GetProduct(ctx, s.cfg.Pool, c.Param("id"))
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.JSON(http.StatusOK, p)
	return nil
}

// editProduct: PATCH /v1/products/:id (managers); status "Retired" retires
// the product: no new line may name it, lines made with it keep it.
func (s *Server) editProduct(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	var req store.ProductPatch
	if err := decodeBody(c, &req, true); err != nil {
		return err
	}
	p, err := store.UpdateProduct(ctx, s.cfg.Pool, c.Param("id"), req)
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.JSON(http.StatusOK, p)
	return nil
}

// listPriceLists: GET /v1/price-lists?currency=&q=&cursor=&limit= (without
// their items).
func (s *Server) listPriceLists(c *gin.Context) error {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	errs := checkParams(q, "currency", "q", "cursor", "limit")
	f := store.PriceListFilter{Currency: q.Get("currency"), Query: q.Get("q"), Cursor: q.Get("cursor")}
	errs = append(errs, f.Validate()...)
	f.Limit = limitParam(q, 50, &errs)
	if len(errs) > 0 {
		return invalid(errs...)
	}
	list, err := store.ListPriceLists(ctx, s.cfg.Pool, f)
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.JSON(http.StatusOK, list)
	return nil
}

// createPriceList: POST /v1/price-lists (managers). 201, or 200 when the
// same price list exists already.
func (s *Server) createPriceList(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	var req store.NewPriceList
	if err := decodeBody(c, &req, false); err != nil {
		return err
	}
	pl, created, err := store.CreatePriceList(ctx, s.cfg.Pool, req)
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.Header("Location", "/v1/price-lists/"+pl.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("price list created", "priceListID", pl.ID, "currency", pl.Currency, "by", userOf(c).Email)
	}
	c.JSON(status, pl)
	return nil
}

// getPriceList: GET /v1/price-lists/:id, with its items.
func (s *Server) getPriceList(c *gin.Context) error {
	ctx := c.Request.Context()
	pl, err := store.GetPriceList(ctx, s.cfg.Pool, c.Param("id"))
	if err != nil {
		return catalogErr(ctx, err)
	}
	c.JSON(http.StatusOK, pl)
	return nil
}

// editPriceList: PATCH /v1/price-lists/:id (managers).
func (s *Server) editPriceList(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	var req store.PriceListPatch
	if err := decodeBody(c, &req, true); err != nil {
		return err
	}
	if _, err := store.UpdatePriceList(ctx, s.cfg.Pool, c.Param("id"), req); err != nil {
		return catalogErr(ctx, err)
	}
	return s.getPriceList(c)
}

// priceInput is the body of PUT /v1/price-lists/:id/items/:productId.
type priceInput struct {
	// Unit is the unit the price is for; "" is the product's.
	Unit  string           `json:"unit"`
	Price *decimal.Decimal `json:"price"`
}

// priceListItem is a price as the API answers it: with its list and
// currency.
type priceListItem struct {
	PriceListID string `json:"priceListId"`
	Currency    string `json:"currency"`
	store.PriceListItem
}

// setPrice: PUT /v1/price-lists/:id/items/:productId (managers). 201 for a
// new price, 200 for a changed or the same one. Deals that have the old
// price keep it.
func (s *Server) setPrice(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	var req priceInput
	if err := decodeBody(c, &req, false); err != nil {
		return err
	}
	if req.Price == nil {
		return invalid(workflows.FieldError{Field: "price", Reason: "is required"})
	}
	it, outcome, err := store.SetPriceListItem(ctx, s.cfg.Pool, c.Param("id"), c.Param("productId"), req.Unit, *req.Price)
	if err != nil {
		return catalogErr(ctx, err)
	}
	pl, err := store.GetPriceList(ctx, s.cfg.Pool, c.Param("id"))
	if err != nil {
		return catalogErr(ctx, err)
	}
	status := http.StatusOK
	if outcome == store.Created {
		status = http.StatusCreated
	}
	if outcome != store.Unchanged {
		s.log.Info("price set", "priceListID", pl.ID, "productID", it.ProductID, "unit", it.Unit,
			"price", it.Price.String(), "outcome", outcome.String(), "by", userOf(c).Email)
	}
	c.JSON(status, priceListItem{PriceListID: pl.ID, Currency: pl.Currency, PriceListItem: it})
	return nil
}

// removePrice: DELETE /v1/price-lists/:id/items/:productId?unit= (managers).
// 204 also when there was no such price: removing it twice is no error.
func (s *Server) removePrice(c *gin.Context) error {
	ctx := c.Request.Context()
	if err := managersOnly(c, "editing the catalog"); err != nil {
		return err
	}
	q := c.Request.URL.Query()
	if errs := checkParams(q, "unit"); len(errs) > 0 {
		return invalid(errs...)
	}
	if _, err := store.RemovePriceListItem(ctx, s.cfg.Pool, c.Param("id"), c.Param("productId"), q.Get("unit")); err != nil {
		return catalogErr(ctx, err)
	}
	c.Status(http.StatusNoContent)
	return nil
}
