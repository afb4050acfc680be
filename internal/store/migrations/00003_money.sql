-- Money in the read model (issue 14 part 5): the line, the price list and
-- the quote summary as the workflow computed them (workflows.Price).
--
-- Lines keep the catalog product, unit and price list they were made with as
-- plain text, with no foreign key to the catalog: a line keeps what it was
-- made with even when the product is retired or the price list changes or
-- goes. '' is a write-in product (or a deal on its currency's default list).
-- base_amount is the line's Amount (quantity x unit price, rounded to the
-- currency); amount stays the extended amount (base - discount + tax).
-- A percentage is NULL when the amount beside it was typed in.
--
-- Rows written before this migration get the values their deal's exact
-- rules gave them: base amount quantity x unit price, detail amount the sum
-- of the lines after their discounts, total tax the sum of their tax, no
-- quote discount nor freight.

-- +goose Up
ALTER TABLE leads ADD COLUMN price_list_id text NOT NULL DEFAULT '';

ALTER TABLE opportunity_lines
    ADD COLUMN product_id       text NOT NULL DEFAULT '',
    ADD COLUMN unit             text NOT NULL DEFAULT '',
    ADD COLUMN price_list_id    text NOT NULL DEFAULT '',
    ADD COLUMN discount_percent numeric,
    ADD COLUMN tax_percent      numeric,
    ADD COLUMN base_amount      numeric;
UPDATE opportunity_lines SET base_amount = quantity * unit_price;
ALTER TABLE opportunity_lines ALTER COLUMN base_amount SET NOT NULL;

ALTER TABLE quote_lines
    ADD COLUMN product_id       text NOT NULL DEFAULT '',
    ADD COLUMN unit             text NOT NULL DEFAULT '',
    ADD COLUMN price_list_id    text NOT NULL DEFAULT '',
    ADD COLUMN discount_percent numeric,
    ADD COLUMN tax_percent      numeric,
    ADD COLUMN base_amount      numeric;
UPDATE quote_lines SET base_amount = quantity * unit_price;
ALTER TABLE quote_lines ALTER COLUMN base_amount SET NOT NULL;

ALTER TABLE order_lines
    ADD COLUMN product_id       text NOT NULL DEFAULT '',
    ADD COLUMN unit             text NOT NULL DEFAULT '',
    ADD COLUMN price_list_id    text NOT NULL DEFAULT '',
    ADD COLUMN discount_percent numeric,
    ADD COLUMN tax_percent      numeric,
    ADD COLUMN base_amount      numeric;
UPDATE order_lines SET base_amount = quantity * unit_price;
ALTER TABLE order_lines ALTER COLUMN base_amount SET NOT NULL;

ALTER TABLE invoice_lines
    ADD COLUMN product_id       text NOT NULL DEFAULT '',
    ADD COLUMN unit             text NOT NULL DEFAULT '',
    ADD COLUMN price_list_id    text NOT NULL DEFAULT '',
    ADD COLUMN discount_percent numeric,
    ADD COLUMN tax_percent      numeric,
    ADD COLUMN base_amount      numeric;
UPDATE invoice_lines SET base_amount = quantity * unit_price;
ALTER TABLE invoice_lines ALTER COLUMN base_amount SET NOT NULL;

-- The quote summary; total (already there) is pre_freight_amount +
-- freight_amount + total_tax. discount_amount is the quote (header) discount,
-- discount_percent its percentage when it was given as one.
ALTER TABLE quotes
    ADD COLUMN price_list_id      text NOT NULL DEFAULT '',
    ADD COLUMN detail_amount      numeric NOT NULL DEFAULT 0,
    ADD COLUMN discount_percent   numeric,
    ADD COLUMN discount_amount    numeric NOT NULL DEFAULT 0,
    ADD COLUMN pre_freight_amount numeric NOT NULL DEFAULT 0,
    ADD COLUMN freight_amount     numeric NOT NULL DEFAULT 0,
    ADD COLUMN total_tax          numeric NOT NULL DEFAULT 0;
