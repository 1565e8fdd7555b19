#!/usr/bin/env bash
# rollout.sh replaces every running container of a compose service (default:
# app) one at a time, without dropping requests:
#
#   for each old container:
#     1. start one extra container (up --no-deps --no-recreate --scale N+1)
#     2. wait until Docker reports it healthy
#     3. reload nginx, so it resolves the service name again and sends
#        traffic to the new container too
#     4. docker stop the old one: Bazaar turns /readyz to 503, stops accepting
#        and drains in-flight requests (nginx retries refused connections on
#        the other replicas)
#     5. let nginx give up on the old address, reload it again so it forgets
#        that address, and remove the container
#
# Why step 5 waits: once the old container has exited its address no longer
# answers, and nginx (which still has it until the reload) makes a request
# wait proxy_connect_timeout before retrying it on another replica. If nginx
# reloads while such requests are still waiting, the old worker processes
# exit under them and their clients get an empty reply (nginx 1.22 logs
# "open socket ... left in connection" and "aborting"). After
# ROLLOUT_SETTLE_SECONDS (> proxy_connect_timeout) every such request has
# been retried, and each worker has marked the address failed (max_fails)
# for fail_timeout, so it sends no new ones and the reload drops nothing.
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
#   ROLLOUT_NGINX_SERVICE    nginx's service name (default: nginx)
#   ROLLOUT_HEALTH_TIMEOUT   seconds to wait for a new container to be healthy (default: 120)
#   ROLLOUT_STOP_TIMEOUT     seconds docker stop waits before SIGKILL (default: 30)
#   ROLLOUT_SETTLE_SECONDS   seconds between the old container's exit and the
#                            nginx reload (default: 5; see step 5)
set -Eeuo pipefail

service=${1:-app}
nginx_service=${ROLLOUT_NGINX_SERVICE:-nginx}
health_timeout=${ROLLOUT_HEALTH_TIMEOUT:-120}
stop_timeout=${ROLLOUT_STOP_TIMEOUT:-30}
settle=${ROLLOUT_SETTLE_SECONDS:-5}

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

# reload_nginx makes every running nginx container resolve the service name
# again.
reload_nginx() {
	local id
	for id in "${nginx_ids[@]}"; do
		docker exec "$id" nginx -s reload ||
			die "reloading nginx failed ('docker exec ${id:0:12} nginx -s reload')"
	done
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

mapfile -t nginx_ids < <(service=$nginx_service running_ids)
[ "${#nginx_ids[@]}" -gt 0 ] || die "no running '$nginx_service' container to reload (set ROLLOUT_NGINX_SERVICE?)"

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
	reload_nginx
	log "stopping ${id:0:12} (drains for up to ${stop_timeout}s)"
	docker stop --time "$stop_timeout" "$id" >/dev/null || die "docker stop ${id:0:12} failed"
	sleep "$settle" # not a readiness wait: see step 5 above
	reload_nginx
	docker rm "$id" >/dev/null || die "docker rm ${id:0:12} failed"
	log "replaced ${id:0:12} with ${new:0:12}"
done

mapfile -t final < <(running_ids)
[ "${#final[@]}" = "$n" ] || die "expected $n running '$service' containers at the end, found ${#final[@]}"
log "done: $n container(s) of '$service' replaced"
