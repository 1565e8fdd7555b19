-- +goose Up
-- A version per listing for optimistic concurrency: the edit form and the
-- API's If-Match name the version a change was based on, and a change based
-- on an older one is refused instead of silently undoing a later edit.
--
-- Expand only (see README.md): the column has a default, and a trigger, not
-- the application, bumps it on every UPDATE, so a write by the previous
-- release during a rolling update also makes older versions stale.
ALTER TABLE listings
    ADD COLUMN version bigint NOT NULL DEFAULT 1 CONSTRAINT listings_version_check CHECK (version >= 1);

-- +goose StatementBegin
CREATE FUNCTION listings_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER listings_bump_version BEFORE UPDATE ON listings
    FOR EACH ROW EXECUTE FUNCTION listings_bump_version();
