# towerstream: the two commands of the README (`make demo`, `make test`) and the steps under them.
# Every target installs missing Debian packages and (re)builds as needed, so each works from a
# fresh clone.

BUILD_DIR    ?= build
ASAN_DIR     ?= build-asan
CORE_DIR     ?= build-core
FUZZ_DIR     ?= build-fuzz
# `make fuzz`: seconds per target, and targets fuzzed at once (each takes about one core).
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
BUILD_TYPE   ?= RelWithDebInfo
JOBS         ?= $(shell nproc)
# CI sets WERROR=ON; developers may keep warnings non-fatal while iterating.
WERROR       ?= OFF
DEMO_DIR     ?= $(BUILD_DIR)/demo
CMAKE_FLAGS  ?=
TOWERSTREAM  := $(BUILD_DIR)/bin/towerstream

.PHONY: all deps configure build test unit-test integration-test sanitize core-only bench demo demo-stream \
        fuzz format format-check clean help

all: build

help:
	@echo "make demo        generate a dataset and run the main job on it"
	@echo "make demo-stream the same through Kafka, ingest and the streaming trainer (scripts/stack)"
	@echo "make test        build, then run unit and integration tests (starts Kafka and Prometheus)"
	@echo "make bench       run the benchmarks under bench/"
	@echo "make sanitize    unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make core-only   build what needs only LibTorch (for GPU machines)"
	@echo "make fuzz        every parser under libFuzzer + ASan + UBSan, FUZZ_SECONDS (60) each"
	@echo "make deps        install the Debian packages (idempotent)"
	@echo "make format      clang-format the sources; make format-check verifies"

deps:
	@scripts/deps

$(BUILD_DIR)/build.ninja:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DTOWERSTREAM_WERROR=$(WERROR) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Integration tests need the real broker and Prometheus: ctest's fixtures (tests/harness) start
# them on free loopback ports and stop them afterwards, whatever the outcome.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 -j $(JOBS)

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)

integration-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

sanitize:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTOWERSTREAM_SANITIZE=ON \
	  -DTOWERSTREAM_WERROR=$(WERROR) -DTOWERSTREAM_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -L unit -j $(JOBS)

# What a GPU machine with only LibTorch builds (-DTOWERSTREAM_CORE_ONLY=ON), with the model's
# tests: no Kafka, RocksDB, prometheus-cpp or Boost. CI builds it so the option keeps working.
core-only:
	cmake -S . -B $(CORE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOWERSTREAM_CORE_ONLY=ON \
	  -DTOWERSTREAM_CORE_TESTS=ON -DTOWERSTREAM_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(CORE_DIR) -j $(JOBS)

# Every parser's libFuzzer target (fuzz/), built with clang in $(FUZZ_DIR) and run for
# FUZZ_SECONDS each from a copy of fuzz/corpus; a crash, leak, hang or OOM fails
# (scripts/fuzz --help).
fuzz:
	@$(MAKE) --no-print-directory deps
	scripts/fuzz --build-dir $(FUZZ_DIR) --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

bench: build
	scripts/bench $(BUILD_DIR)

demo: build
	scripts/demo $(TOWERSTREAM) $(DEMO_DIR) $(DATA)

demo-stream: build
	scripts/demo-stream $(TOWERSTREAM) $(DEMO_DIR) $(DATA)

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(CORE_DIR) $(FUZZ_DIR)
