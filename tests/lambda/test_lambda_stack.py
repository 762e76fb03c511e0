"""The local rehearsal of the whole AWS stack (issue 10): Architect Sandbox
serves its HTTP API (API Gateway HTTP API, payload 2.0), its event bus
and its DynamoDB-compatible tables (dynalite) to the same compiled
`imgpipe lambda`, with s3rver as S3.  There is no imgpipe server process:
every request goes through the sandbox's HTTP port to the function.

  client --HTTP--> Sandbox @http `any /v1/*` --> bootstrap = imgpipe lambda
     (PUT /v1/images/{name}: original + pending record; POST /v1/uploads:
      pending record + presigned PUT URL for s3rver)
  client --PUT--> s3rver (direct path: the function itself)
  s3rver ObjectCreated --> Sandbox @events --> bootstrap = imgpipe lambda
     (the function: variants into s3rver, record `done` in dynalite)
  client --GET /v1/images/{id}--> Sandbox --> imgpipe lambda: `done`;
     the bytes routes answer 302 to a presigned GET on s3rver.

Sandbox's HTTP API base64-encodes every request body that is not JSON
(isBase64Encoded), which `imgpipe lambda` decodes: the direct upload of a
binary body goes through as it would on AWS, within Lambda's 6 MiB
request limit (the photo used is ~0.5 MB, ~0.7 MB in base64).

Uses ../shared/peers/servers/{s3rver,arc-sandbox}-{start,stop}.sh, which
install what they need (npm s3rver, @architect/sandbox).
"""
import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
# the module, not its names: unittest would run an imported TestCase
import test_lambda  # noqa: E402

# test_lambda's project (events, tables, the runtime plugin, timeout 60:
# also what ?wait= needs) with the HTTP API in front of the same binary
APP_ARC = test_lambda.APP_ARC.replace("@events\n", "@http\nany /v1/*\n\n@events\n")

PHOTO = "wine.jpg"  # small enough for Lambda's 6 MiB request once in base64
VARIANTS = ["large", "medium", "thumb"]


class Endpoint(harness.Server):
    """The sandbox's HTTP API, spoken to with the harness's client."""

    def __init__(self, port, token):  # pylint: disable=super-init-not-called
        self.port = port
        self.token = token


def fetch(url):
    """GET an absolute URL (a presigned one): (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class LambdaStackTest(test_lambda.SandboxStack, unittest.TestCase):
    ARC = APP_ARC
    # one compiled binary, two functions (as Architect names them)
    FUNCTIONS = ["http/any-v1-catchall", "events/image-created"]

    def setUp(self):
        self.start_stack()
        # Behind API Gateway keys are on: a write key, made by `imgpipe
        # keys` in the stack's own table (dynalite), as an operator would.
        e = dict(os.environ)
        e.update(self.env)
        out = subprocess.run([harness.BIN, "keys", "create", "--scope", "write",
                              "--name", "rehearsal", "--data-dir", self.tmp],
                             env=e, capture_output=True, check=True, timeout=60)
        self.api = Endpoint(self.port, out.stdout.decode().strip())

    def test_keys_are_on_behind_the_http_api(self):
        r = Endpoint(self.port, None).request("GET", "/v1/images")
        self.assertEqual(r.status, 401, f"{r}\nlambda log:\n{self.lambda_log()}")
        self.assertEqual(r.json()["error"]["code"], "unauthorized")
        r = Endpoint(self.port, "ipk_" + "a" * 16 + "_" + "b" * 43).request(
            "GET", "/v1/images")
        self.assertEqual(r.status, 401, r)

    def assert_done(self, image_id, original):
        """The record through the sandbox: done, three variants, the
        original's bytes; the thumb through a presigned redirect."""
        r = self.api.request("GET", f"/v1/images/{image_id}?wait=30")
        self.assertEqual(r.status, 200, f"{r}\nlambda log:\n{self.lambda_log()}")
        rec = r.json()
        self.assertEqual(rec["status"], "done",
                         f"{rec}\nlambda log:\n{self.lambda_log()}")
        self.assertEqual([v["name"] for v in rec["variants"]], VARIANTS)
        self.assertEqual(rec["sha256"], harness.sha256(original))
        self.assertEqual(rec["bytes"], len(original))
        r = self.api.request("GET", f"/v1/images/{image_id}/variants/thumb")
        self.assertEqual(r.status, 302, r)
        loc = r.header("Location")
        self.assertTrue(loc.startswith(f"http://127.0.0.1:{self.s3port}/images-out/"),
                        loc)
        self.assertIn("X-Amz-Signature=", loc)
        status, body = fetch(loc)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(harness.sha256(body), rec["variants"][2]["sha256"])
        r = self.api.request("GET", f"/v1/images/{image_id}/original")
        self.assertEqual(r.status, 302, r)
        status, body = fetch(r.header("Location"))
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(body, original)

    def test_direct_upload_through_the_http_api(self):
        photo = harness.corpus(PHOTO)
        r = self.api.put("photo.jpg", photo,
                         headers={"Content-Type": "image/jpeg"})
        self.assertEqual(r.status, 202, f"{r}\nlambda log:\n{self.lambda_log()}")
        doc = r.json()
        self.assertIn(doc["status"], ("pending", "processing", "done"))
        self.assert_done(doc["id"], photo)

    def test_presigned_upload(self):
        photo = harness.corpus(PHOTO)
        r = self.api.request(
            "POST", "/v1/uploads",
            # the declared size is the client's word; the record ends with
            # the object's own (assert_done checks its SHA-256)
            json.dumps({"name": "photo.jpg", "content_type": "image/jpeg",
                        "bytes": len(photo) + 1}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(r.status, 201, f"{r}\nlambda log:\n{self.lambda_log()}")
        doc = r.json()
        self.assertEqual(doc["status"], "pending")
        up = doc["upload"]
        self.assertEqual(up["method"], "PUT")
        self.assertTrue(up["url"].startswith(f"http://127.0.0.1:{self.s3port}/images-in/"),
                        up["url"])
        req = urllib.request.Request(up["url"], data=photo, method="PUT",
                                     headers=up["headers"])
        with urllib.request.urlopen(req, timeout=60) as put:
            self.assertEqual(put.status, 200)
        self.assert_done(doc["id"], photo)
        listed = self.api.request("GET", "/v1/images?limit=100").json()["items"]
        self.assertEqual([x["id"] for x in listed], [doc["id"]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
