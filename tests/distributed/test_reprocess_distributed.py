"""Issue 14 on the distributed backends: a backfill of a new preset over
images made before it, with a gateway and two workers as separate
processes on radosgw (S3), dynalite (DynamoDB) and redis-server (the
queue), as test_distributed.py starts them.

`imgpipe reprocess --all` (run from its own data directory, for its
checkpoint) queues one reprocess event per image on the Redis stream; the
workers make `hero`; the other variants' objects are untouched (the same
ETag and Last-Modified, read with Debian's awscli); a second run queues
nothing; a run killed with -9 resumes from its checkpoint and every image
ends with one `hero`.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
import test_distributed  # noqa: E402

HERO = ["--set", "variant.hero.width=480", "--set", "variant.hero.height=270"]


class ReprocessDistributed(test_distributed.Distributed):

    def setUp(self):
        super().setUp()
        self.cli_dir = tempfile.mkdtemp(prefix="imgpipe-reprocess-")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.cli_dir, ignore_errors=True)

    def cli(self, *args, env=None):
        e = dict(os.environ)
        e.update(self.env)
        e.update(env or {})
        return subprocess.run(
            [harness.BIN, "reprocess", "--data-dir", self.cli_dir,
             "--log-level", "warn"] + HERO + list(args),
            capture_output=True, env=e, timeout=600)

    def summary(self, p):
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def objects(self):
        """{key: (ETag, LastModified)} of the output bucket, from awscli."""
        out, token = {}, None
        while True:
            args = ["s3api", "list-objects-v2", "--bucket", self.output]
            if token:
                args += ["--continuation-token", token]
            page = self.aws(*args, endpoint=self.rgw())
            for o in page.get("Contents", []):
                out[o["Key"]] = (o["ETag"], o["LastModified"])
            token = page.get("NextContinuationToken")
            if not token:
                return out

    def upload(self, gw, n):
        ids = []
        for name in self.photos(n):
            r = gw.put(name, harness.corpus(name), wait=120)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["status"], "done", r)
            ids.append(r.json()["id"])
        return ids

    def config_b(self):
        """Stop config A's processes; a gateway and two workers on B."""
        for p in self.procs:
            self.assertEqual(p.stop(signal.SIGTERM), 0, p.read_log())
        gw = self.start("gateway", *HERO)
        self.start("worker", "--workers", "1", *HERO)
        self.start("worker", "--workers", "1", *HERO)
        return gw

    def wait_hero(self, gw, ids, seconds=300):
        deadline = time.monotonic() + seconds
        recs = {}
        for i in ids:
            while True:
                r = gw.request("GET", f"/v1/images/{i}")
                self.assertEqual(r.status, 200, r)
                heroes = [v for v in r.json()["variants"]
                          if v["name"] == "hero"]
                if heroes:
                    self.assertEqual(len(heroes), 1, r.json()["variants"])
                    recs[i] = r.json()
                    break
                self.assertLess(time.monotonic(), deadline, r.json())
                time.sleep(0.1)
        return recs

    def test_backfill_on_s3_dynamodb_redis(self):
        gw = self.start("gateway")
        self.start("worker", "--workers", "1")
        ids = self.upload(gw, 5)
        before = self.objects()
        self.assertEqual(len(before), 15)
        gw = self.config_b()

        s = self.summary(self.cli("--all", "--dry-run", "--json"))
        self.assertEqual((s["examined"], s["would_remake"]), (5, 5), s)
        s = self.summary(self.cli("--all", "--json"))
        self.assertEqual((s["examined"], s["queued"], s["mode"]),
                         (5, 5, "queue"), s)
        recs = self.wait_hero(gw, ids)
        after = self.objects()
        for key, facts in before.items():
            self.assertEqual(after[key], facts, key)
        hero_keys = {v["key"] for r in recs.values() for v in r["variants"]
                     if v["name"] == "hero"}
        self.assertEqual(set(after) - set(before), hero_keys)
        self.assertEqual(len(hero_keys), 5)

        s = self.summary(self.cli("--all", "--json"))
        self.assertEqual((s["examined"], s["queued"], s["current"]),
                         (5, 0, 5), s)
        self.assertEqual(self.objects(), after)

    def test_kill9_resumes_on_s3_dynamodb_redis(self):
        gw = self.start("gateway")
        self.start("worker", "--workers", "1")
        ids = self.upload(gw, 10)
        gw = self.config_b()
        p = self.cli("--all", env={"IMGPIPE_TEST_REPROCESS_KILL_AFTER": "9"})
        self.assertEqual(p.returncode, -signal.SIGKILL, p.stderr.decode())
        newest_first = sorted(ids, reverse=True)
        p = self.cli("--all", "--json")
        self.assertIn(f"resuming after {newest_first[7]}", p.stderr.decode())
        s = self.summary(p)
        self.assertEqual((s["examined"], s["failed"]), (10, 0), s)
        for rec in self.wait_hero(gw, ids).values():
            self.assertEqual(len(rec["variants"]), 4, rec["variants"])
        self.assertEqual(len(self.objects()), 40)


def load_tests(loader, tests, pattern):
    """Only this file's tests, not those of the class it builds on."""
    return unittest.TestSuite(
        ReprocessDistributed(name) for name in
        ("test_backfill_on_s3_dynamodb_redis",
         "test_kill9_resumes_on_s3_dynamodb_redis"))


if __name__ == "__main__":
    harness.main()
