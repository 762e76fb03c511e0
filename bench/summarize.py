#!/usr/bin/python3
"""summarize.py RAW_DIR DEST_DIR > RESULTS.md

Turns the raw data bench/run.sh wrote into the markdown report (tables,
medians and ratios; see docs/BENCHMARKS.md for what each figure means), and
writes RAW_DIR/sweep.dat and RAW_DIR/capacity.txt for bench/latency.gp.
Missing parts are reported as missing, not guessed.
"""
import collections
import math
import os
import re
import statistics as st
import sys

RAW, DEST = sys.argv[1], sys.argv[2]

NAMES = {
    "imgpipe": "**imgpipe** function: `imgproc_process` (1 worker, 1 libvips thread)",
    "imgpipe-fn": "imgpipe whole function: `pipeline_handle_event` (fs + sqlite, durable writes)",
    "ref": "peer: libvips C, 3x thumbnail_buffer (Debian 8.14)",
    "refchain": "peer: libvips C, decode once then chain (8.14)",
    "ref818": "peer: libvips C, 3x thumbnail, sharp's libvips 8.18",
    "vcli": "peer: vips CLI",
    "im": "peer: ImageMagick 6 convert",
    "imh": "peer: ImageMagick 6 + jpeg:size hint",
    "gm": "peer: GraphicsMagick",
    "gmh": "peer: GraphicsMagick + -size hint",
    "pil": "peer: Pillow (Debian python3-pil)",
    "sharp": "peer: sharp (npm, its own libvips 8.18)",
    "decode": "floor: libvips full decode (`vips_avg`)",
    "shrink8": "floor: libvips shrink-on-load 1/8",
    "djpeg": "floor: djpeg full decode (JPEGs only)",
}
FLOOR = "decode"
TARGETS = {"floor": 1.3, "pil": 1.75, "sharp": 2.0, "scaling": 1.8,
           "rss_mib": 160, "low_excess_ms": 25, "ingest": 0.8}


def lines(name):
    path = os.path.join(RAW, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [ln.rstrip("\n") for ln in f if ln.strip()]


def text(name, default=""):
    path = os.path.join(RAW, name)
    return open(path).read().strip() if os.path.exists(path) else default


def f(x, fmt="{:.0f}"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def r2(x):
    return f(x, "{:.2f}")


def med(v):
    return st.median(v) if v else None


def verdict(ok):
    return "met" if ok else "**not met**"


# ---- the function and the peers -------------------------------------------
lat = collections.defaultdict(list)          # (tool, image) -> [ms]
lat_rounds = collections.defaultdict(lambda: collections.defaultdict(list))
for ln in lines("fn.tsv"):
    _, r, tool, img, ms = ln.split("\t")
    lat[(tool, img)].append(float(ms))
    lat_rounds[tool][r].append(float(ms))
wall = collections.defaultdict(list)         # (mode, tool) -> [(n, ms)]
for ln in lines("wall.tsv"):
    mode, r, tool, n, ms = ln.split("\t")
    wall[(mode, tool)].append((int(n), float(ms)))
rss = collections.defaultdict(list)          # (mode, tool) -> [kib]
for ln in lines("rss.tsv"):
    mode, r, tool, kib = ln.split("\t")
    if kib.strip().isdigit():
        rss[(mode, tool)].append(int(kib))

tools = [t for t in NAMES if any(k[0] == t for k in lat) or any(k[1] == t for k in wall)]
levers = sorted({k[1] for k in wall if "+" in k[1]})
extra = sorted({k[0] for k in lat} - set(NAMES))
images = []
for (t, i) in lat:
    if i not in images:
        images.append(i)


def per_image(tool):
    return {i: st.median(lat[(tool, i)]) for i in images if (tool, i) in lat}


def mean_ms(tool, only=None):
    p = per_image(tool)
    if only is not None:
        p = {k: v for k, v in p.items() if k in only}
    return sum(p.values()) / len(p) if p else None


def ips(mode, tool):
    v = wall.get((mode, tool))
    if not v:
        return None
    return v[0][0] / (st.median(ms for _, ms in v) / 1000)


def peak_mib(mode, tool):
    v = rss.get((mode, tool))
    return max(v) / 1024 if v else None


fl_ms, fl1, fl2 = mean_ms(FLOOR), ips("tp1", FLOOR), ips("tp2", FLOOR)
ip_ms, ip1, ip2 = mean_ms("imgpipe"), ips("tp1", "imgpipe"), ips("tp2", "imgpipe")

# ---- the server -------------------------------------------------------------
serve = {}
for ln in lines("serve.tsv"):
    tag, rest = ln.split("\t", 1)
    kv = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    serve[tag] = {k: (float(v) if k not in ("mode",) else v) for k, v in kv.items()}
hwm = {}
for ln in lines("serve-hwm.tsv"):
    k, _, v = ln.partition("\t")
    if v.strip():
        hwm[k] = float(v)
crashes = [ln.split("\t", 1) for ln in lines("serve-crash.tsv")]


def per_request(name):
    out = []
    for ln in lines(name):
        p = ln.split("\t")
        if len(p) < 10:
            continue
        out.append({"file": p[1], "code": int(p[3]), "plan": float(p[4]),
                    "start": float(p[5]), "accept": float(p[6]),
                    "done": float(p[7]), "status": p[8], "proc": int(p[9])})
    return out


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    k = max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))
    return v[k]


