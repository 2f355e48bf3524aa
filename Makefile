# Herald build and test entry points. `make test` is the one test command
# (README and .ci/run call it).
# Go from the PATH, or where the project machine installs it.
GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: build run test vet test-race test-e2e test-browser portal-vendor portal-screenshots bench fuzz fuzz-targets-listed lint clean

## build: static binary ./herald
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o herald .

## run: a one-node cluster in ./herald-data, API on 127.0.0.1:8484 (extra flags: make run ARGS="...")
run:
	$(GO) run . serve $(ARGS)

## test: formatting, vet, unit and in-process tests under the race detector, then the e2e and browser tiers
test: vet test-race test-e2e test-browser

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags browser ./portal/

test-race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-e2e: whole-binary tests (build tag e2e): real process, real receiver, kill -9
test-e2e:
	$(GO) test -tags e2e -count=1 -timeout 15m ./e2e/...

## test-browser: the consumer portal in headless Chromium (build tag browser;
## needs Debian's chromium package, which .ci/run installs). Screenshots go to
## $$HERALD_SCREENSHOTS (default: a temporary directory).
test-browser:
	$(GO) test -tags browser -count=1 -timeout 5m ./portal/

## portal-screenshots: refresh the portal screenshots under docs/portal/
portal-screenshots:
	HERALD_SCREENSHOTS=$(CURDIR)/docs/portal $(GO) test -tags browser -count=1 -timeout 5m -run TestPortalInBrowser ./portal/

## portal-vendor: fetch the portal's one third-party file (htm's Preact
## standalone bundle) from the npm registry with npm pack, which checks the
## registry's integrity hash, then check it against portal/vendor.sha256.
## Only needed to change the pinned version; building never runs npm.
HTM_VERSION := 3.1.1
portal-vendor:
	@command -v npm >/dev/null || { echo "portal-vendor needs npm"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent htm@$(HTM_VERSION) >/dev/null && \
		tar -xzf htm-$(HTM_VERSION).tgz package/preact/standalone.mjs package/LICENSE) && \
	cp "$$tmp/package/preact/standalone.mjs" portal/assets/vendor/htm-preact-standalone.mjs && \
	cp "$$tmp/package/LICENSE" portal/assets/vendor/LICENSE-htm.txt && \
	cd portal/assets/vendor && sha256sum -c ../../vendor.sha256

## bench: Go benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (go test fuzzes one target per run)
FUZZTIME ?= 10s
fuzz: fuzz-targets-listed
	$(GO) test -run '^$$' -fuzz '^FuzzCheckURL$$' -fuzztime $(FUZZTIME) ./delivery/
	$(GO) test -run '^$$' -fuzz '^FuzzSignatureHeader$$' -fuzztime $(FUZZTIME) ./delivery/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequests$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMessage$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) ./raft/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLogEntry$$' -fuzztime $(FUZZTIME) ./raft/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecords$$' -fuzztime $(FUZZTIME) ./storage/

# fuzz-targets-listed fails when a Fuzz function exists that `make fuzz`
# does not run, so a new target cannot be forgotten here.
fuzz-targets-listed:
	@listed=" $$(sed -n "s/.*-fuzz '^\(Fuzz[A-Za-z0-9_]*\).*/\1/p" $(firstword $(MAKEFILE_LIST)) | tr '\n' ' ')"; \
	for f in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //'); do \
		case "$$listed" in *" $$f "*) ;; *) echo "make fuzz does not run $$f: add a line for it to the Makefile"; exit 1;; esac; \
	done

lint: vet

clean:
	rm -f herald
