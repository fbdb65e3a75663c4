# ffbroker: build, test, demo, bench, lint. See README.md.

GO          ?= go
PG_MAJORS   ?= 13 14 15 16 17 18
# Packages whose tests run against PostgreSQL; make test-matrix runs them on each major.
PG_PACKAGES ?= ./sql/... ./broker/...
GOTEST      ?= $(GO) test -count=1

.PHONY: all build test test-go test-matrix lint lint-template demo bench clean

all: build

build:
	$(GO) build ./...

## build-<LogicalId>: one Lambda function of template.yaml, as `sam build` runs it
## (BuildMethod makefile, ARTIFACTS_DIR given by SAM), or locally into bin/<LogicalId>/.
## A function's logical id names its main package: IssueFunction is ./cmd/issue.
LAMBDAS       := IssueFunction ExpireFunction ApproveFunction ActivityFunction
LAMBDA_BUILDS := $(addprefix build-,$(LAMBDAS))
LAMBDA_GOBUILD = GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: build-lambdas $(LAMBDA_BUILDS)

$(LAMBDA_BUILDS): build-%Function:
	@mkdir -p $(or $(ARTIFACTS_DIR),bin/$*Function)
	$(LAMBDA_GOBUILD) -o $(or $(ARTIFACTS_DIR),bin/$*Function)/bootstrap ./cmd/$(shell echo '$*' | tr A-Z a-z)

## build-lambdas: all four into bin/<LogicalId>/bootstrap, whatever ARTIFACTS_DIR says.
build-lambdas:
	@$(MAKE) --no-print-directory ARTIFACTS_DIR= $(LAMBDA_BUILDS)

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

lint: lint-template
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## lint-template: template.yaml (cfn-lint, with the SAM transform) and openapi.yaml.
lint-template:
	cfn-lint template.yaml
	openapi-spec-validator openapi.yaml

## demo: the incident story end to end on this machine (throwaway PostgreSQL + moto_server).
demo:
	$(GO) build -o bin/ffbroker ./cmd/ffbroker
	$(GO) run ./internal/demo

## bench: Go benchmarks against real PostgreSQL and moto, then ratios to the floors measured in the same run.
BENCH_COUNT ?= 5
bench:
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkRevoke' -benchmem -count $(BENCH_COUNT) ./broker/... | tee bin/bench.out
	$(GO) test -run '^$$' -bench '^BenchmarkRevoke' -benchmem -benchtime 5x -count 3 ./broker/ | tee -a bin/bench.out
	$(GO) test -run '^$$' -bench '^BenchmarkColdStart' -benchtime 10x -count 3 ./cmd/internal/lambdafn/ | tee -a bin/bench.out
	@echo
	@$(GO) run ./internal/benchreport < bin/bench.out

clean:
	rm -rf bin .aws-sam
