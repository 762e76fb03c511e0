"""POST /v1/images/{id}/reprocess on the Lambda host (issue 14): `imgpipe
lambda` under a Runtime API host written in test_lambda_events.py, on
s3rver and dynalite.  An image made by an S3 event under the default
presets; the function restarted with a preset `hero` added; an API
Gateway (HTTP API, payload 2.0) POST makes `hero` during the invocation
(there is no queue on Lambda) and answers 200 with the record; the other
variants' objects are the same; asked again, nothing is made.
"""
import json
import os
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402,F401
import test_lambda_events  # noqa: E402

HERO = {"IMGPIPE_VARIANT_HERO_WIDTH": "480",
        "IMGPIPE_VARIANT_HERO_HEIGHT": "270",
        "IMGPIPE_SERVER_AUTH": "off"}


def http_event(method, raw_path, raw_query=""):
    return {"version": "2.0", "routeKey": "ANY /v1/{proxy+}",
            "rawPath": raw_path, "rawQueryString": raw_query,
            "headers": {"accept": "application/json"},
            "requestContext": {"http": {"method": method, "path": raw_path,
                                        "protocol": "HTTP/1.1",
                                        "sourceIp": "192.0.2.1"},
                               "requestId": "rq", "stage": "$default"},
            "isBase64Encoded": False}


class LambdaReprocessTest(test_lambda_events.LambdaEventsTest):

    def object_etag(self, key):
        rq = urllib.request.Request(f"{self.s3}/{self.outb}/{key}",
                                    method="HEAD")
        with urllib.request.urlopen(rq, timeout=60) as r:
            return r.headers.get("ETag"), r.headers.get("Last-Modified")

    def call(self, method, path, query=""):
        kind, body, _ = self.invoke(http_event(method, path, query))
        self.assertEqual(kind, "response", f"{body}\n{self.logs()}")
        return body["statusCode"], json.loads(body["body"])

    def test_reprocess_route_makes_hero_in_the_invocation(self):
        self.start_lambda()
        key = "shoot/wine.jpg"
        size, _ = self.put(key, "wine.jpg")
        kind, body, _ = self.invoke(self.s3_event(key, size))
        self.assertEqual((kind, body["done"]), ("response", 1), body)
        rec = self.assert_done(key, "wine.jpg")
        before = {v["key"]: self.object_etag(v["key"])
                  for v in rec["variants"]}
        self.stop_all()
        # The killed function's long poll of /next may still be waiting
        # in the Runtime API host: it takes (and loses) the next event,
        # so give it one that matters to no one.
        self.api.hand_out({"hello": "world"})

        self.start_lambda(extra_env=HERO)
        path = f"/v1/images/{rec['id']}/reprocess"
        status, doc = self.call("POST", path)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["variants"], ["hero"])
        heroes = [v for v in doc["record"]["variants"] if v["name"] == "hero"]
        self.assertEqual(len(heroes), 1, doc["record"]["variants"])
        after = self.record_for(key)
        self.assertEqual(self.outputs(after),
                         sorted(v["key"] for v in after["variants"]))
        self.assertIn(heroes[0]["key"], self.outputs(after))
        for k, facts in before.items():
            self.assertEqual(self.object_etag(k), facts, k)

        status, doc = self.call("POST", path)
        self.assertEqual((status, doc["variants"]), (200, []), doc)
        self.assertNotIn("record", doc)
        status, doc = self.call("POST", path, "variant=nope")
        self.assertEqual((status, doc["error"]["code"]),
                         (400, "invalid_request"), doc)


def load_tests(loader, tests, pattern):
    """Only this file's test, not those of the class it builds on."""
    return unittest.TestSuite(
        [LambdaReprocessTest("test_reprocess_route_makes_hero_in_the_invocation")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
