# mesh — see README.md. Every target works on a fresh machine with Go 1.26.
GO      ?= go
BIN     ?= bin/mesh
PKGS    := ./...

.PHONY: all build test run lint measure chaos soak clean image docker-image

DURATION ?= 10m
SEED     ?=
IMAGE_TAG  ?= mesh:latest
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

all: build

build: ## build the mesh binary into bin/mesh
	$(GO) build -ldflags "-X github.com/meshcompute/mesh/cmd.buildRevision=$$(git describe --always --dirty 2>/dev/null)" -o $(BIN) ./cmd/mesh

test: lint ## vet, then every test with the race detector (in-process and multi-process), then deploy/'s checks
	$(GO) test -race -count=1 -timeout 14m $(PKGS)
	cd deploy && $(GO) test -count=1 -timeout 10m ./...

run: build ## start a local 3-node mesh in one process and print its status
	./$(BIN) run --nodes 3

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd deploy && $(GO) vet ./...

image: ## the container image without a Docker daemon: bin/mesh-image.tar (docker load -i / podman load -i)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags="-s -w" -o bin/mesh-linux-$(IMAGE_ARCH) ./cmd/mesh
	cd deploy && $(GO) run ./cmd/imagebuild --binary $(CURDIR)/bin/mesh-linux-$(IMAGE_ARCH) --arch $(IMAGE_ARCH) \
	  --tag $(IMAGE_TAG) --out $(CURDIR)/bin/mesh-image.tar

docker-image: ## the same image with Docker (deploy/Dockerfile)
	docker build -f deploy/Dockerfile -t $(IMAGE_TAG) .

measure: ## time to an agreed 3-node mesh and leader failover, p50/max over 10 runs of real processes
	MESH_MEASURE=10 $(GO) test -count=1 -run TestMeasure -v -timeout 20m ./cmd/mesh/

chaos: ## the whole chaos suite against real processes (SEED=n to reproduce); prints the table
	$(GO) run ./chaos/cmd/meshchaos $(if $(SEED),--seed $(SEED))

soak: ## random faults on a random schedule for DURATION (default 10m) on a 5-node mesh
	$(GO) run ./chaos/cmd/meshchaos --soak $(DURATION) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf bin
