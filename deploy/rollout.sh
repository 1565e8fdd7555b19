#!/usr/bin/env bash
# rollout.sh replaces every running container of a compose service (default:
# app) one at a time, without dropping requests:
#
#   for each old container:
#     1. start one extra container (up --no-deps --no-recreate --scale N+1)
#     2. wait until Docker reports it healthy, and until it has been in
#        Docker's DNS for ROLLOUT_RESOLVE_SECONDS (nginx re-resolves the
#        service name every 2s, see the template's resolver, so by then it
#        sends traffic to the new container)
#     3. docker stop the old one: Bazaar turns /readyz to 503, stops accepting
#        and drains in-flight requests; nginx retries refused connections on
#        the other replicas and drops the old address at its next DNS answer
#     4. remove the old container
#
# nginx is never reloaded: it follows the service's DNS name by itself
# (`server app:8080 resolve`, nginx 1.27.3 or later).
#
# The replica count is N again at the end. Run it from the directory holding
# docker-compose.yml, or set COMPOSE_FILE / COMPOSE_PROJECT_NAME as for
# docker compose itself. Build or pull the new image first.
#
# Usage: deploy/rollout.sh [service]
#
# Environment:
#   COMPOSE                  compose command (default: "docker compose" if it
#                            works, else "docker-compose")
#   ROLLOUT_HEALTH_TIMEOUT   seconds to wait for a new container to be healthy (default: 120)
#   ROLLOUT_STOP_TIMEOUT     seconds docker stop waits before SIGKILL (default: 30)
#   ROLLOUT_RESOLVE_SECONDS  how long a new container must have existed
#                            before the old one stops: nginx's resolver
#                            valid= plus a margin (default: 3)
set -Eeuo pipefail

service=${1:-app}
health_timeout=${ROLLOUT_HEALTH_TIMEOUT:-120}
stop_timeout=${ROLLOUT_STOP_TIMEOUT:-30}
resolve=${ROLLOUT_RESOLVE_SECONDS:-3}

log() { printf '%s rollout: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
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

# running_ids prints the IDs of the service's running containers, oldest first.
running_ids() {
	local ids
	ids=$("${compose[@]}" ps -q "$service") || die "'${compose[*]} ps -q $service' failed"
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086 # word splitting of the ID list is intended
	docker inspect --format '{{.Created}} {{.Id}} {{.State.Running}}' $ids |
		awk '$3 == "true" { print $1, $2 }' | sort | cut -d' ' -f2
}

# wait_healthy waits until container $1 is healthy, or fails after the deadline.
wait_healthy() {
	local id=$1 deadline=$((SECONDS + health_timeout)) status
	while :; do
		status=$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id") ||
			die "container ${id:0:12} vanished"
		case $status in
		"running healthy") return 0 ;;
		"running none") die "container ${id:0:12} has no healthcheck; cannot tell when it is ready" ;;
		"running unhealthy") docker logs --tail 20 "$id" >&2 || true
			die "new container ${id:0:12} is unhealthy; it is left running for inspection" ;;
		running\ *) ;;
		*) docker logs --tail 20 "$id" >&2 || true
			die "new container ${id:0:12} is '$status' instead of running and healthy" ;;
		esac
		if [ "$SECONDS" -ge "$deadline" ]; then
			docker logs --tail 20 "$id" >&2 || true
			die "new container ${id:0:12} not healthy after ${health_timeout}s (status: $status); it is left running for inspection"
		fi
		sleep 1
	done
}

# wait_resolvable waits until container $1 started at least $resolve seconds
# ago. This is not a readiness guess: nginx takes up to its resolver's
# valid= time to see a new address, and the health check usually took
# longer already, so this rarely waits at all.
wait_resolvable() {
	local started now
	started=$(docker inspect --format '{{.State.StartedAt}}' "$1") || die "container ${1:0:12} vanished"
	started=$(date -d "$started" +%s) || die "cannot read the start time of ${1:0:12}"
	now=$(date +%s)
	if [ $((now - started)) -lt "$resolve" ]; then
		sleep $((resolve - (now - started)))
	fi
}

mapfile -t old < <(running_ids)
n=${#old[@]}
[ "$n" -gt 0 ] || die "service '$service' has no running containers; start the stack first ('${compose[*]} up -d')"
log "replacing $n container(s) of '$service'"

for id in "${old[@]}"; do
	mapfile -t before < <(running_ids)
	"${compose[@]}" up -d --no-deps --no-recreate --scale "$service=$((${#before[@]} + 1))" "$service" ||
		die "starting a new '$service' container failed"
	mapfile -t after < <(running_ids)
	new=$(comm -13 <(printf '%s\n' "${before[@]}" | sort) <(printf '%s\n' "${after[@]}" | sort))
	[ "$(printf '%s' "$new" | grep -c .)" = 1 ] || die "expected exactly one new '$service' container, got: ${new:-none}"
	log "started ${new:0:12}; waiting for it to be healthy"
	wait_healthy "$new"
	wait_resolvable "$new"
	log "stopping ${id:0:12} (drains for up to ${stop_timeout}s)"
	docker stop --time "$stop_timeout" "$id" >/dev/null || die "docker stop ${id:0:12} failed"
	docker rm "$id" >/dev/null || die "docker rm ${id:0:12} failed"
	log "replaced ${id:0:12} with ${new:0:12}"
done

mapfile -t final < <(running_ids)
[ "${#final[@]}" = "$n" ] || die "expected $n running '$service' containers at the end, found ${#final[@]}"
log "done: $n container(s) of '$service' replaced"
