# Junction — the two set-up commands are `make run` and `make test`.
# Both install what is missing (Debian packages via apt-get, Python packages via pip), build, then run.

SHELL        := /bin/bash
SWIFT        ?= swift
PYTHON       ?= python3
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Libraries the build links (docs/design.md: libcurl for HTTP out, json-c for payload documents).
BUILD_DEBS   := pkg-config libcurl4-openssl-dev libjson-c-dev
# Real peers the tests talk to.
TEST_DEBS    := mosquitto mosquitto-clients openssl
FUZZ_SECONDS ?= 120
RUN_ARGS     ?=

.PHONY: all deps test-deps build run test fuzz fuzz-broker bench-codec bench-broker bench-engine bench-durable conformance clean

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
	@$(PYTHON) -c 'import jsonschema' 2>/dev/null || $(PYTHON) -m pip install -q 'jsonschema>=4,<5'

build: deps
	$(SWIFT) build --product junction

# The daemon with the shipped Processes/ and Connectors/: the embedded broker on mqtt://127.0.0.1:1883.
run: build
	@echo "junction: starting the daemon with Processes/ and Connectors/ (broker on mqtt://127.0.0.1:1883); Ctrl-C stops it"
	.build/debug/junction run $(RUN_ARGS)

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel

# libFuzzer over the packet decoder for FUZZ_SECONDS (default 120): fails on any crash, hang or leak.
# Tests/Fuzz is a package of its own (the sanitizer build stays out of .build); the corpus grows in
# .build-fuzz/corpus, Tests/Fuzz/seeds is only read. A crash leaves its input in fuzz-artifacts/:
# replay it with `.build-fuzz/release/MQTTDecoderFuzz fuzz-artifacts/crash-...`. Swift's own
# backtracer is off: under ASan it reports false errors of its own; libFuzzer prints the stack.
# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes --sanitize values in no
# fixed order (as -sanitize=fuzzer -sanitize=address, or the other way round): Swift code then gets
# either no coverage or no ASan. The trailing -Xswiftc -sanitize=fuzzer,address gives it both.
fuzz: deps
	$(SWIFT) build -c release --package-path Tests/Fuzz --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address \
	  -Xswiftc -sanitize=fuzzer,address --product MQTTDecoderFuzz
	mkdir -p .build-fuzz/corpus fuzz-artifacts
	SWIFT_BACKTRACE=enable=no .build-fuzz/release/MQTTDecoderFuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -rss_limit_mb=2048 -timeout=5 -print_final_stats=1 -artifact_prefix=fuzz-artifacts/ .build-fuzz/corpus Tests/Fuzz/seeds

# The stateful broker fuzzer for FUZZ_SECONDS (default 120): libFuzzer input is a sequence of
# operations of four clients against a fresh in-process broker (Sources/MQTTBrokerFuzzing: real
# BrokerState and BrokerConnection pipelines on NIOEmbedded, virtual time), and every step checks
# the broker's invariants (no acknowledged message lost, sessions and limits, reason codes; the
# list is on BrokerFuzzer). Same sanitizer build as `make fuzz` (BoringSSL and SQLite under ASan
# make the first build long); the corpus grows in .build-fuzz/broker-corpus from
# Tests/Fuzz/broker-seeds (make_broker_seeds.py writes them). A finding leaves its input as
# fuzz-artifacts/broker-crash-...: replay it with the operations printed by
# `BROKER_FUZZ_TRACE=1 .build-fuzz/release/BrokerFuzz fuzz-artifacts/broker-crash-...`.
# BROKER_FUZZ_MAX_DEPTH caps the depth of deep filters and topics (default 65,535 levels);
# BROKER_FUZZ_KNOWN=oversized-packets skips a check whose finding is reported (BrokerFuzzer.KnownIssue).
fuzz-broker: deps
	$(SWIFT) build -c release --package-path Tests/Fuzz --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address \
	  -Xswiftc -sanitize=fuzzer,address --product BrokerFuzz
	mkdir -p .build-fuzz/broker-corpus fuzz-artifacts
	SWIFT_BACKTRACE=enable=no .build-fuzz/release/BrokerFuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix=fuzz-artifacts/broker- \
	  .build-fuzz/broker-corpus Tests/Fuzz/broker-seeds

# Decode/encode rates of the codec (release build).
bench-codec: deps
	$(SWIFT) build -c release --product CodecBenchmark
	.build/release/CodecBenchmark

# Mosquitto vs `junction broker` on the same `junction bench` scenarios, interleaved (release build);
# BENCH_SECONDS per throughput row (default 5). The orchestration is Benchmarks/bench-broker.sh.
bench-broker: deps
	$(call apt_install,mosquitto)
	$(SWIFT) build -c release --product junction
	bash Benchmarks/bench-broker.sh

# The engine against its baselines in one run (release build): MQTT → MQTT through a process vs
# the broker alone, MQTT → HTTP vs a plain libcurl loop against nginx, latency at 1,000 msg/s.
# The orchestration is Benchmarks/bench-engine.sh (BENCH_SECONDS, BENCH_MESSAGES).
bench-engine: deps
	$(call apt_install,nginx curl)
	$(SWIFT) build -c release --product junction
	bash Benchmarks/bench-engine.sh

# QoS 1/2 1→1 to a persistent session: junction broker in memory, with --data (batch, sync) and
# Mosquitto with persistence, in the same run (release build). Orchestration: Benchmarks/bench-durable.sh.
bench-durable: deps
	$(call apt_install,mosquitto)
	$(SWIFT) build -c release --product junction
	bash Benchmarks/bench-durable.sh

# The Eclipse Paho interoperability suites against `junction broker` (needs PAHO_TESTING_DIR, see README).
conformance: build
	@port=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'); \
	sed "s/\"port\": 1883/\"port\": $$port/" Tests/Conformance/broker.json > .build/conformance-broker.json; \
	.build/debug/junction broker --config .build/conformance-broker.json --log-level warning & pid=$$!; \
	for i in $$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$$port) 2>/dev/null && break; sleep 0.1; done; \
	bash ../shared/tools/conformance.sh 127.0.0.1:$$port; rc=$$?; kill $$pid; exit $$rc

clean:
	rm -rf .build .build-fuzz fuzz-artifacts
