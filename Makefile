# ffbroker: build, test, demo, bench, lint. See README.md.

GO          ?= go
PG_MAJORS   ?= 13 14 15 16 17 18
# Packages whose tests run against PostgreSQL; make test-matrix runs them on each major.
PG_PACKAGES ?= ./sql/... ./broker/...
GOTEST      ?= $(GO) test -count=1

.PHONY: all build test test-go test-matrix lint demo bench clean

all: build

build:
	$(GO) build ./...

## test: everything a clean checkout must pass (CI runs this and test-matrix).
test: lint test-go

test-go:
	$(GOTEST) ./...

## test-matrix: the database tests on PostgreSQL 13 to 18 (binaries fetched from npm, cached in .cache/pg).
test-matrix:
	@set -e; for m in $(PG_MAJORS); do \
	  bin=$$(scripts/pg-fetch $$m | cut -f2); \
	  echo "== PostgreSQL $$m ($$bin)"; \
	  FFB_PG_BIN=$$bin $(GOTEST) $(PG_PACKAGES); \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

demo:
	@echo "make demo: not yet — the end-to-end incident walk-through lands with the operator CLI."

## bench: Go benchmarks against real PostgreSQL and moto, then ratios to the floors measured in the same run.
BENCH_COUNT ?= 5
bench:
	@mkdir -p bin
	$(GO) test -run '^$$' -bench '^Benchmark[^R]' -benchmem -count $(BENCH_COUNT) ./broker/... | tee bin/bench.out
	$(GO) test -run '^$$' -bench '^BenchmarkRevoke' -benchmem -benchtime 5x -count 3 ./broker/ | tee -a bin/bench.out
	@echo
	@$(GO) run ./internal/benchreport < bin/bench.out

clean:
	rm -rf bin .aws-sam
