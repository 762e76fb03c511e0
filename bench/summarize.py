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
    "imgpipe-a": "**imgpipe** function: `imgproc_process`, with imgpipe's allocator settings (as its processes and helpers run)",
    "imgpipe": "imgpipe function, the same with glibc's default allocator settings",
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
# Issue 12's targets (docs/BENCHMARKS.md), then the older lines' own.
# LOW_BASELINE_MS: upload -> done p50 at low load in bench/RESULTS.md of
# 2026-11-26, the last run before image work moved into helpers.
LOW_BASELINE_MS = 187
TARGETS = {"floor": 1.6, "floor_moonshot": 1.3, "pil": 1.35, "sharp": 1.5,
           "low_p50_ms": 0.7 * LOW_BASELINE_MS, "tree_rss_mib": 200,
           "helper_overhead_pct": 5.0,
           "scaling": 1.8, "low_excess_ms": 25, "ingest": 0.8}
# The soak's RSS is "flat" when the last minute's median is at most this
# much above the first minute's.
SOAK_FLAT = 1.10


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


# The subject: the function as imgpipe's processes run it (fn_bench -A),
# else (an older run's data) with glibc's defaults.
SUBJ = "imgpipe-a" if any(k[0] == "imgpipe-a" for k in lat) or \
    any(k[1] == "imgpipe-a" for k in wall) else "imgpipe"
fl_ms, fl1, fl2 = mean_ms(FLOOR), ips("tp1", FLOOR), ips("tp2", FLOOR)
ip_ms, ip1, ip2 = mean_ms(SUBJ), ips("tp1", SUBJ), ips("tp2", SUBJ)

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
fn_img = per_image(SUBJ)
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

# the soak's samples of the server's tree: (seconds, sum of VmRSS KiB)
soak = [(float(p[0]), float(p[1])) for p in
        (ln.split("\t") for ln in lines("serve-soak-rss.tsv")) if len(p) >= 2]


def config_value(section, key):
    """A setting of `imgpipe config` as the run's servers start from it."""
    sec = None
    for ln in lines("imgpipe-config.txt"):
        if ln.startswith("["):
            sec = ln.strip("[]")
        elif sec == section and ln.split(" = ", 1)[0] == key:
            return ln.split(" = ", 1)[1] if " = " in ln else ""
    return None


def mib(kib):
    return None if kib is None or kib < 0 else kib / 1024


def tree(tags, key):
    """The max of a loadgen memory figure over the phases tags (KiB)."""
    v = [serve[t][key] for t in tags if t in serve and key in serve[t]]
    v = [x for x in v if x >= 0]
    return max(v) if v else None


# the server and its helpers over the corpus: warm-up, low load, saturation
CORPUS_TAGS = ("warm", "low", "sat-w2")
tree_peak = tree(CORPUS_TAGS, "tree_rss_max_kib")
tree_bound = tree(CORPUS_TAGS, "tree_hwm_bound_kib")
tree_pss = tree(CORPUS_TAGS, "tree_pss_max_kib")
tree_helper = tree(CORPUS_TAGS, "helper_hwm_max_kib")
tree_probe = tree(CORPUS_TAGS, "probe_hwm_kib")
tree_server = tree(CORPUS_TAGS, "hwm_kib")

# helper overhead: the same photos in-process, through a helper, through
# a new helper per job, interleaved in the same latency rounds
helper_jobs = config_value("worker", "helper_jobs")
helper_jobs = int(helper_jobs) if helper_jobs and helper_jobs.isdigit() else None


ovh = collections.defaultdict(list)   # image -> [(in, helper, fresh) ms]
for ln in lines("ovh.tsv"):
    p = ln.split("\t")
    if len(p) == 5:
        ovh[p[1]].append(tuple(float(x) for x in p[2:]))


