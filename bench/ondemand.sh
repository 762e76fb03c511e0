# bench/ondemand.sh - the `ondemand` part of bench/run.sh (sourced by it;
# uses its start_imgpipe, stop_pid, say, fail, logcmd, $IMGS, $RAW, $DEST,
# $WORK, $SMOKE).  Issue 14's figures, for each photo of BENCH_IMAGES:
#   eager     upload -> done (?wait) with one preset of an 800x800 box
#             (watermarked, JPEG q82): the eager path for that size
#   first     the first GET of w_800,h_800,q_8N (the same box, a quality
#             that is no preset's, so it is made on demand): decode of
#             the stored original + resize + mark + encode + store + the
#             record's update, then the bytes
#   hit       the same GET again: served from the store
#   preset    GET of the stored preset: the same path as `hit` for an
#             eager variant
#   avif      the first GET of w_800,h_800,q_8N,f_avif: the price of a
#             lazily made AVIF (docs/IMAGES.md "Formats by Accept")
# Rounds (BENCH_OD_ROUNDS, default 3; smoke 1) use a new quality each, so
# every `first` is a first.  Times are curl's time_total, in ms.  Output:
# raw/ondemand.tsv and ondemand.md in the destination.

def BENCH_OD_ROUNDS 3 1

od_get() { # url -> "status ms"
	curl -s -o /dev/null -w '%{http_code} %{time_total}' "$1" |
		awk '{printf "%s %.1f\n", $1, $2 * 1000}'
}

part_ondemand() {
	local out=$RAW/ondemand.tsv base id r q f st ms line
	say "ondemand: first request of an on-demand size vs the eager path"
	start_imgpipe ondemand serve 1 \
		IMGPIPE_ON_DEMAND_ENABLED=true \
		IMGPIPE_VARIANT_EAGER_WIDTH=800 IMGPIPE_VARIANT_EAGER_HEIGHT=800 \
		IMGPIPE_VARIANT_EAGER_WATERMARK=true \
		IMGPIPE_VARIANTS_ONLY=eager || return 1
	base=http://127.0.0.1:$SPORT
	printf 'photo\tround\teager_ms\tfirst_ms\thit_ms\tpreset_ms\tavif_ms\n' > "$out"
	for f in "${IMGS[@]}"; do
		for r in $(seq 1 "$BENCH_OD_ROUNDS"); do
			q=$((80 - r))
			line=$(curl -s -w ' %{time_total}' -X PUT --data-binary "@$f" \
				"$base/v1/images/$(basename "$f")?wait=120")
			id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<< "$line")
			if [ -z "$id" ] || ! grep -q '"status":"done"' <<< "$line"; then
				fail "ondemand: upload of $(basename "$f"): $(cut -c1-200 <<< "$line")"
				continue
			fi
			line="$(basename "$f")\t$r\t$(awk 'END {printf "%.1f", $NF * 1000}' <<< "$line")"
			for spec in "w_800,h_800,q_$q" "w_800,h_800,q_$q" eager \
				"w_800,h_800,q_$q,f_avif"; do
				read -r st ms <<< "$(od_get "$base/v1/images/$id/variants/$spec")"
				[ "$st" = 200 ] || fail "ondemand: GET $spec answered $st"
				line+="\t$ms"
			done
			printf '%b\n' "$line" >> "$out"
		done
	done
	curl -s "$base/metrics" | grep '^imgpipe_on_demand_renders_total' \
		> "$RAW/ondemand-metrics.txt"
	stop_pid "$SPID"
	od_report "$out" > "$DEST/ondemand.md"
	sed 's/^/   /' "$DEST/ondemand.md" >&2
}

od_report() { # tsv -> markdown: the medians over photos and rounds
	python3 - "$1" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
cols = ["eager_ms", "first_ms", "hit_ms", "preset_ms", "avif_ms"]
med = {c: statistics.median(float(r[i + 2]) for r in rows) if rows else 0
       for i, c in enumerate(cols)}
print("# Variants on demand (bench/ondemand.sh)\n")
print(f"{len(rows)} samples (photos x rounds); medians, ms, curl time_total "
      "on 127.0.0.1.\n")
print("| path | median ms |\n| --- | ---: |")
print(f"| eager: upload -> done, one 800x800 preset | {med['eager_ms']:.1f} |")
print(f"| on demand: first GET of w_800,h_800 (made, stored, served) | {med['first_ms']:.1f} |")
print(f"| on demand: the same GET again (from the store) | {med['hit_ms']:.1f} |")
print(f"| stored preset GET | {med['preset_ms']:.1f} |")
print(f"| on demand: first GET in AVIF | {med['avif_ms']:.1f} |")
if med["first_ms"] > 0:
    print(f"\nAVIF first request / JPEG first request: "
          f"{med['avif_ms'] / med['first_ms']:.1f}x")
EOF
}
