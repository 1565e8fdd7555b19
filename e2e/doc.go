// Package e2e runs Bazaar's docker-compose.yml for real: cold start,
// topology, persistence, scale-out, node loss, rolling restart, database
// restart, logs and health. It needs docker and the images built by
// deploy/test/build-images.sh; run it with `make e2e` (deploy/test/e2e.sh).
// Under plain `go test ./...` it skips.
package e2e
