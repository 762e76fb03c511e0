"""Storage faults seen from outside: a full disk answers 507 with
Retry-After and stores nothing, /readyz says why it is not ready and
recovers with the space, a worker whose commit met a full disk retries
once there is room (no `failed`, no dead letter, no visibility wait); a
damaged database refuses to start and says what to do; a damaged row is
a 5xx that DELETE still removes.

The full disk is simulated through the test hook IMGPIPE_TEST_STORAGE_FULL
(test builds: writes to files fail with ENOSPC while its file exists, and
statvfs reads 0 free unless the file says "writes"), which needs no
privilege.  (A real full tmpfs needs CAP_SYS_ADMIN, which a CI machine may
not give, and a test that skipped there would count as passed: so the
fault is injected only.)
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PHOTO = "wine.jpg"


def poll(what, cond, seconds=60):
    """cond() until it is true, for at most `seconds`: its last value."""
    deadline = time.monotonic() + seconds
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.1)


def ready(server):
    return server.request("GET", "/readyz")


class FullDiskTest(unittest.TestCase):
    def setUp(self):
        self.dirs = []
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if s.proc is not None:
                s.stop(signal.SIGKILL)
            s.cleanup()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def start(self, *args, env=None, command="serve", data_dir=None):
        s = harness.Server(data_dir=data_dir, args=args, env=env,
                           command=command)
        self.servers.append(s)
        return s.start()

    def flag(self, content=""):
        d = tempfile.mkdtemp(prefix="imgpipe-full-")
        self.dirs.append(d)
        return os.path.join(d, "full"), content

    def assertNothingStored(self, s):
        self.assertEqual(s.files_under("buckets", "input"), [])
        self.assertEqual(s.files_under("tmp"), [])
        r = s.request("GET", "/v1/images")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["items"], [])

    def assertFullReply(self, r):
        self.assertEqual(r.status, 507, r)
        self.assertEqual(r.json()["error"]["code"], "insufficient_storage")
        self.assertIsNotNone(r.header("Retry-After"), r.headers)
        self.assertGreater(int(r.header("Retry-After")), 0)

    def test_full_disk_refuses_uploads_and_recovers(self):
        path, _ = self.flag()
        s = self.start("--workers", "1",
                       env={"IMGPIPE_TEST_STORAGE_FULL": path})
        self.assertEqual(ready(s).status, 200)
        with open(path, "w"):
            pass  # the disk is now full
        r = poll("not ready", lambda: ready(s).status == 503 and ready(s))
        self.assertTrue(r, "readyz stayed 200 on a full disk")
        err = r.json()["error"]
        self.assertEqual(err["code"], "insufficient_storage")
        self.assertIn("min_free_disk", err["message"])
        self.assertFullReply(s.put(PHOTO, harness.corpus(PHOTO)))
        self.assertFullReply(s.post_multipart(PHOTO, harness.corpus(PHOTO)))
        self.assertNothingStored(s)
        self.assertIn("insufficient_storage", s.read_log())

        os.unlink(path)  # space is back
        self.assertTrue(poll("ready", lambda: ready(s).status == 200),
                        "readyz did not come back with the space")
        r = s.put(PHOTO, harness.corpus(PHOTO), wait=60)
        self.assertIn(r.status, (201, 202), r)
        self.assertEqual(s.wait_done(r.json()["id"])["status"], "done")

    def test_worker_commit_on_full_disk_retries_when_space_returns(self):
        # A gateway without the fault takes the upload; the worker, whose
        # writes fail, must neither fail the image nor wait out the
        # visibility timeout (600 s here) once space is back.
        path, _ = self.flag()
        common = ("--set", "worker.visibility=600", "--set",
                  "worker.backoff=50")
        gw = self.start(*common, command="gateway")
        wk = self.start(*common, "--workers", "1", command="worker",
                        data_dir=gw.data_dir,
                        env={"IMGPIPE_TEST_STORAGE_FULL": path})
        with open(path, "w") as f:
            f.write("writes")  # writes fail, statvfs still shows room
        r = gw.put(PHOTO, harness.corpus(PHOTO))
        self.assertEqual(r.status, 202, r)
        image = r.json()["id"]
        log = os.path.join(gw.data_dir, "server.log")

        def saw_full():
            with open(log, "rb") as f:
                return b"storage full" in f.read()
        self.assertTrue(poll("storage full", saw_full),
                        "the worker never met the full disk")
        rec = gw.request("GET", f"/v1/images/{image}").json()
        self.assertIn(rec["status"], ("pending", "processing"), rec)
        self.assertEqual(gw.files_under("buckets", "output"), [])

        os.unlink(path)
        rec = gw.wait_done(image, 60)
        self.assertEqual(rec["status"], "done", rec)
        self.assertEqual(len(rec["variants"]), 3)
        dlq = subprocess.run([harness.BIN, "dlq", "list", "--data-dir",
                              gw.data_dir], capture_output=True, timeout=60)
        self.assertEqual(dlq.stdout.strip(), b"", dlq)


def garble_middle(path, n=8192):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(max(0, size // 2 - n // 2))
        f.write(os.urandom(n))


class DamagedDatabaseTest(unittest.TestCase):
    def make(self, images=3):
        s = harness.Server(args=("--workers", "1")).start()
        self.addCleanup(s.cleanup)
        ids = []
        for i in range(images):
            r = s.put(f"p{i}.jpg", harness.corpus(PHOTO), wait=60)
            self.assertIn(r.status, (201, 202), r)
            ids.append(r.json()["id"])
        self.assertEqual(s.stop(), 0)
        return s, ids

    def refused(self, s, name):
        p = subprocess.run([harness.BIN, "serve", "--port", "0",
                            "--data-dir", s.data_dir], capture_output=True,
                           timeout=120)
        err = p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, err)
        self.assertNotIn(b"listening on", p.stdout)
        self.assertIn(name, err)
        self.assertIn("damaged", err)
        self.assertIn("imgpipe doctor --repair", err)
        self.assertIn("backup", err)
        return err

    def test_garbage_in_queue_db_refuses_start(self):
        s, _ = self.make()
        path = os.path.join(s.data_dir, "queue.db")
        garble_middle(path)
        self.refused(s, "queue.db")

    def test_garbage_in_imgpipe_db_refuses_start(self):
        s, _ = self.make()
        path = os.path.join(s.data_dir, "imgpipe.db")
        garble_middle(path)
        self.refused(s, "imgpipe.db")


def damage_row(data_dir, image_id):
    db = sqlite3.connect(os.path.join(data_dir, "imgpipe.db"))
    db.execute("UPDATE images SET doc = ? WHERE id = ?",
               ('{"id": "' + image_id + '", "status": ', image_id))
    db.commit()
    db.close()


class DamagedRowTest(unittest.TestCase):
    def test_damaged_row_is_5xx_and_deletable(self):
        s = harness.Server(args=("--workers", "1")).start()
        self.addCleanup(s.cleanup)
        r = s.put(PHOTO, harness.corpus(PHOTO), wait=60)
        bad = r.json()["id"]
        good = s.put("b.jpg", harness.corpus(PHOTO), wait=60).json()["id"]
        damage_row(s.data_dir, bad)

        r = s.request("GET", f"/v1/images/{bad}")
        self.assertGreaterEqual(r.status, 500, r)
        err = r.json()["error"]
        self.assertEqual(err["code"], "backend_error")
        self.assertNotIn("sqlite", err["message"])
        self.assertNotIn("record", err["message"])
        self.assertIn("stored record", s.read_log())
        # the listing still shows the other image
        items = s.request("GET", "/v1/images").json()["items"]
        self.assertEqual([x["id"] for x in items], [good])

        self.assertTrue(any(f.startswith(bad) for f in
                            s.files_under("buckets", "input")))
        r = s.request("DELETE", f"/v1/images/{bad}")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(s.request("GET", f"/v1/images/{bad}").status, 404)
        for bucket in ("input", "output"):
            self.assertFalse([f for f in s.files_under("buckets", bucket)
                              if f.startswith(bad)], bucket)
        self.assertEqual(s.request("GET", f"/v1/images/{good}").status, 200)

    def test_recovery_reports_a_damaged_unfinished_row(self):
        s = harness.Server(args=("--workers", "1")).start()
        self.addCleanup(s.cleanup)
        image = s.put(PHOTO, harness.corpus(PHOTO), wait=60).json()["id"]
        self.assertEqual(s.stop(), 0)
        db = sqlite3.connect(os.path.join(s.data_dir, "imgpipe.db"))
        db.execute("UPDATE images SET status = 'processing', doc = 'x'"
                   " WHERE id = ?", (image,))
        db.commit()
        db.close()
        s2 = harness.Server(data_dir=s.data_dir).start()
        self.assertEqual(s2.stop(), 0)
        log = s2.read_log()
        self.assertIn(f"unfinished image {image} has a damaged record", log)


class EmptyTableTest(unittest.TestCase):
    def test_empty_table_beside_full_bucket_warns(self):
        s = harness.Server(args=("--workers", "1")).start()
        self.addCleanup(s.cleanup)
        s.put(PHOTO, harness.corpus(PHOTO), wait=60)
        self.assertEqual(s.stop(), 0)
        for f in ("imgpipe.db", "imgpipe.db-wal", "imgpipe.db-shm"):
            if os.path.exists(os.path.join(s.data_dir, f)):
                os.unlink(os.path.join(s.data_dir, f))
        s2 = harness.Server(data_dir=s.data_dir).start()
        self.assertEqual(s2.stop(), 0)
        log = s2.read_log()
        self.assertIn("the table holds no record but the input bucket", log)
        self.assertIn("imgpipe doctor", log)


if __name__ == "__main__":
    harness.main()
