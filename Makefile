# Bazaar: `make run` to develop, `make test` to test. See README.md.
GO ?= go
# The toolchain every entry point builds with. This machine's go.env says
# GOTOOLCHAIN=local; naming the release makes the go command fetch it once
# from the module proxy (the one approved way to a newer Go here).
export GOTOOLCHAIN ?= go1.27.3
export CGO_ENABLED ?= 0

.PHONY: run test vet images rules e2e-swarm lint fmt staticcheck gosec actionlint mod vuln fuzz templ generate e2e bench bench-uploads bench-search build deploy clean versitygw

# versitygw is the real S3 server the blob store's S3 tests run against
# (internal/blob/s3test). Built once into the user's cache, outside the
# repository; a cold build takes about 5 minutes here, later runs nothing.
VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bazaar/versitygw-$(VERSITYGW_VERSION)/versitygw
export BAZAAR_VERSITYGW := $(VERSITYGW)

## run: serve at http://localhost:8080 (starts a private PostgreSQL under .data/ when DATABASE_URL is unset)
run:
	$(GO) run ./cmd/bazaar dev

## test: every gate below (go vet, lint, mod, vuln, fuzz, templ), then every Go test with the race detector against real PostgreSQL, nginx (in the test image, see images) and Chromium
test: vet lint mod vuln fuzz templ images rules $(VERSITYGW)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

## versitygw: build the S3 server the tests use (once; see VERSITYGW above)
versitygw: $(VERSITYGW)
$(VERSITYGW):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

vet:
	$(GO) vet ./...

## images: the Debian-based test images (PostgreSQL 17, nginx 1.30, the monitoring image); the nginx tests run the template in bazaar-test-nginx:1.30. Built once, then reused; without docker the nginx tests say so (and fail under BAZAAR_REQUIRE_ALL=1)
images:
	@if docker info >/dev/null 2>&1; then bash deploy/test/build-images.sh; \
	else echo "!!! docker is not available: no test images; the nginx tests will skip (or fail under BAZAAR_REQUIRE_ALL=1) !!!"; fi

## rules: the alert rules' unit tests (deploy/monitoring/rules_test.yml) with promtool, from the monitoring image the e2e suite runs (bazaar-test-monitoring, so the promtool of the Prometheus that runs the rules; `make images` builds it), or else a promtool on the PATH; with neither it says so, and fails under BAZAAR_REQUIRE_ALL=1
MONITORING_IMAGE := bazaar-test-monitoring:trixie
rules: images
	@if docker image inspect $(MONITORING_IMAGE) >/dev/null 2>&1; then \
		docker run --rm --network none -v "$(CURDIR)/deploy/monitoring:/rules:ro" -w /rules --entrypoint promtool $(MONITORING_IMAGE) test rules rules_test.yml; \
	elif command -v promtool >/dev/null 2>&1; then \
		cd deploy/monitoring && promtool test rules rules_test.yml; \
	elif [ "$$BAZAAR_REQUIRE_ALL" = 1 ]; then \
		echo "!!! rules: no $(MONITORING_IMAGE) and no promtool, and BAZAAR_REQUIRE_ALL=1 !!!"; exit 1; \
	else echo "!!! rules: no $(MONITORING_IMAGE) and no promtool: the alert rules are NOT tested (fails under BAZAAR_REQUIRE_ALL=1) !!!"; fi

# Pinned analysers. `go run pkg@version` builds each in its own module
# graph, so none of their dependencies enters go.mod (as a tool dependency,
# actionlint's yaml library once clashed with compose-go's).
ACTIONLINT  := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOSEC       := github.com/securego/gosec/v2/cmd/gosec@v2.30.0
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
# The page compiler; the same version as the github.com/a-h/templ runtime
# in go.mod (it warns when they differ).
TEMPL       := github.com/a-h/templ/cmd/templ@v0.3.1100
TEMPLATES   := internal/web/templates

## lint: gofmt, staticcheck, gosec, and actionlint on the CI workflow
lint: fmt staticcheck gosec actionlint

fmt:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# Every exclusion says why: a `// #nosec G123 -- reason` on the line (or
# the line above; the two -nosec-require flags make a bare #nosec fail), or
# one of these path rules. pgcluster and nginxtest exist to start the
# machine's postgres and nginx binaries (G204) in a directory their caller
# chose, never from request input (G304, G703), which those servers' own
# users must be able to traverse and read (G301, G302, G306). Error
# handling and integer conversions stay checked there too.
# The bench programs (bench/*.go and bench/uploads, not the floors they measure) are the same
# kind of harness: it runs the binaries it built and wrk, and writes its
# reports under bench/out for people to read.
GOSEC_EXCLUDE := internal/(pgcluster|nginxtest)/.*:G204,G301,G302,G304,G306,G703;bench/(uploads/|search/)?[^/]*\.go:G204,G301,G302,G304,G306,G703
gosec:
	$(GO) run $(GOSEC) -quiet -terse -color=false -nosec-require-rules -nosec-require-justification \
		-exclude-rules='$(GOSEC_EXCLUDE)' ./...

