#!/usr/bin/env bash
# preflight.sh - fail in a second, with one line naming every missing
# piece, when a tool, library or file the test suite needs is absent.
#
#   scripts/preflight.sh
#
# .ci/run calls it right after scripts/deps.sh: a machine that lacks
# something (an install step nobody wrote down) stops here with
#   preflight: missing: /usr/bin/aws (package awscli), ...
# instead of a handful of confusing test failures minutes later.  Exit 0
# when everything is there, 1 otherwise.  Keep this list in step with
# what tests/ and scripts/ call; deps.sh installs every item of it.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
need_cmd() { # need_cmd COMMAND-OR-PATH WHAT-PROVIDES-IT
	case $1 in
	/*) [ -x "$1" ] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac || missing+=("$1 ($2)")
}

# Build.
need_cmd gcc "package gcc"
need_cmd cc "package gcc"
need_cmd meson "package meson"
need_cmd ninja "package ninja-build"
need_cmd pkg-config "package pkg-config"
for mod in vips libmicrohttpd sqlite3 jansson glib-2.0 gio-2.0 libcurl hiredis cmocka; do
	pkg-config --exists "$mod" 2>/dev/null ||
		missing+=("pkg-config module $mod (scripts/deps.sh test)")
done

# Tests.
need_cmd /usr/bin/python3 "package python3"
# docs/openapi.yaml becomes the binary's /openapi.json at build time
/usr/bin/python3 -c 'import yaml' 2>/dev/null ||
	missing+=("python3 module yaml (package python3-yaml)")
need_cmd glib-compile-resources "package libglib2.0-dev-bin"
/usr/bin/python3 -c 'import PIL' 2>/dev/null ||
	missing+=("python3 module PIL (package python3-pil)")
need_cmd exiftool "package libimage-exiftool-perl"
need_cmd /usr/bin/aws "package awscli"
need_cmd curl "package curl"
need_cmd jq "package jq"
need_cmd /usr/bin/chromium "package chromium"
need_cmd clang-format "package clang-format"
need_cmd git "package git"
need_cmd systemd-analyze "package systemd"
need_cmd sqlite3 "package sqlite3"
need_cmd rsync "package rsync"
need_cmd patchelf "package patchelf"
need_cmd zip "package zip"
need_cmd objdump "package binutils"
need_cmd node "package nodejs"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] ||
	missing+=("node >= 20 (have $(node --version 2>/dev/null); scripts/deps.sh test installs it)")
need_cmd npm "package npm"
fc-list 2>/dev/null | grep -qi dejavu ||
	missing+=("DejaVu fonts (package fonts-dejavu-core)")

# What CI lays beside the clone.
peers=${IMGPIPE_PEERS_DIR:-../shared/peers/servers}
[ -x "$peers/ceph-rgw-start.sh" ] ||
	missing+=("$peers/ (the ../shared directory beside the clone)")
corpus=${IMGPIPE_CORPUS:-../shared/corpus}
ls "$corpus"/*.jpg >/dev/null 2>&1 ||
	missing+=("$corpus/*.jpg (the ../shared directory beside the clone)")

if [ ${#missing[@]} -gt 0 ]; then
	(
		IFS=,
		echo "preflight: missing: ${missing[*]}"
	) | sed 's/,/, /g'
	exit 1
fi
echo "preflight: every tool the suite needs is here"
