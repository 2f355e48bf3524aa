# Herald build and test entry points. `make test` is the one test command
# (README and .ci/run call it).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: build run test vet test-race test-e2e bench fuzz lint clean

## build: static binary ./herald
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o herald .

## run: a one-node cluster in ./herald-data, API on 127.0.0.1:8484
run:
	$(GO) run . serve

## test: formatting, vet, unit and in-process tests under the race detector, then the e2e tier
test: vet test-race test-e2e

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./e2e/...

test-race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-e2e: whole-binary tests (build tag e2e): real process, real receiver, kill -9
test-e2e:
	$(GO) test -tags e2e -count=1 -timeout 15m ./e2e/...

## bench: Go benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: run every fuzz target briefly
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLogEntry$$' -fuzztime $(FUZZTIME) ./raft/

lint: vet

clean:
	rm -f herald
