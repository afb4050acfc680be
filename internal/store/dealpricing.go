package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// DealPricing is what prices a deal's catalog lines, from the read model:
// its currency and price list ("" for the currency's default). ok is false
// when the lead is not recorded or u may not see it (LeadVisible).
func DealPricing(ctx context.Context, pool *Pool, u User, id string) (currency, priceListID string, ok bool, err error) {
	sql := `SELECT l.currency, coalesce(l.price_list_id, '') FROM leads l WHERE l.id = $1`
	args := []any{id}
	if !u.Manager() {
		sql += " AND " + visibleSQL("$2")
		args = append(args, u.Email)
	}
	err = pool.QueryRow(ctx, sql, args...).Scan(&currency, &priceListID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return currency, priceListID, true, nil
}

// DefaultPriceList is the id of currency's default price list; ok is false
// when it has none.
func DefaultPriceList(ctx context.Context, pool *Pool, currency string) (id string, ok bool, err error) {
	err = pool.QueryRow(ctx, `SELECT id FROM price_lists WHERE currency = $1 AND is_default`, currency).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}
