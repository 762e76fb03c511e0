#!/usr/bin/env bash
# fresh-ci.sh - rehearse CI on a fresh Debian 12 machine: build a new
# bookworm root with mmdebstrap, copy in a clean clone of this repository's
# HEAD and ../shared (nothing else), and run `CI=true bash .ci/run` inside
# it as root.  A missing install step shows up here before a submission.
#
#   scripts/fresh-ci.sh [ROOT]      (default /tmp/imgpipe-fresh-root)
#
# Needs root (chroot, mounts) and Debian's mmdebstrap (installed if
# missing).  The root starts from Debian's `minbase` variant plus apt's
# ca-certificates: no compiler, no node, no python.  It shares the host's
# network (loopback only is used by the tests) and kernel; /proc, /sys,
# /dev and /dev/shm are mounted for the run and unmounted afterwards.
# Output goes to ROOT.log; the last line is .ci/run's summary and the
# time taken.  Takes about 25-35 minutes on the 2-core machine (the
# installs are most of it).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/tmp/imgpipe-fresh-root}
log=$root.log
shared=$(cd "$here/../shared" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh-ci.sh: needs root" >&2; exit 2; }

if ! command -v mmdebstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq mmdebstrap >/dev/null; }
fi

# Every process whose root is the fresh root (servers .ci/run left, or a
# run cut short) is ended before the mounts go.
kill_root_procs() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case $r in "$root" | "$root"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
	done
	return 0
}

cleanup() {
	kill_root_procs
	for m in dev/shm dev/pts dev sys proc; do
		mountpoint -q "$root/$m" && umount -l "$root/$m"
	done
	mountpoint -q "$root" && umount -l "$root"
	return 0
}
trap cleanup EXIT

t0=$(date +%s)
cleanup
if grep -q " $root[/ ]" /proc/mounts; then
	echo "fresh-ci.sh: something is still mounted under $root; not removing it" >&2
	exit 1
fi
rm -rf "$root"
echo "fresh-ci.sh: making a bookworm root in $root"
# The same Debian mirror and apt settings as this machine (its sources
# may point at a mirror or proxy of the registry).
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
	head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
# The machine's own registry settings come along, as they would on any
# machine of this kind: apt's settings, locally added CA certificates (the
# registries may be reached through a TLS-inspecting proxy) and npm's
# machine-wide config.  Nothing of the project's is installed here.
mmdebstrap --variant=minbase --include=ca-certificates \
	--customize-hook='cp /etc/apt/apt.conf.d/99* "$1/etc/apt/apt.conf.d/" 2>/dev/null || true' \
	--customize-hook='cp /usr/local/share/ca-certificates/* "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
	--customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
	bookworm "$root" "$mirror" \
	"deb ${mirror%/debian}/debian-security bookworm-security main" \
	>"$log" 2>&1 || { tail -n 20 "$log"; exit 1; }
for f in /root/.npmrc /etc/npmrc /usr/etc/npmrc; do
	[ -f "$f" ] && mkdir -p "$root$(dirname "$f")" && cp "$f" "$root$f"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# What every installed machine has and a bootstrapped root lacks: the
# tests' servers resolve "localhost".
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	>"$root/etc/hosts"

mkdir -p "$root/work"
git clone -q "$here" "$root/work/main"
cp -a "$shared" "$root/work/shared"
chmod -R a-w "$root/work/shared" # as CI lays it: no write bits
echo "fresh-ci.sh: root made in $(($(date +%s) - t0)) s; running .ci/run"

# The root is a mount point, as / is on a machine (the Lambda package
# test makes a private mount namespace inside it).
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --rbind /dev "$root/dev"
rc=0
# The machine's environment for TLS (as CI gets it), nothing else.
tls_env=()
for v in SSL_CERT_FILE SSL_CERT_DIR NODE_EXTRA_CA_CERTS REQUESTS_CA_BUNDLE \
	http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
	[ -n "${!v:-}" ] && tls_env+=("$v=${!v}")
done
chroot "$root" /usr/bin/env -i HOME=/root CI=true TERM=dumb "${tls_env[@]}" \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	bash -c 'cd /work/main && bash .ci/run' >>"$log" 2>&1 || rc=$?
echo "fresh-ci.sh: .ci/run exited $rc after $(($(date +%s) - t0)) s in all; log in $log"
tail -n 1 "$log"
exit $rc
