-- The product catalog and its price lists (issue 14). A deal line that names
-- a catalog product copies its price from a price list when it is made: the
-- lines, quotes, orders and invoices keep their own amounts, so nothing here
-- is referenced by the deal records and a price change never alters one.

-- +goose Up
CREATE TABLE products (
    -- The product number a user gives ("SKU-100"): the pattern of a lead id.
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    -- The default unit a line is sold in: free text ("each", "hour", "month").
    unit        text NOT NULL DEFAULT 'each' CHECK (btrim(unit) <> ''),
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE price_lists (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name       text NOT NULL CHECK (btrim(name) <> ''),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The price list of a deal in this currency that names none.
    is_default boolean NOT NULL DEFAULT false,
    valid_from date,
    valid_to   date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to >= valid_from)
);
CREATE UNIQUE INDEX price_lists_lower_name_key ON price_lists (lower(name));
-- At most one default price list per currency.
CREATE UNIQUE INDEX price_lists_default_key ON price_lists (currency) WHERE is_default;

-- A price per product and unit. Prices are NUMERIC with no more decimals than
-- the list's currency has (the store checks it; PostgreSQL cannot see the
-- currency's minor unit).
CREATE TABLE price_list_items (
    price_list_id text NOT NULL REFERENCES price_lists (id) ON DELETE CASCADE,
    product_id    text NOT NULL REFERENCES products (id),
    unit          text NOT NULL CHECK (btrim(unit) <> ''),
    price         numeric NOT NULL CHECK (price >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (price_list_id, product_id, unit)
);
CREATE INDEX price_list_items_product_id_idx ON price_list_items (product_id);

-- +goose Down
DROP TABLE price_list_items;
DROP TABLE price_lists;
DROP TABLE products;
