"""`imgpipe lambda` against a Runtime API host written here, with the event
shapes AWS documents (tests/lambda/events/*.json), s3rver and dynalite from
$IMGPIPE_SERVERS_ENV.  Each case asserts what lands in the buckets and the
table (read back through `imgpipe gateway` and boto3), and what the
function answered: /response, /error (and its type), /init/error.
"""
import http.server
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

EVENTS = os.path.join(os.path.dirname(__file__), "events")



def fixture(name, **subst):
    with open(os.path.join(EVENTS, name)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace("@" + k + "@", str(v))
    return json.loads(text)


def json_string_body(doc):
    """A document as the JSON string an envelope carries."""
    return json.dumps(doc)


class RuntimeAPI:
    """The Lambda Runtime API: hands out queued events, records answers."""

    def __init__(self):
        self.pending = queue.Queue()
        self.answers = {}
        self.cond = threading.Condition()
        self.init_errors = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                rid, body, deadline = api.pending.get()
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                parts = self.path.split("/")
                with api.cond:
                    if self.path.endswith("/init/error"):
                        api.init_errors.append(body)
                    else:
                        api.answers[parts[-2]] = (
                            parts[-1], body,
                            self.headers.get("Lambda-Runtime-Function-Error-Type"))
                    api.cond.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def hand_out(self, event, deadline_ms=None):
        rid = str(uuid.uuid4())
        if deadline_ms is None:
            deadline_ms = int(time.time() * 1000) + 600_000
        self.pending.put((rid, event, deadline_ms))
        return rid

    def answer(self, rid, seconds=180):
        with self.cond:
            self.cond.wait_for(lambda: rid in self.answers, seconds)
            return self.answers.get(rid)

    def init_error(self, seconds=60):
        with self.cond:
            self.cond.wait_for(lambda: self.init_errors, seconds)
            return self.init_errors[0] if self.init_errors else None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class HoldingProxy:
    """A TCP forwarder to host:port that stops forwarding, for good, the
    first request carrying `marker` (and sets `held`): the client is left
    waiting mid-request, as a process is when it is killed there."""

    def __init__(self, host, port, marker):
        self.target = (host, port)
        self.marker = marker
        self.held = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(self.target)
            threading.Thread(target=self.pump, args=(c, u, True),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, False),
                             daemon=True).start()

    def pump(self, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and (self.held.is_set() or
                                    self.marker in data):
                    self.held.set()
                    return  # swallow it and everything after
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not self.held.is_set():
                for x in (src, dst):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self):
        self.sock.close()