def helper_overhead():
    """fn_bench ovh: per photo, the medians over the rounds of the paired
    differences (helper - in-process, new helper - helper), then means over
    the photos."""
    if not ovh:
        return None
    imgs = list(ovh)
    o = {"images": len(imgs), "rounds": max(len(v) for v in ovh.values()),
         "per_image": {i: tuple(st.median(r[k] for r in ovh[i]) for k in range(3))
                       for i in imgs}}
    mean = lambda g: sum(g(i) for i in imgs) / len(imgs)
    o["in_ms"] = mean(lambda i: st.median(r[0] for r in ovh[i]))
    o["h_ms"] = mean(lambda i: st.median(r[1] for r in ovh[i]))
    o["steady_ms"] = mean(lambda i: st.median(r[1] - r[0] for r in ovh[i]))
    o["spawn_ms"] = mean(lambda i: st.median(r[2] - r[1] for r in ovh[i]))
    if helper_jobs is None:
        o["amortised_ms"] = None
    else:
        # helper_jobs 0: a helper is never recycled, its start is paid once
        o["amortised_ms"] = o["spawn_ms"] / helper_jobs if helper_jobs > 0 else 0.0
    o["total_ms"] = o["steady_ms"] + (o["amortised_ms"] or 0)
    o["total_pct"] = 100 * o["total_ms"] / o["in_ms"]
    o["steady_pct"] = 100 * o["steady_ms"] / o["in_ms"]
    return o


hov = helper_overhead()


def metrics(name):
    """Counters of a /metrics dump: {'name{labels}': value}."""
    out = {}
    for ln in lines(name):
        if ln.startswith("#"):
            continue
        k, _, v = ln.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


m0, m1 = metrics("soak-metrics-before.txt"), metrics("soak-metrics-after.txt")
soak_fail_delta = {}
for k in m1:
    if k.startswith("imgpipe_attempt_failures_total{"):
        reason = re.sub(r'.*reason="([^"]*)".*', r"\1", k)
        soak_fail_delta[reason] = m1[k] - m0.get(k, 0)
soak_dlq_delta = (m1["imgpipe_dead_letters"] - m0.get("imgpipe_dead_letters", 0)
                  if "imgpipe_dead_letters" in m1 else None)
soak_check = dict(p.split("=", 1) for p in text("soak-check.txt").split() if "=" in p)
soak_check = {k: int(v) for k, v in soak_check.items() if v.isdigit()}
soak_log = lines("soak-helper-log.txt")
soak_log_kinds = collections.Counter(
    "crashed" if "crashed" in ln else "out of memory" if "out of memory" in ln
    else "timed out" if "timed out" in ln else "other" for ln in soak_log)
soak_procs = [ln.split("\t") for ln in lines("serve-soak-procs.tsv")]
soak_helpers = [p for p in soak_procs if len(p) >= 6 and p[1] == "helper"]

# memory per image
mem_limit = text("memory-limit.txt")
mem_limit = int(mem_limit) if mem_limit.isdigit() else None
mem_sizes = {}
for ln in lines("memory-images.tsv"):
    p = ln.split("\t")
    if len(p) == 3:
        mem_sizes[p[0].rsplit(".", 1)[0]] = (p[0], p[1], int(p[2]))
MEM_KINDS = {"progressive-444": "progressive JPEG 4:4:4",
             "interlaced": "interlaced (Adam7) PNG, RGB",
             "baseline": "sequential JPEG 4:2:0 (within the limits)",
             "plain": "non-interlaced PNG, RGB (within the limits)"}
memory = []
for ln in lines("memory.tsv"):
    name, rest = ln.split("\t", 1)
    kv = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    row = (lines(f"memory-{name}.tsv") or [""])[0].split("\t")
    m = {"name": name, "kib": {k: float(v) for k, v in kv.items()
                                if k.endswith("_kib")}}
    m["code"] = row[3] if len(row) > 3 else "?"
    m["status"] = row[8] if len(row) > 8 else "-"
    m["message"] = row[12] if len(row) > 12 and row[12] != "-" else ""
    # upload -> the answer that settled it: the record's done/failed, or the refusal
    m["lat_ms"] = (None if len(row) < 8 else
                   float(row[7]) - float(row[4]) if row[7] != "0.0" else
                   float(row[6]) - float(row[5]))
    memory.append(m)


