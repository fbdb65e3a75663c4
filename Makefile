# ffbroker: build, test, demo, bench, lint. See README.md.

GO          ?= go
PG_MAJORS   ?= 13 14 15 16 17 18
# Packages whose tests run against PostgreSQL; make test-matrix runs them on each major.
PG_PACKAGES ?= ./sql/... ./broker/...
GOTEST      ?= $(GO) test -count=1

.PHONY: all build build-cli test test-go test-matrix lint lint-go lint-template lint-catches npm-tools demo bench clean

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

## test: everything a clean checkout must pass (CI runs this and test-matrix): the
## linters, proof that each of them fails on a broken copy of its file, then the Go
## tests (under the race detector where it fits the time budget). The bootstrap tests
## run the built functions under the AWS Lambda Runtime Interface Emulator, a go.mod tool.
test: lint lint-catches test-go

## RACE_PACKAGES run under the race detector, the others without. Measured on 2 cores:
## every package fits (go test -race ./... took 1m43s against 2m38s for a plain first
## run with an empty build cache), so all of them do.
RACE_PACKAGES ?= ./...
NORACE_PACKAGES = $(filter-out $(shell $(GO) list $(RACE_PACKAGES)),$(shell $(GO) list ./...))

## The tests run with TMPDIR set to a fresh directory, which must be empty after
## them: tests leave nothing behind (mode 1777 so the throwaway clusters' postgres
## user can use it as /tmp).
test-go: npm-tools
	@tmp=$$(mktemp -d /tmp/ffbroker-test.XXXXXX) && chmod 1777 $$tmp && rc=0; \
	TMPDIR=$$tmp $(GOTEST) -race $(RACE_PACKAGES) || rc=$$?; \
	$(if $(strip $(NORACE_PACKAGES)),[ $$rc -ne 0 ] || TMPDIR=$$tmp $(GOTEST) $(NORACE_PACKAGES) || rc=$$?;) \
	left=$$(ls -A $$tmp); rm -rf $$tmp; \
	if [ -n "$$left" ]; then echo "tests left files in TMPDIR: $$left"; rc=1; fi; \
	exit $$rc

## test-matrix: the database tests on PostgreSQL 13 to 18 (binaries fetched from npm, cached in .cache/pg).
test-matrix:
	@set -e; for m in $(PG_MAJORS); do \
	  bin=$$(scripts/pg-fetch $$m | cut -f2); \
	  echo "== PostgreSQL $$m ($$bin)"; \
	  FFB_PG_BIN=$$bin $(GOTEST) $(PG_PACKAGES); \
	done

## lint: Go (gofmt, go vet, staticcheck pinned in go.mod, go mod tidy -diff) and the
## deployment files (cfn-lint with informational rules, openapi-spec-validator,
## spectral's OpenAPI ruleset, asl-validator), each made by others and pinned.
lint: lint-go lint-template

lint-go:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) mod tidy -diff

## The files lint-template checks; lint-catches points them at broken copies.
TEMPLATE ?= template.yaml
OPENAPI  ?= openapi.yaml
ASL      ?= statemachine/approval.asl.json

## npm validators: exactly package-lock.json's versions, installed by npm ci into
## .cache/npm (with npm's own cache in .cache/npm-cache), again when the lock changes.
NPM_DIR := .cache/npm
NPM_BIN := $(NPM_DIR)/node_modules/.bin

$(NPM_DIR)/.installed: package.json package-lock.json
	@mkdir -p $(NPM_DIR)
	cp package.json package-lock.json $(NPM_DIR)/
	npm ci --prefix $(NPM_DIR) --cache $(CURDIR)/.cache/npm-cache --ignore-scripts --no-audit --no-fund
	@touch $@

npm-tools: $(NPM_DIR)/.installed

lint-template: $(NPM_DIR)/.installed
	cfn-lint -c I -- $(TEMPLATE)
	openapi-spec-validator $(OPENAPI)
	$(NPM_BIN)/spectral lint --quiet --ruleset .spectral.yaml --fail-severity warn $(OPENAPI)
	$(NPM_BIN)/asl-validator --json-path $(ASL)

## lint-catches: each lint check, run on a deliberately broken copy of its file, must
## fail for that reason (scripts/lint-catches).
lint-catches: $(NPM_DIR)/.installed
	GO=$(GO) NPM_BIN=$(CURDIR)/$(NPM_BIN) scripts/lint-catches

## build-cli: the ffbroker client into bin/ffbroker, its version from git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
build-cli:
	$(GO) build -trimpath -ldflags='-X main.version=$(VERSION)' -o bin/ffbroker ./cmd/ffbroker

## demo: the incident story end to end on this machine (throwaway PostgreSQL + moto_server),
## told through the client and ffbroker local-api.
demo: build-cli
	$(GO) run ./internal/demo

## bench: Go benchmarks against real PostgreSQL and moto, then ratios to the floors measured in the same run
## and the log parser's lines per second (no limit on what the machine's load moves).
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
