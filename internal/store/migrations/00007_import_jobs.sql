-- Imports of the web app's Import page (issue 16). An upload is checked in
-- the request, then imported in the background; its job row is what the
-- page shows while it runs: the counts, updated as rows are done, then the
-- rejected rows (line, reason, the row's content) and when it finished, or
-- the error that stopped it. Only the user who started it sees it.

-- +goose Up
CREATE TABLE import_jobs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_email  text NOT NULL,
    file_name   text NOT NULL,
    total_rows  integer NOT NULL CHECK (total_rows >= 0),
    done        integer NOT NULL DEFAULT 0,
    started     integer NOT NULL DEFAULT 0,
    existing    integer NOT NULL DEFAULT 0,
    repeated    integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    rejects     jsonb NOT NULL DEFAULT '[]',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX import_jobs_user_email_idx ON import_jobs (user_email, started_at);

-- +goose Down
DROP TABLE import_jobs;
