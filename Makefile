# speedrun: see README.md. Every target works from a clean clone.
GO       ?= go
PROFILE  ?= quick
REPEATS  ?= 1
RUNNER   := bin/runner
# Tests read the real CIFAR-10 from here when present and skip with a
# message when not.
SPEEDRUN_SHARED ?= $(abspath ../shared)
export SPEEDRUN_SHARED

.PHONY: all build test vet demo bench deps sweep report clean

all: build

build:
	$(GO) build -o $(RUNNER) ./cmd/runner

deps:
	$(GO) mod download

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: build vet
	$(GO) test -count=1 -timeout 25m ./...

clean:
	rm -rf bin reports
