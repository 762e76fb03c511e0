# Thin wrapper over Meson.  `make run` and `make test` work on a fresh
# Debian 12 machine: they install what is missing first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=
PORT ?= 8080
DATA ?= ./data

.PHONY: all deps build run test asan test-asan bench fuzz format format-check clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	@scripts/deps.sh test
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: deps build
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

test-asan: asan
	@scripts/servers.sh up || echo "servers.sh up failed: the tests that need them will fail"
	@meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
		--timeout-multiplier 3 || true
	@[ "$${IMGPIPE_SERVERS_KEEP:-0}" = 1 ] || scripts/servers.sh down
	@python3 scripts/summary.py $(ASAN_BUILD)/meson-logs/testlog.json

bench: build
	@scripts/deps.sh bench
	bash bench/run.sh

# libFuzzer builds of fuzz/fuzz_*.c (clang), run for FUZZ_SECONDS each on
# a copy of their seed corpus; crashes land in fuzz/out/.  The seeds are
# replayed as plain tests in every `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SRC = src/core/error.c src/core/event.c src/core/log.c \
	src/core/record.c src/core/util.c src/api/routes.c src/api/params.c \
	src/api/multipart.c
fuzz:
	@scripts/deps.sh test
	@mkdir -p fuzz/out
	@for t in event record routes multipart; do \
		clang -std=c17 -g -O1 -D_GNU_SOURCE -Isrc \
			-fsanitize=fuzzer,address,undefined \
			$$(pkg-config --cflags glib-2.0 jansson libmicrohttpd) \
			fuzz/fuzz_$$t.c $(FUZZ_SRC) -o fuzz/out/fuzz_$$t \
			$$(pkg-config --libs glib-2.0 jansson libmicrohttpd) || exit 1; \
		mkdir -p fuzz/out/corpus_$$t; cp fuzz/corpus/$$t/* fuzz/out/corpus_$$t/; \
		fuzz/out/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/out/ fuzz/out/corpus_$$t || exit 1; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
