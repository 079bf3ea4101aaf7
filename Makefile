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

STAGES := 1 2 3 4 5 6 7 8 9 10

.PHONY: all build test test-short check vet demo bench deps deps-build sweep report data clean $(addprefix stage-,$(STAGES))

all: build

# Set-up. deps-build: the Debian packages the build needs (gcc, OpenBLAS,
# oneDNN); deps: those and the ones the tests need (PyTorch, clang-16,
# Chromium, ...). scripts/deps.sh installs only what is missing: with
# apt-get as root, else with sudo when it needs no password, else it
# prints the one command to run and stops (exit 2) before anything
# compiles. Then the Go modules. Both take well under a second when
# nothing is missing.
GOCHECK = @command -v $(GO) >/dev/null 2>&1 || { echo "speedrun needs Go 1.26 or later (https://go.dev/dl/); '$(GO)' is not on PATH" >&2; exit 2; }

deps-build:
	$(GOCHECK)
	@sh scripts/deps.sh build
	@$(GO) mod download

deps:
	$(GOCHECK)
	@sh scripts/deps.sh test
	@$(GO) mod download

# The runner records the commit it was built from in every run's
# provenance, not the one checked out when it runs.
GITREV = $(shell git rev-parse HEAD 2>/dev/null)
GITDIRTY = $(shell test -z "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo false || echo true)

build: deps-build
	$(GO) build -ldflags "-X main.gitRevision=$(GITREV) -X main.gitDirty=$(GITDIRTY)" -o $(RUNNER) ./cmd/runner

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The full suite (about 7 minutes on 2 cores).
test: deps build vet
	$(GO) test -count=1 -timeout 25m ./...

# The quick tier (under 2 minutes): go test -short skips the Chromium,
# PyTorch and clang-16 tests, the kill-a-process scripts and the long
# trainings, each with a message naming what it skipped.
test-short: deps-build
	$(GO) test -count=1 -short -timeout 10m ./...

# Before a commit: vet and gofmt, go.mod and go.sum tidy, and the race
# detector on the packages that run goroutines.
check: deps-build vet
	$(GO) mod tidy -diff
	$(GO) test -count=1 -race -timeout 20m ./runner ./results ./cmd/runner

# The main job: stage 8 under the demo profile on the generated synthetic
# set, into its own database and report folder.
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
