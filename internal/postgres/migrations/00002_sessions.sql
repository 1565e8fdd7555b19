-- +goose Up
-- Sessions for alexedwards/scs (pgxstore): flash messages today, accounts next.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
