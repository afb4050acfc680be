-- Accounts and contacts as the API shows and edits them, and the keys of
-- duplicate detection (issue 15 parts 4 and 5).
--
-- Accounts get a website, a phone and an address; accounts and contacts an
-- updated_at (the time of their last edit; their creation until then: a
-- qualification writes its own time, so a retried one changes nothing).
--
-- email_key, phone_key and name_key are the duplicate-detection keys of
-- leads, contacts and accounts: the email, phone and company (account) name
-- folded by internal/dedup, which the store computes in Go and writes with
-- every row, so that the one function that folds a new lead also folded
-- every row on file. They are NULL until computed: store.Migrate computes
-- them for the rows written before this migration (and for any written by
-- an older binary), and a later change of the folding sets them back to
-- NULL to have them computed again. '' is a value with no key (no email,
-- a phone too short), which matches nothing; the partial indexes leave
-- those rows out.

-- +goose Up
ALTER TABLE accounts
    ADD COLUMN website    text NOT NULL DEFAULT '',
    ADD COLUMN phone      text NOT NULL DEFAULT '',
    ADD COLUMN address    text NOT NULL DEFAULT '',
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN name_key   text,
    ADD COLUMN phone_key  text;
UPDATE accounts SET updated_at = created_at;
ALTER TABLE accounts ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
CREATE INDEX accounts_name_key_idx ON accounts (name_key) WHERE name_key <> '';
CREATE INDEX accounts_phone_key_idx ON accounts (phone_key) WHERE phone_key <> '';

ALTER TABLE contacts
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN email_key  text,
    ADD COLUMN phone_key  text;
UPDATE contacts SET updated_at = created_at;
ALTER TABLE contacts ALTER COLUMN updated_at SET NOT NULL, ALTER COLUMN updated_at SET DEFAULT now();
CREATE INDEX contacts_email_key_idx ON contacts (email_key) WHERE email_key <> '';
CREATE INDEX contacts_phone_key_idx ON contacts (phone_key) WHERE phone_key <> '';

-- existing_contact_id is the lead's Lead.ExistingContactID, as
-- existing_account_id is its ExistingAccountID.
ALTER TABLE leads
    ADD COLUMN existing_contact_id text NOT NULL DEFAULT '',
    ADD COLUMN email_key text,
    ADD COLUMN phone_key text,
    ADD COLUMN name_key  text;
CREATE INDEX leads_email_key_idx ON leads (email_key) WHERE email_key <> '';
CREATE INDEX leads_phone_key_idx ON leads (phone_key) WHERE phone_key <> '';
CREATE INDEX leads_name_key_idx ON leads (name_key) WHERE name_key <> '';
-- A contact is visible to the reps of the deals it is the contact of.
CREATE INDEX leads_contact_id_idx ON leads (contact_id);

-- +goose Down
DROP INDEX leads_contact_id_idx;
ALTER TABLE leads
    DROP COLUMN existing_contact_id, DROP COLUMN email_key, DROP COLUMN phone_key, DROP COLUMN name_key;
ALTER TABLE contacts DROP COLUMN updated_at, DROP COLUMN email_key, DROP COLUMN phone_key;
ALTER TABLE accounts
    DROP COLUMN website, DROP COLUMN phone, DROP COLUMN address, DROP COLUMN updated_at,
    DROP COLUMN name_key, DROP COLUMN phone_key;
