-- +goose Up
-- Typos: a search that matches nothing is tried again with each unknown
-- word replaced by the known words that resemble it (pg_trgm similarity,
-- nearest first). A GiST trigram index serves that nearest-neighbour
-- order (word <-> 'stonewear' LIMIT 3) without reading the whole
-- vocabulary. Expand only: the previous release never reads it.
CREATE INDEX search_words_word_trgm_idx ON search_words USING gist (word gist_trgm_ops);

