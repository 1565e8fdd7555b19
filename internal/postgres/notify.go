package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// ListingsChannel is the channel on which the database announces every
// change to an existing listing (migrations 00006 and 00009): a trigger
// calls pg_notify in the same transaction as the write, so the
// announcement is sent if and only if the change commits, whichever
// release or code path made it. Inserts are not announced (00009): a
// notice wakes every listening backend, which cost more than the insert,
// and a new listing shows only on lists, which listeners must expire
// themselves. The payload says what changed:
//
//	insert       a listing was added (no longer sent since 00009)
//	update <id>  listing id changed (its page and any list showing it)
//	delete <id>  listing id is gone
//	anything else, such as "flush": assume everything changed
//
// Other tables whose changes show on listing pages announce themselves on
// this channel too, with "update <id>" for the listing concerned or
// "flush".
const ListingsChannel = "bazaar_listings"

// ListenerName is the application_name of Listen's connections.
const ListenerName = "bazaar listener"

// Listener is told what a notification connection hears.
type Listener interface {
	// Listening is called each time LISTEN is in effect on a (new)
	// connection. Notifications sent while there was none are lost, so a
	// listener must assume anything changed before this call.
	Listening()
	// Lost is called when the connection fails; nothing is heard until
	// the next Listening.
	Lost(err error)
	// Notify is called with each notification's payload, in order.
	Notify(payload string)
}

// Listen holds a connection of its own (not one of the pool's, which are
// shared and reset) that LISTENs on each channel of ls, and reports to
// each channel's Listener until ctx ends: one connection for all, since a
// notice on any channel wakes every listening backend. A failed
// connection is reported (Lost, to every Listener) and replaced, after a
// pause that grows to 2 s while the database stays unreachable. An idle
// connection is pinged every pingEvery, so a connection that died without
// a word (a dropped network path) is noticed within about pingEvery plus
// the connect timeout.
func (db *DB) Listen(ctx context.Context, ls map[string]Listener) {
	const pingEvery = 2 * time.Second
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, ls, pingEvery)
		if ctx.Err() != nil {
			return
		}
		for _, l := range ls {
			l.Lost(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
		if err == nil {
			pause = 50 * time.Millisecond
		}
	}
}

// SessionListener is the Listener that keeps this DB's session cache in
// step with the database (sessioncache.go), for SessionsChannel. Until it
// is listening the cache is off and every session is read from the
// database.
func (db *DB) SessionListener() Listener { return db.sessions }

// listenOnce connects, LISTENs and relays notifications until the
// connection fails (the error) or ctx ends (nil).
func (db *DB) listenOnce(ctx context.Context, ls map[string]Listener, pingEvery time.Duration) error {
	cfg := db.pool.Config().ConnConfig.Copy()
	// Named, so an operator sees it in pg_stat_activity for what it is.
	cfg.RuntimeParams["application_name"] = ListenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	for channel := range ls {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return err
		}
	}
	for _, l := range ls {
		l.Listening()
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, pingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			if l := ls[n.Channel]; l != nil {
				l.Notify(n.Payload)
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if wctx.Err() == nil || conn.PgConn().IsClosed() {
			return err // a failure, not our own timeout
		}
		// Quiet for pingEvery: make sure the connection still works.
		pctx, cancel := context.WithTimeout(ctx, pingEvery)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
