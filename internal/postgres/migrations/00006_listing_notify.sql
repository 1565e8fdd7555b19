-- +goose Up
-- Every change to listings is announced on the channel bazaar_listings, so
-- each replica's page cache can drop the pages it changed (internal/web,
-- pagecache.go). A trigger, not the application, sends it: pg_notify is
-- part of the writing transaction, so the notice goes out if and only if
-- the change commits, and no code path or older release can forget it
-- (00006: 00004 and 00005 are buying's and the catalogue's.)
--
-- Payloads (postgres.ListingsChannel documents them for listeners):
--   insert       a listing was added; within one transaction identical
--                payloads are sent once, so a bulk insert is one notice
--   update <id>  listing <id> changed (edit, sale, stock change)
--   delete <id>  listing <id> is gone
--   flush        the table was truncated: drop everything
--
-- Expand only: a trigger and its functions, nothing an older binary reads.

-- +goose StatementBegin
CREATE FUNCTION listings_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('bazaar_listings', 'insert');
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM pg_notify('bazaar_listings', 'update ' || NEW.id);
    ELSE
        PERFORM pg_notify('bazaar_listings', 'delete ' || OLD.id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION listings_notify_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bazaar_listings', 'flush');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER listings_notify AFTER INSERT OR UPDATE OR DELETE ON listings
    FOR EACH ROW EXECUTE FUNCTION listings_notify();
CREATE TRIGGER listings_notify_truncate AFTER TRUNCATE ON listings
    FOR EACH STATEMENT EXECUTE FUNCTION listings_notify_truncate();
