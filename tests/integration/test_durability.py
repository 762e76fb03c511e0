"""Durability: an acknowledged upload survives kill -9; SIGTERM drains and
exits 0; failed attempts are retried, dead-lettered and re-driven."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PHOTOS = ["wine.jpg", "bridge.jpg", "dragonfly.jpg", "sunset-exif6.jpg",
          "seeding.jpg", "life.webp"]


class DurabilityTest(harness.ServerTest):
    server_args = ("--workers", "1", "--set", "worker.backoff=50",
                   "--set", "worker.backoff_max=200")

    def upload_all(self, names):
        ids = []
        for name in names:
            r = self.server.put(name, harness.corpus(name))
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["id"])
        return ids

    def restart(self):
        self.server = harness.Server(data_dir=self.server.data_dir,
                                     args=self.server_args).start()
        self.server.own_dir = True

    def assertAllDone(self, ids):
        for i in ids:
            rec = self.server.wait_done(i, 120)
            self.assertEqual(rec["status"], "done", rec)
            self.assertEqual(len(rec["variants"]), 3)
        listed = self.server.request("GET", "/v1/images?limit=100").json()["items"]
        self.assertEqual(sorted(x["id"] for x in listed), sorted(ids))
        out = self.server.files_under("buckets", "output")
        self.assertEqual(len(out), 3 * len(ids))

    def test_kill9_after_ack_loses_nothing(self):
        ids = self.upload_all(PHOTOS)
        # kill at once: most uploads are still queued or mid-processing
        self.server.stop(signal.SIGKILL)
        self.restart()
        self.assertAllDone(ids)

    def test_kill9_twice_mid_processing(self):
        ids = self.upload_all(PHOTOS[:3])
        self.server.wait_done(ids[0], 120)  # the worker is now busy on #2
        self.server.stop(signal.SIGKILL)
        self.restart()
        self.server.stop(signal.SIGKILL)
        self.restart()
        self.assertAllDone(ids)

    def test_sigterm_drains_and_exits_zero(self):
        ids = self.upload_all(PHOTOS[:4])
        t0 = time.monotonic()
        rc = self.server.stop(signal.SIGTERM, timeout=60)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 45)
        self.restart()
        self.assertAllDone(ids)

    def test_retry_dead_letter_and_redrive(self):
        out = os.path.join(self.server.data_dir, "buckets", "output")
        shutil.rmtree(out)
        with open(out, "w") as f:  # the output bucket cannot be written
            f.write("not a directory")
        r = self.server.put("wine.jpg", harness.corpus("wine.jpg"))
        self.assertEqual(r.status, 202)
        rec = self.server.wait_done(r.json()["id"], 60)
        self.assertEqual(rec["status"], "failed", rec)
        self.assertEqual(rec["attempts"], 3)
        self.assertTrue(rec["error"])
        env = dict(os.environ)
        dlq = subprocess.run([harness.BIN, "dlq", "list", "--data-dir",
                              self.server.data_dir], capture_output=True,
                             env=env, check=True, text=True)
        lines = [x for x in dlq.stdout.splitlines() if x.strip()]
        self.assertEqual(len(lines), 1, dlq.stdout)
        self.assertIn(rec["id"], lines[0])
        # repair and re-drive: the image is processed after all
        os.unlink(out)
        os.mkdir(out)
        red = subprocess.run([harness.BIN, "dlq", "redrive", "--all",
                              "--data-dir", self.server.data_dir],
                             capture_output=True, env=env, text=True)
        self.assertEqual(red.returncode, 0, red.stderr)
        self.assertIn("1 message", red.stdout)
        deadline = time.monotonic() + 60
        while True:  # the record leaves `failed` once the redrive runs
            rec = self.server.wait_done(rec["id"], 5)
            if rec["status"] == "done" or time.monotonic() > deadline:
                break
            self.server.request("GET", f"/v1/images/{rec['id']}?wait=1")
        self.assertEqual(rec["status"], "done", rec)
        dlq = subprocess.run([harness.BIN, "dlq", "list", "--data-dir",
                              self.server.data_dir], capture_output=True,
                             env=env, check=True, text=True)
        self.assertEqual(dlq.stdout.strip(), "")


if __name__ == "__main__":
    harness.main()
