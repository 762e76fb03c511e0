#!/usr/bin/env bash
# lint.sh - redocly lint of docs/openapi.yaml with tests/openapi/redocly.yaml
# (Redocly's recommended rules).  npm ci installs the pinned @redocly/cli
# from package-lock.json (skipped when node_modules matches it; the first
# run needs npm's registry or cache).  Run by `meson test --suite openapi`
# and by hand; exit 0 only when the lint finds no error and no warning.
set -euo pipefail
cd "$(dirname "$0")"

export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

command -v node >/dev/null || { echo "lint.sh: node is not installed (scripts/deps.sh test)"; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
	echo "== npm ci: node_modules is up to date with package-lock.json"
else
	echo "== npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi

echo "== redocly lint docs/openapi.yaml"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
npx --no-install redocly lint --config redocly.yaml ../../docs/openapi.yaml >"$out" 2>&1 || rc=$?
grep -v '[║╔╚]' "$out" # Redocly's banner about Node versions
[ "$rc" -eq 0 ] || exit "$rc"
# A warning of the recommended set fails too: the document stays clean, and
# a rule it cannot meet is turned off in redocly.yaml with the reason.
if grep -q 'You have [0-9]* warning' "$out"; then
	echo "lint.sh: warnings count as failures (tests/openapi/redocly.yaml)"
	exit 1
fi
