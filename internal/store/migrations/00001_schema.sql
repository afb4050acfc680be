-- The read model that the worker's activities write and the API reads: one
-- row per deal in leads, the records each stage produces, the follow-up
-- outbox, the timeline, and the API's users and tokens.
--
-- Money and quantities are plain NUMERIC (exact, unbounded scale) beside a
-- currency code: a line amount (quantity x unit price - discount + tax) may
-- carry more decimals than a fixed NUMERIC(p,s) keeps, and the database must
-- never round what the workflow computed. Rows are written as snapshots of
-- the deal, keyed by ids from the workflow, so child rows (lines,
-- stakeholders, ...) are numbered by their position in the snapshot.

-- +goose Up
CREATE TABLE accounts (
    id         text PRIMARY KEY,
    name       text NOT NULL CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL
);
-- One account per company, whatever the case the reps type it in.
CREATE UNIQUE INDEX accounts_lower_name_key ON accounts (lower(name));

CREATE TABLE contacts (
    id         text PRIMARY KEY,
    account_id text REFERENCES accounts (id),
    first_name text NOT NULL DEFAULT '',
    last_name  text NOT NULL DEFAULT '',
    email      text NOT NULL DEFAULT '',
    phone      text NOT NULL DEFAULT '',
    job_title  text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX contacts_lower_email_key ON contacts (lower(email)) WHERE email <> '';
CREATE INDEX contacts_account_id_idx ON contacts (account_id);

-- leads is the deal header (what the API lists and filters by) and the lead
-- as captured in Qualify.
CREATE TABLE leads (
    id                        text PRIMARY KEY,
    owner                     text NOT NULL,
    stage                     text NOT NULL
        CHECK (stage IN ('Qualify', 'Develop', 'Propose', 'Close', 'Order', 'Invoice', 'Paid')),
    status                    text NOT NULL
        CHECK (status IN ('open', 'won', 'lost', 'disqualified', 'canceled')),
    currency                  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    customer                  text NOT NULL DEFAULT '',
    value                     numeric NOT NULL DEFAULT 0,
    account_id                text REFERENCES accounts (id),
    contact_id                text REFERENCES contacts (id),

    topic                     text NOT NULL DEFAULT '',
    first_name                text NOT NULL DEFAULT '',
    last_name                 text NOT NULL DEFAULT '',
    company                   text NOT NULL DEFAULT '',
    job_title                 text NOT NULL DEFAULT '',
    email                     text NOT NULL DEFAULT '',
    phone                     text NOT NULL DEFAULT '',
    source                    text NOT NULL DEFAULT '',
    rating                    text NOT NULL DEFAULT '',
    budget                    numeric NOT NULL DEFAULT 0,
    estimated_value           numeric NOT NULL DEFAULT 0,
    purchase_timeframe        text NOT NULL DEFAULT '',
    purchase_process          text NOT NULL DEFAULT '',
    decision_maker_identified boolean NOT NULL DEFAULT false,
    existing_account_id       text NOT NULL DEFAULT '',
    lead_status               text NOT NULL DEFAULT 'Open'
        CHECK (lead_status IN ('Open', 'Qualified', 'Disqualified')),
    disqualify_reason         text NOT NULL DEFAULT '',

    created_at                timestamptz NOT NULL,
    stage_entered_at          timestamptz NOT NULL,
    closed_at                 timestamptz,
    -- updated_at is the time of the deal event that last wrote the row.
    updated_at                timestamptz NOT NULL
);
CREATE INDEX leads_stage_idx ON leads (stage);
CREATE INDEX leads_status_idx ON leads (status);
CREATE INDEX leads_owner_created_idx ON leads (owner, created_at DESC, id);
CREATE INDEX leads_lower_customer_idx ON leads (lower(customer));
CREATE INDEX leads_value_idx ON leads (value);
CREATE INDEX leads_created_idx ON leads (created_at DESC, id);
CREATE INDEX leads_account_id_idx ON leads (account_id);

-- One opportunity per deal. Child rows follow a change of its id.
CREATE TABLE opportunities (
    id                   text PRIMARY KEY,
    lead_id              text NOT NULL UNIQUE REFERENCES leads (id),
    name                 text NOT NULL DEFAULT '',
    customer_need        text NOT NULL DEFAULT '',
    proposed_solution    text NOT NULL DEFAULT '',
    currency             char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- estimated_revenue is the total of the lines.
    estimated_revenue    numeric NOT NULL DEFAULT 0,
    revenue_override     numeric,
    estimated_close_date timestamptz,
    probability          integer NOT NULL DEFAULT 0 CHECK (probability BETWEEN 0 AND 100),
    status               text NOT NULL CHECK (status IN ('Open', 'Won', 'Lost')),
    close_reason         text NOT NULL DEFAULT '',
    close_competitor     text NOT NULL DEFAULT '',
    close_note           text NOT NULL DEFAULT '',
    actual_revenue       numeric,
    closed_at            timestamptz
);

CREATE TABLE opportunity_stakeholders (
    opportunity_id text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos            integer NOT NULL,
    stakeholder_id text NOT NULL,
    name           text NOT NULL,
    email          text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('Decision Maker', 'Champion', 'Economic Buyer',
        'Technical Buyer', 'Influencer', 'End User', 'Stakeholder')),
    PRIMARY KEY (opportunity_id, pos)
);

