"""Presigned uploads and bytes redirects on real servers (issue 10):
`imgpipe serve` on Ceph radosgw (S3, which checks SigV4 signatures) and
dynalite (DynamoDB), started by scripts/servers.sh.

With a presigned upload the client PUTs to the store, so imgpipe never sees
the bytes: the ObjectCreated event comes from the store itself
(storage.events=store, server.accept_events=true), radosgw pushing its
topic notification to POST /v1/events as S3 triggers Lambda.

  1. POST /v1/uploads -> 201 with a URL; PUT the photo with the given
     headers -> 200 from radosgw; the record reaches `done` with variants;
  2. server.bytes=redirect: the original and a variant answer 302 to a
     presigned GET that radosgw serves (the bytes' SHA-256 as recorded);
     server.bytes=stream (what `auto` is on serve): the same routes 200;
  3. a URL past its expiry (server.presign_expires=1) is refused by
     radosgw.
"""
import email.utils
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
# the module, not its names: unittest would run an imported TestCase
import test_distributed as dist  # noqa: E402
# answers held to docs/openapi.yaml (status, headers, schema)
import test_openapi as contract  # noqa: E402

PHOTO = "wine.jpg"


def send(method, url, data=None, headers=None):
    """One request to an absolute URL (a presigned one): (status, body)."""
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def rfc3339_s(text):
    """Seconds since the epoch of an RFC 3339 UTC time ("...Z")."""
    base, _, frac = text.rstrip("Z").partition(".")
    t = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) - time.timezone + (float("0." + frac) if frac else 0)


class UploadsS3(dist.Distributed):
    # Distributed's own tests are not run again here
    test_gateway_and_two_workers_survive_a_kill = None
    test_wrong_secret_is_a_clear_start_up_error = None
    test_radosgw_pushes_the_events = None

    def setUp(self):
        super().setUp()
        del self.env["IMGPIPE_STORAGE_QUEUE"]  # serve's own queue
        self.env["IMGPIPE_STORAGE_EVENTS"] = "store"

    def serve(self, **env):
        s = harness.Server(args=["--set", "server.accept_events=true"],
                           env=dict(self.env, **env), command="serve")
        self.procs.append(s)
        return s.start()

    def push_events_to(self, server):
        """radosgw's notifications of the input bucket to server's
        POST /v1/events."""
        topic = self.aws("sns", "create-topic", "--name", f"t{self.sfx}",
                         "--attributes", json.dumps(
                             {"push-endpoint":
                              f"http://127.0.0.1:{server.port}/v1/events"}),
                         endpoint=self.rgw())["TopicArn"]
        self.addCleanup(self.aws, "sns", "delete-topic", "--topic-arn", topic,
                        endpoint=self.rgw())
        self.aws("s3api", "put-bucket-notification-configuration", "--bucket",
                 self.input, "--notification-configuration", json.dumps(
                     {"TopicConfigurations": [{"Id": "imgpipe", "TopicArn": topic,
                                               "Events": ["s3:ObjectCreated:*"]}]}),
                 endpoint=self.rgw())

    def new_upload(self, server, data):
        r = contract.Checker(self, server)("POST", "/v1/uploads", json.dumps(
            {"name": "photo.jpg", "content_type": "image/jpeg",
             "bytes": len(data)}).encode(), {"Content-Type": "application/json"},
            status=201)
        doc = r.json()
        self.assertEqual(doc["status"], "pending")
        self.assertEqual(doc["upload"]["method"], "PUT")
        self.assertTrue(doc["upload"]["url"].startswith(self.rgw() + "/"),
                        doc["upload"]["url"])
        return doc

    def assert_redirect(self, server, path, sha256):
        r = contract.Checker(self, server)("GET", path, status=302)
        loc = r.header("Location")
        self.assertTrue(loc.startswith(self.rgw() + "/"), loc)
        status, body = send("GET", loc)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(harness.sha256(body), sha256)

    def test_presigned_upload_and_redirects(self):
        photo = harness.corpus(PHOTO)
        srv = self.serve()  # server.bytes=auto: stream on serve
        self.push_events_to(srv)
        doc = self.new_upload(srv, photo)
        up = doc["upload"]
        status, body = send("PUT", up["url"], photo, up["headers"])
        self.assertEqual(status, 200, body[:300])
        rec = srv.wait_done(doc["id"], 60)
        self.assertEqual(rec["status"], "done", f"{rec}\n{srv.read_log()}")
        self.assertEqual([v["name"] for v in rec["variants"]],
                         ["large", "medium", "thumb"])
        self.assertEqual(rec["sha256"], harness.sha256(photo))
        self.assertEqual(rec["bytes"], len(photo))
        thumb = rec["variants"][2]
        # stream: the bytes through the server
        r = srv.request("GET", f"/v1/images/{doc['id']}/original")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, photo)
        r = srv.request("GET", f"/v1/images/{doc['id']}/variants/thumb")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(harness.sha256(r.body), thumb["sha256"])
        # redirect: the bytes from radosgw through a presigned GET
        red = self.serve(IMGPIPE_SERVER_BYTES="redirect")
        self.assert_redirect(red, f"/v1/images/{doc['id']}/original",
                             harness.sha256(photo))
        self.assert_redirect(red, f"/v1/images/{doc['id']}/variants/thumb",
                             thumb["sha256"])

    def test_expired_url_is_refused(self):
        photo = harness.corpus(PHOTO)
        srv = self.serve(IMGPIPE_SERVER_PRESIGN_EXPIRES="1")
        doc = self.new_upload(srv, photo)
        expires = rfc3339_s(doc["upload"]["expires_at"])
        # wait on the server's clock (its Date header, whole seconds)
        # until the expiry is past
        while True:
            date = srv.request("GET", "/healthz").header("Date")
            if email.utils.parsedate_to_datetime(date).timestamp() > expires:
                break
            time.sleep(0.2)
        up = doc["upload"]
        status, body = send("PUT", up["url"], photo, up["headers"])
        self.assertEqual(status, 403, body[:300])
        self.assertIn(b"AccessDenied", body)
        # nothing was stored: the record stays pending
        r = srv.request("GET", f"/v1/images/{doc['id']}")
        self.assertEqual(r.json()["status"], "pending")

    def test_presigned_uploads_are_rate_limited(self):
        """POST /v1/uploads is work to come: the client's upload rate (and
        the queue's count bound) apply; a refusal makes no record."""
        srv = self.serve(IMGPIPE_LIMITS_UPLOAD_RATE="0.01",
                         IMGPIPE_LIMITS_UPLOAD_BURST="1")
        body = json.dumps({"name": "a.jpg", "content_type": "image/jpeg",
                           "bytes": 1000}).encode()
        r = srv.request("POST", "/v1/uploads", body, {"Content-Type": "application/json"})
        self.assertEqual(r.status, 201, r)
        r = contract.Checker(self, srv)("POST", "/v1/uploads", body,
                                        {"Content-Type": "application/json"},
                                        status=429)
        self.assertEqual(r.json()["error"]["code"], "too_many_requests")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        items = srv.request("GET", "/v1/images").json()["items"]
        self.assertEqual(len(items), 1, items)


if __name__ == "__main__":
    unittest.main(verbosity=2)
