# Thin wrapper over Meson.  `make run` and `make test` work on a fresh
# Debian 12 machine: they install what is missing first (scripts/deps.sh).
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=
PORT ?= 8080
DATA ?= ./data

.PHONY: all deps build run test asan test-asan bench format format-check clean

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

test: $(BUILD)/build.ninja
	@scripts/deps.sh test
	meson compile -C $(BUILD)
	@meson test -C $(BUILD) --print-errorlogs --num-processes 2 || true
	@python3 scripts/summary.py $(BUILD)/meson-logs/testlog.json

$(ASAN_BUILD)/build.ninja:
	@scripts/deps.sh test
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug $(MESON_OPTS)

asan: $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)

test-asan: asan
	@meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
		--timeout-multiplier 3 || true
	@python3 scripts/summary.py $(ASAN_BUILD)/meson-logs/testlog.json

bench: build
	@scripts/deps.sh bench
	bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
