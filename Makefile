# jobd — one Makefile for building, testing, linting, benchmarking and the demo.
# `make help` lists the targets.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
# The race detector multiplies memory and time; the suite stays well inside
# 30 minutes on two cores.
TEST_TIMEOUT ?= 25m
BIN := bin

.PHONY: help build test test-faults lint bench bench-quick demo deps-mariadb clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build jobd, jobd-master and jobctl into ./bin
	$(GO) build -o $(BIN)/ ./cmd/...

deps-mariadb: ## install mariadb-server with apt-get when mariadbd is missing
	@if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then :; else \
		echo "mariadbd not found: installing mariadb-server with apt-get"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-server; \
	fi

test: deps-mariadb ## run every test with -race against a private MariaDB
	$(GO) mod download
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-faults: deps-mariadb ## the long fault tests (outages, 30,000 jobs); writes docs/RELIABILITY.md
	set -o pipefail; JOBD_RELIABILITY_DOC=$(CURDIR)/docs/RELIABILITY.md \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -tags faults -run 'TestFault|TestSIGTERM' -v ./jobd/ 2>&1 \
		| grep -E '^(--- |ok|FAIL|PASS|panic)|fault_(long_)?test.go|e2e_process_test.go|Error'

demo: deps-mariadb build ## run the system: a private MariaDB, jobd-master, two workers, a few jobs
	./deploy/demo.sh

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: deps-mariadb ## the benchmark harness (under 10 minutes); rewrites docs/BENCHMARKS.md and docs/throughput.png
	$(GO) run ./bench -doc docs/BENCHMARKS.md -chart docs/throughput.png

bench-quick: deps-mariadb ## a smaller benchmark run (under 2 minutes); prints the tables, writes no file
	$(GO) run ./bench -quick

clean: ## remove build output
	rm -rf $(BIN)
