# The two commands of README: `make demo` (set up, then run the main job
# end to end) and `make test` (set up, then the whole test suite).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export GOFLAGS ?= -mod=mod

.PHONY: setup build demo test vet bench fuzz images

setup:
	bash scripts/setup.sh

build: setup

demo: setup
	bash scripts/demo.sh

vet:
	gofmt -l $$(git ls-files '*.go') | (! grep .) || (echo "gofmt needed on the files above" && false)
	go vet ./...

# After the tests, every fuzz target runs 5s (a bounded step, ~2 min):
# any crasher fails the target.
test: setup vet
	go test -timeout 20m -count=1 ./...
	FUZZTIME=5s bash scripts/fuzz.sh

bench: setup
	bin/gym bench plugin

# The four container images (envgym-core, -web, -gui, -swe :local), built
# offline from Debian packages; deploy/SCALE.md says how to run them.
images: setup
	bash scripts/build-image.sh all

# Fuzz every env action parser and the serve API, FUZZTIME (default 10s)
# each; too long for `make test`, whose `go test` runs the seed corpora.
fuzz:
	bash scripts/fuzz.sh
