-- +goose Up
-- Inserts into listings are no longer announced on bazaar_listings; edits,
-- sales, stock changes, deletes and truncates still are (00006).
--
-- Why: a notice wakes every backend that LISTENs in the database (one per
-- replica), whatever the channel, and each must read the queue and write
-- to its client. Per insert that cost PostgreSQL about 200 us of CPU, a
-- quarter of the whole POST /listings, and held the create benchmark
-- under its 0.9x target (issue 13). A new listing shows on no cached
-- listing page, only on lists, and since this release the page cache
-- keeps lists for at most half a second (web.listMaxAge), so the notice
-- told it nothing it needed.
--
-- A contract step, and a deliberate one: the previous release keeps lists
-- until a notice. While it still runs (a rolling update, a rollback), its
-- lists show a listing added meanwhile at its next edit, sale or delete
-- notice, or at its restart; nothing else changes for it. Down puts the
-- insert notice back.

DROP TRIGGER listings_notify ON listings;
CREATE TRIGGER listings_notify AFTER UPDATE OR DELETE ON listings
    FOR EACH ROW EXECUTE FUNCTION listings_notify();

-- +goose Down
DROP TRIGGER listings_notify ON listings;
CREATE TRIGGER listings_notify AFTER INSERT OR UPDATE OR DELETE ON listings
    FOR EACH ROW EXECUTE FUNCTION listings_notify();
