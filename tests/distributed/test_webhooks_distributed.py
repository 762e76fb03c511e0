"""Completion webhooks on the distributed backends: one `imgpipe gateway`
and two `imgpipe worker` processes on radosgw + dynalite + redis
(scripts/servers.sh).  The outbox is DynamoDB items beside the records;
both workers run deliverers over it, so each delivery is claimed by one
of them: every image reaches the receiver exactly once, signed as
docs/API.md says.
"""
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import harness  # noqa: E402
from test_webhooks import SECRET, Receiver, wait_for  # noqa: E402


class DistributedWebhooks(unittest.TestCase):
    def setUp(self):
        srv = harness.servers([
            "IMGPIPE_TEST_RGW_URL", "IMGPIPE_SERVERS_DYNALITE_PORT",
            "IMGPIPE_SERVERS_REDIS_PORT"])
        sfx = uuid.uuid4().hex[:10]
        self.receiver = Receiver([500, 200])
        self.addCleanup(self.receiver.close)
        self.env = {
            "IMGPIPE_STORAGE_OBJSTORE": srv["IMGPIPE_TEST_RGW_URL"],
            "IMGPIPE_STORAGE_TABLE":
                f"dynamodb+http://127.0.0.1:"
                f"{srv['IMGPIPE_SERVERS_DYNALITE_PORT']}"
                f"/?region=us-east-1&table=imgpipe-{sfx}",
            "IMGPIPE_STORAGE_QUEUE":
                f"redis://127.0.0.1:{srv['IMGPIPE_SERVERS_REDIS_PORT']}"
                f"/?stream=imgpipe-{sfx}",
            "IMGPIPE_STORAGE_INPUT_BUCKET": f"in-{sfx}",
            "IMGPIPE_STORAGE_OUTPUT_BUCKET": f"out-{sfx}",
            "IMGPIPE_AWS_ACCESS_KEY_ID": srv["IMGPIPE_TEST_RGW_ACCESS_KEY"],
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": srv["IMGPIPE_TEST_RGW_SECRET_KEY"],
            "IMGPIPE_NOTIFY_URL": self.receiver.url,
            "IMGPIPE_NOTIFY_SECRET": SECRET,
            "IMGPIPE_NOTIFY_RETRY_BASE": "50",
            "IMGPIPE_NOTIFY_MAX_ATTEMPTS": "5",
        }
        e = dict(os.environ)
        e.update(self.env)
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-hooks-dist-")
        init = subprocess.run([harness.BIN, "init", "--data-dir", self.tmp],
                              env=e, capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.proc is not None:
                self.assertEqual(p.stop(signal.SIGTERM), 0, p.read_log())
            p.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, command, *args):
        s = harness.Server(args=list(args), env=self.env, command=command)
        self.procs.append(s)
        return s.start()

    def outbox(self, *args):
        e = dict(os.environ)
        e.update(self.env)
        r = subprocess.run([harness.BIN, "webhooks", "list", *args,
                            "--data-dir", self.tmp], env=e,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(x) for x in r.stdout.splitlines() if x]

    def test_each_image_delivered_once_by_two_workers(self):
        gw = self.start("gateway")
        self.start("worker", "--workers", "1")
        self.start("worker", "--workers", "1")
        names = harness.PHOTOS[:4]
        ids = []
        for name in names:
            r = gw.put(name, harness.corpus(name), wait=120)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["status"], "done", r)
            ids.append(r.json()["id"])
        # the first attempt of one delivery got a 500: retried, not lost
        wait_for(lambda: len({json.loads(x["body"])["record"]["id"]
                              for x in self.receiver.got()}) == len(ids),
                 seconds=120, what="every image's delivery")
        wait_for(lambda: not self.outbox() and not self.outbox("--dead"),
                 seconds=120, what="an empty outbox")
        got = self.receiver.got()
        self.assertEqual(len(got), len(ids) + 1, [x["headers"] for x in got])
        ok = [x for x in got if x["status"] == 200]
        for image_id in ids:
            mine = [x for x in ok
                    if json.loads(x["body"])["record"]["id"] == image_id]
            self.assertEqual(len(mine), 1, image_id)
            doc = json.loads(mine[0]["body"])
            self.assertEqual(doc["type"], "image.done")
            self.assertTrue(mine[0]["verified"])
            self.assertEqual(doc["record"], gw.request(
                "GET", f"/v1/images/{image_id}").json())


if __name__ == "__main__":
    harness.main()
