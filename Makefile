# Strand — build, test and run the local cluster.
# `make run` starts a local cluster, `make test` runs every test. See README.md.

SHELL      := /bin/bash
GO         ?= go
MODULES    := client controlplane dataplane coordinator e2e
PKGS       := $(addprefix strand.dev/,$(addsuffix /...,$(MODULES)))
BIN        := $(CURDIR)/bin
# Every cmd/<binary> directory of every module becomes bin/<binary>.
CMDS       := $(wildcard $(addsuffix /cmd/*,$(MODULES)))
BINARIES   := $(notdir $(CMDS))
TESTFLAGS  ?= -race -count=1 -timeout 25m
BENCHFLAGS ?= -run '^$$' -bench . -benchmem -count 5

export CGO_ENABLED ?= 1

.PHONY: all build test test-short verify fmt vet tidy-check run stop status bench fuzz clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	@for d in $(CMDS); do \
		mod=$${d%%/*}; name=$$(basename $$d); \
		echo "go build -o bin/$$name ./$$d"; \
		(cd $$mod && $(GO) build -trimpath -o $(BIN)/$$name ./cmd/$$name) || exit 1; \
	done

# e2e/deploy checks the deployment files against the binaries' flags (and
# that each binary refuses a bad configuration at once) within `make test`;
# the same checks on the built images run in `make test-deploy`.
test: build ## run every test (unit, integration, process-level, deployment files), with the race detector
	$(GO) test $(TESTFLAGS) $(PKGS)

test-deploy: images ## check the deployment files against the binaries and the built images (needs Docker)
	STRAND_DEPLOY_IMAGES=1 $(GO) test -count=1 strand.dev/e2e/deploy

test-short: ## the fast tests only
	$(GO) test -short -count=1 $(PKGS)

verify: fmt vet tidy-check ## gofmt, go vet, go mod tidy check per module, dependency direction
	@scripts/verify-deps

fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet: ## go vet every module
	$(GO) vet $(PKGS)

tidy-check: ## fail if go mod tidy would change a go.mod or go.sum
	@for m in $(MODULES); do \
		(cd $$m && cp go.mod /tmp/strand-go.mod.$$$$ && cp go.sum /tmp/strand-go.sum.$$$$ 2>/dev/null; \
		 GOWORK=off $(GO) mod tidy >/dev/null 2>&1; \
		 if ! cmp -s go.mod /tmp/strand-go.mod.$$$$ || ! cmp -s go.sum /tmp/strand-go.sum.$$$$; then \
			echo "$$m: go mod tidy changes go.mod/go.sum"; \
			cp /tmp/strand-go.mod.$$$$ go.mod; cp /tmp/strand-go.sum.$$$$ go.sum 2>/dev/null; \
			rm -f /tmp/strand-go.mod.$$$$ /tmp/strand-go.sum.$$$$; exit 1; fi; \
		 rm -f /tmp/strand-go.mod.$$$$ /tmp/strand-go.sum.$$$$) || exit 1; \
	done; echo "go.mod files are tidy"

run: build ## start the local cluster in the background (data under .strand/)
	@scripts/cluster up

stop: ## stop the local cluster
	@scripts/cluster down

status: ## show the local cluster's processes
	@scripts/cluster status

bench: ## run the Go benchmarks (figures go to docs/benchmarks.md)
	$(GO) test $(BENCHFLAGS) $(PKGS)

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@scripts/fuzz $${FUZZTIME:-30s}

clean: ## remove build output
	rm -rf $(BIN)

.PHONY: test-deploy images compose-up compose-down chaos bench-log bench-fetch zerocopy

images: ## build one FROM-scratch image per binary (strand/<name>:dev)
	scripts/images

compose-up: images ## start the full cluster in containers (deploy/compose)
	scripts/compose up

compose-down: ## stop the container cluster
	scripts/compose down

chaos: ## the chaos suite against the container cluster
	scripts/chaos

bench-log: ## partition-log append, recovery and 10,000-partition figures
	scripts/bench-log 5

bench-fetch: ## loopback fetch: sendfile against copying against a bare sendfile loop
	cd dataplane && $(GO) run ./tools/fetchbench --bytes 1GiB --rounds 7 --conns 1
	cd dataplane && $(GO) run ./tools/fetchbench --bytes 1GiB --rounds 7 --conns 4

zerocopy: build ## show with strace that a large fetch goes by sendfile
	scripts/strace-fetch
