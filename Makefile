# folio: every task a developer runs. `make help` lists them.

GO      ?= go
TOOL    := $(GO) tool -modfile=tools/go.mod
PKGS    := ./...

.PHONY: help run build test test-pgbouncer check check-fmt check-generated check-bench generate vet staticcheck migrate goose stress fuzz bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## run the demo: a throwaway database, sample data and two portfolio reports
	$(GO) run ./cmd/app demo

build: ## build the command as bin/folio
	$(GO) build -buildvcs=auto -o bin/folio ./cmd/app

# go test's default of 10 minutes per package is near what cmd/app's tests
# take on a loaded 2-core machine (about 8.5 minutes there, 3 on an idle one).
TEST_TIMEOUT ?= 30m

test: ## run every test against a throwaway PostgreSQL (or TEST_DATABASE_URL)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-pgbouncer: ## the unit of work's tests through PgBouncer in transaction pooling (apt-get install pgbouncer)
	TEST_PGBOUNCER=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./internal/uow/...

check: check-fmt check-generated vet staticcheck check-bench ## what CI checks besides the tests

check-fmt: ## fail if any Go file is not as gofmt writes it
	@files=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go')) && if [ -n "$$files" ]; then \
		echo "not gofmt'd (run gofmt -w on them):" >&2; echo "$$files" >&2; exit 1; fi

check-generated: ## fail if internal/dbgen is not what sqlc makes of sql/
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir -p "$$tmp/internal" && cp -r sql sqlc.yaml "$$tmp/" && \
	$(TOOL) sqlc generate -f "$$tmp/sqlc.yaml" && \
	if ! diff -r internal/dbgen "$$tmp/internal/dbgen"; then \
		echo "internal/dbgen is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi
	$(TOOL) sqlc vet

check-bench: ## the benchmarks compile and vet (they never run in CI)
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' ./...

generate: ## regenerate internal/dbgen from sql/ with sqlc
	rm -f internal/dbgen/*.go
	$(TOOL) sqlc generate

vet: ## go vet
	$(GO) vet $(PKGS)

staticcheck: ## staticcheck
	$(TOOL) staticcheck $(PKGS)

migrate: ## apply the migrations (DATABASE_URL, or the embedded default)
	$(GO) run ./cmd/app migrate up

# $(value ARGS): the shell, not make, expands $DATABASE_URL in ARGS.
goose: ## the stock goose CLI on sql/schema: make goose ARGS='postgres "$DATABASE_URL" status'
	$(TOOL) goose -dir sql/schema $(value ARGS)

STRESS   ?= 2m
FUZZTIME ?= 30s

stress: ## the load test for STRESS (default 2m) instead of a few thousand units
	$(GO) test -race -count=1 -timeout 60m -run '^TestLoadKeepsEveryCommittedChange$$' -v ./internal/uow/ -args -stress=$(STRESS)

fuzz: ## every fuzz target for FUZZTIME (default 30s) each
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
		done; \
	done

COUNT ?= 8

bench: ## folio against hand-written pgx, GORM and bun, COUNT rounds (default 8); see bench/BENCHMARKS.md
	cd bench && ./run.sh $(COUNT)

clean: ## remove built binaries
	rm -rf bin
