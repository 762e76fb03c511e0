#!/usr/bin/env bash
# Build the AWS Lambda package: a zip for the provided.al2023 runtime that
# carries imgpipe as `bootstrap` with Debian's loader, every library it
# loads, the libvips heif module (AVIF) and the fonts of the text
# watermark.  Lambda unpacks it at /var/task and runs /var/task/bootstrap.
# docs/AWS.md, "The Lambda artifact", says what is inside and why.
#
#   scripts/lambda-package.sh                 release build in build-lambda,
#                                             writes dist/imgpipe-lambda-x86_64.zip
#   scripts/lambda-package.sh --binary BIN --out ZIP
#                                             package an existing build
#                                             (tests/lambda does this)
#
# Fails loudly when the zip is over 50 MB (Lambda's direct-upload limit) or
# the unzipped tree over 250 MB, and when an ELF in the package needs a
# glibc symbol version the packaged glibc does not define, a library it
# needs is missing, or bootstrap's interpreter is not the packaged loader.
set -euo pipefail

ZIP_MAX=$((50 * 1000 * 1000))
UNZIPPED_MAX=$((250 * 1000 * 1000))
TASK=/var/task
LOADER=ld-linux-x86-64.so.2
VIPS_MODULES=(vips-heif.so) # the only module the formats need (AVIF/HEIF)
FONTS=(DejaVuSans.ttf DejaVuSans-Bold.ttf) # "sans bold" and its fallback

root=$(cd "$(dirname "$0")/.." && pwd)
bin=""
out="$root/dist/imgpipe-lambda-x86_64.zip"
while [ $# -gt 0 ]; do
	case "$1" in
	--binary) bin=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: $0 [--binary BIN] [--out ZIP]" >&2; exit 2 ;;
	esac
done

die() {
	echo "lambda-package: $*" >&2
	exit 1
}

# Tools (patchelf, zip, binutils) and the libraries and fonts packaged,
# installed when missing.
"$root/scripts/deps.sh" lambda

if [ -z "$bin" ]; then
	[ -f "$root/build-lambda/build.ninja" ] ||
		meson setup "$root/build-lambda" "$root" -Dbuildtype=release -Dtests=false
	meson compile -C "$root/build-lambda" imgpipe:executable
	bin="$root/build-lambda/imgpipe"
fi
[ -x "$bin" ] || die "no binary at $bin"

# libvips looks for its modules in PREFIX/<last part of its libdir>/
# vips-modules-X.Y, PREFIX being $VIPSHOME (main.c sets it to /var/task):
# on Debian /var/task/x86_64-linux-gnu/vips-modules-8.14.
vipslibdir=$(pkg-config --variable=libdir vips)
vipsver=$(pkg-config --modversion vips | cut -d. -f1,2)
[ -n "$vipslibdir" ] && [ -n "$vipsver" ] || die "pkg-config knows no vips"
moddir=$vipslibdir/vips-modules-$vipsver
pkgmod=${vipslibdir##*/}/vips-modules-$vipsver

stage=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-lambda.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/$pkgmod" "$stage/fonts"

# bootstrap and the modules; then every library `ldd` says they load.
cp "$bin" "$stage/bootstrap"
for m in "${VIPS_MODULES[@]}"; do
	[ -f "$moddir/$m" ] || die "libvips module $moddir/$m is missing"
	cp "$moddir/$m" "$stage/$pkgmod/"
done
{
	ldd "$bin"
	for m in "${VIPS_MODULES[@]}"; do ldd "$moddir/$m"; done
} | while read -r name arrow path _; do
	case "$name" in
	linux-vdso.so.*) continue ;;
	*/"$LOADER") cp -L "$name" "$stage/lib/$LOADER"; continue ;;
	esac
	[ "$arrow" = "=>" ] && [ -f "$path" ] || die "ldd: $name not found"
	[ -f "$stage/lib/$name" ] || cp -L "$path" "$stage/lib/$name"
done
[ -f "$stage/lib/$LOADER" ] || die "ldd named no $LOADER"

# Smaller copies, and a search path that wins over Lambda's
# LD_LIBRARY_PATH (/lib64:/usr/lib64:... holds Amazon Linux's own libc and
# friends): DT_RPATH is searched before LD_LIBRARY_PATH, DT_RUNPATH after.
find "$stage" -type f -name '*.so*' -exec chmod u+w {} +
strip --strip-unneeded "$stage/bootstrap" "$stage"/lib/*.so* \
	"$stage/$pkgmod"/*.so
patchelf --set-interpreter "$TASK/lib/$LOADER" --force-rpath \
	--set-rpath "$TASK/lib" "$stage/bootstrap"
for f in "$stage"/lib/*.so*; do
	[ "${f##*/}" = "$LOADER" ] && continue
	[ -n "$(patchelf --print-needed "$f")" ] || continue
	patchelf --force-rpath --set-rpath '$ORIGIN' "$f"
