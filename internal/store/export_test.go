package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
)

// MigrateTo migrates the database up or down to version, for tests of one
// migration: the rows it finds and the Down section.
func MigrateTo(ctx context.Context, pool *Pool, version int64) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	switch {
	case cur < version:
		_, err = p.UpTo(ctx, version)
	case cur > version:
		_, err = p.DownTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("store: migrate to %d: %w", version, err)
	}
	return nil
}
