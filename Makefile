# speedrun: see README.md. Every target works from a clean clone.
GO       ?= go
PROFILE  ?= quick
REPEATS  ?= 1
RUNNER   := bin/runner
# DATA empty: the user's CIFAR-10 folder when present (fetched for non-smoke
# stage targets), else the generated synthetic set. DATA=synthetic forces it.
DATA     ?=
DATAFLAG := $(if $(DATA),--data $(DATA),)
# Tests read the real CIFAR-10 from here when present and skip with a
# message when not.
SPEEDRUN_SHARED ?= $(abspath ../shared)
export SPEEDRUN_SHARED
# Kernel libraries: one BLAS/OpenMP thread per core, fixed before start
# (OpenBLAS spins idle threads when resized later).
NCPU := $(shell nproc 2>/dev/null || echo 2)
export OPENBLAS_NUM_THREADS ?= $(NCPU)
export OMP_NUM_THREADS ?= $(NCPU)

STAGES := 1 2 3 4 5 6 7 8 9

.PHONY: all build test vet demo bench deps sweep report data clean $(addprefix stage-,$(STAGES))

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

# The main job on the embedded default: stage 8 at demo scale on the
# synthetic set, into its own database and report folder.
demo: build
	$(RUNNER) sweep --stage 8 --profile demo --repeats 1 --data synthetic --db results/demo.sqlite --reports reports/demo
	@echo "report: reports/demo/index.html"

# CIFAR-10 into the user's data folder; a no-op when it is already there.
data: build
	$(RUNNER) data fetch

# make stage-N: sweep every registered variant of stage N, then refresh the report.
$(addprefix stage-,$(STAGES)): stage-%: build
	@if [ "$(PROFILE)" != "smoke" ] && [ -z "$(DATA)" ]; then $(RUNNER) data fetch; fi
	$(RUNNER) sweep --stage $* --profile $(PROFILE) --repeats $(REPEATS) $(DATAFLAG)

sweep: build
	$(RUNNER) sweep --profile $(PROFILE) --repeats $(REPEATS) $(DATAFLAG)

report: build
	$(RUNNER) report

bench: build
	$(RUNNER) bench --net resnet9 --batch 128
	$(RUNNER) bench --net resnet9 --batch 512

clean:
	rm -rf bin reports