def code_block(title, rows, most, path):
    """title, then the first `most` rows as a code block (the rest: path)."""
    if not rows:
        return
    P(title)
    P()
    P("```")
    for ln in rows[:most]:
        P(ln)
    if len(rows) > most:
        P(f"... {len(rows) - most} more in {path}")
    P("```")
    P()


def mem_side():
    sides = {v[1] for v in mem_sizes.values()}
    return ", ".join(sorted(sides)) if sides else "?"


mem_limit_mib = mem_limit / 1048576 if mem_limit else None


def mem_outcome(m, short=False):
    """What happened to one memory-part image, in words."""
    fname, side, size = mem_sizes.get(m["name"], (m["name"], "?", 0))
    k = m["kib"]
    what = f"{MEM_KINDS.get(m['name'], m['name'])} ({size / 1e6:.2f} MB)"
    if m["code"] == "422":
        peak, who = k.get("probe_hwm_kib", -1), "probe helper"
        out = f"refused at upload, 422 \"{m['message']}\""
    elif m["code"] == "202":
        peak, who = k.get("helper_hwm_max_kib", -1), "helper"
        out = m["status"] + (f" \"{m['message']}\"" if m["message"] else "")
    else:
        peak, who = -1, "helper"
        out = f"PUT answered {m['code']}" + (f" \"{m['message']}\"" if m["message"] else "")
    pm = mib(peak)
    inside = ("-" if pm is None or mem_limit_mib is None else
              "inside the limit" if pm <= mem_limit_mib else "**above the limit**")
    if short:
        return f"{what}: {out}, {who} peak {f(pm)} MiB, {inside}"
    return what, out, who, pm, inside


def soak_summary():
    dur = soak[-1][0] if soak else float(KNOBS.get("BENCH_SOAK_S", "0") or 0)
    s = serve.get("soak", {})
    out = [f"{dur:.0f} s" + (" (shorter than issue 12's 1800 s)" if dur < 1800 else "")
           + (f", {int(s['clients'])} clients, {int(s['ok'])} uploads done at "
              f"{s['ips']:.2f} images/s" if s else "")]
    c = soak_check
    if c:
        lost = c.get("lost", 0)
        out.append(f"every acknowledged upload asked for afterwards: {c.get('acknowledged', 0)} "
                   f"acknowledged, {c.get('done', 0)} done, {c.get('failed', 0)} failed, "
                   f"**{lost} lost** (zero lost: {verdict(lost == 0)}); "
                   f"{c.get('refused', 0)} not acknowledged")
    else:
        out.append("**the check of acknowledged uploads did not run**")
    if soak:
        first = [k for t, k in soak if t <= 60]
        last = [k for t, k in soak if t >= soak[-1][0] - 60]
        a, b = med(first) / 1024, med(last) / 1024
        out.append(f"RSS of the server and its helpers: median {a:.0f} MiB in the first "
                   f"minute, {b:.0f} MiB in the last ({100 * (b / a - 1):+.0f}%"
                   + ("; under 2 minutes, the two overlap" if soak[-1][0] < 120 else "")
                   + f"; flat, at most "
                   f"+{100 * (SOAK_FLAT - 1):.0f}%: {verdict(b <= a * SOAK_FLAT)}), peak "
                   f"{max(k for _, k in soak) / 1024:.0f} MiB")
    if soak_fail_delta:
        fl = ", ".join(f"{r} +{v:.0f}" for r, v in soak_fail_delta.items() if v) or "none"
        out.append(f"helper deaths: `imgpipe_attempt_failures_total` during the soak by "
                   f"reason: {fl} (a helper that died or passed its deadline counts as "
                   f"`crashed`, libvips' own time limit as `timeout`), dead letters "
                   f"{'+' if (soak_dlq_delta or 0) >= 0 else ''}{f(soak_dlq_delta)}; "
                   f"{len(soak_log)} `image helper PID: ...` log lines"
                   + (" (" + ", ".join(f"{v} {k}" for k, v in soak_log_kinds.items()) + ")"
                      if soak_log else ""))
    else:
        out.append("helper deaths: **/metrics was not read**")
    if c:
        r, rd = c.get("retried", 0), c.get("retried_done", 0)
        out.append(f"{r} job(s) retried, {rd} of them ended done (every retried job done: "
                   f"{verdict(r == rd)}); {len(soak_helpers)} job helpers seen "
                   f"(recycled after {helper_jobs if helper_jobs is not None else '?'} jobs)")
    return "; ".join(out)

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