class LambdaEventsTest(unittest.TestCase):
    def setUp(self):
        self.srv = harness.servers(["IMGPIPE_TEST_S3RVER_URL",
                                     "IMGPIPE_TEST_DYNAMO_URL"])
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-lambdaev-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        sfx = uuid.uuid4().hex[:8]
        self.inb, self.outb = f"in-{sfx}", f"out-{sfx}"
        dyn = self.srv["IMGPIPE_TEST_DYNAMO_URL"].replace(
            "table=imgpipe", f"table=imgpipe-{sfx}")
        self.env = {
            "IMGPIPE_STORAGE_OBJSTORE": self.srv["IMGPIPE_TEST_S3RVER_URL"],
            "IMGPIPE_STORAGE_TABLE": dyn,
            "IMGPIPE_STORAGE_INPUT_BUCKET": self.inb,
            "IMGPIPE_STORAGE_OUTPUT_BUCKET": self.outb,
            "IMGPIPE_STORAGE_EVENTS": "store",
            "IMGPIPE_AWS_ACCESS_KEY_ID": "S3RVER",
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": "S3RVER",
        }
        e = dict(os.environ)
        e.update(self.env)
        init = subprocess.run([harness.BIN, "init", "--data-dir", self.tmp],
                              env=e, capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)
        s3url = urllib.parse.urlsplit(
            self.srv["IMGPIPE_TEST_S3RVER_URL"].replace("s3+", ""))
        self.s3 = f"http://{s3url.netloc}"
        self.gw = harness.Server(env=self.env, command="gateway")
        self.addCleanup(self.gw.cleanup)
        self.gw.start()
        self.api = RuntimeAPI()
        self.addCleanup(self.api.close)
        self.procs = []
        self.addCleanup(self.stop_all)

    # --- helpers -------------------------------------------------------
    def start_lambda(self, extra_env=None, env=None):
        e = dict(os.environ)
        e.update(self.env if env is None else env)
        e.update(extra_env or {})
        e["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.api.port}"
        n = len(self.procs)
        out = open(os.path.join(self.tmp, f"lambda{n}.out"), "w")
        err = open(os.path.join(self.tmp, f"lambda{n}.err"), "w")
        p = subprocess.Popen([harness.BIN, "lambda", "--data-dir",
                              os.path.join(self.tmp, "lambda")],
                             env=e, stdout=out, stderr=err)
        out.close()
        err.close()
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()

    def logs(self):
        text = ""
        for n in range(len(self.procs)):
            for ext in ("out", "err"):
                with open(os.path.join(self.tmp, f"lambda{n}.{ext}")) as f:
                    text += f.read()[-2000:]
        return text

    def put(self, key, name):
        """What `aws s3 cp` does (s3rver takes unsigned requests)."""
        data = harness.corpus(name)
        url = f"{self.s3}/{self.inb}/{urllib.parse.quote(key, safe='/')}"
        rq = urllib.request.Request(url, data=data, method="PUT")
        with urllib.request.urlopen(rq, timeout=60) as r:
            return len(data), r.headers.get("ETag", "").strip('"')

    def s3_event(self, key, size, seq=None):
        return fixture("s3-put.json", BUCKET=self.inb,
                       KEY_ENC=urllib.parse.quote_plus(key, safe="/"),
                       SIZE=size, SEQ=seq or uuid.uuid4().hex[:18].upper())

    def invoke(self, event, deadline_ms=None):
        rid = self.api.hand_out(event, deadline_ms)
        ans = self.api.answer(rid)
        self.assertIsNotNone(ans, f"no answer\n{self.logs()}")
        return ans

    def records(self):
        r = self.gw.request("GET", "/v1/images?limit=100")
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def record_for(self, key):
        found = [x for x in self.records() if x["input_key"] == key]
        self.assertEqual(len(found), 1, f"{key}: {found}\n{self.logs()}")
        return self.gw.request("GET", f"/v1/images/{found[0]['id']}").json()

    def outputs(self, rec):
        q = urllib.parse.urlencode({"list-type": "2",
                                    "prefix": rec["id"] + "/"})
        with urllib.request.urlopen(f"{self.s3}/{self.outb}?{q}",
                                    timeout=60) as r:
            root = ET.fromstring(r.read())
        return sorted(k.text for k in root.iter()
                      if k.tag.endswith("}Key") or k.tag == "Key")

    def assert_done(self, key, name):
        rec = self.record_for(key)
        self.assertEqual(rec["status"], "done", f"{rec}\n{self.logs()}")
        self.assertEqual(rec["name"], name)
        self.assertEqual(self.outputs(rec),
                         sorted(v["key"] for v in rec["variants"]))
        self.assertEqual(len(rec["variants"]), 3)
        return rec

    # --- cases ---------------------------------------------------------
    def test_event_shapes(self):
        self.start_lambda()
        # a plain S3 put of a key no gateway wrote (`aws s3 cp`), '+' and
        # '%' in the key as S3 encodes them
        key = "holiday/my photo+1%.jpg"
        size, _ = self.put(key, "bridge.jpg")
        ev = self.s3_event(key, size, "0055AED6DCD90281E5")
        kind, body, _ = self.invoke(ev)
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        first = self.assert_done(key, "my photo+1%.jpg")
        # the same delivery again: one record, unchanged
        kind, body, _ = self.invoke(ev)
        self.assertEqual((kind, body["skipped"]), ("response", 1), body)
        self.assertEqual(self.record_for(key)["version"], first["version"])
        # SNS-wrapped
        key = "sns/wine.jpg"
        size, _ = self.put(key, "wine.jpg")
        sns = fixture("sns.json", MESSAGE="x")
        sns["Records"][0]["Sns"]["Message"] = json_string_body(
            self.s3_event(key, size))
        kind, body, _ = self.invoke(sns)
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        self.assert_done(key, "wine.jpg")
        # EventBridge: the key is not URL-encoded there
        key = "eb/a b+c%.jpg"
        size, _ = self.put(key, "bridge.jpg")
        kind, body, _ = self.invoke(fixture(
            "eventbridge.json", BUCKET=self.inb, KEY=key, SIZE=size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        self.assert_done(key, "a b+c%.jpg")
        # a 1000-byte key (segments under 255 bytes: s3rver keeps keys as
        # file paths)
        key = "/".join(["d" * 199] * 5)[:996] + ".jpg"
        self.assertEqual(len(key.encode()), 1000)
        size, _ = self.put(key, "wine.jpg")
        kind, body, _ = self.invoke(self.s3_event(key, size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        self.assert_done(key, key.rsplit("/", 1)[1])
        # s3:TestEvent: success, nothing written
        before = len(self.records())
        kind, body, _ = self.invoke(fixture("s3-test-event.json",
                                            BUCKET=self.inb))
        self.assertEqual(kind, "response", body)
        self.assertEqual(len(self.records()), before)
        # the output bucket's own events: ignored (recursive-trigger trap)
        out_ev = self.s3_event("x/large.jpg", 1)
        out_ev["Records"][0]["s3"]["bucket"]["name"] = self.outb
        kind, body, _ = self.invoke(out_ev)
        self.assertEqual((kind, body["skipped"]), ("response", 1), body)
        # an unknown document is an error, never a silent success
        kind, body, etype = self.invoke({"hello": "world"})
        self.assertEqual(kind, "error", body)
        self.assertEqual(etype, "imgpipe.invalid_request")
        # logs: one JSON object per line on stdout, with the ids
        with open(os.path.join(self.tmp, "lambda0.out")) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        self.assertTrue(any("requestId" in x and "imageId" in x
                            for x in lines), lines[:5])

    def test_sqs_batch_with_one_bad_message(self):
        self.start_lambda()
        key = "batch/wine.jpg"
        size, _ = self.put(key, "wine.jpg")
        good = fixture("sqs.json", BODY="x")["Records"][0]
        good["body"] = json_string_body(self.s3_event(key, size))
        good["messageId"] = "good-1"
        bad = dict(good, messageId="bad-2", body="{not an S3 event")
        test = dict(good, messageId="test-3", body=json_string_body(
            fixture("s3-test-event.json", BUCKET=self.inb)))
        kind, body, _ = self.invoke({"Records": [good, bad, test]})
        self.assertEqual(kind, "response", body)
        self.assertEqual(body, {"batchItemFailures": [
            {"itemIdentifier": "bad-2"}]})
        self.assert_done(key, "wine.jpg")

    def test_object_over_max_body(self):
        self.start_lambda({"IMGPIPE_LIMITS_MAX_BODY": "100000"})
        key = "big/bridge.jpg"
        size, _ = self.put(key, "bridge.jpg")
        kind, body, _ = self.invoke(self.s3_event(key, size))
        # permanent: answered, not retried
        self.assertEqual((kind, body["failed"]), ("response", 1), body)
        rec = self.record_for(key)
        self.assertEqual(rec["status"], "failed")
        self.assertIn("limits.max_body", rec["error"])
        self.assertIn("not downloaded", rec["error"])
        self.assertEqual(self.outputs(rec), [])

    def test_deadline_then_redelivery(self):
        p = self.start_lambda({"IMGPIPE_LAMBDA_DEADLINE_MARGIN_MS": "1000"})
        key = "slow/picos-alpha.png"
        size, _ = self.put(key, "picos-alpha.png")
        ev = self.s3_event(key, size)
        # the deadline is 1.1 s away; the margin is 1 s
        kind, body, etype = self.invoke(
            ev, int(time.time() * 1000) + 1100)
        self.assertEqual((kind, etype), ("error", "Timeout"), body)
        self.assertEqual(p.wait(60), 3, self.logs())
        # not done; `failed` with the reason, unless the attempt still
        # running wrote after the watchdog (then `pending`/`processing`,
        # which the next delivery settles: test_killed_attempt_is_settled)
        for rec in self.records():
            if rec["input_key"] == key:
                self.assertNotEqual(rec["status"], "done")
                if rec["status"] == "failed":
                    self.assertIn("deadline", rec["error"])
        # Lambda starts a fresh runtime; the retry resolves the record
        self.start_lambda()
        kind, body, _ = self.invoke(ev)
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        self.assert_done(key, "picos-alpha.png")

    def test_killed_attempt_is_settled(self):
        # two deliveries: the second one settles a killed first one.  The
        # first runs through a proxy that holds its first variant PUT, so
        # it is killed mid-attempt (record claimed, nothing written) every
        # time, whatever the machine's speed.
        extra = {"IMGPIPE_LAMBDA_DELIVERIES": "2"}
        s3 = urllib.parse.urlsplit(self.s3)
        proxy = HoldingProxy(s3.hostname, s3.port,
                             f"PUT /{self.outb}/".encode())
        self.addCleanup(proxy.close)
        held_env = dict(self.env)
        held_env["IMGPIPE_STORAGE_OBJSTORE"] = self.env[
            "IMGPIPE_STORAGE_OBJSTORE"].replace(
                f":{s3.port}/", f":{proxy.port}/")
        p = self.start_lambda(extra, env=held_env)
        key = "kill/picos-alpha.png"
        size, _ = self.put(key, "picos-alpha.png")
        ev = self.s3_event(key, size)
        rid = self.api.hand_out(ev)
        self.assertTrue(proxy.held.wait(180), self.logs())
        self.assertEqual(self.record_for(key)["status"], "processing")
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertIsNone(self.api.answers.get(rid))
        self.start_lambda(extra)
        kind, body, _ = self.invoke(ev)
        self.assertEqual((kind, body["failed"]), ("response", 1), body)
        rec = self.record_for(key)
        self.assertEqual(rec["status"], "failed")
        self.assertIn("attempt 1 was killed", rec["error"])

    def test_init_unreachable_storage(self):
        # accepts connections, never answers
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        self.addCleanup(silent.close)
        port = silent.getsockname()[1]
        env = dict(self.env)
        env["IMGPIPE_STORAGE_OBJSTORE"] = (
            f"s3+http://127.0.0.1:{port}/?region=us-east-1&path_style=1")
        env["IMGPIPE_LAMBDA_INIT_TIMEOUT"] = "2"
        p = self.start_lambda(env=env)
        err = self.api.init_error()
        self.assertIsNotNone(err, self.logs())
        self.assertIn("lambda.init_timeout", err["errorMessage"])
        self.assertNotEqual(p.wait(60), 0)

    def test_local_storage_refused(self):
        env = {k: v for k, v in self.env.items()
               if k not in ("IMGPIPE_STORAGE_OBJSTORE",
                            "IMGPIPE_STORAGE_TABLE")}
        p = self.start_lambda(env=env)
        err = self.api.init_error()
        self.assertIsNotNone(err, self.logs())
        self.assertIn("IMGPIPE_STORAGE_OBJSTORE", err["errorMessage"])
        self.assertIn("IMGPIPE_STORAGE_TABLE", err["errorMessage"])
        self.assertNotEqual(p.wait(60), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
