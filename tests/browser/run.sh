#!/usr/bin/env bash
# run.sh - the browser tests of the web page (web.test.js): npm ci
# (skipped when node_modules matches the lockfile; playwright-core only,
# no browser download), then node's test runner drives Debian's chromium.
# Run by `meson test --suite browser` (tests/browser/meson.build) and by
# hand: IMGPIPE_BIN=build/imgpipe IMGPIPE_CORPUS=../shared/corpus tests/browser/run.sh
set -euo pipefail
cd "$(dirname "$0")"

export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

command -v node >/dev/null || { echo "run.sh: node is not installed (scripts/deps.sh test)"; exit 1; }
chromium=${IMGPIPE_TEST_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "run.sh: $chromium is missing (package chromium, scripts/deps.sh test)"; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
	echo "== npm ci: node_modules is up to date with package-lock.json"
else
	echo "== npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi
echo "== node --test web.test.js ($("$chromium" --version 2>/dev/null || echo chromium))"
exec node --test --test-reporter=spec web.test.js
