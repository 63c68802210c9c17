# ulvs: a userspace LVS director. `make demo` and `make test` are the two
# commands a newcomer runs (as root, on Debian/Ubuntu); both install what they
# need when it is missing.

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/ulvs
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
# Debian packages the tests and the demo use: tshark validates checksums,
# keepalived is the VRRP peer, iproute2/ethtool/nftables build the topology.
DEB_PKGS  := tshark keepalived iproute2 ethtool nftables tcpdump curl frr

.PHONY: all build test unit bench fuzz lint generate-check demo deps clean figures

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ulvs

# deps installs the Debian packages above when any is missing and we are root.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
		else \
			echo "note: missing Debian packages:$$missing (run as root to install; tests that need them skip)"; \
		fi; \
	fi

# test runs unit, golden, fuzz-seed and (as root) namespace end-to-end tests.
test: deps lint generate-check
	$(GO) test -count=1 -timeout 30m $(PKGS)

unit:
	$(GO) test -count=1 -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# generate-check runs go generate (stringer, pinned by go.mod's tool
# directive, writes the enums' String methods) and fails if that changed a
# generated file: a constant was added or relabelled without regenerating.
# It compares the files before and after, not with git HEAD, so it also
# holds for uncommitted work; in CI the two are the same.
GENERATED = git ls-files --cached --others --exclude-standard '*_string.go' | sort | xargs -r sha256sum
generate-check:
	@before=$$($(GENERATED)); $(GO) generate ./... || exit 1; after=$$($(GENERATED)); \
	if [ "$$before" != "$$after" ]; then \
		echo "go generate changed generated files (now rewritten; review and commit them):"; \
		echo "$$after" | grep -vxF "$$before" | sed 's/^[0-9a-f]* *//'; exit 1; \
	fi

demo: deps build
	./$(BIN) demo

# figures measures forwarding throughput (docs/benchmarks.md, "Forwarding
# throughput"): ulvs NAT/DR/TUN, the null forwarder and kernel nft DNAT on
# one namespace topology, counting delivered packets at the real servers
# without reading them (bench.Config.CountOnly; ULVS_BENCH_VERIFY=1 verifies
# every packet instead, at a lower offered load). Root; takes a few minutes;
# wants a quiet machine.
# FIG_RUNS windows of FIG_SECONDS each per subject; the JSON report goes to
# bin/figures.json, ulvs CPU profiles to FIG_PROFILE_DIR if set.
FIG_RUNS    ?= 10
FIG_SECONDS ?= 2
FIG_WORKERS ?= 1
# The interleaved comparison (bench.Config.Interleave): each ulvs mode and
# the null forwarder running at once on twin topologies, fed in turns of
# FIG_INTERLEAVE_MS for FIG_ROUNDS rounds; 0 turns it off.
FIG_INTERLEAVE_MS ?= 400
FIG_ROUNDS        ?= 40
figures: deps build
	ULVS_BENCH_PPS=1 ULVS_BIN=$(abspath $(BIN)) ULVS_BENCH_RUNS=$(FIG_RUNS) ULVS_BENCH_SECONDS=$(FIG_SECONDS) \
	ULVS_BENCH_WORKERS=$(FIG_WORKERS) ULVS_BENCH_INTERLEAVE_MS=$(FIG_INTERLEAVE_MS) ULVS_BENCH_ROUNDS=$(FIG_ROUNDS) ULVS_BENCH_JSON=$(abspath bin/figures.json) ULVS_BENCH_PROFILE_DIR=$(FIG_PROFILE_DIR) \
	$(GO) test -count=1 -run '^TestFiguresPPS$$' -v -timeout 40m ./bench

clean:
	rm -rf bin