actionlint:
	$(GO) run $(ACTIONLINT) .github/workflows/ci.yml

## mod: go.sum matches the downloaded modules, and go.mod lists exactly what the code uses (go mod tidy would change nothing)
mod:
	$(GO) mod verify
	$(GO) mod tidy -diff

# The vulnerability database is golang.org/x/vulndb's data/osv at this
# pseudo-version, indexed by that module's own cmd/indexdb: no network at
# scan time, and the same answer on every machine until the pin moves.
# Refresh: README "Gates".
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_CACHE   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bazaar/vulndb
VULNDB         := $(VULNDB_CACHE)/$(VULNDB_VERSION)

## vuln: govulncheck against the pinned, locally built database; fails on any vulnerability the code reaches
vuln: $(VULNDB)/index/db.json
	$(GO) run $(GOVULNCHECK) -db file://$(VULNDB) ./...

# Built once per pin (about 90 s cold, most of it compiling indexdb) into a
# temporary directory and renamed, so an interrupted build leaves no half
# database behind; its output (a page of downloads) shows only on failure. Run outside the module so nothing touches go.mod/go.sum.
$(VULNDB)/index/db.json:
	@echo "vuln: building the vulnerability database $(VULNDB_VERSION) in $(VULNDB)"
	@mkdir -p $(VULNDB_CACHE)
	@set -e; tmp=$$(mktemp -d $(VULNDB_CACHE)/.build.XXXXXX); trap 'rm -rf "$$tmp"' EXIT; \
	src=$$(cd "$$tmp" && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -d "$$src/data/osv" || { echo "vuln: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION) ($$src)"; exit 1; }; \
	(cd "$$tmp" && $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out "$$tmp/db") >"$$tmp/log" 2>&1 \
		|| { cat "$$tmp/log"; exit 1; }; \
	rm -rf $(VULNDB); mv "$$tmp/db" $(VULNDB)

## fuzz: every Go fuzz target in the repository (found by name, so a new one cannot be forgotten), each for FUZZTIME
FUZZTIME ?= 10s
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for file in $$(git grep -l --untracked '^func Fuzz' -- '*_test.go'); do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			start=$$(date +%s); \
			if ! $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$(dirname "$$file") >"$$log" 2>&1; then \
				cat "$$log"; echo "fuzz: $$name failed. An input the fuzzer made is now in $$(dirname "$$file")/testdata/fuzz/$$name/ (the log names it): commit it with the fix, it is a regression test from now on."; exit 1; \
			fi; \
			echo "fuzz: $$name ok in $$(( $$(date +%s) - start ))s, $$(grep -o 'execs: [0-9]*' "$$log" | tail -1 | cut -d' ' -f2) inputs"; \
		done; \
	done

## generate: compile the pages (internal/web/templates/*.templ) into the committed *_templ.go files
generate:
	$(GO) run $(TEMPL) generate -path $(TEMPLATES)

## templ: the committed *_templ.go files are what `make generate` makes of the .templ files
templ:
	@$(GO) run $(TEMPL) generate -check -path $(TEMPLATES) >/dev/null 2>&1 || { \
		$(GO) run $(TEMPL) generate -check -path $(TEMPLATES); echo "templ: run make generate and commit the result"; exit 1; }

## e2e: the docker compose stack, run for real (cold start, scale-out, node loss, rolling restart, database restart)
e2e:
	bash deploy/test/e2e.sh

## e2e-swarm: deploy/swarm/stack.yml on a single-node Docker Swarm, run for real (spread, scaling, rolling update with a migration, automatic rollback, a killed replica, a database restart)
e2e-swarm:
	bash deploy/test/e2e-swarm.sh

## bench: wrk through nginx against the app and its two floors (bench/floor), with ratios
# Built, not `go run`: go run turns every failing exit status into 1, and
# bench says 2 for an invalid run.
bench:
	$(GO) build -o bin/bench ./bench
	./bin/bench
	$(MAKE) bench-uploads
	$(MAKE) bench-search

## bench-search: search at 1,000,000 generated listings, p50/p95/p99 per kind of query, plans of the misses
bench-search:
	$(GO) run ./bench/search

## bench-uploads: 20 clients upload 12-megapixel photos at once; the app's peak RSS and the home page's latency meanwhile
bench-uploads:
	$(GO) run ./bench/uploads

## build: the static binary in bin/bazaar
build:
	$(GO) build -trimpath -o bin/bazaar ./cmd/bazaar

## deploy: rolling restart of the app replicas of a running compose stack
deploy:
	bash deploy/rollout.sh app

clean:
	rm -rf bin bench/out