# low load: latency minus the function's own time for the same photo
fn_img = per_image("imgpipe")
low = [x for x in per_request("serve-low.tsv") if x["status"] == "done"]
low_lat = [x["done"] - x["plan"] for x in low]
low_excess = [x["done"] - x["plan"] - fn_img[x["file"]] for x in low if x["file"] in fn_img]
low_over_rec = [x["done"] - x["plan"] - x["proc"] for x in low if x["proc"] >= 0]
low_fn = [fn_img[x["file"]] for x in low if x["file"] in fn_img]
low_proc = [x["proc"] for x in low if x["proc"] >= 0]

# sweep: offered vs latency
sweep = []
for tag, s in serve.items():
    if tag.startswith("sweep-"):
        sweep.append((float(tag[6:]), s))
sweep.sort()
cap = serve.get("sat-w2", {}).get("ips")
with open(os.path.join(RAW, "sweep.dat"), "w") as out:
    out.write("# offered_ips achieved_ips p50_ms p95_ms p99_ms\n")
    for frac, s in sweep:
        out.write(f"{s['rate']:.3f} {s['ips']:.3f} {s['lat_p50']:.1f} "
                  f"{s['lat_p95']:.1f} {s['lat_p99']:.1f}\n")
with open(os.path.join(RAW, "capacity.txt"), "w") as out:
    out.write(f"{cap or 0:.3f}\n")

soak = [tuple(map(float, ln.split("\t"))) for ln in lines("serve-soak-rss.tsv")]

# ingest
ingest = collections.defaultdict(list)   # (target, clients) -> [summary]
for tag, s in serve.items():
    if tag.startswith("ingest-"):
        _, tgt, c, r = tag.split("-")
        ingest[(tgt, int(c[1:]))].append(s)

# ---- the report ---------------------------------------------------------------
machine = text("machine.txt")
knobs = text("knobs.txt")
KNOBS = dict(ln.split(": ", 1) for ln in knobs.splitlines() if ": " in ln)
smoke = "smoke: 1" in knobs
P = print

P("# imgpipe benchmark results" + (" (SMOKE RUN: tiny, not for quoting)" if smoke else ""))
P()
P("Written by `make bench` (bench/run.sh, then bench/summarize.py); "
  "what each figure means: [docs/BENCHMARKS.md](../docs/BENCHMARKS.md). "
  "Raw data: `bench/raw/` (`bench/out/raw/` for a smoke run).")
P()
P("**The machine is shared.** Other engineers were compiling and testing on the "
  "same two cores during this run (see the load averages below), so absolute "
  "figures move by ±20% between runs; the ratios, measured in the same run with "
  "the tools interleaved round by round, are steadier. Figures are medians.")
P()

# headline
P("## Headline")
P()
if ip_ms and fl_ms:
    ratio = ip_ms / fl_ms
    P(f"- **Function**: {ip_ms:.0f} ms/image over the corpus, one worker thread = "
      f"**{ratio:.2f}x** the libvips full-decode floor ({fl_ms:.0f} ms); target "
      f"<= {TARGETS['floor']}x: {verdict(ratio <= TARGETS['floor'])}.")