# headline: issue 12's targets first, each with how it was measured here;
# then the older figures, which are not these targets
NOT_RUN = "not measured in this run"
P("## Headline: issue 12's targets")
P()
P("One line per target of issue 12 (docs/BENCHMARKS.md says how each is measured); "
  "\"met\" compares this run's figure with the target.")
P()
if ip1 and fl1:
    x = fl1 / ip1
    P(f"- **The function on one core**: {ip1:.2f} images/s, one process pinned to one core "
      f"with one thread (`imgproc_process` with imgpipe's allocator settings; the corpus, "
      f"start-up included), against the libvips full-decode "
      f"floor's {fl1:.2f} = **{x:.2f}x** the floor's time; target <= {TARGETS['floor']}x: "
      f"{verdict(x <= TARGETS['floor'])} (moonshot <= {TARGETS['floor_moonshot']}x: "
      f"{verdict(x <= TARGETS['floor_moonshot'])}).")
else:
    P(f"- **The function on one core** against the decode floor: {NOT_RUN} (part `fn`).")
for peer in ("pil", "sharp"):
    a = ips("tp1", peer)
    label = NAMES[peer].split(": ", 1)[1]
    if ip1 and a:
        x = ip1 / a
        P(f"- **Images/s per core vs {label}**: imgpipe {ip1:.2f}, {peer} {a:.2f} "
          f"(each one process pinned to one core, one thread, the corpus, start-up "
          f"included) = **{x:.2f}x**; target >= {TARGETS[peer]}x: {verdict(x >= TARGETS[peer])}.")
    else:
        P(f"- **Images/s per core vs {label}**: {NOT_RUN} (part `fn`, peer `{peer}`).")
lo = serve.get("low")
if lo:
    p50 = lo["lat_p50"]
    P(f"- **Upload -> done at low load**, p50: **{p50:.0f} ms** = {p50 / LOW_BASELINE_MS:.2f}x "
      f"the {LOW_BASELINE_MS} ms of the last run before image helpers (bench/RESULTS.md of "
      f"2026-11-26, same corpus); target <= 0.7x = {TARGETS['low_p50_ms']:.0f} ms: "
      f"{verdict(p50 <= TARGETS['low_p50_ms'])}.")
else:
    P(f"- **Upload -> done at low load**: {NOT_RUN} (part `serve`).")
