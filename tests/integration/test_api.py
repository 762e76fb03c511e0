"""The HTTP API's contract: errors are JSON, conditional and range GETs,
listing with a cursor, delete, health, readiness and metrics."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class ApiTest(harness.ServerTest):
    def upload(self, name="bridge.jpg", wait=True):
        data = harness.corpus(name)
        r = self.server.put(name, data)
        self.assertEqual(r.status, 202, r)
        rec = r.json()
        return self.server.wait_done(rec["id"], 120) if wait else rec

    def test_health_ready_metrics(self):
        r = self.server.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "ok")
        r = self.server.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.upload()
        r = self.server.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        text = r.body.decode()
        self.assertIn("imgpipe_uploads_accepted_total 1", text)
        self.assertIn("imgpipe_images_done_total 1", text)

    def test_unknown_route_and_method(self):
        self.assertJsonError(self.server.request("GET", "/nope"), 404)
        r = self.server.request("PATCH", "/v1/images")
        self.assertJsonError(r, 405)
        self.assertIsNotNone(r.header("Allow"))
        self.assertJsonError(
            self.server.request("GET", "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0"), 404)
        self.assertJsonError(self.server.request("GET", "/v1/images/..%2F..%2Fetc"), 404)

    def test_etag_and_conditional_get(self):
        rec = self.upload()
        path = f"/v1/images/{rec['id']}/variants/medium"
        r = self.server.request("GET", path)
        self.assertEqual(r.status, 200)
        etag = r.header("ETag")
        self.assertEqual(etag, '"%s"' % rec["variants"][1]["sha256"])
        self.assertIsNotNone(r.header("Last-Modified"))
        r2 = self.server.request("GET", path, headers={"If-None-Match": etag})
        self.assertEqual(r2.status, 304)
        self.assertEqual(r2.body, b"")
        r3 = self.server.request("GET", path, headers={"If-None-Match": '"other"'})
        self.assertEqual(r3.status, 200)
        self.assertEqual(r3.body, r.body)

    def test_range(self):
        rec = self.upload()
        path = f"/v1/images/{rec['id']}/original"
        data = harness.corpus("bridge.jpg")
        r = self.server.request("GET", path, headers={"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, data[10:20])
        self.assertEqual(r.header("Content-Range"), f"bytes 10-19/{len(data)}")
        r = self.server.request("GET", path, headers={"Range": "bytes=-5"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, data[-5:])
        r = self.server.request("GET", path,
                                headers={"Range": f"bytes={len(data) + 10}-"})
        self.assertJsonError(r, 416)

    def test_list_pagination(self):
        ids = [self.upload("wine.jpg", wait=False)["id"] for _ in range(5)]
        seen = []
        cursor = None
        pages = 0
        while True:
            q = "/v1/images?limit=2" + (f"&cursor={cursor}" if cursor else "")
            r = self.server.request("GET", q)
            self.assertEqual(r.status, 200, r)
            body = r.json()
            self.assertLessEqual(len(body["items"]), 2)
            seen += [i["id"] for i in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, list(reversed(ids)))  # newest first
        self.assertEqual(pages, 3)
        self.assertJsonError(self.server.request("GET", "/v1/images?limit=0"), 400)
        self.assertJsonError(self.server.request("GET", "/v1/images?limit=abc"), 400)
        self.assertJsonError(self.server.request("GET", "/v1/images?cursor=%21%21bogus"), 400)

    def test_delete(self):
        rec = self.upload()
        r = self.server.request("DELETE", f"/v1/images/{rec['id']}")
        self.assertEqual(r.status, 204, r)
        self.assertJsonError(self.server.request("GET", f"/v1/images/{rec['id']}"), 404)
        self.assertJsonError(
            self.server.request("GET", f"/v1/images/{rec['id']}/variants/thumb"), 404)
        self.assertEqual(self.server.files_under("buckets", "input"), [])
        self.assertEqual(self.server.files_under("buckets", "output"), [])
        self.assertJsonError(self.server.request("DELETE", f"/v1/images/{rec['id']}"), 404)


if __name__ == "__main__":
    harness.main()
