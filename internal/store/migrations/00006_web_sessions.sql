-- Sessions of the web app for reps (issue 16). A rep signs in with the
-- email and bearer token of an API user; the browser then holds only a
-- random session id (HttpOnly cookie), kept here hashed like tokens. A
-- session lives as long as the token it was opened with (revoking the token
-- ends it: the lookup joins api_tokens) and until expires_at, which each
-- request pushes on by the idle timeout. csrf is the token every form of
-- the session carries.

-- +goose Up
CREATE TABLE web_sessions (
    id_hash    bytea PRIMARY KEY,
    token_hash bytea NOT NULL REFERENCES api_tokens (token_hash) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_at_idx ON web_sessions (expires_at);

-- +goose Down
DROP TABLE web_sessions;