done
for f in "$stage/$pkgmod"/*.so; do
	patchelf --force-rpath --set-rpath '$ORIGIN/../../lib' "$f"
done

# Fonts for the text watermark: fontconfig reads this file (main.c sets
# FONTCONFIG_FILE when it runs as the packaged bootstrap); the font
# directory is relative to it, the cache goes to /tmp (the only writable
# place in Lambda).
for f in "${FONTS[@]}"; do
	cp "/usr/share/fonts/truetype/dejavu/$f" "$stage/fonts/"
done
cat >"$stage/fonts/fonts.conf" <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- The Lambda package's fonts (scripts/lambda-package.sh). -->
<fontconfig>
  <dir prefix="relative">.</dir>
  <cachedir>/tmp/fontconfig</cachedir>
  <alias binding="same">
    <family>sans</family>
    <prefer><family>DejaVu Sans</family></prefer>
  </alias>
  <alias binding="same">
    <family>sans-serif</family>
    <prefer><family>DejaVu Sans</family></prefer>
  </alias>
  <!-- Debian's rendering defaults (/etc/fonts/conf.d/10-hinting-slight,
       10-yes-antialias, 11-lcdfilter-default, 20-unhint-small-dejavu-sans),
       so that the watermark has the same pixels as on a Debian host. -->
  <match target="pattern">
    <edit name="hintstyle" mode="append"><const>hintslight</const></edit>
    <edit name="antialias" mode="append"><bool>true</bool></edit>
    <edit name="lcdfilter" mode="append"><const>lcddefault</const></edit>
  </match>
  <match target="font">
    <test name="family"><string>DejaVu Sans</string></test>
    <test compare="less" name="pixelsize"><double>7.5</double></test>
    <edit name="hinting"><bool>false</bool></edit>
  </match>
</fontconfig>
EOF

# The glibc inside is the one used: bootstrap's interpreter is the packaged
# loader, every library an ELF needs is in lib/, and no ELF needs a GLIBC_
# symbol version the packaged libc, libm, ... do not define.
interp=$(patchelf --print-interpreter "$stage/bootstrap")
[ "$interp" = "$TASK/lib/$LOADER" ] || die "bootstrap's interpreter is $interp"
mapfile -t elfs < <(cd "$stage" && find . -type f -printf '%P\n' | sort |
	while read -r f; do
		[ "$(od -An -tx1 -N4 "$f")" = " 7f 45 4c 46" ] && echo "$f"
	done)
# One pass over `readelf -d` (NEEDED) and `readelf -V` (version
# definitions and needs) of every ELF; awk prints the verdict.
verdict=$(cd "$stage" && { readelf -d --wide "${elfs[@]}"; readelf -V --wide "${elfs[@]}"; } |
	awk -v have="$(cd "$stage/lib" && ls)" '
	BEGIN { n = split(have, h, "\n"); for (i = 1; i <= n; i++) lib[h[i]] = 1 }
	/^File: / { f = $2; sec = ""; next }
	/Version definition section/ { sec = "def"; next }
	/Version needs section/ { sec = "need"; next }
	/Version symbols section/ { sec = ""; next }
	/\(NEEDED\)/ { x = $NF; gsub(/[][]/, "", x)
		if (!(x in lib)) bad = bad f " needs " x ", not in the package\n" }
	match($0, /Name: GLIBC_[0-9.]+/) {
		v = substr($0, RSTART + 6, RLENGTH - 6)
		if (sec == "def") def[v] = 1
		else if (sec == "need") need[v] = need[v] " " f
	}
	function newer(a, b,   x, y, i, n) {
		n = split(substr(a, 7), x, "."); split(substr(b, 7), y, ".")
		for (i = 1; i <= 3; i++) if (x[i] + 0 != y[i] + 0) return x[i] + 0 > y[i] + 0
		return 0
	}
	END {
		maxneed = "GLIBC_2.0"; maxdef = "GLIBC_2.0"
		for (v in def) if (newer(v, maxdef)) maxdef = v
		for (v in need) {
			if (!(v in def)) bad = bad need[v] " need " v ", which the packaged glibc lacks\n"
			if (newer(v, maxneed)) maxneed = v
		}
		printf "%s", bad
		print "OK " maxneed " " maxdef
	}')
grep -v '^OK ' <<<"$verdict" >&2 && die "the package would not load"
read -r _ maxneed maxdef < <(grep '^OK ' <<<"$verdict")

mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
rm -f "$out"
(cd "$stage" && find . -type f | sort | zip -q -X -9 "$out" -@)
zipped=$(stat -c %s "$out")
unzipped=$(find "$stage" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
nlibs=$(find "$stage/lib" -maxdepth 1 -type f | wc -l)
echo "lambda-package: $out"
echo "lambda-package: zipped $zipped bytes ($((zipped / 1000000)) MB, limit 50 MB)," \
	"unzipped $unzipped bytes ($((unzipped / 1000000)) MB, limit 250 MB)"
echo "lambda-package: $nlibs libraries; newest GLIBC needed $maxneed," \
	"packaged glibc defines up to $maxdef"
[ "$zipped" -le "$ZIP_MAX" ] || die "zip is $zipped bytes, over 50 MB"
[ "$unzipped" -le "$UNZIPPED_MAX" ] || die "unzipped $unzipped bytes, over 250 MB"
