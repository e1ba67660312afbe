# flagstorm — make help lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...
# Test timeout for the whole suite (2-core CI machine).
TEST_TIMEOUT ?= 10m
# Benchmark knobs (bench-target).
BENCH_DURATION ?= 10s
BENCH_CONNECTIONS ?= 50
BENCH_ROUNDS ?= 3
# Fuzz knobs (fuzz): time per target, bound on minimising each new input, fuzz workers (2 cores).
FUZZTIME ?= 30s
FUZZMINTIME ?= 1s
FUZZPARALLEL ?= 2

.DEFAULT_GOAL := help
.PHONY: help build loadtest loadtest-quick loadtest-minimal-go ioredis-example test-ioredis loadtest-ioredis test-e2e test-distributed soak check-dashboards test-broken test test-short lint check-imports fmt bench bench-target bench-engine run-target fuzz fuzz-list clean toxiproxy-server

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/flagserver and bin/flagstorm
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./target/cmd/flagserver ./harness/cmd/flagstorm ./examples/minimal-go

loadtest: build ## run the built-in resilience suite on a local stack, both profiles; matrix + out/index.html
	$(BIN)/flagstorm suite --out out

loadtest-quick: build ## the quick suite (baseline, redis-blackhole, invalidation-during-outage, cold-start; both profiles, ~5 min): what CI runs
	$(BIN)/flagstorm suite --quick --out out

loadtest-minimal-go: build ## the suite against examples/minimal-go, a service written only against docs/target-contract.md; out/minimal-go
	$(BIN)/flagstorm suite --target examples/minimal-go/flagstorm.yaml --out out/minimal-go

IOREDIS_DIR := examples/seed-ioredis

ioredis-example: ## build examples/seed-ioredis (npm ci when package-lock.json changed, then tsc into dist/); needs node and npm
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "ioredis-example: needs node and npm (apt-get install -y nodejs npm)"; exit 1; }
	@if [ ! -f $(IOREDIS_DIR)/node_modules/.package-lock.json ] || [ $(IOREDIS_DIR)/package-lock.json -nt $(IOREDIS_DIR)/node_modules/.package-lock.json ]; then \
	  echo "cd $(IOREDIS_DIR) && npm ci"; cd $(IOREDIS_DIR) && npm ci --no-audit --no-fund; fi
	cd $(IOREDIS_DIR) && npx --no-install tsc -p tsconfig.json

test-ioredis: ioredis-example ## examples/seed-ioredis's node tests (real redis-server; PostgreSQL from FLAGSTORM_TEST_DATABASE_URL or 127.0.0.1:5432, else skipped)
	cd $(IOREDIS_DIR) && node --test --test-concurrency=1 dist/test/

loadtest-ioredis: build ioredis-example ## the suite against examples/seed-ioredis (the story's TypeScript + ioredis stack), variants seed and hardened; out/seed-ioredis
	$(BIN)/flagstorm suite --target $(IOREDIS_DIR)/flagstorm.yaml --out out/seed-ioredis

soak: build ## 20 minutes of load with the suite's faults in turn (PROFILE=hardened|seed); report in out/soak
	$(BIN)/flagstorm run scenarios/soak/soak.yaml --profile $${PROFILE:-hardened} --out out/soak

test: ## run the whole suite with -race (needs redis-server; PostgreSQL is found or started)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-broken: ## the harness against deliberately broken flagservers (UNSAFE_ switches), ~3.5 min; nightly (make test runs only the ambiguous-commit one)
	FLAGSTORM_TEST_BROKEN=1 $(GO) test -race -count=1 -timeout 10m -run 'TestBroken' -v ./harness/internal/cli/

test-e2e: build ## built-in scenario files against examples/minimal-go (correct, three defects, a proxy bypass), alone and without -race, ~2.5 min; CI runs it after the quick suite
	FLAGSTORM_TEST_E2E=1 $(GO) test -count=1 -timeout 10m -run 'TestDescribedServiceThroughTheSuite' -v ./harness/internal/cli/

