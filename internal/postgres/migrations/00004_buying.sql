-- +goose Up
-- Buying: carts, orders with their items and events, and Idempotency-Keys.
-- Expand only (see README.md): new tables, nothing the release before this
-- one reads or writes changes. listings.quantity keeps its CHECK
-- (quantity BETWEEN 0 AND 100000), the backstop behind checkout's
-- conditional update: stock can never go below zero, whatever the code does.

-- A signed-in user's cart (a visitor's lives in the session). listing_id has
-- no foreign key on purpose: a listing deleted after it was added stays in
-- the cart, shown as no longer for sale, instead of vanishing silently.
CREATE TABLE cart_items (
    user_id    bigint      NOT NULL CONSTRAINT cart_items_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    listing_id bigint      NOT NULL,
    quantity   integer     NOT NULL CONSTRAINT cart_items_quantity_check CHECK (quantity BETWEEN 1 AND 100000),
    added_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cart_items_pkey PRIMARY KEY (user_id, listing_id)
);

-- One order per buyer, seller and currency. The total is stored (it is what
-- the buyer agreed to) and equals the sum of the items, which capture the
-- name and unit price at order time.
CREATE TABLE orders (
    id          bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT orders_pkey PRIMARY KEY,
    buyer_id    bigint      NOT NULL CONSTRAINT orders_buyer_id_fkey REFERENCES users (id),
    seller_id   bigint      NOT NULL CONSTRAINT orders_seller_id_fkey REFERENCES users (id),
    status      text        NOT NULL DEFAULT 'placed'
                            CONSTRAINT orders_status_check CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    currency    text        NOT NULL CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    total_cents bigint      NOT NULL CONSTRAINT orders_total_cents_check CHECK (total_cents > 0),
    tracking    text        NOT NULL DEFAULT '' CONSTRAINT orders_tracking_check CHECK (char_length(tracking) <= 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_buyer_not_seller_check CHECK (buyer_id <> seller_id)
);
-- Newest first per buyer (GET /orders) and per seller (GET /sales).
CREATE INDEX orders_buyer_id_id_idx ON orders (buyer_id, id);
CREATE INDEX orders_seller_id_id_idx ON orders (seller_id, id);

-- listing_id has no foreign key: a seller may delete a listing that was
-- ordered, and the order keeps what was bought (name and price captured).
CREATE TABLE order_items (
    order_id         bigint  NOT NULL CONSTRAINT order_items_order_id_fkey REFERENCES orders (id) ON DELETE CASCADE,
    listing_id       bigint  NOT NULL,
    name             text    NOT NULL,
    unit_price_cents bigint  NOT NULL CONSTRAINT order_items_unit_price_cents_check CHECK (unit_price_cents > 0),
    quantity         integer NOT NULL CONSTRAINT order_items_quantity_check CHECK (quantity BETWEEN 1 AND 100000),
    CONSTRAINT order_items_pkey PRIMARY KEY (order_id, listing_id)
);
CREATE INDEX order_items_listing_id_idx ON order_items (listing_id);

-- Every transition of an order, with its time and actor.
CREATE TABLE order_events (
    id       bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT order_events_pkey PRIMARY KEY,
    order_id bigint      NOT NULL CONSTRAINT order_events_order_id_fkey REFERENCES orders (id) ON DELETE CASCADE,
    status   text        NOT NULL CONSTRAINT order_events_status_check CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    actor_id bigint      NOT NULL CONSTRAINT order_events_actor_id_fkey REFERENCES users (id),
    note     text        NOT NULL DEFAULT '',
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_id_idx ON order_events (order_id, id);

-- Idempotency-Keys (Stripe's semantics), scoped to the user. A row is
-- written in the same transaction as the orders it answers for, with the
-- response to replay; a request still in flight holds a transaction-level
-- advisory lock on the key instead of a row, so a crash leaves nothing
-- half-done behind. Kept at least 24 hours (Tidy).
CREATE TABLE idempotency_keys (
    user_id     bigint      NOT NULL CONSTRAINT idempotency_keys_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    key         text        NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (char_length(key) BETWEEN 1 AND 255),
    fingerprint bytea       NOT NULL,
    status      integer     NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