for peer in ("pil", "sharp"):
    pm = mean_ms(peer)
    if ip_ms and pm:
        x = pm / ip_ms
        P(f"- vs {NAMES[peer].split(': ', 1)[1]}: {pm:.0f} ms/image, imgpipe is "
          f"**{x:.2f}x faster**; target >= {TARGETS[peer]}x: {verdict(x >= TARGETS[peer])}.")
if ip1 and ip2:
    sc = ip2 / ip1
    P(f"- **Workers**: {ip1:.2f} images/s with 1, {ip2:.2f} with 2 = "
      f"**{sc:.2f}x**; target >= {TARGETS['scaling']}x: {verdict(sc >= TARGETS['scaling'])}.")
s1, s2 = serve.get("sat-w1"), serve.get("sat-w2")
if s1 and s2 and s1["ips"] > 0:
    P(f"- `imgpipe serve` at saturation ({int(s2['clients'])} clients): {s2['ips']:.2f} "
      f"images/s with 2 workers, {s1['ips']:.2f} with 1 = {s2['ips'] / s1['ips']:.2f}x.")
if "corpus" in hwm:
    m = hwm["corpus"] / 1024
    P(f"- **Server peak RSS** (VmHWM, 2 workers, after the whole corpus at low load "
      f"and at saturation): **{m:.0f} MiB**; target <= {TARGETS['rss_mib']} MiB: "
      f"{verdict(m <= TARGETS['rss_mib'])}.")
levs = {k.split("-", 1)[1]: v for k, v in hwm.items() if k.startswith("corpus-")}
if levs:
    P("- Server peak RSS with other allocators, same corpus: "
      + ", ".join(f"{'MALLOC_ARENA_MAX=2' if k == 'arena2' else k} {v / 1024:.0f} MiB"
                  for k, v in levs.items()) + ".")
if soak:
    first = [k for t, k in soak if t <= 60]
    last = [k for t, k in soak if t >= soak[-1][0] - 60]
    P(f"- RSS over the {soak[-1][0]:.0f} s soak at saturation: median "
      f"{med(first) / 1024:.0f} MiB in the first minute, {med(last) / 1024:.0f} MiB in "
      f"the last, VmHWM {hwm.get('soak', 0) / 1024:.0f} MiB.")
if low_over_rec:
    e = med(low_over_rec)
    P(f"- **Upload -> done at low load**: p50 {pct(low_lat, 50):.0f} ms; the function's own "
      f"time for the same uploads (the record's `processing_ms`) p50 {med(low_proc):.0f} ms; "
      f"per upload the pipeline adds **{e:.0f} ms** at p50 (PUT, commit, queue, "
      f"final write, `?wait=` wake-up); target <= {TARGETS['low_excess_ms']} ms: "
      f"{verdict(e <= TARGETS['low_excess_ms'])}.")
best = None
for c in sorted({c for _, c in ingest}):
    a = [s["ips"] for s in ingest.get(("imgpipe", c), [])]
    b = [s["ips"] for s in ingest.get(("nginx", c), [])]
    if a and b and med(b) > 0:
        x = med(a) / med(b)
        best = (c, med(a), med(b), x)
if best:
    c, a, b, x = best
    P(f"- **Ingest** of {text('ingest-file.txt', '1.5 MB')} bodies, {c} clients: imgpipe "
      f"{a:.1f} durable 202s/s, nginx WebDAV {b:.1f} PUTs/s (not fsync'd) = **{x:.2f}x**; "
      f"target >= {TARGETS['ingest']}x: {verdict(x >= TARGETS['ingest'])}.")
for phase, how in crashes:
    P(f"- **The server died** during {phase}: {how} (its log: `raw/logs/`).")
fails = text("failed.txt")
if fails:
    P(f"- Parts that failed in this run: {fails.count('FAILED')} (listed at the end).")
P()

P("## Machine and versions")
P()
P("```")
P(machine)
P(f"libvips used by imgpipe (at run time): {text('vips-version.txt', '?')}")
P("```")
P()
P("Knobs of this run (environment variables of bench/run.sh):")
P()
P("```")
P(knobs)
P("```")
P()

# function table
P("## 1. The function against the floor and the peers")
P()
if not tools:
    P("No function data (part `fn` not run or failed).")