CREATE TABLE opportunity_competitors (
    opportunity_id text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos            integer NOT NULL,
    competitor_id  text NOT NULL,
    name           text NOT NULL,
    strengths      text NOT NULL DEFAULT '',
    PRIMARY KEY (opportunity_id, pos)
);

-- The sales team: reps on it may act on the deal beside its owner.
CREATE TABLE opportunity_team (
    opportunity_id text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos            integer NOT NULL,
    member_id      text NOT NULL,
    user_id        text NOT NULL,
    role           text NOT NULL DEFAULT '',
    PRIMARY KEY (opportunity_id, pos)
);
CREATE INDEX opportunity_team_user_id_idx ON opportunity_team (user_id);

CREATE TABLE opportunity_lines (
    opportunity_id text NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos            integer NOT NULL,
    line_id        text NOT NULL,
    product        text NOT NULL,
    quantity       numeric NOT NULL,
    unit_price     numeric NOT NULL,
    discount       numeric NOT NULL DEFAULT 0,
    tax            numeric NOT NULL DEFAULT 0,
    amount         numeric NOT NULL,
    PRIMARY KEY (opportunity_id, pos)
);

-- Quote revisions: a revision closes the current quote (Closed, Revised)
-- and drafts revision N+1.
CREATE TABLE quotes (
    id             text PRIMARY KEY,
    lead_id        text NOT NULL REFERENCES leads (id),
    revision       integer NOT NULL CHECK (revision > 0),
    name           text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('Draft', 'Active', 'Won', 'Closed')),
    status_reason  text NOT NULL DEFAULT '',
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total          numeric NOT NULL,
    payment_terms  text NOT NULL DEFAULT '',
    effective_from timestamptz,
    effective_to   timestamptz,
    created_at     timestamptz NOT NULL,
    activated_at   timestamptz,
    closed_at      timestamptz,
    UNIQUE (lead_id, revision)
);
CREATE INDEX quotes_status_idx ON quotes (status);

