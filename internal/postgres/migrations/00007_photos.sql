-- +goose Up
-- Listing photos, their stored sizes, and the objects waiting to be deleted
-- from the photo store (internal/gallery). Expand only: new tables and
-- triggers, nothing an older binary reads or writes.
--
-- The order of writes keeps rows and objects consistent whatever fails:
--   upload  1. each key is entered in blob_garbage first, due in an hour
--              (an intent: if anything below fails, the collector deletes
--              whatever was written once it is due);
--           2. the objects are written to the store;
--           3. one transaction inserts the photo and its variants and takes
--              the keys back out of blob_garbage (only while still unclaimed).
--   delete  the photo's rows go (directly, or by cascade from the listing),
--           and a trigger enters their keys in blob_garbage, due now, in the
--           same transaction; the collector deletes the objects and then
--           the garbage rows, retrying with a growing pause while the store
--           is down.
-- So no row ever points at an object not yet written or already deleted,
-- and no object is left that no row will ever delete.

-- A photo of a listing. position orders a listing's photos from 0; the
-- photo at position 0 is the cover (the first photo is the one cards
-- show, as on Etsy and eBay; "make cover" moves a photo to the front), so
-- there is no second notion of order to keep consistent. position is
-- unique per listing and at most 9, which is the 10-photo limit in the
-- database itself; the unique constraint is deferred so that a reorder
-- or a delete can renumber the others in one statement.
CREATE TABLE listing_photos (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    listing_id bigint      NOT NULL CONSTRAINT listing_photos_listing_id_fkey REFERENCES listings (id) ON DELETE CASCADE,
    position   smallint    NOT NULL CONSTRAINT listing_photos_position_check CHECK (position BETWEEN 0 AND 9),
    -- The upload's size after orientation; the variants are at most this.
    width      integer     NOT NULL CONSTRAINT listing_photos_width_check CHECK (width > 0),
    height     integer     NOT NULL CONSTRAINT listing_photos_height_check CHECK (height > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT listing_photos_listing_id_position_key UNIQUE (listing_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- The sizes stored for a photo, each an object under a content-hashed key.
-- A key belongs to one variant only (unique), so deleting a variant's
-- object can never take away another photo's.
CREATE TABLE photo_variants (
    photo_id     bigint  NOT NULL CONSTRAINT photo_variants_photo_id_fkey REFERENCES listing_photos (id) ON DELETE CASCADE,
    width        integer NOT NULL CONSTRAINT photo_variants_width_check CHECK (width > 0),
    height       integer NOT NULL CONSTRAINT photo_variants_height_check CHECK (height > 0),
    key          text    NOT NULL CONSTRAINT photo_variants_key_key UNIQUE,
    content_type text    NOT NULL CONSTRAINT photo_variants_content_type_check CHECK (content_type IN ('image/jpeg', 'image/png')),
    CONSTRAINT photo_variants_pkey PRIMARY KEY (photo_id, width)
);

-- Objects to delete from the photo store. attempts = 0 marks an upload's
-- intent that nobody has claimed yet; the collector claims a due row by
-- raising attempts and pushing due_at to its next retry.
CREATE TABLE blob_garbage (
    key      text        NOT NULL CONSTRAINT blob_garbage_pkey PRIMARY KEY,
    due_at   timestamptz NOT NULL DEFAULT now(),
    attempts integer     NOT NULL DEFAULT 0,
    error    text
);
CREATE INDEX blob_garbage_due_at_idx ON blob_garbage (due_at);

-- +goose StatementBegin
CREATE FUNCTION photo_variants_garbage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_garbage (key) VALUES (OLD.key)
        ON CONFLICT (key) DO UPDATE SET due_at = now(), attempts = 0, error = NULL;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER photo_variants_garbage AFTER DELETE ON photo_variants
    FOR EACH ROW EXECUTE FUNCTION photo_variants_garbage();

-- Photos show on listing pages and cards: a change announces the listing
-- on the page caches' channel (00006), in the writing transaction. A
-- listing deleted with its photos is announced by its own trigger.
-- +goose StatementBegin
CREATE FUNCTION listing_photos_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('bazaar_listings', 'update ' || OLD.listing_id);
    ELSE
        PERFORM pg_notify('bazaar_listings', 'update ' || NEW.listing_id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER listing_photos_notify AFTER INSERT OR UPDATE OR DELETE ON listing_photos
    FOR EACH ROW EXECUTE FUNCTION listing_photos_notify();
