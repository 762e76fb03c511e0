# Thin wrapper over Meson.  `make run` and `make test` work on a fresh
# Debian 12 machine: they install what is missing first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
MESON_OPTS ?=
PORT ?= 8080
DATA ?= ./data

.PHONY: all deps build run test asan test-asan tsan test-tsan bench fuzz format format-check clean lambda

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	@scripts/deps.sh test
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# Only the binary (and its library): tests, benchmarks and fuzz replays are
# built by `make test` / `make bench`.
run: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD) imgpipe:executable
	./$(BUILD)/imgpipe serve --port $(PORT) --data-dir $(DATA)

# The S3, DynamoDB and Redis tests run against real servers (radosgw,
# s3rver, dynalite, redis-server) that scripts/servers.sh installs and
# starts; they are stopped afterwards unless IMGPIPE_SERVERS_KEEP=1.
test: $(BUILD)/build.ninja
	@scripts/deps.sh test
	meson compile -C $(BUILD)
	@scripts/servers.sh up || echo "servers.sh up failed: the tests that need them will fail"
	@meson test -C $(BUILD) --print-errorlogs --num-processes 2 || true
	@[ "$${IMGPIPE_SERVERS_KEEP:-0}" = 1 ] || scripts/servers.sh down
	@python3 scripts/summary.py $(BUILD)/meson-logs/testlog.json

$(ASAN_BUILD)/build.ninja:
	@scripts/deps.sh test
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug $(MESON_OPTS)

asan: $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)

# Under the sanitizers, the suites that run no C code of ours (the CDK
# stack, the style checks, the OpenAPI lint, the browser) and the repeats
# of a suite in another mode (suite 'repeat': the pipeline with keys on,
# the image tests through the helpers, the Lambda zip's contents) are left
# to `make test`: the C paths they reach are run here by their first
# form.  So is the multi-process 'distributed' suite: the S3, DynamoDB and
# Redis backends' C code runs here in the contract and aws suites, against
# the same servers.
ASAN_SKIP_SUITES ?= deploy style repeat browser openapi distributed
test-asan: asan
	@scripts/servers.sh up || echo "servers.sh up failed: the tests that need them will fail"
	@meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
		--timeout-multiplier 3 \
		$(foreach s,$(ASAN_SKIP_SUITES),--no-suite $(s)) || true
	@[ "$${IMGPIPE_SERVERS_KEEP:-0}" = 1 ] || scripts/servers.sh down
	@python3 scripts/summary.py $(ASAN_BUILD)/meson-logs/testlog.json

# ThreadSanitizer over the worker pool and the SQLite queue with the fake
# image processor (suite tsan, tests/tsan): only that test is compiled, and
# it makes no libvips calls.  tests/tsan.supp holds third-party frames only.
$(TSAN_BUILD)/build.ninja:
	@scripts/deps.sh test
	meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false \
		-Dbuildtype=debug $(MESON_OPTS)

tsan: $(TSAN_BUILD)/build.ninja
	meson compile -C $(TSAN_BUILD) tests/tsan/test_workers_tsan

test-tsan: tsan
	@meson test -C $(TSAN_BUILD) --no-rebuild --suite tsan \
		--print-errorlogs --num-processes 1 || true
	@python3 scripts/summary.py $(TSAN_BUILD)/meson-logs/testlog.json

bench: build
	@scripts/deps.sh bench
	bash bench/run.sh

# libFuzzer: build-fuzz is the same Meson description with CC=clang,
# -Dfuzzing=true and ASan + UBSan; the targets are the ones fuzz/meson.build
# lists (nothing here names them).  Each runs FUZZ_SECONDS on a copy of its
# seed corpus; crashes land in fuzz/out/.  The seeds are replayed as plain
# tests in every `make test`.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

$(FUZZ_BUILD)/build.ninja:
	@scripts/deps.sh test
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debugoptimized $(MESON_OPTS)

fuzz: $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)
	@mkdir -p fuzz/out
	@found=0; for bin in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
		[ -f "$$bin" ] && [ -x "$$bin" ] || continue; \
		found=$$((found + 1)); t=$${bin##*/fuzz_}; \
		rm -rf fuzz/out/corpus_$$t; mkdir -p fuzz/out/corpus_$$t; \
		cp fuzz/corpus/$$t/* fuzz/out/corpus_$$t/; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ASAN_OPTIONS=detect_leaks=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
		$$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=fuzz/out/fuzz_$$t- \
			fuzz/out/corpus_$$t 2>fuzz/out/fuzz_$$t.log \
			|| { tail -n 40 fuzz/out/fuzz_$$t.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE|cov:' fuzz/out/fuzz_$$t.log | tail -n 1; \
	done; [ $$found -gt 0 ] || { echo "no fuzz targets in $(FUZZ_BUILD)"; exit 1; }

# The AWS Lambda package (provided.al2023): a release build in
# build-lambda, laid out and checked by scripts/lambda-package.sh into
# dist/imgpipe-lambda-x86_64.zip; see docs/AWS.md.
lambda:
	scripts/lambda-package.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
