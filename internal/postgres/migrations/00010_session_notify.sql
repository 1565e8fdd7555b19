-- +goose Up
-- Every change that could make a replica's remembered session wrong is
-- announced on the channel bazaar_sessions, so each replica can keep a
-- cache of sessions (internal/postgres, sessioncache.go) and a signed-in
-- request costs no session query. As with bazaar_listings (00006) a
-- trigger sends the notice, in the writing transaction: it goes out if
-- and only if the change commits, whichever code path or release made it.
--
-- Payloads (postgres.SessionsChannel documents them for listeners):
--   token <md5>  the session whose token has this MD5 changed or ended
--                (scs wrote its data, it was deleted, or it was recorded
--                as a user's); the token itself, a secret, is not sent
--   user <id>    user <id> changed or is gone: drop their sessions
--   flush        a table was truncated: drop everything
--
-- Not announced: new sessions (no replica can remember a token before it
-- exists), and deleting sessions that have already expired (the janitor,
-- Tidy): a replica never serves an expired session from its cache.
--
-- Expand only: triggers and a function, nothing an older binary reads.

-- +goose StatementBegin
CREATE FUNCTION sessions_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('bazaar_sessions', 'flush');
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('bazaar_sessions', 'user ' || OLD.id);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('bazaar_sessions', 'token ' || md5(NEW.token));
    ELSE
        PERFORM pg_notify('bazaar_sessions', 'token ' || md5(OLD.token));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER sessions_notify AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW WHEN (OLD.expiry > now()) EXECUTE FUNCTION sessions_notify();
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_notify();
CREATE TRIGGER user_sessions_notify AFTER INSERT OR UPDATE ON user_sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_notify();
CREATE TRIGGER user_sessions_notify_truncate AFTER TRUNCATE ON user_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_notify();
CREATE TRIGGER users_sessions_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION sessions_notify();
CREATE TRIGGER users_sessions_notify_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_notify();

-- +goose Down
DROP TRIGGER users_sessions_notify_truncate ON users;
DROP TRIGGER users_sessions_notify ON users;
DROP TRIGGER user_sessions_notify_truncate ON user_sessions;
DROP TRIGGER user_sessions_notify ON user_sessions;
DROP TRIGGER sessions_notify_truncate ON sessions;
DROP TRIGGER sessions_notify ON sessions;
DROP FUNCTION sessions_notify();
