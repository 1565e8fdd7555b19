#!/usr/bin/env bash
# restore.sh restores the db service's data directory from the pgBackRest
# repository and brings the site back (deploy/COMPOSE.md, "Backups and
# point-in-time recovery"):
#
#   1. if the database is up, `pgbackrest check` pushes the WAL written so
#      far into the repository (so a point in time up to now is reachable)
#   2. stops backup, app and db (nginx stays up and answers 502 meanwhile)
#   3. `pgbackrest restore --delta` into the pgdata volume, in a one-off
#      container of the db service (an empty volume on a fresh host is fine)
#   4. starts db: PostgreSQL replays the archived WAL up to the target (or
#      to the end of the archive) and promotes itself; waits for that
#   5. runs migrate (an older backup may have an older schema), then starts
#      backup and app, and waits until every app replica is healthy
#
# Everything written after the target is gone afterwards: the database
# continues on a new timeline from the target. The backup service sees the
# new timeline and takes a full backup.
#
# Usage:
#   deploy/restore.sh                       the latest state the archive holds
#   deploy/restore.sh --time '2026-11-28 14:03:00+00'
#                                           the state at that moment (a
#                                           PostgreSQL timestamp; give the
#                                           zone): transactions committed
#                                           up to it are kept, later ones not
#   deploy/restore.sh --set 20261128-140000F
#                                           one backup as it was (no WAL
#                                           replayed past its end)
#
# Run it from the directory holding docker-compose.yml, or set COMPOSE_FILE /
# COMPOSE_PROJECT_NAME as for docker compose itself.
#
# Environment:
#   COMPOSE          compose command (default: "docker compose" if it works,
#                    else "docker-compose")
#   RESTORE_TIMEOUT  seconds to wait for recovery, and for the app (default 600)
set -Eeuo pipefail

timeout=${RESTORE_TIMEOUT:-600}
target_time='' set=''
while [ $# -gt 0 ]; do
	case $1 in
	--time) target_time=${2:?--time needs a timestamp}; shift 2 ;;
	--time=*) target_time=${1#--time=}; shift ;;
	--set) set=${2:?--set needs a backup label}; shift 2 ;;
	--set=*) set=${1#--set=}; shift ;;
	-h | --help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "restore.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

start=$SECONDS
log() { printf '%s restore: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

if [ -n "${COMPOSE:-}" ]; then
	read -r -a compose <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose=(docker-compose)
else
	die "neither 'docker compose' nor 'docker-compose' works"
fi
c() { "${compose[@]}" "$@"; }

args=(--delta --log-level-console=info)
if [ -n "$target_time" ]; then
	args+=(--type=time "--target=$target_time" --target-action=promote)
	what="the state at $target_time"
elif [ -n "$set" ]; then
	args+=(--type=immediate "--set=$set" --target-action=promote)
	what="backup $set"
else
	what="the latest archived state"
fi
log "restoring $what"

fresh=0
db_id=$(c ps -q db 2>/dev/null || true)
if [ -z "$db_id" ]; then
	# A fresh host: create db's container, volumes and network, start
	# nothing. (Only db: compose would wait for the others' depends_on.)
	log "no db container: creating it (a fresh host)"
	fresh=1
	c up --no-start --no-deps db
elif [ "$(docker inspect --format '{{.State.Running}}' "$db_id")" = true ]; then
	log "pushing the WAL written so far to the repository (pgbackrest check)"
	c exec -T --user postgres db pgbackrest check ||
		log "WARNING: pgbackrest check failed; WAL not yet archived is not restored"
fi

log "stopping backup, app and db (nginx stays up)"
c stop backup app db

# As root only to hand the (possibly new, root-owned) volume to postgres;
# pgBackRest itself runs as postgres.
log "pgbackrest restore ${args[*]}"
# shellcheck disable=SC2016 # expanded by the container's shell
c run --rm --no-deps -T db bash -c '
	set -e
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest restore "$@"' restore "${args[@]}" ||
	die "pgbackrest restore failed (the repository is untouched; fix the cause and run this again)"

log "starting db; PostgreSQL replays the archived WAL"
db_id=$(c ps -q db)
restarts=$(docker inspect --format '{{.RestartCount}}' "$db_id")
c start db
deadline=$((SECONDS + timeout))
while :; do
	# shellcheck disable=SC2016 # expanded by the container's shell
	state=$(c exec -T db sh -c 'psql -X -A -t -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT pg_is_in_recovery()"' 2>/dev/null | tr -d '\r' || true)
	[ "$state" = f ] && break
	if [ "$(docker inspect --format '{{.RestartCount}}' "$db_id")" -gt "$restarts" ] || [ $SECONDS -ge $deadline ]; then
		c logs --no-color --tail 30 db >&2 || true
		die "the database did not finish recovery (its log is above); a target after the newest archived WAL cannot be reached"
	fi
	sleep 1
done
log "db recovered and promoted after $((SECONDS - start))s"

log "migrating"
c run --rm --no-deps -T migrate >/dev/null || die "migrate failed"
if [ "$fresh" = 1 ]; then
	c up -d --no-deps backup app nginx
else
	# start, not up: up would reset the number of app replicas.
	c start backup app nginx
fi
while :; do
	ids=$(c ps -q app)
	[ -n "$ids" ] || die "no app container"
	# shellcheck disable=SC2086 # word splitting of the ID list is intended
	unhealthy=$(docker inspect --format '{{.State.Health.Status}}' $ids | grep -vc '^healthy$' || true)
	[ "$unhealthy" = 0 ] && break
	[ $SECONDS -lt $deadline ] || die "the app is not healthy after ${timeout}s"
	sleep 1
done
log "done: $what restored and the site serving after $((SECONDS - start))s"
