# Bazaar: `make run` to develop, `make test` to test. See README.md.
GO ?= go
# The toolchain every entry point builds with. This machine's go.env says
# GOTOOLCHAIN=local; naming the release makes the go command fetch it once
# from the module proxy (the one approved way to a newer Go here).
export GOTOOLCHAIN ?= go1.27.3
export CGO_ENABLED ?= 0

.PHONY: run test e2e bench build vet deploy clean

## run: serve at http://localhost:8080 (starts a private PostgreSQL under .data/ when DATABASE_URL is unset)
run:
	$(GO) run ./cmd/bazaar dev

## test: vet, formatting, workflow lint, then every Go test with the race detector against real PostgreSQL, nginx and Chromium
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 .github/workflows/ci.yml
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## e2e: the docker compose stack, run for real (cold start, scale-out, node loss, rolling restart, database restart)
e2e:
	bash deploy/test/e2e.sh

## bench: wrk through nginx against the app and the bench/floor program, with ratios
bench:
	bash bench/run.sh

## build: the static binary in bin/bazaar
build:
	$(GO) build -trimpath -o bin/bazaar ./cmd/bazaar

## deploy: rolling restart of the app replicas of a running compose stack
deploy:
	bash deploy/rollout.sh app

clean:
	rm -rf bin bench/out