else:
    P("Same corpus, same job (3 variants, watermark.png on two, strip, JPEG q82), "
      "tools interleaved in a rotated order each round.")
    P()
    P("- **ms/image**: one process, after one warm-up image, the mean over the corpus of each "
      "photo's median over the rounds. imgpipe: in-process time of `imgproc_process` "
      "(`pipeline_handle_event` for the second row) with its default of 1 libvips thread per "
      "worker; the peers: their own per-image figure with default threading.")
    P("- **img/s 1 worker**: the whole corpus, one process pinned to core 0 with every thread "
      "knob at 1, wall time including process start (`taskset -c 0`). **2 workers**: imgpipe "
      "runs one process with two worker threads (the shape of `imgpipe serve --workers 2`), "
      "the corpus twice; a peer runs two such pinned processes, one per core, as its own "
      "run.sh does.")
    P("- **x floor**: time ratio to the libvips full-decode floor of the same run "
      "(1.00 = as fast as decoding the pixels once; 2.00 = twice as long).")
    P()
    P("| tool | ms/image | x floor | img/s 1 worker | x floor | img/s 2 workers | x floor | 2/1 | peak RSS MiB (lat / 1 worker / 2 workers) |")
    P("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        m, a, b = mean_ms(t), ips("tp1", t), ips("tp2", t)
        P(f"| {NAMES[t]} | {f(m)} | {r2(m / fl_ms if m and fl_ms else None)} "
          f"| {r2(a)} | {r2(fl1 / a if a and fl1 else None)} "
          f"| {r2(b)} | {r2(fl2 / b if b and fl2 else None)} "
          f"| {r2(b / a if a and b else None)} "
          f"| {f(peak_mib('lat', t))} / {f(peak_mib('tp1', t))} / {f(peak_mib('tp2', t))} |")
    for t in extra:
        m = mean_ms(t)
        P(f"| lever: {t} (imgpipe with {t.split('vt')[-1]} libvips threads) | {f(m)} "
          f"| {r2(m / fl_ms if m and fl_ms else None)} | | | | | | |")
    P()
    peers = [t for t in tools if t not in ("imgpipe", "imgpipe-fn", FLOOR)]
    if ip_ms and peers:
        P("imgpipe against each tool (how many times faster imgpipe is; below 1.00 it is slower):")
        P()
        P("| tool | ms/image: tool / imgpipe | img/s 1 worker: imgpipe / tool | img/s 2 workers: imgpipe / tool |")
        P("|---|---:|---:|---:|")
        for t in [FLOOR] + peers:
            m, a, b = mean_ms(t), ips("tp1", t), ips("tp2", t)
            P(f"| {t} | {r2(m / ip_ms if m else None)} | {r2(ip1 / a if a and ip1 else None)} "
              f"| {r2(ip2 / b if b and ip2 else None)} |")
        P()
    if levers and ip2:
        P("Allocator levers, measured on `fn_bench tp -t 2` (2 workers, whole corpus twice), "
          "same rounds:")
        P()
        P("| variant | img/s 2 workers | / default | peak RSS MiB | default's |")
        P("|---|---:|---:|---:|---:|")
        for t in levers:
            b = ips("tp2", t)
            P(f"| {t} | {r2(b)} | {r2(b / ip2 if b else None)} | {f(peak_mib('tp2', t))} "
              f"| {f(peak_mib('tp2', 'imgpipe'))} |")
        P()
    a_ms, b_ms = mean_ms("ref"), mean_ms("ref818")
    if a_ms and b_ms:
        a1, b1 = ips("tp1", "ref"), ips("tp1", "ref818")
        P("libvips 8.18 from npm (docs/BENCHMARKS.md): the peers' `ref.c` built against "
          "Debian's libvips 8.14 (`ref`) and against sharp's bundled 8.18.7 (`ref818`), "
          f"same run: {a_ms:.0f} against {b_ms:.0f} ms/image = {a_ms / b_ms:.2f}x faster on 8.18"
          + (f"; {a1:.2f} against {b1:.2f} img/s on one core = {b1 / a1:.2f}x" if a1 and b1 else "")
          + f"; peak RSS {f(peak_mib('lat', 'ref'))} against {f(peak_mib('lat', 'ref818'))} MiB.")
        P()
    P("Per-photo median ms (one process, after a warm-up):")
    P()
    P("| tool | " + " | ".join(images) + " |")
    P("|---|" + "---:|" * len(images))
    for t in tools + extra:
        p = per_image(t)
        P(f"| {t} | " + " | ".join(f(p.get(i)) for i in images) + " |")
    P()
    P("Spread of the corpus mean over the rounds (ms):")
    P()
    P("| tool | rounds | min | median | max |")
    P("|---|---:|---:|---:|---:|")
    for t in tools + extra:
        vals = sorted(sum(v) / len(v) for v in lat_rounds[t].values())
        if vals:
            P(f"| {t} | {len(vals)} | {vals[0]:.0f} | {st.median(vals):.0f} | {vals[-1]:.0f} |")
    P()
    P("The variants imgpipe made of every photo in this run are in `bench/out/variants/` "
      "(not committed), to look at.")
    P()

# server
P("## 2. The server end to end (`imgpipe serve`, embedded fs + sqlite)")
P()
if not serve:
    P("No server data (part `serve` not run or failed).")
else:
    P("`build/bench/loadgen` on 127.0.0.1: each client PUTs a corpus photo "
      "(`PUT /v1/images/{name}`, 202) then holds `GET /v1/images/{id}?wait=60` until the "
      "record is `done`; latency is from the start of the PUT to the `done` answer. "
      "Closed loop: each client starts its next upload when the last is done. "
      "Overhead = latency minus the record's own `processing_ms`.")
    P()
    P("| phase | workers | clients | uploads ok/failed | images/s | p50 ms | p95 ms | p99 ms | overhead p50 ms | PUT->202 p50 ms |")
    P("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for tag, w in (("low", 2), ("sat-w2", 2), ("sat-w1", 1), ("soak", 2)):
        s = serve.get(tag)
        if not s:
            continue
        P(f"| {tag} | {w} | {int(s['clients'])} | {int(s['ok'])}/{int(s['failed'])} | {s['ips']:.2f} "
          f"| {s['lat_p50']:.0f} | {s['lat_p95']:.0f} | {s['lat_p99']:.0f} "
          f"| {f(s.get('overhead_p50'))} | {s['accept_p50']:.0f} |")
    P()
    if low_over_rec:
        P(f"Low load, per upload: latency p50 {pct(low_lat, 50):.0f} ms; the record's "
          f"processing_ms p50 {f(med(low_proc))} ms; latency minus processing_ms: p50 "
          f"{med(low_over_rec):.0f} ms, p95 {pct(low_over_rec, 95):.0f} ms. For comparison, "
          f"fn_bench's `imgproc_process` time for the same photos (part 1, another moment "
          f"of the run): p50 {f(med(low_fn))} ms; latency minus that: p50 "
          f"{f(med(low_excess))} ms.")
        P()
    if hwm:
        P("Server peak RSS (VmHWM from /proc/PID/status): "
          + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in hwm.items() if k in ("corpus", "soak"))
          + ".")
        P()
    levs = [(k.split("-", 1)[1], v) for k, v in hwm.items() if k.startswith("corpus-")]
    if levs:
        P("Allocator levers on the server (a fresh `imgpipe serve --workers 2` each, the "
          "corpus once at low load and "
          f"{KNOBS.get('BENCH_SAT_ROUNDS', '?')}x at saturation):")
        P()
        P("| allocator | peak RSS MiB | saturation images/s |")
        P("|---|---:|---:|")
        if "corpus" in hwm and "sat-w2" in serve:
            P(f"| glibc default | {hwm['corpus'] / 1024:.0f} (also had the low-load passes) | {serve['sat-w2']['ips']:.2f} |")
        for name, v in levs:
            sat = serve.get(f"sat-{name}", {}).get("ips")
            P(f"| {'glibc, MALLOC_ARENA_MAX=2' if name == 'arena2' else 'jemalloc (LD_PRELOAD)'} "
              f"| {v / 1024:.0f} | {f(sat, '{:.2f}')} |")
        P()
    if sweep:
        P("Offered-load sweep (open loop: uploads start on a fixed schedule whatever the "
          "server does; latency counts from the planned start). Plot: "
          "[latency.png](latency.png).")
        P()
        P(f"Capacity used for the steps: {cap:.2f} images/s (saturation, 2 workers).")
        P()
        P("| x capacity | offered img/s | achieved img/s | uploads | not started | p50 ms | p95 ms | p99 ms |")
        P("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for frac, s in sweep:
            P(f"| {frac:.2f} | {s['rate']:.2f} | {s['ips']:.2f} | {int(s['ok'])} "
              f"| {f(s.get('dropped'))} "
              f"| {s['lat_p50']:.0f} | {s['lat_p95']:.0f} | {s['lat_p99']:.0f} |")
        P()
        P("\"Not started\": uploads planned within the step's time window that could not "
          "start because every client slot was waiting on the server; they are missing from "
          "the latency columns, which are therefore optimistic on that row.")
        P()
    for phase, how in crashes:
        P(f"**The server died during {phase}: {how}.** The uploads after that point "
          "failed (`server_gone=1` in `raw/serve.tsv`); its last log lines are in `raw/logs/`.")
        P()
    if soak:
        P(f"RSS soak: {len(soak)} samples over {soak[-1][0]:.0f} s; min {min(k for _, k in soak) / 1024:.0f} MiB, "
          f"max {max(k for _, k in soak) / 1024:.0f} MiB (`raw/serve-soak-rss.tsv`).")
        P()

# ingest
P("## 3. Ingest against nginx")
P()
if not ingest:
    P("No ingest data (part `ingest` not run or failed).")
else:
    fs_ms = hwm.get("fsync_1_5mb_ms")
    P("Same client (`loadgen -m ingest`), same body, same disk (ext4 under /tmp), "
      "alternating targets each round. imgpipe runs as `imgpipe gateway` (no workers, "
      "so processing does not compete for the CPU); a `202` means the body is fsync'd "
      "(file and directory), the record and the event committed in SQLite "
      "(`synchronous=FULL`). nginx (Debian, WebDAV `dav_methods PUT`, "
      "`client_body_in_file_only on`) writes the body to a temp file and renames it "
      "into place; **it fsyncs nothing**, and has no directive to do so, so its 201/204 "
      "promises less than imgpipe's 202. Medians over the rounds.")
    P()
    P("| clients | imgpipe 202/s | MB/s | p50 ms | nginx PUT/s | MB/s | p50 ms | imgpipe / nginx |")
    P("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in sorted({c for _, c in ingest}):
        a = ingest.get(("imgpipe", c), [])
        b = ingest.get(("nginx", c), [])
        ai, bi = med([s["ips"] for s in a]), med([s["ips"] for s in b])
        P(f"| {c} | {f(ai, '{:.1f}')} | {f(med([s['mbps'] for s in a]), '{:.1f}')} "
          f"| {f(med([s['accept_p50'] for s in a]))} "
          f"| {f(bi, '{:.1f}')} | {f(med([s['mbps'] for s in b]), '{:.1f}')} "
          f"| {f(med([s['accept_p50'] for s in b]))} "
          f"| {r2(ai / bi if ai and bi else None)} |")
    P()
    if fs_ms:
        P(f"For scale: one `dd conv=fsync` of the same 1.5 MB file on this disk took "
          f"{fs_ms:.1f} ms (mean of 10).")
        P()

P("## Exact commands")
P()
P("Every command the run executed is in `raw/commands.txt`; here the first of each kind, "
  "with `$PHOTOS` for the photos of the run (`BENCH_IMAGES` above, in ../shared/corpus) "
  "and `TOOL` for each peer tool:")
P()
P("```")
seen = set()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
photos = None
for ln in lines("knobs.txt"):
    if ln.startswith("BENCH_IMAGES: "):
        photos = " ".join("../shared/corpus/" + x for x in ln.split(": ", 1)[1].split())
for ln in lines("commands.txt"):
    tag, cmd = ln.split("\t", 1)
    w = tag.split()
    if w[0] == "loadgen":
        kind = re.sub(r"-(r[0-9]+|c[0-9]+|[0-9.]+)", "", w[1])
    elif w[0] == "peer":
        kind = " ".join(w[:2])
        cmd = cmd.replace(f"worker.sh {w[2]} ", "worker.sh TOOL ").replace(f"-{w[2]}", "-TOOL")
    elif w[0] == "fn":
        kind = tag
    else:
        kind = " ".join(w[:2])
    if kind in seen:
        continue
    seen.add(kind)
    cmd = cmd.replace(root + "/", "").replace(os.path.dirname(root) + "/", "../")
    if photos:
        cmd = cmd.replace(photos, "$PHOTOS")
    P(cmd)
P("```")
P()
skipped = text("skipped.txt")
if skipped or fails:
    P("## Skipped and failed")
    P()
    for ln in (skipped + "\n" + fails).splitlines():
        if ln.strip():
            P(f"- {ln}")
    P()