if tree_peak is not None:
    m = tree_peak / 1024
    P(f"- **`imgpipe serve` peak RSS, all its processes together** (the server and its "
      f"helpers, 2 workers, the corpus at warm-up, low load and saturation): "
      f"**{m:.0f} MiB**, the largest sum of VmRSS over samples every 100 ms; target <= "
      f"{TARGETS['tree_rss_mib']} MiB: {verdict(m <= TARGETS['tree_rss_mib'])}. "
      + (f"That sum counts the shared libraries (libvips and its ~150 libraries, ~36 MB "
         f"resident in each helper) once per process; what the processes use together, "
         f"the largest sum of their Pss (each shared page divided among the processes "
         f"that map it): {tree_pss / 1024:.0f} MiB. " if tree_pss is not None else "")
      + f"Upper bound (the VmHWM of each process alive at a sample, summed): "
      f"{f(mib(tree_bound))} MiB. Each process's own peak (VmHWM): the server "
      f"{f(mib(tree_server))} MiB, the largest job helper {f(mib(tree_helper))} MiB, the probe helper "
      f"{f(mib(tree_probe))} MiB."
      + (f" During the soak (same server, longer): {serve['soak']['tree_rss_max_kib'] / 1024:.0f} MiB."
         if serve.get("soak", {}).get("tree_rss_max_kib", -1) >= 0 else ""))
else:
    P(f"- **`imgpipe serve` peak RSS, all its processes together**: {NOT_RUN} (part `serve`).")
if hov:
    am = ("-" if hov["amortised_ms"] is None else f"{hov['amortised_ms']:.2f}")
    P(f"- **Helper overhead**: the same {hov['images']} photos, {hov['rounds']} round(s), each "
      f"in-process then through a helper, paired: {hov['in_ms']:.0f} ms/image in-process, "
      f"{hov['steady_ms']:+.1f} ms through a helper (the original's descriptor in, the "
      f"result and the encoded variants out); a helper's start and warm-up "
      f"{hov['spawn_ms']:.0f} ms over the {helper_jobs if helper_jobs is not None else '?'} "
      f"jobs it runs (`worker.helper_jobs`) = {am} ms/image; together "
      f"**{hov['total_pct']:+.1f}%** of the function's time; target <= "
      f"{TARGETS['helper_overhead_pct']:.0f}%: "
      f"{verdict(hov['total_pct'] <= TARGETS['helper_overhead_pct'])}.")
else:
    P(f"- **Helper overhead**: {NOT_RUN} (part `fn`).")
if memory:
    parts = []
    for m in memory:
        parts.append(mem_outcome(m, short=True))
    P(f"- **Memory per image** ({mem_side()}, a fresh `imgpipe serve` each, "
      f"`limits.max_image_memory` = {f(mem_limit_mib)} MiB): "
      + "; ".join(parts) + ".")
else:
    P(f"- **Memory per image** (issue 12's 10000x10000 images): {NOT_RUN} (part `memory`).")
if soak_check or soak:
    P("- **Soak** at saturation: " + soak_summary() + ".")
else:
    P(f"- **Soak** (`BENCH_SOAK_S`; issue 12's is 1800 s): {NOT_RUN} (part `serve`).")
for phase, how in crashes:
    P(f"- **The server died** during {phase}: {how} (its log: `raw/logs/`).")
fails = text("failed.txt")
if fails:
    P(f"- Parts that failed in this run: {fails.count('FAILED')} (listed at the end).")
P()

P("## Other figures")
P()
P("Measured in the same run, but not issue 12's targets (their own older targets "
  "are quoted).")
P()
if ip_ms and fl_ms:
    ratio = ip_ms / fl_ms
    P(f"- Function latency, not pinned (libvips threads adaptive: every core for one "
      f"image): {ip_ms:.0f} ms/image over the corpus = {ratio:.2f}x the floor's "
      f"{fl_ms:.0f} ms in the same mode.")
da, d1 = mean_ms("imgpipe"), ips("tp1", "imgpipe")
if SUBJ == "imgpipe-a" and ip_ms and da:
    P(f"- imgpipe's helpers' allocator settings (`util_tune_malloc(true)`: 2 arenas, "
      f"no heap trim, mmap from 4 MiB, malloc in transparent huge pages, memory trimmed after 1 s idle) "
      f"against glibc's defaults, same rounds: {ip_ms:.0f} against {da:.0f} ms/image "
      f"({100 * (ip_ms / da - 1):+.0f}%)"
      + (f", {ip1:.2f} against {d1:.2f} images/s on one core" if ip1 and d1 else "") + ".")
