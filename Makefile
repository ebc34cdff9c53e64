# Branchwatch: the front door. Every target works on a fresh Debian machine
# with Go and PostgreSQL installed (PostgreSQL need not be running).

SHELL      := /bin/bash
MODULES    := shared agent aggregator web
GO         ?= go
TEST_FLAGS ?= -count=1 -timeout 20m
BENCH      ?= .
BENCHTIME  ?= 1x
FUZZTIME   ?= 60s

.PHONY: all build test bench fuzz generate lint fmt tidy demo clean check-generate

all: build

build:
	@for m in $(MODULES); do (cd $$m && $(GO) build ./...) || exit 1; done
	@mkdir -p bin
	$(GO) build -o bin/agent ./agent/cmd/agent
	@if [ -d aggregator/cmd/aggregator ]; then $(GO) build -o bin/aggregator ./aggregator/cmd/aggregator; fi

## test: every module's tests against a throwaway PostgreSQL and a loopback S3 server.
test:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test $(TEST_FLAGS) ./...) || exit 1; done

## bench: every benchmark, each figure of the issues a bound (best of 3 runs);
## BENCH=regexp narrows it. Runs every module, then lists each missed bound
## and exits non-zero when any bound was missed or a benchmark failed.
bench:
	@log=$$(mktemp); rc=0; \
	for m in $(MODULES); do echo "== $$m"; \
		(cd $$m && $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout 60m ./...) 2>&1 | tee -a $$log; \
		[ $${PIPESTATUS[0]} -eq 0 ] || rc=1; \
	done; \
	if grep -q 'BOUND MISSED:' $$log; then echo "== bounds missed:"; grep -o 'BOUND MISSED:.*' $$log; fi; \
	rm -f $$log; \
	if [ $$rc -ne 0 ]; then echo "make bench: FAIL"; exit 1; fi; echo "make bench: every bound met"

## fuzz: every fuzz target for FUZZTIME (60s by default).
fuzz:
	@./deploy/scripts/fuzz.sh $(FUZZTIME)

## generate: regenerate templ components.
generate:
	cd web && $(GO) tool templ generate

check-generate: generate
	@git diff --exit-code -- '*_templ.go' || { echo "templ output is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- '*_templ.go')" || { echo "untracked templ output: run make generate and commit"; git status --porcelain -- '*_templ.go'; exit 1; }

lint:
	@out=$$(gofmt -l $(MODULES) deploy 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

fmt:
	gofmt -w $(MODULES)

tidy:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

## demo: the whole system on one machine, nothing configured.
demo:
	@./deploy/scripts/demo.sh

clean:
	rm -rf bin .demo
