-- +goose Up
-- Accounts: users, their sessions and API tokens, failed-login counts,
-- password reset links, the mail outbox, and a seller for every listing.
-- Expand only (see README.md): the release before this one keeps working on
-- it, since listings.seller_id has a default that it never needs to name.

-- Emails compare case-insensitively (citext), and are unique that way.
CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         citext      NOT NULL CONSTRAINT users_email_key UNIQUE
                              CONSTRAINT users_email_check CHECK (char_length(email) BETWEEN 3 AND 254),
    display_name  text        NOT NULL CONSTRAINT users_display_name_check CHECK (char_length(display_name) BETWEEN 1 AND 50),
    -- argon2id in PHC string form; '!' for an account nobody can sign in to.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The table alexedwards/scs's postgresstore expects, as its README gives it.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Which user a session token belongs to. scs stores session data opaquely,
-- so this is how a password reset finds and ends a user's other sessions.
-- Rows outlive their sessions until the janitor removes them.
CREATE TABLE user_sessions (
    token      text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_sessions_user_id_idx ON user_sessions (user_id);

-- API tokens: only the SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL CONSTRAINT api_tokens_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
    hash         bytea       NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- Failed logins, one row each, counted over a sliding window by client
-- address (and account) so that the limit holds across replicas.
CREATE TABLE login_failures (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email  citext      NOT NULL,
    client text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_client_at_idx ON login_failures (client, at);

-- Password reset links: only the SHA-256 of the link's secret is stored;
-- used_at makes each single-use.
CREATE TABLE password_resets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       bytea       NOT NULL CONSTRAINT password_resets_hash_key UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);

-- The mail outbox: written in the same transaction as the event that sends
-- mail, delivered by the outbox worker (internal/mail) under FOR UPDATE
-- SKIP LOCKED, so a mail server that is down delays mail but loses none.
CREATE TABLE mail_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz
);
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Every listing gets a seller. Listings from before accounts go to an
-- account made for them, which nobody can sign in to ('!' is no hash). The
-- column's default names that account, so the previous release, which
-- inserts listings without a seller, keeps working during a rolling update;
-- a later (contract) migration drops the default.
INSERT INTO users (email, display_name, password_hash)
VALUES ('archive@bazaar.invalid', 'Bazaar archive', '!');

-- +goose StatementBegin
DO $$
DECLARE
    archive bigint := (SELECT id FROM users WHERE email = 'archive@bazaar.invalid');
BEGIN
    EXECUTE format('ALTER TABLE listings ADD COLUMN seller_id bigint NOT NULL DEFAULT %s
        CONSTRAINT listings_seller_id_fkey REFERENCES users (id)', archive);
END
$$;
-- +goose StatementEnd
CREATE INDEX listings_seller_id_id_idx ON listings (seller_id, id);
