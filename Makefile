# mesh — see README.md. Every target works on a fresh machine with Go 1.26.
GO      ?= go
BIN     ?= bin/mesh
PKGS    := ./...

.PHONY: all build test run lint measure chaos soak clean

DURATION ?= 10m
SEED     ?=

all: build

build: ## build the mesh binary into bin/mesh
	$(GO) build -o $(BIN) ./cmd/mesh

test: lint ## vet, then every test with the race detector (in-process and multi-process)
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

run: build ## start a local 3-node mesh in one process and print its status
	./$(BIN) run --nodes 3

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

measure: ## time to an agreed 3-node mesh and leader failover, p50/max over 10 runs of real processes
	MESH_MEASURE=10 $(GO) test -count=1 -run TestMeasure -v -timeout 20m ./cmd/mesh/

chaos: ## the whole chaos suite against real processes (SEED=n to reproduce); prints the table
	$(GO) run ./chaos/cmd/meshchaos $(if $(SEED),--seed $(SEED))

soak: ## random faults on a random schedule for DURATION (default 10m) on a 5-node mesh
	$(GO) run ./chaos/cmd/meshchaos --soak $(DURATION) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf bin
