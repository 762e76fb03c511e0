"""Back-pressure (docs/SECURITY.md): queued work is bounded by count and by
declared pixels, uploads by a per-client rate, ?wait= holds by a count.  A
refusal is 429 with Retry-After and a JSON error, and stores nothing.

Most tests run `imgpipe gateway` alone on the embedded backends: with no
worker in the process nothing is processed, so what is queued stays queued
and every count is exact.  A worker started later drains it."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from test_bad_input import png_declaring  # noqa: E402

MP100 = 100 * 1000 * 1000


# Costly by its header (100 MP), 70 bytes on the wire.
COSTLY = png_declaring(10000, 10000)
SMALL = png_declaring(4, 4)


class Backpressure(harness.ServerTest):
    command = "gateway"
    server_args = ()

    def setUp(self):
        self.server = harness.Server(args=self.server_args,
                                     command=self.command).start()

    def records(self, server=None):
        r = (server or self.server).request("GET", "/v1/images?limit=100")
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def assertRefused(self, r):
        self.assertJsonError(r, 429, "too_many_requests")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1, r.headers)

    def assertStored(self, n, server=None):
        """n records, n originals, no temp file: a 429 left nothing."""
        s = server or self.server
        self.assertEqual(len(self.records(s)), n)
        self.assertEqual(len(s.files_under("buckets", "input")), n)
        self.assertEqual(s.files_under("tmp"), [])

    def metric(self, name, server=None):
        r = (server or self.server).request("GET", "/metrics")
        for line in r.body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"no metric {name}")


class PixelBound(Backpressure):
    # Room for two 100 MP images; a third is refused.
    server_args = ("--set", f"limits.max_queued_pixels={int(2.5 * MP100)}")

    def test_costly_burst_refused_nothing_stored(self):
        answers = [self.server.put(f"bomb{i}.png", COSTLY) for i in range(12)]
        ok = [r for r in answers if r.status == 202]
        refused = [r for r in answers if r.status != 202]
        self.assertEqual(len(ok), 2, answers)
        self.assertEqual(len(refused), 10)
        for r in refused:
            self.assertRefused(r)
            self.assertIn("pixels", r.json()["error"]["message"])
        self.assertStored(2)
        self.assertEqual(self.metric("imgpipe_admitted_pixels"), 2 * MP100)
        self.assertEqual(self.metric("imgpipe_uploads_refused_full_total"), 10)
        # Cheap images still fit beside them.
        self.assertEqual(self.server.put("small.png", SMALL).status, 202)
        self.assertStored(3)

    def test_restart_recounts_then_drain_readmits(self):
        for i in range(2):
            self.assertEqual(self.server.put(f"b{i}.png", COSTLY).status, 202)
        self.assertRefused(self.server.put("b2.png", COSTLY))
        # A restarted gateway counts the unfinished records again.
        self.server.stop()
        self.server.start()
        self.assertRefused(self.server.put("b3.png", COSTLY))
        self.assertStored(2)
        # A worker (another process) drains the queue.
        worker = harness.Server(data_dir=self.server.data_dir,
                                args=("--workers", "1"), command="worker")
        worker.start()
        try:
            for rec in self.records():
                done = self.server.wait_done(rec["id"], 30)
                self.assertIn(done["status"], ("done", "failed"), done)
            # The gateway learns it from the table (at most once a second
            # on a refusal): poll, bounded, as a client honouring
            # Retry-After would.
            deadline = time.monotonic() + 30
            while True:
                r = self.server.put("again.png", COSTLY)
                if r.status != 429 or time.monotonic() > deadline:
                    break
                time.sleep(int(r.header("Retry-After")))
            self.assertEqual(r.status, 202, r)
        finally:
            self.assertEqual(worker.stop(), 0, worker.read_log())
            worker.cleanup()


class CountBound(Backpressure):
    server_args = ("--set", "limits.max_queued=3")

    def test_count_bound(self):
        answers = [self.server.put(f"s{i}.png", SMALL) for i in range(5)]
        self.assertEqual([r.status for r in answers], [202] * 3 + [429] * 2)
        for r in answers[3:]:
            self.assertRefused(r)
        self.assertStored(3)
        self.assertEqual(self.metric("imgpipe_admitted_images"), 3)


class ServeReleases(Backpressure):
    # serve: the workers in the process release at once what they finish.
    command = "serve"
    server_args = ("--workers", "1",
                   "--set", f"limits.max_queued_pixels={int(1.5 * MP100)}")

    def test_finished_work_makes_room(self):
        for i in range(3):
            r = self.server.put(f"b{i}.png", COSTLY, wait=30)
            self.assertEqual(r.status, 201, r)
            self.assertIn(r.json()["status"], ("done", "failed"))
        self.assertEqual(self.metric("imgpipe_admitted_images"), 0)
        self.assertEqual(self.metric("imgpipe_admitted_pixels"), 0)


class RateLimit(Backpressure):
    # One upload per 100 s, bursts of 3: the 4th and 5th are refused.
    server_args = ("--set", "limits.upload_rate=0.01",
                   "--set", "limits.upload_burst=3")

    def test_rate_limit(self):
        answers = [self.server.put(f"s{i}.png", SMALL) for i in range(5)]
        self.assertEqual([r.status for r in answers], [202] * 3 + [429] * 2)
        for r in answers[3:]:
            self.assertRefused(r)
            self.assertGreaterEqual(int(r.header("Retry-After")), 2)
            self.assertIn("per second", r.json()["error"]["message"])
        self.assertStored(3)
        self.assertEqual(self.metric("imgpipe_uploads_rate_limited_total"), 2)


class WaitCap(Backpressure):
    server_args = ("--set", "server.max_waiting=1")

    def test_waits_past_the_cap_answer_now(self):
        r = self.server.put("s.png", SMALL)
        self.assertEqual(r.status, 202, r)
        image = r.json()["id"]
        held = {}

        def hold():
            held["r"] = self.server.request(
                "GET", f"/v1/images/{image}?wait=30", timeout=60)
        t = threading.Thread(target=hold)
        t.start()
        try:
            deadline = time.monotonic() + 20
            while self.metric("imgpipe_waiting_requests") < 1:
                self.assertLess(time.monotonic(), deadline, "no wait held")
                time.sleep(0.05)
            # The one hold is taken: these answer with the state as it is
            # (a client timeout well under the 30 s asked for).
            r = self.server.request("GET", f"/v1/images/{image}?wait=30",
                                    timeout=15)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["status"], "pending")
            r = self.server.request(
                "PUT", "/v1/images/t.png?wait=30", SMALL,
                {"Content-Type": "image/png"}, timeout=15)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json()["status"], "pending")
            self.assertEqual(self.metric("imgpipe_waits_capped_total"), 2)
        finally:
            # Deleting the image ends the held wait (404).
            self.server.request("DELETE", f"/v1/images/{image}")
            t.join(60)
        self.assertEqual(held["r"].status, 404, held["r"])
        self.assertEqual(self.metric("imgpipe_waiting_requests"), 0)


if __name__ == "__main__":
    harness.main()
