#!/bin/bash
# Entry point of the bazaar-test-postgres image. It honours the part of the
# official postgres image's contract that Bazaar's compose file relies on:
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB (each also as a _FILE
# variable naming a file that holds it, for Docker secrets), initdb into
# PGDATA on first start, password (scram) auth for the network, listen on all
# addresses.
set -Eeuo pipefail

# file_env VAR sets VAR from the file named by VAR_FILE, as the official
# image does; both set is an error.
file_env() {
	local var=$1 file_var=${1}_FILE
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		echo >&2 "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	if [ -n "${!file_var:-}" ]; then
		export "$var"="$(<"${!file_var}")"
		unset "$file_var"
	fi
}
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER
file_env POSTGRES_DB

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	# The volume arrives owned by root; fix it, then drop privileges.
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo >&2 "error: database is uninitialized and POSTGRES_PASSWORD is not set"
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
	rm -f "$pwfile"
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

	# A temporary server on the Unix socket only, so that a TCP health check
	# (pg_isready -h 127.0.0.1) cannot report ready before initialisation ends.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
			--set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "PostgreSQL init process complete; ready for start up."
fi

# The official image sets STOPSIGNAL SIGINT so that `docker stop` means a
# fast shutdown; docker import cannot set STOPSIGNAL, so translate here.
# (SIGTERM would be a smart shutdown that waits for the app's pooled
# connections until Docker's SIGKILL.)
postgres -D "$PGDATA" -c listen_addresses='*' "${@:2}" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
status=0
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" && status=0 || status=$?
done
exit "$status"