for peer in ("pil", "sharp"):
    pm = mean_ms(peer)
    if ip_ms and pm:
        P(f"- Per image vs {NAMES[peer].split(': ', 1)[1]}, not pinned, their default "
          f"threading: {pm:.0f} ms/image, imgpipe {pm / ip_ms:.2f}x faster.")
if ip1 and ip2:
    sc = ip2 / ip1
    P(f"- **Workers**: {ip1:.2f} images/s with 1, {ip2:.2f} with 2 = "
      f"**{sc:.2f}x**; target >= {TARGETS['scaling']}x: {verdict(sc >= TARGETS['scaling'])}.")
s1, s2 = serve.get("sat-w1"), serve.get("sat-w2")
if s1 and s2 and s1["ips"] > 0:
    P(f"- `imgpipe serve` at saturation ({int(s2['clients'])} clients): {s2['ips']:.2f} "
      f"images/s with 2 workers, {s1['ips']:.2f} with 1 = {s2['ips'] / s1['ips']:.2f}x.")
if "corpus" in hwm:
    P(f"- The server process alone (VmHWM, without its helpers), after the corpus: "
      f"{hwm['corpus'] / 1024:.0f} MiB.")
levs = {k.split("-", 1)[1]: v for k, v in hwm.items() if k.startswith("corpus-")}
if levs:
    P("- Server peak RSS with other allocators, same corpus (server alone / with its helpers): "
      + ", ".join(f"{'MALLOC_ARENA_MAX=2' if k == 'arena2' else k} {v / 1024:.0f} / "
                  f"{f(mib(tree(('low-' + k, 'sat-' + k), 'tree_rss_max_kib')))} MiB"
                  for k, v in levs.items()) + ".")
