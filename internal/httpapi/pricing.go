package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// A line naming a catalog product is priced here, from the deal's price
// list, before the Update is sent: the workflow does no I/O, so the price
// travels with the command (LineInput.Catalog) and the line keeps it,
// whatever the catalog says later. The workflow checks that the price is for
// the deal's currency and price list.

// priceLines prices the catalog lines of cmd for the deal id; whatever a
// client sent as a line's catalog price is dropped first. A product the
// catalog cannot price is a 422 naming the line's productId.
func (s *Server) priceLines(ctx context.Context, u User, id string, cmd workflows.Command) error {
	cl, ok := cmd.(workflows.CatalogLines)
	if !ok {
		return nil
	}
	lines := cl.LineInputs()
	catalog := false
	for _, l := range lines {
		l.Catalog = nil
		catalog = catalog || l.ProductID != ""
	}
	if !catalog {
		return nil
	}
	currency, priceListID, ok, err := store.DealPricing(ctx, s.cfg.Pool, u, id)
	if err != nil {
		return pgErr(ctx, err)
	}
	if !ok {
		return noDeal(id)
	}
	var errs []workflows.FieldError
	for i, l := range lines {
		if l.ProductID == "" {
			continue
		}
		field := "productId"
		if _, many := cmd.(*workflows.EditQuote); many {
			field = fmt.Sprintf("lines[%d].productId", i)
		}
		p, err := store.PriceOf(ctx, s.cfg.Pool, priceListID, currency, l.ProductID, l.Unit, s.cfg.Now().UTC())
		var ce *store.CatalogError
		switch {
		case errors.As(err, &ce):
			errs = append(errs, workflows.FieldError{Field: field, Reason: ce.Message})
			continue
		case err != nil:
			return pgErr(ctx, err)
		}
		l.Catalog = &workflows.CatalogPrice{PriceListID: p.PriceListID, Currency: p.Currency,
			ProductID: p.ProductID, Product: p.ProductName, Unit: p.Unit, UnitPrice: p.UnitPrice}
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	return nil
}

// checkPriceList refuses a price list that does not exist or is in another
// currency than the deal's.
func (s *Server) checkPriceList(ctx context.Context, priceListID, currency string) error {
	pl, err := store.FindPriceList(ctx, s.cfg.Pool, priceListID)
	switch {
	case errors.Is(err, store.ErrPriceListNotFound) || err == nil && pl.ID != priceListID: // FindPriceList also matches names
		return invalid(workflows.FieldError{Field: "priceListId", Reason: "is not a price list"})
	case err != nil:
		return pgErr(ctx, err)
	case pl.Currency != currency:
		return invalid(workflows.FieldError{Field: "priceListId",
			Reason: fmt.Sprintf("is in %s, the deal is in %s", pl.Currency, currency)})
	}
	return nil
}

// dealPriceList checks a new lead's price list against its currency, or
// gives it its currency's default price list, when there is one.
func (s *Server) dealPriceList(ctx context.Context, in *workflows.NewLead) error {
	cur := cmp.Or(in.Currency, workflows.DefaultCurrency)
	if in.PriceListID != "" {
		return s.checkPriceList(ctx, in.PriceListID, cur)
	}
	id, ok, err := store.DefaultPriceList(ctx, s.cfg.Pool, cur)
	if err != nil {
		return pgErr(ctx, err)
	}
	if ok {
		in.PriceListID = id
	}
	return nil
}
