"""S3 notifications pushed to POST /v1/events (storage.events = store): the
gateway stores and records, the store's event triggers the function."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def rgw_event(bucket, key, name="ObjectCreated:Put"):
    # radosgw's shape: unencoded key, ceph:s3, version 2.2, extra fields
    return json.dumps({"Records": [{
        "eventVersion": "2.2", "eventSource": "ceph:s3", "awsRegion": "",
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": name,
        "s3": {"s3SchemaVersion": "1.0",
               "bucket": {"name": bucket, "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": key, "size": 1, "eTag": "x",
                          "metadata": [], "tags": []}},
        "opaqueData": ""}]}).encode()


class EventsTest(harness.ServerTest):
    server_args = ("--set", "server.accept_events=true",
                   "--set", "storage.events=store")

    def post_event(self, body):
        return self.server.request("POST", "/v1/events", body,
                                   {"Content-Type": "application/json"})

    def test_store_event_triggers_the_function(self):
        data = harness.corpus("wine.jpg")
        r = self.server.put("my wine.jpg", data)
        self.assertEqual(r.status, 202, r)
        rec = r.json()
        # nothing is queued by the gateway in this mode
        again = self.server.request("GET", f"/v1/images/{rec['id']}?wait=1").json()
        self.assertEqual(again["status"], "pending")
        r = self.post_event(rgw_event("input", rec["input_key"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"queued": 1, "ignored": 0})
        done = self.server.wait_done(rec["id"], 60)
        self.assertEqual(done["status"], "done", done)
        self.assertEqual(len(done["variants"]), 3)
        # a duplicate notification changes nothing
        r = self.post_event(rgw_event("input", rec["input_key"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.wait_done(rec["id"], 60)["version"],
                         done["version"])

    def test_foreign_and_bad_events(self):
        r = self.post_event(rgw_event("output", "01JABCDEFGHJKMNPQRSTVWXYZ0/large.jpg"))
        self.assertEqual(r.json(), {"queued": 0, "ignored": 1})
        # any key of the input bucket is the function's (issue 9): queued,
        # and skipped by the worker because no such object exists
        r = self.post_event(rgw_event("input", "not/ours.jpg"))
        self.assertEqual(r.json(), {"queued": 1, "ignored": 0})
        r = self.post_event(rgw_event("input", "x", "ObjectRemoved:Delete"))
        self.assertEqual(r.json(), {"queued": 0, "ignored": 1})
        self.assertJsonError(self.post_event(b"{not json"), 400)
        self.assertJsonError(self.post_event(b'{"Records":[{"s3":{}}]}'), 400)
        self.assertJsonError(self.post_event(b" " * (300 * 1024)), 413)


class EventsOffTest(harness.ServerTest):
    def test_intake_off_by_default(self):
        r = self.server.request("POST", "/v1/events", rgw_event("input", "a/b"))
        self.assertJsonError(r, 404)


if __name__ == "__main__":
    harness.main()