if low_over_rec:
    e = med(low_over_rec)
    P(f"- Upload -> done at low load, what the pipeline adds to the function: the record's "
      f"`processing_ms` p50 {med(low_proc):.0f} ms, latency minus that **{e:.0f} ms** at p50 "
      f"(PUT, commit, queue, final write, `?wait=` wake-up); target <= "
      f"{TARGETS['low_excess_ms']} ms: {verdict(e <= TARGETS['low_excess_ms'])}.")
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
      "photo's median over the rounds, not pinned. imgpipe: the time of the "
      "`imgproc_process` call (in-process, through a helper, through a new helper each job; "
      "`pipeline_handle_event` for the whole function) with its default adaptive libvips "
      "threads (one image alone gets every core); the peers: their own per-image figure "
      "with default threading.")
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
    peers = [t for t in tools if not t.startswith("imgpipe") and t != FLOOR]
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
    g2 = ips("tp2", "imgpipe")
    if levers and g2:
        P("Allocator levers, measured on `fn_bench tp -t 2` (2 workers, whole corpus twice), "
          "same rounds, against glibc's defaults (the `imgpipe` row; `imgpipe-a` is "
          "imgpipe's own settings):")
        P()
        P("| variant | img/s 2 workers | / glibc default | peak RSS MiB | glibc default's |")
        P("|---|---:|---:|---:|---:|")
        for t in levers + (["imgpipe-a"] if ips("tp2", "imgpipe-a") else []):
            b = ips("tp2", t)
            P(f"| {t} | {r2(b)} | {r2(b / g2 if b else None)} | {f(peak_mib('tp2', t))} "
              f"| {f(peak_mib('tp2', 'imgpipe'))} |")
        P()
    if hov:
        P("Helper overhead (`fn_bench ovh`, one of the tools of the latency rounds): each "
          "photo through `imgproc_process` in fn_bench's process, through a helper process "
          "(as `imgpipe serve` runs it: the original's descriptor over a socket pair, the "
          "result and each encoded variant back) and through a helper replaced after every "
          "job (`worker.helper_jobs=1`: its start, libvips' initialisation and the warm-up "
          "images in every job), one after the other, the order rotated. fn_bench runs with "
          "the allocator settings imgpipe's `main()` gives every process, helpers included "
          "(`-A`: `util_tune_malloc`), so the difference is the helper's alone. Per photo the median over the rounds of the paired differences, "
          "then the mean over the photos. A helper runs `worker.helper_jobs` = "
          f"{helper_jobs if helper_jobs is not None else '?'} jobs before it is replaced, "
          "so its start is paid once per that many images.")
        P()
        P("| | ms/image | difference |")
        P("|---|---:|---:|")
        P(f"| in-process | {hov['in_ms']:.1f} | |")
        P(f"| through a helper | {hov['h_ms']:.1f} | {hov['steady_ms']:+.1f} ms "
          f"({hov['steady_pct']:+.1f}%) |")
        P(f"| through a new helper each job | {hov['h_ms'] + hov['spawn_ms']:.1f} "
          f"| a helper's start: {hov['spawn_ms']:+.0f} ms |")
        P(f"| start amortised over {helper_jobs if helper_jobs is not None else '?'} jobs "
          f"| {f(hov['amortised_ms'], '{:.2f}')} | |")
        P(f"| **overhead per image** | **{hov['total_ms']:+.1f}** | **{hov['total_pct']:+.1f}%** "
          f"(target <= {TARGETS['helper_overhead_pct']:.0f}%) |")
        P()
        P("Per photo (medians over the rounds, ms): in-process / through a helper / through "
          "a new helper: " + "; ".join(f"{i} {a:.0f} / {b:.0f} / {c:.0f}"
                                        for i, (a, b, c) in hov["per_image"].items()) + ".")
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
    mem_tags = [t for t in ("warm", "low", "sat-w2", "soak", "sat-w1") if t in serve
                and "tree_rss_max_kib" in serve[t]]
    if mem_tags:
        P("Memory of `imgpipe serve` and its helper processes, per phase. loadgen finds the "
          "server's descendants by their parent pid in /proc (a full scan every second and "
          "as soon as one has gone) and reads every member's /proc/PID/status every 100 ms. "
          "**Tree peak**: the largest sum of VmRSS over those samples (a peak between two "
          "samples can be missed). **Bound**: the largest sum, over a sample's processes, of "
          "each one's VmHWM so far: an upper bound of the true peak of the sum. "
          "Server: the server process's own VmHWM at the end of the phase; helper: the "
          "largest VmHWM of a job helper (`imgpipe __helper`), probe: the gateway's header "
          "helper (`imgpipe __helper probe`).")
        P()
        P("| phase | workers | tree peak MiB | bound MiB | server VmHWM | largest helper VmHWM "
          "| probe helper VmHWM | job helpers seen | samples |")
        P("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in mem_tags:
            v = serve[t]
            P(f"| {t} | {1 if t == 'sat-w1' else 2} | {f(mib(v.get('tree_rss_max_kib')))} "
              f"| {f(mib(v.get('tree_hwm_bound_kib')))} | {f(mib(v.get('hwm_kib')))} "
              f"| {f(mib(v.get('helper_hwm_max_kib')))} | {f(mib(v.get('probe_hwm_kib')))} "
              f"| {f(v.get('helpers'))} | {f(v.get('samples'))} |")
        P()
    levs = [(k.split("-", 1)[1], v) for k, v in hwm.items() if k.startswith("corpus-")]
    if levs:
        P("Allocator levers on the server (a fresh `imgpipe serve --workers 2` each, the "
          "corpus once at low load and "
          f"{KNOBS.get('BENCH_SAT_ROUNDS', '?')}x at saturation):")
        P()
        P("| allocator | server VmHWM MiB | with its helpers: tree peak MiB | saturation images/s |")
        P("|---|---:|---:|---:|")
        if "corpus" in hwm and "sat-w2" in serve:
            P(f"| glibc default | {hwm['corpus'] / 1024:.0f} (also had the low-load passes) "
              f"| {f(mib(tree_peak))} | {serve['sat-w2']['ips']:.2f} |")
        for name, v in levs:
            sat = serve.get(f"sat-{name}", {}).get("ips")
            P(f"| {'glibc, MALLOC_ARENA_MAX=2' if name == 'arena2' else 'jemalloc (LD_PRELOAD)'} "
              f"| {v / 1024:.0f} | {f(mib(tree(('low-' + name, 'sat-' + name), 'tree_rss_max_kib')))} "
              f"| {f(sat, '{:.2f}')} |")
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
    if soak or soak_check:
        P("### The soak")
        P()
        P(f"{KNOBS.get('BENCH_SOAK_S', '?')} s at saturation on the same 2-worker server, "
          f"libvips' SIMD on (`worker.vips_vector = {config_value('worker', 'vips_vector')}`). "
          "Afterwards every upload the server acknowledged (202 and an id) is asked for "
          "again with `GET /v1/images/{id}?wait=60` (`bench/soakcheck.py`); /metrics is "
          "read before and after; the server's log lines `image helper PID: why` of the "
          "soak are kept in `raw/soak-helper-log.txt`.")
        P()
        P(soak_summary() + ".")
        P()
        if soak:
            P(f"RSS of the tree: {len(soak)} samples over {soak[-1][0]:.0f} s; min "
              f"{min(k for _, k in soak) / 1024:.0f} MiB, max {max(k for _, k in soak) / 1024:.0f} "
              "MiB (`raw/serve-soak-rss.tsv`: seconds, sum of VmRSS, the server's, processes; "
              "`raw/serve-soak-procs.tsv`: each process's VmHWM).")
            P()
        code_block("Uploads not done on their first attempt (id, file, status, attempts, "
                   "error):", lines("soak-not-done.tsv"), 20, "raw/soak-not-done.tsv")
        code_block("Helper deaths logged during the soak:", soak_log, 10,
                   "raw/soak-helper-log.txt")

# memory per image
P("## 3. Memory per image (part `memory`)")
P()
if not memory:
    P("No memory data (part `memory` not run or failed).")
    P()
else:
    P(f"Images made by `bench/memimages.py` ({mem_side()}, the same bytes every run), each "
      "uploaded to a fresh `imgpipe serve` (default settings, the bench's watermark"
      + ("" if KNOBS.get("BENCH_MEM_LIMIT", "default") == "default"
         else f", `limits.max_image_memory = {KNOBS.get('BENCH_MEM_LIMIT')}`")
      + ") with `?wait=` for the outcome, while loadgen samples the server's process tree. "
      "The peak is the VmHWM of the helper that read the image: the gateway's probe helper "
      "for an upload refused from its header, the job helper for one processed. "
      f"`limits.max_image_memory` = {f(mem_limit_mib)} MiB.")
    P()
    P("| image | bytes | outcome | helper | its peak RSS MiB | vs the limit | tree peak MiB | upload -> answer ms |")
    P("|---|---:|---|---|---:|---|---:|---:|")
    for m in memory:
        what, out, who, pm, inside = mem_outcome(m)
        fname, side, size = mem_sizes.get(m["name"], (m["name"], "?", 0))
        P(f"| {fname} {side}, {MEM_KINDS.get(m['name'], '')} | {size} | {out} | {who} | {f(pm)} "
          f"| {inside} | {f(mib(m['kib'].get('tree_rss_max_kib')))} | {f(m['lat_ms'])} |")
    P()
    P("An idle helper after its warm-up holds ~40-50 MiB (libraries, libvips, the warm-up "
      "images): the probe helper's peak is about that.")
    P()

# ingest
P("## 4. Ingest against nginx")
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
