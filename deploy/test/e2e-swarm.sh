#!/usr/bin/env bash
# The Docker Swarm end-to-end suite (`make e2e-swarm`): build the release
# binary and the next one (the same source plus one expand-only migration,
# written into a copy of the tree), build or reuse the images, then run
# TestSwarm in ./e2e against deploy/swarm/stack.yml.
#
#   ${BAZAAR_TEST_APP_IMAGE:-bazaar:test}   the release (build-images.sh)
#   <that>-v2                                the next release, with migration 90001
#   <that>-broken                            the next release, listening where its
#                                            health check does not look
#
# Without docker the Go suite skips loudly; with BAZAAR_REQUIRE_ALL=1 it fails.
# BAZAAR_E2E_KEEP=1 leaves the stack deployed (docker stack rm bazaar-swarm-e2e).
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
start=$SECONDS
log() { printf '%s e2e-swarm: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
export BAZAAR_TEST_APP_IMAGE=${BAZAAR_TEST_APP_IMAGE:-bazaar:test}
v2=$BAZAAR_TEST_APP_IMAGE-v2
broken=$BAZAAR_TEST_APP_IMAGE-broken

CGO_ENABLED=0 go build -trimpath -o bin/bazaar ./cmd/bazaar
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -a go.mod go.sum cmd internal "$src"/
cat >"$src/internal/postgres/migrations/90001_e2e_next_release.sql" <<'SQL'
-- Written by deploy/test/e2e-swarm.sh into a copy of the source: the next
-- release's migration, expand only (a nullable column nothing reads yet),
-- so the replicas still on the release before it keep working.
-- +goose Up
ALTER TABLE listings ADD COLUMN e2e_next_release_note text;

-- +goose Down
ALTER TABLE listings DROP COLUMN e2e_next_release_note;
SQL
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$root/bin/bazaar-next" ./cmd/bazaar)
log "built bin/bazaar and bin/bazaar-next in $((SECONDS - start))s"

if docker info >/dev/null 2>&1; then
	t=$SECONDS
	bash deploy/test/build-images.sh bin/bazaar
	BAZAAR_TEST_APP_IMAGE=$v2 bash deploy/test/build-images.sh bin/bazaar-next
	# The broken release: the same binary told (by its image, which the
	# stack does not override) to listen on 127.0.0.2, where neither nginx
	# nor its own health check (127.0.0.1) looks. It starts and runs, and
	# never becomes healthy.
	tar -C "$root/bin" --owner=0 --group=0 --numeric-owner --transform 's|^bazaar-next$|bazaar|' -cf - bazaar-next |
		docker import \
			--change 'USER 65532:65532' \
			--change 'ENV BAZAAR_ADDR=127.0.0.2:8080' \
			--change 'ENTRYPOINT ["/bazaar"]' \
			--change 'CMD ["serve"]' \
			- "$broken" >/dev/null
	log "images took $((SECONDS - t))s"
else
	log "docker is not available; the Go suite will say so"
fi

export BAZAAR_E2E_SWARM_STACK="$root/deploy/swarm/stack.yml"
export BAZAAR_E2E_SWARM_V1=$BAZAAR_TEST_APP_IMAGE BAZAAR_E2E_SWARM_V2=$v2 BAZAAR_E2E_SWARM_BROKEN=$broken
status=0
go test -count=1 -v -timeout 30m -run '^TestSwarm$' ./e2e/ || status=$?
log "total wall time $((SECONDS - start))s (exit $status)"
exit "$status"
