#!/usr/bin/env bash
# bench/run.sh - `make bench`: imgpipe measured against its peers and the
# decode floor, in one run on this machine (issues 4 and 12;
# docs/BENCHMARKS.md).
#
# Parts (BENCH_PARTS, default "fn serve memory ingest ondemand"):
#   fn      the function (build/bench/fn_bench) and the peer tools of
#           ../shared/peers/bench (worker.sh), interleaved round by round:
#           ms/image, images/s with 1 and 2 workers, peak RSS; with
#           imgpipe's allocator settings (imgpipe-a) and glibc's; the
#           helpers' overhead (fn_bench ovh: in-process, through a helper,
#           through a new helper, paired)
#   serve   `imgpipe serve` driven by build/bench/loadgen on 127.0.0.1:
#           upload -> done latency at low load and at saturation, images/s
#           with 2 and 1 workers, RSS of the server and its helpers
#           together, an offered-load sweep, a soak at saturation (RSS,
#           helper deaths, every acknowledged upload checked to be done)
#   memory  four 100 MP images (bench/memimages.py), each uploaded to a
#           fresh `imgpipe serve`: the outcome, the helper's peak RSS,
#           limits.max_image_memory
#   ingest  durable 202s per second and MB/s for 1.5 MB bodies, imgpipe's
#           gateway against nginx (WebDAV PUT) on the same disk
#   ondemand  an on-demand size's first request against the eager path,
#           a cached hit against a stored preset (bench/ondemand.sh)
# Then bench/summarize.py writes RESULTS.md and gnuplot latency.png.
#
# BENCH_SMOKE=1: one tiny iteration of each part (2 photos, 1 round, only
# the cheap peers, a 5 s soak, 2000x2000 memory images against an 8 MiB
# limit); everything goes to bench/out/ and RESULTS.md is left alone.  It
# asserts nothing about speed: it exits 0 when every part ran.  The other
# knobs are listed under "Knobs" below.
#
# Every process this script starts (servers, nginx) is stopped by PID on
# exit; scratch data lives in one mktemp directory that is removed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# the build to measure: BENCH_BUILD, else the Makefile's BUILD (`make bench
# BUILD=dir` exports it), else build/
BENCH_BUILD=${BENCH_BUILD:-${BUILD:-build}}
[[ "$BENCH_BUILD" = /* ]] || BENCH_BUILD=$ROOT/$BENCH_BUILD
BIN=$BENCH_BUILD/imgpipe
FN=$BENCH_BUILD/bench/fn_bench
LG=$BENCH_BUILD/bench/loadgen
CORPUS=$(cd "${IMGPIPE_CORPUS:-$ROOT/../shared/corpus}" && pwd)
PEERS=$(cd "${BENCH_PEERS:-$ROOT/../shared/peers/bench}" 2>/dev/null && pwd)
WM=$CORPUS/watermark.png
SMOKE=${BENCH_SMOKE:-0}
NCPU=$(nproc)

# ---- Knobs (environment; full run / smoke) --------------------------------
if [ "$SMOKE" = 1 ]; then
	def() { printf -v "$1" '%s' "${!1:-$3}"; }
else
	def() { printf -v "$1" '%s' "${!1:-$2}"; }
fi
def BENCH_PARTS "fn serve memory ingest ondemand" "fn serve memory ingest ondemand"
def BENCH_IMAGES "kleiber.jpg seeding.jpg dragonfly.jpg sunset-exif6.jpg bridge.jpg wine.jpg picos-alpha.png life.webp" "wine.jpg life.webp"
def BENCH_TOOLS "decode shrink8 ref refchain ref818 pil sharp" "decode ref"
def BENCH_LAT_ROUNDS 5 1        # latency rounds of the function part
def BENCH_TP_ROUNDS 3 1         # images/s rounds (1 and 2 workers)
def BENCH_LOW_ROUNDS 3 1        # low-load passes over the corpus (serve)
def BENCH_SAT_CLIENTS 4 2       # concurrent clients at saturation
def BENCH_SAT_ROUNDS 8 1        # saturation: corpus x this many uploads
def BENCH_SWEEP "0.25 0.5 0.75 0.9 1.0 1.2" "0.5" # x measured capacity
def BENCH_SWEEP_S 30 5          # seconds per sweep step (upper bound)
def BENCH_SOAK_S 600 5          # soak at saturation, seconds (0 = off; issue 12: 1800)
def BENCH_INGEST_N 100 4        # uploads per ingest run
def BENCH_INGEST_CLIENTS "1 4" "2"
def BENCH_INGEST_ROUNDS 3 1
def BENCH_INGEST_FILE seeding.jpg seeding.jpg
def BENCH_MEM_SIDE 10000 2000   # memory part: width = height of its images
def BENCH_MEM_LIMIT default 8M  # its limits.max_image_memory (default: the server's)

if [ "$SMOKE" = 1 ]; then
	DEST=$ROOT/bench/out
	RAW=$DEST/raw
else
	DEST=$ROOT/bench
	RAW=$ROOT/bench/raw
fi
mkdir -p "$DEST" "$RAW"
rm -rf "$RAW"/*.tsv "$RAW"/*.txt "$RAW"/*.log "$RAW"/*.dat "$RAW/logs"
WORK=$(mktemp -d /tmp/imgpipe-bench.XXXXXX)
PB=${BENCH_PEER_DIR:-/tmp/peerbench}   # the peers' node_modules and builds
FAILED=()
STARTED_PIDS=()

IMGS=()
for f in $BENCH_IMAGES; do IMGS+=("$CORPUS/$f"); done
NIMG=${#IMGS[@]}

say() { echo "== $*" >&2; }
fail() { echo "!! $*" >&2; FAILED+=("$*"); }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Log the exact command (tag, then argv) and run it.
logcmd() {
	local tag=$1; shift
	printf '%s\t%s\n' "$tag" "$*" >> "$RAW/commands.txt"
	"$@"
}

cleanup() {
	local p f
	# keep the tail of every server's log (crashes, warnings)
	for f in "$WORK"/*.err "$WORK"/nginx/error.log; do
		[ -s "$f" ] || continue
		mkdir -p "$RAW/logs"
		tail -n 200 "$f" > "$RAW/logs/$(basename "$(dirname "$f")")-$(basename "$f").txt"
	done
	for p in "${STARTED_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${STARTED_PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$WORK" /dev/shm/imgpipe-bench.$$
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- The machine ------------------------------------------------------------
machine() {
	v() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
	echo "date: $(date -u +%FT%TZ)"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $NCPU cores ($(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest)"
	echo "memory: $(free -g | awk '/Mem:/{print $2}') GiB; kernel $(uname -r); $(. /etc/os-release; echo "$PRETTY_NAME")"
	echo "disk for data (server, nginx, pipeline): $(df -T /tmp | awk 'NR==2{print $2 " on " $1}')"
	echo "load at start: $LOAD_START"
	echo "imgpipe: $("$BIN" --version 2>/dev/null | tr '\n' ' ')"
	echo "imgpipe build: $BENCH_BUILD, buildtype $(meson introspect --buildoptions "$BENCH_BUILD" 2>/dev/null | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"][0])' 2>/dev/null || echo '?')"
	echo "libvips (Debian libvips42): $(v libvips42); libjpeg-turbo $(v libjpeg62-turbo); libpng16 $(v libpng16-16); libwebp7 $(v libwebp7)"
	echo "libmicrohttpd12: $(v libmicrohttpd12); sqlite3: $(v libsqlite3-0); libcurl (loadgen): $(curl-config --version 2>/dev/null | cut -d' ' -f2)"
	echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2) (Debian nginx $(v nginx))"
	echo "gnuplot: $(gnuplot --version 2>/dev/null | cut -d' ' -f2-)"
	echo "gcc: $(gcc -dumpfullversion); python3: $(python3 -c 'import platform; print(platform.python_version())')"
	echo "Pillow: $(/usr/bin/python3 -c 'import PIL; print(PIL.__version__)' 2>/dev/null || echo absent)"
	echo "node: $(node --version 2>/dev/null || echo absent); sharp: $(node -p "require('$PB/node_modules/sharp/package.json').version" 2>/dev/null || echo absent), its libvips: $(node -p "require('$PB/node_modules/sharp').versions.vips" 2>/dev/null || echo '-')"
	echo "hyperfine: $(hyperfine --version 2>/dev/null | cut -d' ' -f2 || echo absent)"
	echo "other load: $(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{printf "%s %s%%; ", $2, $1}')"
}

# ---- Part 1+2: the function and the peers -----------------------------------
PEER_OK=()
peers_setup() {
	local t
	mkdir -p "$PB/build"
	if [ "$SMOKE" != 1 ] && [ -n "$PEERS" ]; then
		say "peers: setup.sh (apt + npm, builds the C references)"
		if ! NODE_DIR=$PB BUILD=$PB/build bash "$PEERS/setup.sh" \
			> "$RAW/peers-setup.log" 2>&1; then
			echo "peers setup.sh failed (see raw/peers-setup.log); using what is there" >> "$RAW/skipped.txt"
		fi
	fi
	if [ -n "$PEERS" ] && { [ ! -x "$PB/build/ref" ] ||
		[ "$PEERS/ref.c" -nt "$PB/build/ref" ]; }; then
		# the C reference alone needs no download: build it from their
		# source (not a copy) into the peers' build dir
		gcc -O2 -Wall -o "$PB/build/ref" "$PEERS/ref.c" \
			$(pkg-config --cflags --libs vips) >> "$RAW/peers-setup.log" 2>&1 ||
			echo "cannot build the peers' ref.c" >> "$RAW/skipped.txt"
	fi
	for t in $BENCH_TOOLS; do
		local ok=1
		case $t in
		decode|shrink8|ref|refchain) [ -x "$PB/build/ref" ] || ok=0 ;;
		ref818) [ -x "$PB/build/ref818" ] || ok=0 ;;
		pil) /usr/bin/python3 -c 'import PIL' 2>/dev/null || ok=0 ;;
		sharp) [ -d "$PB/node_modules/sharp" ] && command -v node >/dev/null || ok=0 ;;
		im|imh) command -v convert >/dev/null || ok=0 ;;
		gm|gmh) command -v gm >/dev/null || ok=0 ;;
		vcli) command -v vipsthumbnail >/dev/null || ok=0 ;;
		djpeg) command -v djpeg >/dev/null || ok=0 ;;
		*) ok=0 ;;
		esac
		if [ "$ok" = 1 ] && [ -n "$PEERS" ]; then
			PEER_OK+=("$t")
		else
			echo "peer $t skipped: not installed here (setup.sh needs apt/npm downloads)" >> "$RAW/skipped.txt"
		fi
	done
}

ONE=(env VIPS_CONCURRENCY=1 MAGICK_THREAD_LIMIT=1 OMP_NUM_THREADS=1 SHARP_THREADS=1 UV_THREADPOOL_SIZE=1)
pw() { # peer tool, outdir, images...: the peers' own worker.sh
	local t=$1 o=$2; shift 2
	NODE_DIR=$PB BUILD=$PB/build WM=$WM CORPUS=$CORPUS bash "$PEERS/worker.sh" "$t" "$o" "$@"
}
imgs_for() { # djpeg decodes JPEGs only
	local f
	for f in "${IMGS[@]}"; do
		[ "$1" = djpeg ] && [[ "$f" != *.jpg ]] && continue
		echo "$f"
	done
}
# imgpipe's rows: fn_bench options for each.  imgpipe-a is the function
# with the allocator settings of imgpipe's image helpers (-A:
# util_tune_malloc(true), as main.c calls it for `__helper`), the others
# glibc's defaults.
fn_opts() {
	case $1 in
	imgpipe) echo "-m imgproc" ;;
	imgpipe-a) echo "-m imgproc -A" ;;
	imgpipe-fn) echo "-m pipeline" ;;
	imgpipe-vt*) echo "-m imgproc -s worker.vips_threads=${1#imgpipe-vt}" ;;
	esac
}
is_ours() { [[ "$1" == imgpipe* ]]; }

# The helpers' overhead, one of the latency rounds' tools: each photo in
# fn_bench's process, through a helper process, and through a new helper
# (its start and warm-up), one after the other (fn_bench ovh).  Every
# process of imgpipe tunes glibc's allocator (main.c: 2 arenas, a 256 KiB
# mmap threshold), a helper too: fn_bench -A does the same, so that the
# difference is the helper's alone.
fn_helpers() { # round, images...
	local r=$1
	shift
	logcmd "fn ovh" "$FN" ovh -A -x "$BIN" -W -w "$WM" "$@" > "$RAW/ovh.out" ||
		fail "fn_bench ovh (round $r)"
	awk -F'\t' -v r="$r" '$1=="ovh"{n=split($3,p,"/"); print r "\t" p[n] "\t" $4 "\t" $5 "\t" $6}' \
		"$RAW/ovh.out" >> "$RAW/ovh.tsv"
	rm -f "$RAW/ovh.out"
}

part_fn() {
	# latency rounds also run the libvips-threads lever (imgpipe-vtN: N
	# libvips threads in the one worker), interleaved like the rest
	local lat_all=(imgpipe imgpipe-a helpers imgpipe-fn "imgpipe-vt$NCPU" "${PEER_OK[@]}")
	local all=(imgpipe imgpipe-a imgpipe-fn "${PEER_OK[@]}") n r i t o t0 t1 L ok
	local shm=/dev/shm/imgpipe-bench.$$
	mkdir -p "$shm"
	n=${#lat_all[@]}
	for ((r = 1; r <= BENCH_LAT_ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			t=${lat_all[$(( (i + r) % n ))]}
			o=$shm/lat-$t
			mkdir -p "$o"
			say "fn lat round $r/$BENCH_LAT_ROUNDS: $t"
			mapfile -t L < <(imgs_for "$t")
			if [ "$t" = helpers ]; then
				fn_helpers "$r" "${L[@]}"
			elif is_ours "$t"; then
				logcmd "fn lat $t" "$FN" lat $(fn_opts "$t") -W -w "$WM" "${L[@]}" > "$o.out" ||
					fail "fn_bench lat $t (round $r)"
				awk -F'\t' -v r="$r" -v t="$t" '$1=="lat"{n=split($3,p,"/"); print "lat\t" r "\t" t "\t" p[n] "\t" $4}' "$o.out" >> "$RAW/fn.tsv"
				awk -F'\t' -v r="$r" -v t="$t" '$1=="rss"{print "lat\t" r "\t" t "\t" $2}' "$o.out" >> "$RAW/rss.tsv"
				awk -F'\t' '$1=="vips"{print $2}' "$o.out" > "$RAW/vips-version.txt"
			else
				logcmd "peer lat $t" env WARMUP=1 NODE_DIR="$PB" BUILD="$PB/build" WM="$WM" \
					bash "$PEERS/worker.sh" "$t" "$o" "${L[@]}" > "$o.out" ||
					fail "peer $t (round $r)"
				awk -v r="$r" -v t="$t" 'NF==2{n=split($1,p,"/"); print "lat\t" r "\t" t "\t" p[n] "\t" $2}' "$o.out" >> "$RAW/fn.tsv"
				printf 'lat\t%s\t%s\t%s\n' "$r" "$t" "$(cat "$o.rss" 2>/dev/null || echo 0)" >> "$RAW/rss.tsv"
			fi
		done
	done
	n=${#all[@]}
	for ((r = 1; r <= BENCH_TP_ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			t=${all[$(( (i + r) % n ))]}
			mapfile -t L < <(imgs_for "$t")
			o=$shm/tp-$t
			mkdir -p "$o"
			say "fn images/s round $r/$BENCH_TP_ROUNDS: $t, 1 worker"
			ok=1
			t0=$(ms)
			if is_ours "$t"; then
				logcmd "fn tp1 $t" "${ONE[@]}" taskset -c 0 "$FN" tp -t 1 $(fn_opts "$t") -w "$WM" "${L[@]}" > "$o.out" ||
					{ ok=0; fail "fn_bench tp -t 1 $t"; }
			else
				logcmd "peer tp1 $t" "${ONE[@]}" taskset -c 0 env NODE_DIR="$PB" BUILD="$PB/build" WM="$WM" \
					bash "$PEERS/worker.sh" "$t" "$o" "${L[@]}" > /dev/null || { ok=0; fail "peer tp1 $t"; }
			fi
			t1=$(ms)
			[ $ok = 1 ] && printf 'tp1\t%s\t%s\t%s\t%s\n' "$r" "$t" "${#L[@]}" $((t1 - t0)) >> "$RAW/wall.tsv"
			if is_ours "$t"; then
				awk -F'\t' -v r="$r" -v t="$t" '$1=="rss"{print "tp1\t" r "\t" t "\t" $2}' "$o.out" >> "$RAW/rss.tsv"
			else
				printf 'tp1\t%s\t%s\t%s\n' "$r" "$t" "$(cat "$o.rss" 2>/dev/null || echo 0)" >> "$RAW/rss.tsv"
			fi
			[ "$NCPU" -ge 2 ] || continue
			say "fn images/s round $r/$BENCH_TP_ROUNDS: $t, 2 workers"
			ok=1
			t0=$(ms)
			if is_ours "$t"; then
				# one process, two worker threads sharing the imgproc:
				# the shape of `imgpipe serve --workers 2`
				logcmd "fn tp2 $t" "$FN" tp -t 2 $(fn_opts "$t") -w "$WM" "${L[@]}" > "$o.out" ||
					{ ok=0; fail "fn_bench tp -t 2 $t"; }
				awk -F'\t' -v r="$r" -v t="$t" '$1=="rss"{print "tp2\t" r "\t" t "\t" $2}' "$o.out" >> "$RAW/rss.tsv"
			else
				# the peers' own way: two single-threaded processes,
				# one pinned to each core
				printf '%s\t%s\n' "peer tp2 $t" "${ONE[*]} taskset -c 0|1 env NODE_DIR=$PB BUILD=$PB/build WM=$WM bash $PEERS/worker.sh $t $o-a|b ${L[*]}" >> "$RAW/commands.txt"
				"${ONE[@]}" taskset -c 0 env NODE_DIR="$PB" BUILD="$PB/build" WM="$WM" \
					bash "$PEERS/worker.sh" "$t" "$o-a" "${L[@]}" > /dev/null & local a=$!
				"${ONE[@]}" taskset -c 1 env NODE_DIR="$PB" BUILD="$PB/build" WM="$WM" \
					bash "$PEERS/worker.sh" "$t" "$o-b" "${L[@]}" > /dev/null & local b=$!
				wait "$a" || { ok=0; fail "peer tp2 $t"; }
				wait "$b" || { ok=0; fail "peer tp2 $t"; }
			fi
			t1=$(ms)
			[ $ok = 1 ] && printf 'tp2\t%s\t%s\t%s\t%s\n' "$r" "$t" $((2 * ${#L[@]})) $((t1 - t0)) >> "$RAW/wall.tsv"
		done
	done
	# Allocator levers on the 2-worker figure (RSS is a target): glibc
	# with 2 arenas, and jemalloc when Debian's libjemalloc2 is there.
	local jem levers=("imgpipe+arena2")
	jem=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1)
	[ -n "$jem" ] && levers+=("imgpipe+jemalloc")
	for ((r = 1; r <= BENCH_TP_ROUNDS; r++)); do
		for t in "${levers[@]}"; do
			local pre=(env MALLOC_ARENA_MAX=2)
			[ "$t" = "imgpipe+jemalloc" ] && pre=(env LD_PRELOAD="$jem")
			say "fn images/s round $r/$BENCH_TP_ROUNDS: $t, 2 workers (a lever)"
			t0=$(ms)
			if logcmd "lever tp2 $t" "${pre[@]}" "$FN" tp -t 2 -w "$WM" "${IMGS[@]}" > "$shm/lever.out"; then
				t1=$(ms)
				printf 'tp2\t%s\t%s\t%s\t%s\n' "$r" "$t" $((2 * NIMG)) $((t1 - t0)) >> "$RAW/wall.tsv"
				awk -F'\t' -v r="$r" -v t="$t" '$1=="rss"{print "tp2\t" r "\t" t "\t" $2}' "$shm/lever.out" >> "$RAW/rss.tsv"
			else
				fail "lever $t"
			fi
		done
	done
	# Keep one set of outputs to look at (not committed: bench/out/)
	rm -rf "$ROOT/bench/out/variants"
	mkdir -p "$ROOT/bench/out/variants"
	logcmd "fn outputs" "$FN" lat -m imgproc -w "$WM" -o "$ROOT/bench/out/variants" "${IMGS[@]}" > /dev/null ||
		fail "fn_bench -o"
	rm -rf "$shm"
}

# ---- Part 3: the server end to end -------------------------------------------
SPID= SPORT=
start_imgpipe() { # name, command (serve|gateway), workers [, VAR=value...]
	local name=$1 cmd=$2 w=$3 out=$WORK/$1.out
	shift 3
	mkdir -p "$WORK/$name"
	: > "$out"
	# env execs imgpipe, so $! is still imgpipe's PID
	local argv=(env "$@" "$BIN" "$cmd" --port 0 --data-dir "$WORK/$name" --workers "$w"
		--log-level warn --set "watermark.image=$WM")
	printf '%s\t%s\n' "server $cmd" "${argv[*]}" >> "$RAW/commands.txt"
	# started directly (not through a function) so that $! is its PID
	"${argv[@]}" > "$out" 2> "$WORK/$name.err" &
	SPID=$!
	STARTED_PIDS+=("$SPID")
	SPORT=
	for _ in $(seq 1 300); do
		SPORT=$(sed -n 's/^imgpipe listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")
		[ -n "$SPORT" ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	fail "imgpipe $cmd did not start: $(tail -3 "$WORK/$name.err" | tr '\n' ' ')"
	return 1
}
stop_pid() { # pid: SIGTERM, then wait (bounded), then SIGKILL
	local p=$1
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 600); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	local keep=()
	for q in "${STARTED_PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	STARTED_PIDS=("${keep[@]}")
}
# lg TAG ARGS...: run loadgen against the current server ($SPORT); its
# summary line goes to raw/serve.tsv and into $LGLINE.
LGLINE=
lg() {
	local tag=$1; shift
	LGLINE=$(logcmd "loadgen $tag" "$LG" -u "http://127.0.0.1:$SPORT" -P "$tag" "$@" 2>> "$WORK/lg.err")
	local rc=$?
	[ -n "$LGLINE" ] && printf '%s\t%s\n' "$tag" "$LGLINE" >> "$RAW/serve.tsv"
	echo "   $tag: $(cut -c1-160 <<< "$LGLINE")" >&2
	[ $rc -eq 0 ] || fail "loadgen $tag: $(tail -c 300 "$WORK/lg.err" 2>/dev/null | tr '\n' ' ')"
	return $rc
}
# alive TAG: is the server still running?  If not, record how it ended
# (exit status or signal) and its last log lines, and fail the part.
alive() {
	kill -0 "$SPID" 2>/dev/null && return 0
	wait "$SPID" 2>/dev/null
	local rc=$? how
	how="exit $rc"
	[ $rc -gt 128 ] && how="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))"
	printf '%s\t%s\n' "$1" "$how" >> "$RAW/serve-crash.tsv"
	fail "imgpipe server died during $1: $how (log: raw/logs/)"
	local keep=()
	for q in "${STARTED_PIDS[@]}"; do [ "$q" = "$SPID" ] || keep+=("$q"); done
	STARTED_PIDS=("${keep[@]}")
	return 1
}
# hwm NAME: record the server's VmHWM under NAME (when it is alive)
hwm() {
	local k
	k=$(awk '/^VmHWM:/{print $2}' "/proc/$SPID/status" 2>/dev/null)
	[ -n "$k" ] && printf '%s\t%s\n' "$1" "$k" >> "$RAW/serve-hwm.tsv"
}
kv() { # key, summary line -> value
	sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$2"
}

# soak: BENCH_SOAK_S at saturation on the running 2-worker server.  Zero
# lost uploads is checked, not assumed: every upload the server acknowledged
# (202 + id) is asked for again afterwards (bench/soakcheck.py).  Helper
# deaths: /metrics before and after (imgpipe_attempt_failures_total by
# reason, imgpipe_dead_letters) and the server's "image helper PID: why"
# log lines of the soak.  RSS: the whole tree sampled (loadgen -s).
soak() {
	local url=http://127.0.0.1:$SPORT err=$WORK/serve-w2.err base
	say "serve: soak, $BENCH_SOAK_S s at saturation ($BENCH_SAT_CLIENTS clients)"
	curl -sf "$url/metrics" > "$RAW/soak-metrics-before.txt" ||
		fail "soak: GET /metrics before"
	base=$(wc -l < "$err")
	lg soak -m closed -c "$BENCH_SAT_CLIENTS" -n 100000 -d "$BENCH_SOAK_S" -p "$SPID" \
		-o "$RAW/serve-soak.tsv" -s "$RAW/serve-soak-rss.tsv" -T "$RAW/serve-soak-procs.tsv" \
		"${IMGS[@]}"
	hwm soak
	alive soak || return
	say "serve: soak check: is every acknowledged upload done?"
	logcmd "soak check" python3 "$ROOT/bench/soakcheck.py" "$url" "$RAW/serve-soak.tsv" \
		"$RAW/soak-not-done.tsv" > "$RAW/soak-check.txt" ||
		fail "soak: acknowledged uploads lost: $(cat "$RAW/soak-check.txt")"
	echo "   soak check: $(cat "$RAW/soak-check.txt")" >&2
	curl -sf "$url/metrics" > "$RAW/soak-metrics-after.txt" ||
		fail "soak: GET /metrics after"
	tail -n +"$((base + 1))" "$err" | grep -E 'image helper [0-9]+: ' |
		head -n 1000 > "$RAW/soak-helper-log.txt"
	say "serve: $(wc -l < "$RAW/soak-helper-log.txt") helper death(s) logged during the soak"
}

part_serve() {
	local cap n rate f
	say "serve: imgpipe serve --workers 2"
	start_imgpipe serve-w2 serve 2 || return
	# -p: the server and its helpers sampled (peak RSS of the tree)
	lg warm -m closed -c 1 -n 2 -p "$SPID" -T "$RAW/serve-warm-procs.tsv" "${IMGS[@]}"
	say "serve: low load (1 client, one upload at a time)"
	lg low -m closed -c 1 -n $((NIMG * BENCH_LOW_ROUNDS)) -d 600 -p "$SPID" -o "$RAW/serve-low.tsv" \
		-T "$RAW/serve-low-procs.tsv" "${IMGS[@]}"
	say "serve: saturation ($BENCH_SAT_CLIENTS clients)"
	lg sat-w2 -m closed -c "$BENCH_SAT_CLIENTS" -n $((NIMG * BENCH_SAT_ROUNDS)) -d 600 -p "$SPID" \
		-o "$RAW/serve-sat-w2.tsv" -T "$RAW/serve-sat-w2-procs.tsv" "${IMGS[@]}"
	cap=$(kv ips "$LGLINE")
	hwm corpus
	if ! alive "low load and saturation"; then
		:
	elif [ -n "$cap" ] && awk -v c="$cap" 'BEGIN{exit !(c > 0)}'; then
		for f in $BENCH_SWEEP; do
			rate=$(awk -v c="$cap" -v f="$f" 'BEGIN{printf "%.3f", c * f}')
			n=$(awk -v r="$rate" -v s="$BENCH_SWEEP_S" 'BEGIN{n = int(r * s); if (n < 4) n = 4; print n}')
			[ "$SMOKE" = 1 ] && n=2
			say "serve: offered load $rate images/s (${f}x capacity), $n uploads"
			lg "sweep-$f" -m open -R "$rate" -c 256 -n "$n" -d "$BENCH_SWEEP_S" -p "$SPID" "${IMGS[@]}"
		done
	else
		fail "serve: no saturation figure, sweep skipped"
	fi
	if [ "$BENCH_SOAK_S" -gt 0 ] && alive sweep; then
		soak
	fi
	alive soak && stop_pid "$SPID"
	say "serve: imgpipe serve --workers 1"
	start_imgpipe serve-w1 serve 1 || return
	lg warm1 -m closed -c 1 -n 2 "${IMGS[@]}"
	lg sat-w1 -m closed -c "$BENCH_SAT_CLIENTS" -n $((NIMG * BENCH_SAT_ROUNDS)) -d 600 -p "$SPID" -o "$RAW/serve-sat-w1.tsv" "${IMGS[@]}"
	alive "1 worker" && stop_pid "$SPID"
	rm -rf "$WORK/serve-w1" "$WORK/serve-w2"
	# Allocator levers on the server's peak RSS (a target): the same
	# corpus once at low load and once at saturation, 2 workers.
	local jem lev
	jem=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1)
	for lev in arena2 jemalloc; do
		local e=(MALLOC_ARENA_MAX=2)
		if [ "$lev" = jemalloc ]; then
			[ -n "$jem" ] || continue
			e=(LD_PRELOAD="$jem")
		fi
		say "serve: peak RSS lever $lev (${e[*]})"
		start_imgpipe "serve-$lev" serve 2 "${e[@]}" || continue
		lg "low-$lev" -m closed -c 1 -n "$NIMG" -d 600 -p "$SPID" "${IMGS[@]}"
		lg "sat-$lev" -m closed -c "$BENCH_SAT_CLIENTS" -n $((NIMG * BENCH_SAT_ROUNDS)) -d 600 -p "$SPID" "${IMGS[@]}"
		hwm "corpus-$lev"
		alive "lever $lev" && stop_pid "$SPID"
		rm -rf "$WORK/serve-$lev"
	done
}

# ---- Part 4: memory per image --------------------------------------------------
# Issue 12's two 10000x10000 images (a progressive 4:4:4 JPEG, an
# interlaced PNG: decoders that hold the whole image) and two 100 MP images
# within the limits (a sequential JPEG, a plain PNG), made by
# bench/memimages.py (the same bytes each run;
# cached in bench/out/memory-images/).  Each goes to a fresh `imgpipe
# serve` with its default settings (BENCH_MEM_LIMIT aside) so that the
# helper's VmHWM is that image's alone; loadgen samples the server's tree
# and keeps the refusal's message or the record's outcome.
part_memory() {
	local dir=$ROOT/bench/out/memory-images/$BENCH_MEM_SIDE f name line stamp e=()
	[ "$BENCH_MEM_LIMIT" = default ] || e=(IMGPIPE_LIMITS_MAX_IMAGE_MEMORY="$BENCH_MEM_LIMIT")
	stamp=$(sha256sum "$ROOT/bench/memimages.py" | cut -c1-16)
	if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
		say "memory: making the ${BENCH_MEM_SIDE}x$BENCH_MEM_SIDE images (bench/memimages.py)"
		rm -rf "$dir"
		mkdir -p "$dir"
		if ! logcmd "memory images" /usr/bin/python3 "$ROOT/bench/memimages.py" \
			"$BENCH_MEM_SIDE" "$dir" > "$dir/sizes.tsv"; then
			fail "memory: bench/memimages.py"
			return
		fi
		echo "$stamp" > "$dir/stamp"
	fi
	cp "$dir/sizes.tsv" "$RAW/memory-images.tsv"
	env "${e[@]}" "$BIN" config --set "watermark.image=$WM" 2>/dev/null |
		awk '/^\[/{s=$0} s=="[limits]" && $1=="max_image_memory"{print $3}' > "$RAW/memory-limit.txt"
	for f in progressive-444.jpg interlaced.png baseline.jpg plain.png; do
		name=${f%.*}
		say "memory: $f (${BENCH_MEM_SIDE}x$BENCH_MEM_SIDE) on a fresh imgpipe serve"
		start_imgpipe "mem-$name" serve "$NCPU" "${e[@]}" || continue
		# a 422 is an outcome here, not a failure: loadgen's exit
		# status is not looked at, its summary line must be there
		line=$(logcmd "loadgen memory" "$LG" -u "http://127.0.0.1:$SPORT" -P "mem-$name" \
			-m closed -c 1 -n 1 -d 600 -p "$SPID" -o "$RAW/memory-$name.tsv" \
			-T "$RAW/memory-$name-procs.tsv" "$dir/$f" 2>> "$WORK/lg.err")
		if [ -n "$line" ]; then
			printf '%s\t%s\n' "$name" "$line" >> "$RAW/memory.tsv"
			echo "   $name: $(cut -f 4,9,13 "$RAW/memory-$name.tsv" | tr '\t' ' ' | cut -c1-140)" >&2
		else
			fail "memory: loadgen $f: $(tail -c 300 "$WORK/lg.err" | tr '\n' ' ')"
		fi
		alive "memory $f" && stop_pid "$SPID"
		rm -rf "$WORK/mem-$name"
	done
}

# ---- Part 5: ingest against nginx --------------------------------------------
NPID= NPORT=
start_nginx() {
	local d=$WORK/nginx
	mkdir -p "$d/root/v1/images" "$d/body" "$d/tmp"
	# nginx's workers drop root for "nobody": let them in
	chmod 0755 "$WORK" "$d"
	chmod -R 0777 "$d/root" "$d/body" "$d/tmp"
	NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat > "$d/nginx.conf" <<EOF
# private nginx for bench/run.sh: WebDAV PUT into $d/root
daemon off;
master_process on;
worker_processes $NCPU;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path $d/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	client_max_body_size 64m;
	server {
		listen 127.0.0.1:$NPORT;
		root $d/root;
		location /v1/images/ {
			dav_methods PUT;
			create_full_put_path on;
			dav_access user:rw group:r all:r;
			client_body_in_file_only on;
			client_body_buffer_size 128k;
		}
	}
}
EOF
	printf 'nginx\tnginx -p %s -c %s -e %s\n' "$d" "$d/nginx.conf" "$d/error.log" >> "$RAW/commands.txt"
	nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" > "$d/stdout" 2>&1 &
	NPID=$!
	STARTED_PIDS+=("$NPID")
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && return 0
		kill -0 "$NPID" 2>/dev/null || break
		sleep 0.1
	done
	fail "nginx did not start: $(tail -3 "$d/error.log" 2>/dev/null | tr '\n' ' ')"
	return 1
}

part_ingest() {
	local r c order tgt file=$CORPUS/$BENCH_INGEST_FILE
	say "ingest: imgpipe gateway (no workers) and nginx WebDAV, $BENCH_INGEST_FILE"
	# no workers: the queue only grows, so its admission bounds are lifted
	start_imgpipe ingest gateway 0 IMGPIPE_LIMITS_MAX_QUEUED=1000000 \
		IMGPIPE_LIMITS_MAX_QUEUED_PIXELS=1000000000000000 || return
	local IPORT=$SPORT IPID=$SPID
	start_nginx || { stop_pid "$IPID"; return; }
	cp "$WORK/nginx/nginx.conf" "$RAW/nginx.conf.txt"
	echo "$BENCH_INGEST_FILE ($(stat -c %s "$file") bytes)" > "$RAW/ingest-file.txt"
	for ((r = 1; r <= BENCH_INGEST_ROUNDS; r++)); do
		order="imgpipe nginx"
		[ $((r % 2)) = 0 ] && order="nginx imgpipe"
		for c in $BENCH_INGEST_CLIENTS; do
			for tgt in $order; do
				sync
				say "ingest round $r: $tgt, $c client(s), $BENCH_INGEST_N uploads"
				if [ "$tgt" = imgpipe ]; then
					SPORT=$IPORT
					lg "ingest-imgpipe-c$c-r$r" -m ingest -x 202 -c "$c" -n "$BENCH_INGEST_N" -d 120 "$file"
				else
					SPORT=$NPORT
					lg "ingest-nginx-c$c-r$r" -m ingest -c "$c" -n "$BENCH_INGEST_N" -d 120 "$file"
					find "$WORK/nginx/root/v1/images" -type f -delete
				fi
			done
		done
	done
	# the cost of the promise: what one fsync'd 1.5 MB write costs here
	if command -v dd >/dev/null; then
		local t0 t1
		t0=$(ms)
		for i in 1 2 3 4 5 6 7 8 9 10; do
			dd if="$file" of="$WORK/fsync-probe" bs=1M conv=fsync status=none
		done
		t1=$(ms)
		printf 'fsync_1_5mb_ms\t%s\n' "$(awk -v d=$((t1 - t0)) 'BEGIN{printf "%.1f", d / 10}')" >> "$RAW/serve-hwm.tsv"
	fi
	stop_pid "$NPID"
	stop_pid "$IPID"
	rm -rf "$WORK/ingest" "$WORK/nginx/root"
}

# ---- Run ------------------------------------------------------------------------
for x in "$BIN" "$FN" "$LG"; do
	[ -x "$x" ] || { echo "bench/run.sh: $x missing: build first (make build)" >&2; exit 1; }
done
say "imgpipe bench$([ "$SMOKE" = 1 ] && echo ' (smoke)'): $NIMG photos, parts: $BENCH_PARTS; raw data in $RAW"
: > "$RAW/commands.txt"
: > "$RAW/skipped.txt"
[ -n "$PEERS" ] || echo "peers: ${BENCH_PEERS:-../shared/peers/bench} not found: no peer figures" >> "$RAW/skipped.txt"
T_START=$(ms)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# the settings every imgpipe of the run starts from (worker.helper_jobs,
# limits.max_image_memory... are read from here by summarize.py)
"$BIN" config --set "watermark.image=$WM" > "$RAW/imgpipe-config.txt" 2>&1 ||
	fail "imgpipe config"
for part in $BENCH_PARTS; do
	case $part in
	fn) peers_setup; part_fn ;;
	serve) part_serve ;;
	memory) part_memory ;;
	ingest) part_ingest ;;
	ondemand) . "$ROOT/bench/ondemand.sh"; part_ondemand ;;
	*) fail "unknown part $part" ;;
	esac
done
machine > "$RAW/machine.txt" 2>/dev/null
if [ "$SMOKE" != 1 ] && [ -n "$PEERS" ] && [[ " $BENCH_PARTS " == *" fn "* ]]; then
	echo "peers' machine.sh:" >> "$RAW/machine.txt"
	NODE_DIR=$PB bash "$PEERS/machine.sh" 2>/dev/null | grep -v -E '^(date|cpu|flags|memory|load)' |
		sed 's/^/  /' >> "$RAW/machine.txt"
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/machine.txt"
echo "run took: $(( ($(ms) - T_START) / 1000 )) s" >> "$RAW/machine.txt"
{
	echo "smoke: $SMOKE"
	for k in BENCH_PARTS BENCH_IMAGES BENCH_TOOLS BENCH_LAT_ROUNDS BENCH_TP_ROUNDS \
		BENCH_LOW_ROUNDS BENCH_SAT_CLIENTS BENCH_SAT_ROUNDS BENCH_SWEEP \
		BENCH_SWEEP_S BENCH_SOAK_S BENCH_INGEST_N BENCH_INGEST_CLIENTS \
		BENCH_INGEST_ROUNDS BENCH_INGEST_FILE BENCH_MEM_SIDE BENCH_MEM_LIMIT; do
		echo "$k: ${!k}"
	done
} > "$RAW/knobs.txt"
for f in "${FAILED[@]}"; do echo "FAILED: $f"; done > "$RAW/failed.txt"

say "summary: $DEST/RESULTS.md"
python3 "$ROOT/bench/summarize.py" "$RAW" "$DEST" > "$DEST/RESULTS.md" ||
	fail "summarize.py"
if grep -qv '^#' "$RAW/sweep.dat" 2>/dev/null; then
	gnuplot -e "datafile='$RAW/sweep.dat'; outfile='$DEST/latency.png'; cap='$(cat "$RAW/capacity.txt" 2>/dev/null || echo 0)'" \
		"$ROOT/bench/latency.gp" 2> "$RAW/gnuplot.log" || fail "gnuplot"
elif [[ " $BENCH_PARTS " == *" serve "* ]]; then
	fail "no sweep data: no plot"
fi
sed -n '/^## Headline/,/^## /p' "$DEST/RESULTS.md" | sed '$d' >&2
if [ ${#FAILED[@]} -gt 0 ]; then
	printf 'bench: %d part(s) failed:\n' ${#FAILED[@]} >&2
	printf '  %s\n' "${FAILED[@]}" >&2
	exit 1
fi
say "bench done in $(( ($(ms) - T_START) / 1000 )) s"
exit 0
