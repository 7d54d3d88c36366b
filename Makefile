# Junction — the two set-up commands are `make run` and `make test`.
# Both install what is missing (Debian packages via apt-get, Python packages via pip), build, then run.

SWIFT        ?= swift
PYTHON       ?= python3
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Libraries the build links (DESIGN §1: libcurl for HTTP out, json-c for payload documents).
BUILD_DEBS   := pkg-config libcurl4-openssl-dev libjson-c-dev
# Real peers the tests talk to.
TEST_DEBS    := mosquitto mosquitto-clients
FUZZ_SECONDS ?= 120
RUN_ARGS     ?=

.PHONY: all deps test-deps build run test fuzz bench-codec clean

all: build

# Installs each Debian package only when it is absent; `apt-get update` runs only if something is missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEBS))

test-deps: deps
	$(call apt_install,$(TEST_DEBS))
	@$(PYTHON) -c 'import paho.mqtt' 2>/dev/null || $(PYTHON) -m pip install -q 'paho-mqtt>=2,<3'

build: deps
	$(SWIFT) build --product junction

run: build
	$(SWIFT) run junction run $(RUN_ARGS)

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel

# libFuzzer over the packet decoder for FUZZ_SECONDS (default 120): fails on any crash, hang or leak.
fuzz: deps
	$(SWIFT) build -c release --package-path Tests/Fuzz --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address
	mkdir -p .build-fuzz/corpus fuzz-artifacts
	.build-fuzz/release/MQTTDecoderFuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 -timeout=5 \
	  -artifact_prefix=fuzz-artifacts/ .build-fuzz/corpus Tests/Fuzz/seeds

# Decode/encode rates of the codec (release build).
bench-codec: deps
	$(SWIFT) build -c release --product CodecBenchmark
	.build/release/CodecBenchmark

clean:
	rm -rf .build .build-fuzz fuzz-artifacts