test-distributed: ## the distributed proof (issue 15): the whole load by 1, 2 and 4 runner processes (shared start, runner 0 owns the faults), merged: same count, percentiles, verdict; ~1 min, alone (not in make test)
	FLAGSTORM_TEST_DISTRIBUTED=1 $(GO) test -race -count=1 -timeout 10m -run 'TestDistributedRunIsOneRun|TestRunnersMeetAtTheRendezvous' -v ./harness/internal/cli/

test-short: ## the suite without the long tests
	$(GO) test -race -count=1 -short $(PKGS)

lint: check-imports ## gofmt check, go vet, import-direction check
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

check-imports: ## keep dependencies pointing one way (see ARCHITECTURE.md)
	$(GO) run ./internal/importcheck

check-dashboards: ## promtool check/test of the Prometheus rules and the dashboards' query checks (the proof against a live Prometheus runs in make test)
	promtool check rules dashboards/prometheus/rules/*.yml
	promtool test rules dashboards/prometheus/rules/tests/*.yml
	$(GO) test -count=1 -short ./dashboards/

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

bench: bench-target bench-engine ## all benchmarks (figures go to BENCHMARKS.md by hand)

bench-target: build ## wrk at $(BENCH_CONNECTIONS) connections against flagserver and two reference handlers
	$(GO) run ./target/cmd/benchtarget -duration $(BENCH_DURATION) -connections $(BENCH_CONNECTIONS) -rounds $(BENCH_ROUNDS)

bench-engine: build ## flagstorm's engine vs wrk and hey at $(BENCH_CONNECTIONS) connections; accuracy behind 100 ms latency; memory
	$(GO) run ./harness/cmd/benchengine -duration $(BENCH_DURATION) -connections $(BENCH_CONNECTIONS) -rounds $(BENCH_ROUNDS)

run-target: build ## run flagserver on 127.0.0.1:8080 (SQLite unless DATABASE_URL; Redis if REDIS_URL)
	SEED_FLAGS=$${SEED_FLAGS:-100} ADMIN_TOKEN=$${ADMIN_TOKEN:-dev-token} $(BIN)/flagserver serve

fuzz: ## run every fuzz target (fuzz-list) for FUZZTIME (30s) each, minimising each new input for at most FUZZMINTIME (1s); fails if any fails
	@list=$$($(MAKE) -s --no-print-directory fuzz-list) || exit 1; failed=; \
	while read -r pkg name; do \
	  [ -n "$$name" ] || continue; \
	  echo "== $$name ($$pkg)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) -parallel $(FUZZPARALLEL) $$pkg \
	    || failed="$$failed $$pkg.$$name"; \
	done <<< "$$list"; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed" >&2; exit 1; fi

fuzz-list: ## print "package FuzzTarget" for every fuzz target: packages whose tests declare func Fuzz..., names from go test -list
	@set -o pipefail; \
	pkgs=$$($(GO) list -f '{{range .TestGoFiles}}{{$$.ImportPath}} {{$$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .XTestGoFiles}}{{$$.ImportPath}} {{$$.Dir}}/{{.}}{{"\n"}}{{end}}' $(PKGS) \
	  | while read -r pkg file; do if grep -q '^func Fuzz' "$$file"; then echo "$$pkg"; fi; done | sort -u) || exit 1; \
	[ -z "$$pkgs" ] || $(GO) test -list '^Fuzz' $$pkgs \
	  | awk '/^Fuzz/ {n[++c] = $$1; next} /^ok / {for (i = 1; i <= c; i++) print $$2, n[i]; c = 0; next} {print > "/dev/stderr"; bad = 1} END {exit bad}'

toxiproxy-server: ## build bin/toxiproxy-server from the Toxiproxy version go.mod pins, offline from the module cache (tests build their own)
	@mkdir -p $(BIN)
	v=$$($(GO) list -m -f '{{.Version}}' github.com/Shopify/toxiproxy/v2) && \
	  $(GO) build -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=$${v#v}" -o $(BIN)/toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server

clean: ## remove build output
	rm -rf $(BIN) out
