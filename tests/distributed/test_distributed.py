"""Issue 5 end to end: one `imgpipe gateway` and two `imgpipe worker`
processes on real servers (Ceph radosgw for S3, dynalite for DynamoDB,
redis-server for the queue), started by scripts/servers.sh.  Checked with
independent clients (Debian's awscli) as an S3/DynamoDB user would.

  1. gateway-published events: 50 corpus uploads all reach `done`, one
     record each, while one worker is killed with SIGKILL mid-run (its
     message is reclaimed by the other after the visibility timeout);
  2. store-published events: radosgw itself pushes ObjectCreated
     notifications to a worker's events port, as S3 triggers Lambda.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402


def photo(name):
    """A corpus photo at most 640 px wide, in its own format: what these
    tests check is the distribution of work (queues, claims, a killed
    worker, the stores), not the image work, which at full size took
    most of their three minutes."""
    import io
    from PIL import Image
    im = Image.open(io.BytesIO(harness.corpus(name)))
    fmt = im.format
    im.thumbnail((640, 640))
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()

AWS = "/usr/bin/aws"



def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Distributed(unittest.TestCase):
    def setUp(self):
        self.srv = harness.servers([
            "IMGPIPE_TEST_RGW_URL", "IMGPIPE_SERVERS_DYNALITE_PORT",
            "IMGPIPE_SERVERS_REDIS_PORT", "IMGPIPE_SERVERS_RGW_PORT"])
        self.sfx = uuid.uuid4().hex[:10]
        self.procs = []
        rgw = self.srv["IMGPIPE_TEST_RGW_URL"]
        self.input = f"in-{self.sfx}"
        self.output = f"out-{self.sfx}"
        self.env = {
            "IMGPIPE_STORAGE_OBJSTORE": rgw,
            "IMGPIPE_STORAGE_TABLE":
                f"dynamodb+http://127.0.0.1:{self.srv['IMGPIPE_SERVERS_DYNALITE_PORT']}"
                f"/?region=us-east-1&table=imgpipe-{self.sfx}",
            "IMGPIPE_STORAGE_QUEUE":
                f"redis://127.0.0.1:{self.srv['IMGPIPE_SERVERS_REDIS_PORT']}"
                f"/?stream=imgpipe-{self.sfx}",
            "IMGPIPE_STORAGE_INPUT_BUCKET": self.input,
            "IMGPIPE_STORAGE_OUTPUT_BUCKET": self.output,
            "IMGPIPE_AWS_ACCESS_KEY_ID": self.srv["IMGPIPE_TEST_RGW_ACCESS_KEY"],
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": self.srv["IMGPIPE_TEST_RGW_SECRET_KEY"],
            "IMGPIPE_WORKER_VISIBILITY": "15",
            "IMGPIPE_WORKER_BACKOFF": "100",
            "IMGPIPE_WORKER_BACKOFF_MAX": "400",
        }
        self.aws_env = dict(os.environ)
        self.aws_env.update({
            "AWS_ACCESS_KEY_ID": self.srv["IMGPIPE_TEST_RGW_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": self.srv["IMGPIPE_TEST_RGW_SECRET_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        env = dict(os.environ)
        env.update(self.env)
        init = subprocess.run([harness.BIN, "init", "--data-dir", "/tmp"],
                              env=env, capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)

    def tearDown(self):
        for p in self.procs:
            if p.proc is not None:
                p.stop(signal.SIGTERM)
            p.cleanup()

    def start(self, command, *args):
        s = harness.Server(args=list(args), env=self.env, command=command)
        self.procs.append(s)
        return s.start()

    def aws(self, *args, endpoint):
        r = subprocess.run([AWS, "--endpoint-url", endpoint] + list(args),
                           env=self.aws_env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def rgw(self):
        return f"http://127.0.0.1:{self.srv['IMGPIPE_SERVERS_RGW_PORT']}"

    def output_keys(self):
        keys, token = [], None
        while True:
            args = ["s3api", "list-objects-v2", "--bucket", self.output]
            if token:
                args += ["--continuation-token", token]
            page = self.aws(*args, endpoint=self.rgw())
            keys += [o["Key"] for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return keys

    def photos(self, n):
        names = harness.PHOTOS
        return [names[i % len(names)] for i in range(n)]

    def test_gateway_and_two_workers_survive_a_kill(self):
        gw = self.start("gateway")
        a = self.start("worker", "--workers", "1")
        self.start("worker", "--workers", "1")
        data = {n: photo(n) for n in set(self.photos(50))}
        ids = []
        t0 = time.monotonic()
        for i, name in enumerate(self.photos(50)):
            r = gw.put(name, data[name])
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["id"])
            if i == 15:
                a.stop(signal.SIGKILL)  # mid-run, with work in hand
        recs = [gw.wait_done(i, 180) for i in ids]
        elapsed = time.monotonic() - t0
        for rec in recs:
            self.assertEqual(rec["status"], "done", rec)
            self.assertEqual(len(rec["variants"]), 3)
        # one record per upload, and each processed once except what the
        # killed worker held (one thread: at most one message)
        listed = []
        cursor = None
        while True:
            q = "/v1/images?limit=100" + (f"&cursor={cursor}" if cursor else "")
            body = gw.request("GET", q).json()
            listed += [x["id"] for x in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(sorted(listed), sorted(ids))
        self.assertLessEqual(sum(r["attempts"] for r in recs), len(ids) + 1)
        # what an S3 user sees: every variant, nothing else
        want = sorted(v["key"] for r in recs for v in r["variants"])
        self.assertEqual(sorted(self.output_keys()), want)
        # what a DynamoDB user sees
        ddb = f"http://127.0.0.1:{self.srv['IMGPIPE_SERVERS_DYNALITE_PORT']}"
        item = self.aws("dynamodb", "get-item", "--table-name",
                        f"imgpipe-{self.sfx}", "--key",
                        json.dumps({"id": {"S": ids[0]}}), endpoint=ddb)
        self.assertEqual(item["Item"]["status"]["S"], "done")
        print(f"\n1 gateway + 2 workers: {len(ids)} images in {elapsed:.1f} s "
              f"= {len(ids) / elapsed:.2f} images/s (one worker killed at #16)")

    def test_wrong_secret_is_a_clear_start_up_error(self):
        env = dict(os.environ)
        env.update(self.env)
        env["IMGPIPE_AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        for command in ("gateway", "worker"):
            r = subprocess.run([harness.BIN, command, "--port", "0",
                                "--data-dir", "/tmp"], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r)
            self.assertIn("SignatureDoesNotMatch", r.stderr)
            self.assertNotIn("not-the-secret", r.stderr)

    def test_radosgw_pushes_the_events(self):
        port = free_port()
        self.env["IMGPIPE_STORAGE_EVENTS"] = "store"
        gw = self.start("gateway")
        self.start("worker", "--workers", "1", "--set",
                   f"worker.events_port={port}")
        b = self.start("worker", "--workers", "1")
        topic = self.aws("sns", "create-topic", "--name", f"t{self.sfx}",
                         "--attributes", json.dumps(
                             {"push-endpoint": f"http://127.0.0.1:{port}/v1/events"}),
                         endpoint=self.rgw())["TopicArn"]
        self.aws("s3api", "put-bucket-notification-configuration", "--bucket",
                 self.input, "--notification-configuration", json.dumps(
                     {"TopicConfigurations": [{"Id": "imgpipe", "TopicArn": topic,
                                               "Events": ["s3:ObjectCreated:*"]}]}),
                 endpoint=self.rgw())
        ids = []
        data = {n: photo(n) for n in set(self.photos(50))}
        for i, name in enumerate(self.photos(50)):
            r = gw.put(name, data[name])
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["id"])
            if i == 15:
                b.stop(signal.SIGKILL)  # the other worker reclaims its work
        recs = [gw.wait_done(i, 180) for i in ids]
        for rec in recs:
            self.assertEqual(rec["status"], "done", rec)
        self.assertLessEqual(sum(r["attempts"] for r in recs), len(ids) + 1)
        want = sorted(v["key"] for r in recs for v in r["variants"])
        self.assertEqual(sorted(self.output_keys()), want)
        self.aws("sns", "delete-topic", "--topic-arn", topic, endpoint=self.rgw())


if __name__ == "__main__":
    unittest.main(verbosity=2)
