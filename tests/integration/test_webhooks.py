"""Completion webhooks (docs/API.md "Webhooks") against a real receiver.

The receiver is Python's http.server on 127.0.0.1, started by each test;
it checks every delivery's signature with the verification snippets of
docs/API.md, taken from the document as written.  Nothing sleeps to
synchronise: conditions are polled with a deadline, and the receiver that
hangs is released by an Event.
"""
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SECRET = "whsec-test-0123456789abcdef0123456789"
OLD_SECRET = "whsec-old-fedcba9876543210fedcba98"
SOURCE_ROOT = os.environ.get(
    "IMGPIPE_SOURCE_ROOT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def doc_block(lang, needle):
    """The fenced block of docs/API.md in lang that contains needle."""
    with open(os.path.join(SOURCE_ROOT, "docs", "API.md")) as f:
        text = f.read()
    for m in re.finditer(r"^```(\w+)\n(.*?)^```", text, re.M | re.S):
        if m.group(1) == lang and needle in m.group(2):
            return m.group(2)
    raise AssertionError(f"docs/API.md has no {lang} block with {needle!r}")


_ns = {}
exec(doc_block("python", "def imgpipe_verify"), _ns)  # noqa: S102
imgpipe_verify = _ns["imgpipe_verify"]
SHELL_VERIFY = doc_block("sh", "openssl dgst -sha256 -hmac")


def shell_verify(secret, header, body):
    """Run the documented shell snippet; True if it says valid."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "body.json"), "wb") as f:
            f.write(body)
        r = subprocess.run(["bash", "-c", SHELL_VERIFY], cwd=d,
                           env=dict(os.environ, SECRET=secret,
                                    SIGNATURE=header),
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0 and "signature valid" in r.stdout


def wait_for(cond, seconds=60, what="condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)  # polling a condition, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """An HTTP receiver: answers each POST with the next of `statuses`
    (the last repeats); `hang` holds every answer until released."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        self.hang = None  # threading.Event: set = release
        self.arrived = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    i = len(outer.requests)
                    outer.requests.append({
                        "headers": {k.lower(): v for k, v in
                                    self.headers.items()},
                        "body": body,
                        "path": self.path,
                        "verified": imgpipe_verify(
                            SECRET, self.headers.get("Imgpipe-Signature", ""),
                            body),
                    })
                    status = outer.statuses[min(i, len(outer.statuses) - 1)]
                    outer.requests[-1]["status"] = status
                    hang = outer.hang
                outer.arrived.set()
                if hang is not None:
                    hang.wait(600)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def set_statuses(self, statuses):
        with self.lock:
            self.statuses = list(statuses)
            self.requests_before = len(self.requests)

    def got(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        if self.hang is not None:
            self.hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def run(*args, data_dir):
    return subprocess.run([harness.BIN, *args, "--data-dir", data_dir],
                          capture_output=True, text=True, timeout=60)


class WebhookTest(unittest.TestCase):
    statuses = (200,)
    extra = ()

    def setUp(self):
        self.receiver = Receiver(self.statuses)
        self.addCleanup(self.receiver.close)
        args = ["--set", f"notify.url={self.receiver.url}",
                "--set", f"notify.secret={SECRET}",
                "--set", "notify.retry_base=50",
                "--set", "notify.timeout=5000",
                "--set", "notify.max_attempts=3",
                "--workers", "2"] + list(self.extra)
        self.server = harness.Server(args=args).start()
        self.addCleanup(self.server.cleanup)

    def tearDown(self):
        if self.receiver.hang is not None:
            self.receiver.hang.set()
        rc = self.server.stop()
        self.assertEqual(rc, 0, self.server.read_log())

    def cli(self, *args):
        r = run(*args, data_dir=self.server.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()
                if line.startswith("{")]

    def outbox_empty(self):
        return not self.cli("webhooks", "list") and \
            not self.cli("webhooks", "list", "--dead")

    def metric(self, name):
        text = self.server.request("GET", "/metrics").body.decode()
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    def deliveries_for(self, image_id):
        return [r for r in self.receiver.got()
                if json.loads(r["body"])["record"]["id"] == image_id]


class Delivered(WebhookTest):
    def test_done_and_failed_each_one_signed_delivery(self):
        ok = self.server.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(ok.json()["status"], "done", ok)
        cut = self.server.put("cut.jpg",
                              harness.corpus("bridge.jpg")[:20000], wait=60)
        self.assertEqual(cut.json()["status"], "failed", cut)
        wait_for(lambda: len(self.receiver.got()) >= 2, what="2 deliveries")
        wait_for(self.outbox_empty, what="an empty outbox")

        for image, event in ((ok.json(), "image.done"),
                             (cut.json(), "image.failed")):
            got = self.deliveries_for(image["id"])
            self.assertEqual(len(got), 1, got)
            d = got[0]
            doc = json.loads(d["body"])
            self.assertEqual(doc["type"], event)
            self.assertEqual(d["headers"]["imgpipe-event"], event)
            self.assertEqual(d["headers"]["imgpipe-delivery"], doc["id"])
            self.assertEqual(d["headers"]["content-type"], "application/json")
            self.assertIsInstance(doc["created"], int)
            self.assertTrue(d["verified"], d["headers"])
            # the record, as GET /v1/images/{id} shows it
            self.assertEqual(doc["record"],
                             self.server.request(
                                 "GET", f"/v1/images/{image['id']}").json())
            sig = d["headers"]["imgpipe-signature"]
            self.assertTrue(shell_verify(SECRET, sig, d["body"]))
            # a changed body or another secret does not verify
            forged = d["body"].replace(b'"status"', b'"Status"')
            self.assertFalse(imgpipe_verify(SECRET, sig, forged))
            self.assertFalse(shell_verify(SECRET, sig, forged))
            self.assertFalse(imgpipe_verify(OLD_SECRET, sig, d["body"]))
        self.assertEqual(len(self.receiver.got()), 2)
        self.assertEqual(self.metric("imgpipe_webhooks_delivered_total"), 2)
        self.assertEqual(self.metric("imgpipe_webhooks_failed_total"), 0)


class Rotation(WebhookTest):
    extra = ("--set", f"notify.secret={SECRET},{OLD_SECRET}")

    def test_every_secret_signs(self):
        ok = self.server.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(ok.json()["status"], "done", ok)
        d = wait_for(lambda: self.deliveries_for(ok.json()["id"]),
                     what="the delivery")[0]
        sig = d["headers"]["imgpipe-signature"]
        self.assertEqual(sig.count("v1="), 2, sig)
        self.assertTrue(imgpipe_verify(SECRET, sig, d["body"]))
        self.assertTrue(imgpipe_verify(OLD_SECRET, sig, d["body"]))
        self.assertTrue(shell_verify(OLD_SECRET, sig, d["body"]))


class Retried(WebhookTest):
    statuses = (500, 500, 200)

    def test_third_attempt_delivers(self):
        ok = self.server.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(ok.json()["status"], "done", ok)
        wait_for(lambda: len(self.receiver.got()) >= 3, what="3 attempts")
        wait_for(self.outbox_empty, what="an empty outbox")
        got = self.receiver.got()
        self.assertEqual(len(got), 3)
        self.assertEqual(self.metric("imgpipe_webhooks_failed_total"), 2)
        self.assertEqual(self.metric("imgpipe_webhooks_delivered_total"), 1)
        ids = {r["headers"]["imgpipe-delivery"] for r in got}
        self.assertEqual(len(ids), 1, ids)  # one delivery, three attempts
        self.assertTrue(all(r["verified"] for r in got))


class DeadLettered(WebhookTest):
    statuses = (500,)

    def test_dead_letter_then_redrive(self):
        ok = self.server.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(ok.json()["status"], "done", ok)
        dead = wait_for(lambda: self.cli("webhooks", "list", "--dead"),
                        what="a dead delivery")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["record_id"], ok.json()["id"])
        self.assertEqual(dead[0]["attempts"], 3)
        self.assertEqual(dead[0]["event"], "image.done")
        self.assertIn("HTTP 500", dead[0]["error"])
        self.assertEqual(self.metric("imgpipe_webhooks_dead_total"), 1)
        self.assertEqual(len(self.receiver.got()), 3)
        self.assertEqual(self.cli("webhooks", "list"), [])
        # the image itself is untouched by the receiver's failure
        self.assertEqual(self.server.request(
            "GET", f"/v1/images/{ok.json()['id']}").json()["status"], "done")

        self.receiver.set_statuses([200])
        r = run("webhooks", "redrive", dead[0]["id"],
                data_dir=self.server.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 delivery", r.stdout)
        wait_for(lambda: len(self.receiver.got()) >= 4, what="the redrive")
        wait_for(self.outbox_empty, what="an empty outbox")
        last = self.receiver.got()[3]
        self.assertEqual(last["headers"]["imgpipe-delivery"], dead[0]["id"])
        self.assertTrue(last["verified"])
        # a second redrive finds nothing dead
        r = run("webhooks", "redrive", dead[0]["id"],
                data_dir=self.server.data_dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no delivery", r.stderr)


class Hanging(WebhookTest):
    extra = ("--set", "notify.concurrency=1", "--set", "notify.timeout=300000")

    def test_hanging_receiver_does_not_delay_done(self):
        self.receiver.hang = threading.Event()
        first = self.server.put("wine.jpg", harness.corpus("wine.jpg"),
                                wait=60)
        self.assertEqual(first.json()["status"], "done", first)
        # the only deliverer thread is now stuck in the receiver
        self.assertTrue(self.receiver.arrived.wait(60))
        photos = [p for p in harness.PHOTOS if p != "wine.jpg"][:2]
        for name in photos:
            r = self.server.put(name, harness.corpus(name), wait=60)
            self.assertEqual(r.json()["status"], "done", r)
        self.assertFalse(self.receiver.hang.is_set())
        self.assertEqual(len(self.receiver.got()), 1)
        # released, the receiver gets the rest
        self.receiver.hang.set()
        wait_for(lambda: len(self.receiver.got()) >= 3, what="3 deliveries")
        wait_for(self.outbox_empty, what="an empty outbox")


class KilledMidSend(unittest.TestCase):
    """kill -9 while a delivery is in flight: the outbox is durable, so
    the next server on the same data directory sends it (again: at least
    once, the same Imgpipe-Delivery)."""

    def test_delivery_survives_kill_9(self):
        receiver = Receiver([200])
        self.addCleanup(receiver.close)
        receiver.hang = threading.Event()
        args = ["--set", f"notify.url={receiver.url}",
                "--set", f"notify.secret={SECRET}",
                "--set", "notify.retry_base=50",
                "--set", "notify.timeout=1000"]
        first = harness.Server(args=args).start()
        self.addCleanup(first.cleanup)
        ok = first.put("wine.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(ok.json()["status"], "done", ok)
        self.assertTrue(receiver.arrived.wait(60))
        first.stop(signal.SIGKILL)
        receiver.hang.set()
        before = len(receiver.got())
        second = harness.Server(data_dir=first.data_dir, args=args).start()
        self.addCleanup(second.stop)
        wait_for(lambda: receiver.got()[before:],
                 what="the delivery after the restart")
        got = receiver.got()
        self.assertEqual({r["headers"]["imgpipe-delivery"] for r in got},
                         {got[0]["headers"]["imgpipe-delivery"]})
        self.assertEqual(json.loads(got[-1]["body"])["record"]["id"],
                         ok.json()["id"])
        self.assertTrue(got[-1]["verified"])
        wait_for(lambda: run("webhooks", "list", data_dir=first.data_dir)
                 .stdout == "", what="an empty outbox")
        self.assertEqual(second.stop(), 0, second.read_log())


class Validation(unittest.TestCase):
    def config(self, *sets):
        args = [harness.BIN, "config"]
        for s in sets:
            args += ["--set", s]
        return subprocess.run(args, capture_output=True, text=True,
                              timeout=60)

    def test_bad_settings_are_refused(self):
        good = "notify.secret=" + SECRET
        cases = [
            (["notify.url=ftp://example.com/x", good], "http:// or https://"),
            (["notify.url=file:///etc/passwd", good], "http:// or https://"),
            (["notify.url=http:///nohost", good], "no host"),
            (["notify.url=http://example.com/" + "a" * 600, good],
             "too long"),
            (["notify.url=http://a.example/x y", good], "blank"),
            (["notify.url=http://a.example/,", good], "empty"),
            (["notify.url=http://a.example/"], "needs notify.secret"),
            (["notify.url=http://a.example/", "notify.secret=short"],
             "16..256"),
            (["notify.max_attempts=0"], "notify.max_attempts"),
            (["notify.timeout=5"], "notify.timeout"),
        ]
        for sets, message in cases:
            with self.subTest(sets=sets):
                r = self.config(*sets)
                self.assertEqual(r.returncode, 2, r.stdout)
                self.assertIn(message, r.stderr)
        # a refused secret is never quoted
        r = self.config("notify.secret=tooShortSecretX")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("tooShortSecretX", r.stderr)

    def test_good_settings_load_and_hide_the_secret(self):
        r = self.config("notify.url=http://a.example/h,https://b.example/h",
                        "notify.secret=" + SECRET)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("url = http://a.example/h,https://b.example/h",
                      r.stdout)
        self.assertNotIn(SECRET, r.stdout)

    def test_environment(self):
        r = subprocess.run([harness.BIN, "config"], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ,
                                    IMGPIPE_NOTIFY_URL="gopher://x"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("notify.url", r.stderr)

    def test_server_refuses_to_start(self):
        s = harness.Server(args=["--set", "notify.url=ftp://x/"])
        self.addCleanup(s.cleanup)
        with self.assertRaises(RuntimeError):
            s.start()


if __name__ == "__main__":
    harness.main()