CREATE TABLE quote_lines (
    quote_id   text NOT NULL REFERENCES quotes (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos        integer NOT NULL,
    line_id    text NOT NULL,
    product    text NOT NULL,
    quantity   numeric NOT NULL,
    unit_price numeric NOT NULL,
    discount   numeric NOT NULL DEFAULT 0,
    tax        numeric NOT NULL DEFAULT 0,
    amount     numeric NOT NULL,
    PRIMARY KEY (quote_id, pos)
);

-- At most one order per deal, from the won quote.
CREATE TABLE orders (
    id            text PRIMARY KEY,
    lead_id       text NOT NULL UNIQUE REFERENCES leads (id),
    quote_id      text REFERENCES quotes (id) ON UPDATE CASCADE,
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total         numeric NOT NULL,
    payment_terms text NOT NULL DEFAULT '',
    status        text NOT NULL CHECK (status IN ('Active', 'Fulfilled', 'Invoiced', 'Canceled')),
    cancel_reason text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    fulfilled_at  timestamptz,
    canceled_at   timestamptz
);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_lines (
    order_id   text NOT NULL REFERENCES orders (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos        integer NOT NULL,
    line_id    text NOT NULL,
    product    text NOT NULL,
    quantity   numeric NOT NULL,
    unit_price numeric NOT NULL,
    discount   numeric NOT NULL DEFAULT 0,
    tax        numeric NOT NULL DEFAULT 0,
    amount     numeric NOT NULL,
    PRIMARY KEY (order_id, pos)
);

-- At most one invoice per deal (and per order).
CREATE TABLE invoices (
    id            text PRIMARY KEY,
    lead_id       text NOT NULL UNIQUE REFERENCES leads (id),
    order_id      text UNIQUE REFERENCES orders (id) ON UPDATE CASCADE,
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total         numeric NOT NULL,
    paid_amount   numeric NOT NULL DEFAULT 0,
    payment_terms text NOT NULL DEFAULT '',
    due_date      timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('Active', 'Paid', 'Canceled')),
    cancel_reason text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    paid_at       timestamptz
);
CREATE INDEX invoices_status_due_idx ON invoices (status, due_date);

CREATE TABLE invoice_lines (
    invoice_id text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE ON UPDATE CASCADE,
    pos        integer NOT NULL,
    line_id    text NOT NULL,
    product    text NOT NULL,
    quantity   numeric NOT NULL,
    unit_price numeric NOT NULL,
    discount   numeric NOT NULL DEFAULT 0,
    tax        numeric NOT NULL DEFAULT 0,
    amount     numeric NOT NULL,
    PRIMARY KEY (invoice_id, pos)
);

-- Payments are facts: appended, never rewritten.
CREATE TABLE invoice_payments (
    invoice_id text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE ON UPDATE CASCADE,
    seq        integer NOT NULL,
    amount     numeric NOT NULL CHECK (amount > 0),
    discount   numeric NOT NULL DEFAULT 0,
    paid_at    timestamptz NOT NULL,
    PRIMARY KEY (invoice_id, seq)
);

-- The follow-up outbox. A message is recorded once (key is its idempotency
-- key) and delivered once: sent_at is NULL until delivery settled, then the
-- time it did, with delivery saying how ('smtp' sent, 'recorded' kept
-- without sending, 'failed' rejected for good by the mail server, see error).
CREATE TABLE messages (
    key        text PRIMARY KEY,
    lead_id    text NOT NULL REFERENCES leads (id),
    kind       text NOT NULL,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz,
    delivery   text CHECK (delivery IN ('smtp', 'recorded', 'failed')),
    error      text NOT NULL DEFAULT '',
    CHECK ((sent_at IS NULL) = (delivery IS NULL))
);
CREATE INDEX messages_lead_id_idx ON messages (lead_id, created_at);
CREATE INDEX messages_unsent_idx ON messages (created_at) WHERE sent_at IS NULL;

-- The deal's timeline, as the workflow numbers it.
CREATE TABLE deal_events (
    lead_id  text NOT NULL REFERENCES leads (id),
    seq      integer NOT NULL,
    at       timestamptz NOT NULL,
    actor    text NOT NULL DEFAULT '',
    action   text NOT NULL,
    accepted boolean NOT NULL,
    detail   text NOT NULL DEFAULT '',
    stage    text NOT NULL DEFAULT '',
    PRIMARY KEY (lead_id, seq)
);
CREATE INDEX deal_events_at_idx ON deal_events (at);

CREATE TABLE api_users (
    id         text PRIMARY KEY,
    email      text NOT NULL,
    name       text NOT NULL DEFAULT '',
    role       text NOT NULL CHECK (role IN ('rep', 'manager')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX api_users_lower_email_key ON api_users (lower(email));

-- Tokens are stored hashed (SHA-256 of the bearer token); the token itself
-- is shown once, when issued.
CREATE TABLE api_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES api_users (id) ON DELETE CASCADE,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE api_users;
DROP TABLE deal_events;
DROP TABLE messages;
DROP TABLE invoice_payments;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE quote_lines;
DROP TABLE quotes;
DROP TABLE opportunity_lines;
DROP TABLE opportunity_team;
DROP TABLE opportunity_competitors;
DROP TABLE opportunity_stakeholders;
DROP TABLE opportunities;
DROP TABLE leads;
DROP TABLE contacts;
DROP TABLE accounts;
