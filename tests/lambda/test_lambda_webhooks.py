"""Completion webhooks under `imgpipe lambda` (docs/AWS.md): the function
writes the delivery into the outbox (DynamoDB items, dynalite here) with
the record; the invocation sends it after its response, within its
budget (an image `done`, an object that is not an image `failed`); a
delivery that failed is sent by a later invocation (here an
EventBridge schedule), the way a quiet function gets its retries out.

The Runtime API host, s3rver and dynalite are those of
test_lambda_events.py; the receiver and the signature check (the snippet
of docs/API.md) those of tests/integration/test_webhooks.py.
"""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import harness  # noqa: E402
import test_lambda_events as base  # noqa: E402
from test_webhooks import SECRET, Receiver, imgpipe_verify, wait_for  # noqa: E402,E501

SCHEDULE = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-02T08:00:00Z",
            "region": "us-east-1", "resources": [
                "arn:aws:events:us-east-1:123456789012:rule/imgpipe-hooks"],
            "detail": {}}


class LambdaWebhooks(base.LambdaEventsTest):
    def hooks_env(self, receiver):
        return {"IMGPIPE_NOTIFY_URL": receiver.url,
                "IMGPIPE_NOTIFY_SECRET": SECRET,
                # a retry due seconds later, so the invocation that failed
                # it has ended (its drain sends only what is due)
                "IMGPIPE_NOTIFY_RETRY_BASE": "3000",
                "IMGPIPE_NOTIFY_TIMEOUT": "5000",
                "IMGPIPE_NOTIFY_MAX_ATTEMPTS": "3"}

    def outbox(self, receiver):
        e = dict(os.environ)
        e.update(self.env)
        e.update(self.hooks_env(receiver))
        r = subprocess.run([harness.BIN, "webhooks", "list", "--data-dir",
                            self.tmp], env=e, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(x) for x in r.stdout.splitlines() if x]

    def test_delivered_by_the_invocation_then_by_a_schedule(self):
        receiver = Receiver([200])
        self.addCleanup(receiver.close)
        self.start_lambda(extra_env=self.hooks_env(receiver))
        size, _ = self.put("a/wine.jpg", "wine.jpg")
        kind, body, _ = self.invoke(self.s3_event("a/wine.jpg", size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        rec = self.record_for("a/wine.jpg")
        got = wait_for(lambda: receiver.got(), what="the delivery")
        doc = json.loads(got[0]["body"])
        self.assertEqual(doc["type"], "image.done")
        self.assertEqual(doc["record"]["id"], rec["id"])
        self.assertEqual(doc["record"]["status"], "done")
        self.assertTrue(got[0]["verified"])
        wait_for(lambda: not self.outbox(receiver), what="an empty outbox")

        # an object that is not an image (any S3 client may put one):
        # the function fails it for good, and says so
        data = b"hello, world\n" * 100
        rq = urllib.request.Request(f"{self.s3}/{self.inb}/c/notes.txt",
                                    data=data, method="PUT")
        urllib.request.urlopen(rq, timeout=60).close()
        kind, body, _ = self.invoke(self.s3_event("c/notes.txt", len(data)))
        self.assertEqual((kind, body["failed"]), ("response", 1), body)
        bad = self.record_for("c/notes.txt")
        self.assertEqual(bad["status"], "failed", bad)
        got = wait_for(lambda: [x for x in receiver.got()
                                if json.loads(x["body"])["record"]["id"]
                                == bad["id"]], what="the failed delivery")
        doc = json.loads(got[0]["body"])
        self.assertEqual(doc["type"], "image.failed")
        self.assertEqual(got[0]["headers"]["imgpipe-event"], "image.failed")
        self.assertEqual(doc["record"]["status"], "failed")
        self.assertEqual(doc["record"]["error"], bad["error"])
        self.assertTrue(got[0]["verified"])
        wait_for(lambda: not self.outbox(receiver), what="an empty outbox")

        # the receiver fails once: the retry waits in the outbox...
        receiver.set_statuses([500, 200])
        receiver.requests.clear()
        size, _ = self.put("b/wine.jpg", "wine.jpg")
        kind, body, _ = self.invoke(self.s3_event("b/wine.jpg", size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        pending = wait_for(lambda: self.outbox(receiver),
                           what="the delivery to retry")
        self.assertEqual(pending[0]["attempts"], 1)
        self.assertEqual(len(receiver.got()), 1)
        # ...until an invocation after its time sends it
        due = pending[0]["next_ms"] / 1000
        wait_for(lambda: time.time() > due, what="the retry's time")
        kind, body, _ = self.invoke(SCHEDULE)
        self.assertEqual(kind, "response", body)
        wait_for(lambda: len(receiver.got()) >= 2, what="the retry")
        last = receiver.got()[1]
        self.assertEqual(json.loads(last["body"])["record"]["id"],
                         self.record_for("b/wine.jpg")["id"])
        self.assertTrue(imgpipe_verify(
            SECRET, last["headers"]["imgpipe-signature"], last["body"]))
        wait_for(lambda: not self.outbox(receiver), what="an empty outbox")


# Only this file's test here: the base class's tests run in lambda-events.
for _name in dir(base.LambdaEventsTest):
    if _name.startswith("test_"):
        setattr(LambdaWebhooks, _name, None)

if __name__ == "__main__":
    harness.main()
