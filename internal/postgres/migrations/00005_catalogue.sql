-- +goose Up
-- Catalogue: a two-level category tree, a condition per listing, and what
-- search needs (a weighted tsvector, trigrams). Expand only (README.md): the
-- previous release inserts listings naming neither category nor condition,
-- and the defaults below file those under "Other" and "used".

-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may
-- create it, no superuser needed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Categories change only through migrations, so ids are fixed here and the
-- tree is two levels: top-level rows have no parent, leaves have a
-- top-level parent. Listings belong to leaves (checked by the store).
CREATE TABLE categories (
    id        integer PRIMARY KEY,
    parent_id integer CONSTRAINT categories_parent_id_fkey REFERENCES categories (id),
    slug      text    NOT NULL CONSTRAINT categories_slug_key UNIQUE
                      CONSTRAINT categories_slug_check CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name      text    NOT NULL CONSTRAINT categories_name_check CHECK (char_length(name) BETWEEN 1 AND 60),
    position  integer NOT NULL
);
CREATE INDEX categories_parent_id_idx ON categories (parent_id, position);

INSERT INTO categories (id, parent_id, slug, name, position) VALUES
    (1, NULL, 'home-living', 'Home & Living', 1),
    (2, NULL, 'jewellery', 'Jewellery', 2),
    (3, NULL, 'clothing', 'Clothing & Shoes', 3),
    (4, NULL, 'art-collectibles', 'Art & Collectibles', 4),
    (5, NULL, 'electronics', 'Electronics', 5),
    (6, NULL, 'books-music', 'Books & Music', 6),
    (7, NULL, 'sports-outdoors', 'Sports & Outdoors', 7),
    (8, NULL, 'toys-hobbies', 'Toys & Hobbies', 8),
    (9, NULL, 'everything-else', 'Everything else', 9),
    (101, 1, 'kitchen', 'Kitchen', 1),
    (102, 1, 'tableware', 'Tableware', 2),
    (103, 1, 'furniture', 'Furniture', 3),
    (104, 1, 'lighting', 'Lighting', 4),
    (105, 1, 'decor', 'Decor', 5),
    (106, 1, 'textiles', 'Textiles', 6),
    (107, 1, 'garden', 'Garden', 7),
    (201, 2, 'rings', 'Rings', 1),
    (202, 2, 'necklaces', 'Necklaces', 2),
    (203, 2, 'earrings', 'Earrings', 3),
    (204, 2, 'bracelets', 'Bracelets', 4),
    (205, 2, 'watches', 'Watches', 5),
    (301, 3, 'womens-clothing', 'Women''s clothing', 1),
    (302, 3, 'mens-clothing', 'Men''s clothing', 2),
    (303, 3, 'kids-clothing', 'Kids'' clothing', 3),
    (304, 3, 'shoes', 'Shoes', 4),
    (305, 3, 'bags-accessories', 'Bags & accessories', 5),
    (401, 4, 'paintings', 'Paintings', 1),
    (402, 4, 'prints', 'Prints', 2),
    (403, 4, 'sculpture', 'Sculpture', 3),
    (404, 4, 'photography', 'Photography', 4),
    (405, 4, 'antiques', 'Antiques', 5),
    (501, 5, 'phones', 'Phones', 1),
    (502, 5, 'computers', 'Computers', 2),
    (503, 5, 'audio', 'Audio', 3),
    (504, 5, 'cameras', 'Cameras', 4),
    (505, 5, 'video-games', 'Video games', 5),
    (601, 6, 'books', 'Books', 1),
    (602, 6, 'vinyl-records', 'Vinyl records', 2),
    (603, 6, 'musical-instruments', 'Musical instruments', 3),
    (604, 6, 'sheet-music', 'Sheet music', 4),
    (701, 7, 'cycling', 'Cycling', 1),
    (702, 7, 'camping', 'Camping', 2),
    (703, 7, 'fitness', 'Fitness', 3),
    (704, 7, 'water-sports', 'Water sports', 4),
    (801, 8, 'toys', 'Toys', 1),
    (802, 8, 'board-games', 'Board games', 2),
    (803, 8, 'craft-supplies', 'Craft supplies', 3),
    (804, 8, 'models-kits', 'Models & kits', 4),
    (901, 9, 'other', 'Other', 1);

-- Existing listings go to the "Other" leaf; the default also covers the
-- previous release's inserts during a rolling update. A constant default
-- does not rewrite the table; the foreign key is checked once.
ALTER TABLE listings
    ADD COLUMN category_id integer NOT NULL DEFAULT 901
        CONSTRAINT listings_category_id_fkey REFERENCES categories (id),
    ADD COLUMN condition text NOT NULL DEFAULT 'used'
        CONSTRAINT listings_condition_check CHECK (condition IN ('new', 'used', 'handmade'));

-- Full-text search: name outweighs description. A stored generated column,
-- so a listing is findable the moment its row commits, by any writer.
-- (Adding it rewrites the table once; run at deploy, before the new app.)
ALTER TABLE listings
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', description), 'B')
    ) STORED;

CREATE INDEX listings_search_idx ON listings USING gin (search);
-- Typos and prefixes: trigrams of the name (pg_trgm lower-cases itself).
CREATE INDEX listings_name_trgm_idx ON listings USING gin (name gin_trgm_ops);
-- Browsing a category newest first, and by price.
CREATE INDEX listings_category_id_id_idx ON listings (category_id, id);
CREATE INDEX listings_category_id_price_idx ON listings (category_id, price_cents, id);
CREATE INDEX listings_price_idx ON listings (price_cents, id);

-- Suggestions come from words that occur in names: one row per distinct
-- lower-case word with how many names hold it, kept current by statement
-- triggers, so "sto" is a prefix range scan of a small table instead of a
-- trigram search of every name. Statement triggers with transition tables
-- make one upsert per statement (a COPY of a million rows included), sorted
-- by word so concurrent writers lock rows in the same order, and an update
-- that leaves names alone (price, stock) touches no row here at all.
CREATE TABLE search_words (
    word  text    COLLATE "C" CONSTRAINT search_words_pkey PRIMARY KEY,
    count integer NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION name_words(name text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT w FROM regexp_split_to_table(lower(name), '[^[:alnum:]]+') AS w
    WHERE char_length(w) BETWEEN 2 AND 40
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION search_words_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_words AS s (word, count)
        SELECT w, count(*) FROM new_rows, name_words(new_rows.name) AS w GROUP BY w ORDER BY w
        ON CONFLICT (word) DO UPDATE SET count = s.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE search_words AS s SET count = s.count - d.n
        FROM (SELECT w, count(*) AS n FROM old_rows, name_words(old_rows.name) AS w GROUP BY w ORDER BY w) AS d
        WHERE s.word = d.w;
    ELSE
        INSERT INTO search_words AS s (word, count)
        SELECT w, sum(n) FROM (
            SELECT w, 1 AS n FROM new_rows, name_words(new_rows.name) AS w
            UNION ALL
            SELECT w, -1 FROM old_rows, name_words(old_rows.name) AS w
        ) AS d GROUP BY w HAVING sum(n) <> 0 ORDER BY w
        ON CONFLICT (word) DO UPDATE SET count = s.count + EXCLUDED.count;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER listings_search_words_insert AFTER INSERT ON listings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_words_sync();
CREATE TRIGGER listings_search_words_update AFTER UPDATE ON listings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_words_sync();
CREATE TRIGGER listings_search_words_delete AFTER DELETE ON listings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_words_sync();

INSERT INTO search_words (word, count)
SELECT w, count(*) FROM listings, name_words(listings.name) AS w GROUP BY w;
