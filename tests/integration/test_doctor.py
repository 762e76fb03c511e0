"""`imgpipe doctor`: finds what the stores disagree on (a lost queue
message, a damaged row, a damaged database, objects without records,
records without originals), repairs it with --repair (--adopt), and says
so in its exit status (0 healthy, 1 problems remain, 2 could not run)."""
import glob
import json
import os
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PHOTO = "wine.jpg"


def doctor(data_dir, *args):
    p = subprocess.run([harness.BIN, "doctor", "--data-dir", data_dir] +
                       list(args), capture_output=True, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def doctor_json(data_dir, *args):
    rc, out, err = doctor(data_dir, "--json", *args)
    return rc, json.loads(out), err


def wait_record(s, image, seconds=120):
    """An adopted image has no record until a worker makes it: poll for
    it (bounded), then wait for it to finish."""
    deadline = time.monotonic() + seconds
    while s.request("GET", f"/v1/images/{image}").status == 404:
        if time.monotonic() >= deadline:
            raise AssertionError(f"no record {image} after {seconds} s")
        time.sleep(0.1)
    return s.wait_done(image, seconds)


def kinds(report):
    return [(p["kind"], p["subject"], p["repaired"])
            for p in report["problems"]]


class DoctorTest(unittest.TestCase):
    def serve(self, data_dir=None, command="serve", args=("--workers", "1")):
        s = harness.Server(data_dir=data_dir, command=command, args=args)
        self.addCleanup(s.cleanup)
        return s.start()

    def upload_done(self, s, n=1):
        ids = []
        for i in range(n):
            r = s.put(f"p{i}.jpg", harness.corpus(PHOTO), wait=60)
            self.assertIn(r.status, (201, 202), r)
            ids.append(r.json()["id"])
            self.assertEqual(s.wait_done(ids[-1])["status"], "done")
        return ids

    def test_healthy_store_exits_zero(self):
        s = self.serve()
        self.upload_done(s, 2)
        self.assertEqual(s.stop(), 0)
        rc, rep, err = doctor_json(s.data_dir, "--orphans")
        self.assertEqual(rc, 0, (rep, err))
        self.assertTrue(rep["healthy"])
        self.assertEqual(rep["records"], 2)
        self.assertEqual(rep["objects"], 2 + 2 * 3)
        self.assertEqual(rep["problems"], [])

    def test_lost_queue_message_is_rebuilt_and_the_image_ends_done(self):
        gw = self.serve(command="gateway", args=())
        r = gw.put(PHOTO, harness.corpus(PHOTO))
        self.assertEqual(r.status, 202, r)
        image = r.json()["id"]
        self.assertEqual(gw.stop(), 0)
        db = sqlite3.connect(os.path.join(gw.data_dir, "queue.db"))
        db.execute("DELETE FROM messages")  # the message is lost
        db.commit()
        db.close()

        rc, rep, _ = doctor_json(gw.data_dir)
        self.assertEqual(rc, 1, rep)
        self.assertFalse(rep["healthy"])
        self.assertIn(("unqueued", image, False), kinds(rep))

        rc, out, err = doctor(gw.data_dir, "--repair")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("[repaired]", out)
        self.assertIn(image, out)
        rc, rep, _ = doctor_json(gw.data_dir)
        self.assertEqual((rc, rep["problems"]), (0, []))

        # a gateway and a worker: no start-up recovery re-announces it,
        # only the message doctor queued can bring it to done
        gw = self.serve(data_dir=gw.data_dir, command="gateway", args=())
        self.serve(data_dir=gw.data_dir, command="worker")
        self.assertEqual(gw.wait_done(image, 120)["status"], "done")

    def test_damaged_row_is_reported_and_adopted_again(self):
        s = self.serve()
        bad, good = self.upload_done(s, 2)
        self.assertEqual(s.stop(), 0)
        db = sqlite3.connect(os.path.join(s.data_dir, "imgpipe.db"))
        db.execute("UPDATE images SET doc = '{\"id\": ' WHERE id = ?", (bad,))
        db.commit()
        db.close()

        rc, rep, _ = doctor_json(s.data_dir)
        self.assertEqual(rc, 1, rep)
        self.assertEqual(kinds(rep), [("damaged_record", bad, False)])

        rc, out, err = doctor(s.data_dir, "--repair", "--adopt")
        self.assertEqual(rc, 0, out + err)
        s = self.serve(data_dir=s.data_dir)
        rec = wait_record(s, bad)
        self.assertEqual(rec["status"], "done", rec)
        self.assertEqual(len(rec["variants"]), 3)
        self.assertEqual(s.wait_done(good)["status"], "done")

    def test_lost_table_orphans_listed_then_adopted(self):
        s = self.serve()
        ids = self.upload_done(s, 2)
        self.assertEqual(s.stop(), 0)
        for f in glob.glob(os.path.join(s.data_dir, "imgpipe.db*")):
            os.unlink(f)

        rc, rep, _ = doctor_json(s.data_dir, "--orphans")
        self.assertEqual(rc, 1, rep)
        orphans = [p["subject"] for p in rep["problems"]
                   if p["kind"] == "orphan_object"]
        self.assertEqual(sorted(o.split("/")[1] for o in orphans),
                         sorted(ids))
        outputs = [p for p in rep["problems"] if p["kind"] == "orphan_output"]
        self.assertEqual(len(outputs), 2 * 3)
        rc, _, _ = doctor(s.data_dir)  # without --orphans: nothing to see
        self.assertEqual(rc, 0)

        rc, out, err = doctor(s.data_dir, "--repair", "--adopt")
        self.assertEqual(rc, 0, out + err)
        s = self.serve(data_dir=s.data_dir)
        for i in ids:
            rec = wait_record(s, i)
            self.assertEqual(rec["status"], "done", rec)
        self.assertEqual(s.stop(), 0)
        rc, rep, _ = doctor_json(s.data_dir, "--orphans")
        self.assertEqual((rc, rep["problems"]), (0, []), rep)

    def test_missing_original_is_reported(self):
        s = self.serve()
        (image,) = self.upload_done(s, 1)
        self.assertEqual(s.stop(), 0)
        for f in s.files_under("buckets", "input"):
            os.unlink(os.path.join(s.data_dir, "buckets", "input", f))
        rc, rep, _ = doctor_json(s.data_dir, "--orphans")
        self.assertEqual(rc, 1, rep)
        self.assertIn(("missing_original", image, False), kinds(rep))

    def test_damaged_queue_db_is_rebuilt(self):
        s = self.serve()
        self.upload_done(s, 2)
        self.assertEqual(s.stop(), 0)
        path = os.path.join(s.data_dir, "queue.db")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(max(0, size // 2 - 4096))
            f.write(os.urandom(8192))

        rc, rep, _ = doctor_json(s.data_dir)
        self.assertEqual(rc, 1, rep)
        self.assertEqual([k[:2] for k in kinds(rep)],
                         [("damaged_database", "queue")])
        rc, out, err = doctor(s.data_dir, "--repair")
        self.assertEqual(rc, 0, out + err)
        kept = [f for f in glob.glob(path + ".damaged-*")
                if not f.endswith(("-wal", "-shm"))]
        self.assertEqual(len(kept), 1, kept)
        rc, rep, _ = doctor_json(s.data_dir)
        self.assertEqual((rc, rep["problems"]), (0, []))
        s = self.serve(data_dir=s.data_dir)
        r = s.put(PHOTO, harness.corpus(PHOTO), wait=60)
        self.assertEqual(s.wait_done(r.json()["id"])["status"], "done")

    def test_damaged_imgpipe_db_is_rebuilt_and_adopted(self):
        s = self.serve()
        ids = self.upload_done(s, 3)
        self.assertEqual(s.stop(), 0)
        path = os.path.join(s.data_dir, "imgpipe.db")
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(max(0, size // 2 - 4096))
            f.write(os.urandom(8192))

        rc, rep, _ = doctor_json(s.data_dir)
        self.assertEqual(rc, 1, rep)
        self.assertIn(("damaged_database", "table"),
                      [k[:2] for k in kinds(rep)])
        rc, out, err = doctor(s.data_dir, "--repair", "--adopt")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("rebuilt with the", out)
        # rows the damaged file still gave are kept, the others are made
        # again from their originals: every image is back
        s = self.serve(data_dir=s.data_dir)
        for i in ids:
            self.assertEqual(wait_record(s, i)["status"], "done")
        self.assertEqual(s.stop(), 0)
        rc, rep, _ = doctor_json(s.data_dir, "--orphans")
        self.assertEqual((rc, rep["problems"]), (0, []), rep)

    def test_repair_refuses_beside_a_running_server(self):
        s = self.serve()
        rc, out, err = doctor(s.data_dir, "--repair")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("in use", err)

    def test_adopt_needs_repair(self):
        rc, _, err = doctor("/nonexistent-imgpipe", "--adopt")
        self.assertEqual(rc, 2)
        self.assertIn("--adopt needs --repair", err)


if __name__ == "__main__":
    harness.main()
