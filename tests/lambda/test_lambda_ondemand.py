"""Variants on demand under `imgpipe lambda` (issue 14 item 4): an API
Gateway (payload 2.0) GET of a signed spec, and of a `format = auto`
preset with Accept, is rendered in-process by the Lambda host, stored in
the output bucket (s3rver), added to the record (dynalite), and answered
302 to the stored object, with Vary: Accept where the format follows
Accept.  Runtime API, s3rver and dynalite as in test_lambda_events.py.
"""
import hashlib
import hmac
import os
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import test_lambda_events as ev  # noqa: E402

SECRET = "k1:" + "s" * 40


def signed_query(path):
    expires = int(time.time()) + 3600
    sig = hmac.new(b"s" * 40, f"GET\n{path}\n{expires}".encode(),
                   hashlib.sha256).hexdigest()
    return f"expires={expires}&kid=k1&sig={sig}"


def http_event(path, query="", headers=None):
    """An API Gateway HTTP API (payload 2.0) GET."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "rawQueryString": query, "headers": headers or {},
        "requestContext": {"http": {"method": "GET", "path": path,
                                    "sourceIp": "127.0.0.1"},
                           "requestId": "od-test", "stage": "$default"},
        "isBase64Encoded": False,
    }


class LambdaOnDemandTest(ev.LambdaEventsTest):
    def setUp(self):
        super().setUp()
        self.env.update({
            "IMGPIPE_AUTH_SIGNING_SECRETS": SECRET,
            "IMGPIPE_VARIANT_CARD_WIDTH": "320",
            "IMGPIPE_VARIANT_CARD_HEIGHT": "320",
            "IMGPIPE_VARIANT_CARD_FORMAT": "auto",
        })

    def get(self, path, headers=None):
        kind, body, _ = self.invoke(http_event(path, signed_query(path),
                                               headers))
        self.assertEqual(kind, "response", f"{body}\n{self.logs()}")
        return body

    def fetch(self, url):
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.headers.get("Content-Type"), r.read()

    def test_on_demand_through_the_api(self):
        self.start_lambda()
        key = "od/bridge.jpg"
        size, _ = self.put(key, "bridge.jpg")
        kind, body, _ = self.invoke(self.s3_event(key, size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        rec = self.record_for(key)
        iid = rec["id"]

        # a signed spec: made in-process, 302 to the stored object
        path = f"/v1/images/{iid}/variants/w_300"
        resp = self.get(path)
        self.assertEqual(resp["statusCode"], 302, resp)
        headers = {k.lower(): v for k, v in resp["headers"].items()}
        self.assertIn(f"/{self.outb}/{iid}/w_300.jpg", headers["location"])
        self.assertNotIn("vary", headers)
        ctype, data = self.fetch(headers["location"])
        self.assertEqual(data[:3], b"\xff\xd8\xff")
        rec = self.record_for(key)
        made = [v for v in rec["variants"] if v["name"] == "w_300"]
        self.assertEqual(len(made), 1, rec["variants"])
        self.assertTrue(made[0]["on_demand"])
        self.assertEqual(made[0]["width"], 300)
        self.assertIn(f"{iid}/w_300.jpg", self.outputs(rec))
        # again: the same object, not made twice
        again = self.get(path)
        self.assertEqual(again["statusCode"], 302, again)
        self.assertEqual(self.record_for(key)["version"], rec["version"])

        # format = auto by Accept: WebP made lazily, Vary: Accept on 302
        path = f"/v1/images/{iid}/variants/card"
        resp = self.get(path, {"accept": "image/webp,*/*"})
        self.assertEqual(resp["statusCode"], 302, resp)
        headers = {k.lower(): v for k, v in resp["headers"].items()}
        self.assertEqual(headers.get("vary"), "Accept", headers)
        self.assertIn(f"/{iid}/card.webp", headers["location"])
        _, data = self.fetch(headers["location"])
        self.assertEqual(data[8:12], b"WEBP")
        resp = self.get(path, {"accept": "*/*"})
        headers = {k.lower(): v for k, v in resp["headers"].items()}
        self.assertEqual(headers.get("vary"), "Accept", headers)
        self.assertIn(f"/{iid}/card.jpg", headers["location"])

        # a signature of another path opens nothing (keys are on under
        # Lambda) and makes nothing
        other = f"/v1/images/{iid}/variants/w_301"
        kind, resp, _ = self.invoke(http_event(
            other, signed_query(f"/v1/images/{iid}/variants/w_300")))
        self.assertEqual(resp["statusCode"], 401, resp)
        self.assertNotIn(f"{iid}/w_301.jpg", self.outputs(rec))


if __name__ == "__main__":
    unittest.main(defaultTest="LambdaOnDemandTest.test_on_demand_through_the_api",
                  verbosity=2)
