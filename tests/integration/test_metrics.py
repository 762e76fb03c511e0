"""/metrics after real uploads: the histograms count what happened, the
failure counter names its reason, and Prometheus' own checker accepts the
scrape; the Grafana dashboard and the alerting rules in docs/ use only
series a real scrape has (docs/OPERATIONS.md).

promtool (Debian package prometheus, scripts/deps.sh test) is required:
the test fails without it, it never skips.
"""
import json
import os
import re
import shutil
import subprocess

import harness

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "docs")


def promtool():
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool not found: install Debian's "
                             "prometheus package (scripts/deps.sh test)")
    return path


def samples(text):
    """{series with labels: value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def names(text):
    """The metric names of a scrape's samples."""
    return {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", k).group(0)
            for k in samples(text)}


class MetricsTest(harness.ServerTest):
    # a truncated JPEG passes the header probe; its decode then warns,
    # which this setting makes a failure: one failed attempt, reason decode
    server_args = ("--set", "limits.fail_on=warning")

    def scrape_after_uploads(self):
        good = self.server.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(good.status, 201, good)
        jpeg = harness.corpus("bridge.jpg")
        bad = self.server.put("cut.jpg", jpeg[:len(jpeg) // 3], wait=60)
        self.assertIn(bad.status, (201, 202), bad)
        rec = self.server.wait_done(bad.json()["id"])
        self.assertEqual(rec["status"], "failed", rec)
        self.assertEqual(self.server.request("GET", "/nowhere").status, 404)
        r = self.server.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return r.body.decode()

    def test_scrape_after_uploads(self):
        text = self.scrape_after_uploads()
        s = samples(text)
        lat = "imgpipe_http_request_duration_seconds_count"
        # the route label is the route table's, never the raw path
        self.assertEqual(s[f'{lat}{{route="PUT /v1/images/{{name}}",'
                           f'code="2xx"}}'], 2, text)
        self.assertGreaterEqual(s[f'{lat}{{route="none",code="4xx"}}'], 1)
        self.assertNotIn("wine.jpg", text)
        self.assertNotIn("/nowhere", text)
        for stage in ("fetch", "decode", "transform", "encode", "store"):
            self.assertEqual(
                s[f'imgpipe_stage_duration_seconds_count{{stage="{stage}"}}'],
                1, stage)
            self.assertEqual(
                s[f'imgpipe_stage_duration_seconds_bucket{{stage="{stage}",'
                  f'le="+Inf"}}'], 1, stage)
        self.assertEqual(s["imgpipe_upload_to_done_seconds_count"], 1)
        self.assertGreater(s["imgpipe_upload_to_done_seconds_sum"], 0)
        self.assertEqual(s["imgpipe_queue_wait_seconds_count"], 2)
        fails = {k: v for k, v in s.items()
                 if k.startswith("imgpipe_attempt_failures_total{")}
        self.assertEqual(fails['imgpipe_attempt_failures_total'
                               '{reason="decode"}'], 1, fails)
        self.assertEqual(sum(fails.values()), 1, fails)
        self.assertEqual(s["imgpipe_images_failed_total"], 1)
        self.assertEqual(s["imgpipe_jobs_inflight"], 0)
        self.assertEqual(s["imgpipe_dead_letters"], 0)
        self.assertGreater(s["imgpipe_data_free_bytes"], 0)
        # Prometheus' own reading of the exposition
        chk = subprocess.run([promtool(), "check", "metrics"],
                             input=text.encode(), capture_output=True,
                             timeout=60)
        self.assertEqual(chk.returncode, 0,
                         chk.stdout.decode() + chk.stderr.decode())

        # the dashboard and the alerts query only what a scrape has
        have = names(text) | {"up"}
        with open(os.path.join(DOCS, "grafana-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreater(len(exprs), 10)
        with open(os.path.join(DOCS, "prometheus-alerts.yml")) as f:
            alerts = f.read()
        used = set()
        for text_ in exprs + [alerts]:
            used |= set(re.findall(r"\bimgpipe_[a-z0-9_]+", text_))
        self.assertTrue(used)
        self.assertEqual(sorted(used - have), [])
        rules = subprocess.run(
            [promtool(), "check", "rules",
             os.path.join(DOCS, "prometheus-alerts.yml")],
            capture_output=True, timeout=60)
        self.assertEqual(rules.returncode, 0,
                         rules.stdout.decode() + rules.stderr.decode())


if __name__ == "__main__":
    harness.main()
