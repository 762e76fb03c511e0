#!/usr/bin/env bash
# check.sh - the offline check of deploy/aws (no AWS account used):
# npm ci (skipped when node_modules matches the lockfile), cdk synth with
# a fixed account/region and the stand-in zip, the assertion tests,
# cdk-nag (at synth and in test/nag.test.js); prints a summary.
# Run by `meson test --suite deploy` (tests/deploy/meson.build) and by hand.
# IMGPIPE_BIN (the built imgpipe) and IMGPIPE_SERVERS_ENV (dynalite) enable
# the environment and table tests; without them those fail.
set -euo pipefail
cd "$(dirname "$0")"

export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1
export NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

command -v node >/dev/null || { echo "check.sh: node is not installed (scripts/deps.sh)"; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
	echo "== npm ci: node_modules is up to date with package-lock.json"
else
	echo "== npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi

echo "== cdk synth (account 123456789012, us-east-1, stand-in zip)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx --no-install cdk synth --no-notices --quiet --output "$out" \
	-c account=123456789012 -c region=us-east-1 \
	-c lambdaZip=test/fixtures/stand-in.zip 2>&1 | grep -v 'feature flags are not configured' || true
test -s "$out/Imgpipe.template.json" || { echo "check.sh: synth produced no template"; exit 1; }
report="$out/AwsSolutions--Imgpipe-NagReport.csv"
bad=$(grep -c '"Non-Compliant"' "$report" || true)
suppressed=$(grep -c '"Suppressed"' "$report" || true)
compliant=$(grep -c '"Compliant"' "$report" || true)
resources=$(node -e 'console.log(Object.keys(require(process.argv[1]).Resources).length)' "$out/Imgpipe.template.json")

echo "== node --test"
node --test test/*.test.js

echo "== summary: template with $resources resources; cdk-nag AwsSolutions:" \
	"$compliant compliant, $suppressed suppressed (with reasons), $bad not compliant"
[ "$bad" -eq 0 ]
