#!/usr/bin/env bash
# The compose end-to-end suite (`make e2e`): build the static binary, build or
# reuse the test images, then run ./e2e against docker-compose.yml plus
# deploy/test/compose.override.yml under the project name bazaar-e2e.
#
# Without docker the Go suite skips loudly; with BAZAAR_REQUIRE_ALL=1 it fails.
# BAZAAR_E2E_KEEP=1 leaves the stack running afterwards for inspection
# (docker-compose -p bazaar-e2e down -v removes it).
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
start=$SECONDS
log() { printf '%s e2e: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
CGO_ENABLED=0 go build -trimpath -o bin/bazaar ./cmd/bazaar
log "built bin/bazaar in $((SECONDS - start))s"

if docker info >/dev/null 2>&1; then
	t=$SECONDS
	bash deploy/test/build-images.sh bin/bazaar
	# Exactly the images just built, whatever another worktree's
	# build-images.sh does to the shared tags meanwhile.
	BAZAAR_TEST_POSTGRES_IMAGE=$(cat deploy/test/.cache/postgres.image)
	BAZAAR_TEST_NGINX_IMAGE=$(cat deploy/test/.cache/nginx.image)
	export BAZAAR_TEST_POSTGRES_IMAGE BAZAAR_TEST_NGINX_IMAGE
	log "images: $BAZAAR_TEST_POSTGRES_IMAGE $BAZAAR_TEST_NGINX_IMAGE"
	log "images took $((SECONDS - t))s"
	if [ -z "${COMPOSE:-}" ]; then
		if docker compose version >/dev/null 2>&1; then
			COMPOSE="docker compose"
		elif docker-compose version >/dev/null 2>&1; then
			COMPOSE=docker-compose
		fi
	fi
	export COMPOSE
	log "compose command: ${COMPOSE:-none}"
else
	log "docker is not available; the Go suite will say so"
fi

export BAZAAR_E2E_COMPOSE_FILES="$root/docker-compose.yml:$root/deploy/test/compose.override.yml"
export BAZAAR_E2E_PROJECT=${BAZAAR_E2E_PROJECT:-bazaar-e2e}
status=0
go test -count=1 -v -timeout 30m ./e2e/ || status=$?
log "total wall time $((SECONDS - start))s (exit $status)"
exit "$status"
