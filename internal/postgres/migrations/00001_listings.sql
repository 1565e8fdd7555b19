-- +goose Up
-- The database repeats the domain's rules as constraints: a bug in the
-- application must not be able to store a listing the domain forbids.
CREATE TABLE listings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    price_cents bigint      NOT NULL CHECK (price_cents BETWEEN 1 AND 100000000),
    currency    text        NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    quantity    integer     NOT NULL CHECK (quantity BETWEEN 0 AND 100000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