UPDATE quotes q SET detail_amount = s.detail, pre_freight_amount = s.detail, total_tax = s.tax
FROM (SELECT quote_id, sum(base_amount - discount) AS detail, sum(tax) AS tax
      FROM quote_lines GROUP BY quote_id) s
WHERE s.quote_id = q.id;

ALTER TABLE orders
    ADD COLUMN price_list_id      text NOT NULL DEFAULT '',
    ADD COLUMN detail_amount      numeric NOT NULL DEFAULT 0,
    ADD COLUMN discount_percent   numeric,
    ADD COLUMN discount_amount    numeric NOT NULL DEFAULT 0,
    ADD COLUMN pre_freight_amount numeric NOT NULL DEFAULT 0,
    ADD COLUMN freight_amount     numeric NOT NULL DEFAULT 0,
    ADD COLUMN total_tax          numeric NOT NULL DEFAULT 0;
UPDATE orders o SET detail_amount = s.detail, pre_freight_amount = s.detail, total_tax = s.tax
FROM (SELECT order_id, sum(base_amount - discount) AS detail, sum(tax) AS tax
      FROM order_lines GROUP BY order_id) s
WHERE s.order_id = o.id;

ALTER TABLE invoices
    ADD COLUMN price_list_id      text NOT NULL DEFAULT '',
    ADD COLUMN detail_amount      numeric NOT NULL DEFAULT 0,
    ADD COLUMN discount_percent   numeric,
    ADD COLUMN discount_amount    numeric NOT NULL DEFAULT 0,
    ADD COLUMN pre_freight_amount numeric NOT NULL DEFAULT 0,
    ADD COLUMN freight_amount     numeric NOT NULL DEFAULT 0,
    ADD COLUMN total_tax          numeric NOT NULL DEFAULT 0;
UPDATE invoices i SET detail_amount = s.detail, pre_freight_amount = s.detail, total_tax = s.tax
FROM (SELECT invoice_id, sum(base_amount - discount) AS detail, sum(tax) AS tax
      FROM invoice_lines GROUP BY invoice_id) s
WHERE s.invoice_id = i.id;

-- +goose Down
ALTER TABLE invoices
    DROP COLUMN price_list_id, DROP COLUMN detail_amount, DROP COLUMN discount_percent,
    DROP COLUMN discount_amount, DROP COLUMN pre_freight_amount, DROP COLUMN freight_amount,
    DROP COLUMN total_tax;
ALTER TABLE orders
    DROP COLUMN price_list_id, DROP COLUMN detail_amount, DROP COLUMN discount_percent,
    DROP COLUMN discount_amount, DROP COLUMN pre_freight_amount, DROP COLUMN freight_amount,
    DROP COLUMN total_tax;
ALTER TABLE quotes
    DROP COLUMN price_list_id, DROP COLUMN detail_amount, DROP COLUMN discount_percent,
    DROP COLUMN discount_amount, DROP COLUMN pre_freight_amount, DROP COLUMN freight_amount,
    DROP COLUMN total_tax;
ALTER TABLE invoice_lines
    DROP COLUMN product_id, DROP COLUMN unit, DROP COLUMN price_list_id,
    DROP COLUMN discount_percent, DROP COLUMN tax_percent, DROP COLUMN base_amount;
ALTER TABLE order_lines
    DROP COLUMN product_id, DROP COLUMN unit, DROP COLUMN price_list_id,
    DROP COLUMN discount_percent, DROP COLUMN tax_percent, DROP COLUMN base_amount;
ALTER TABLE quote_lines
    DROP COLUMN product_id, DROP COLUMN unit, DROP COLUMN price_list_id,
    DROP COLUMN discount_percent, DROP COLUMN tax_percent, DROP COLUMN base_amount;
ALTER TABLE opportunity_lines
    DROP COLUMN product_id, DROP COLUMN unit, DROP COLUMN price_list_id,
    DROP COLUMN discount_percent, DROP COLUMN tax_percent, DROP COLUMN base_amount;
ALTER TABLE leads DROP COLUMN price_list_id;
