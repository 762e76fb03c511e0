"""docs/openapi.yaml against a live server: GET /openapi.json is the
document itself, and real answers of every documented operation have a
documented status, the documented headers and a JSON body of the
documented schema.  X-Request-Id: a client's own id is echoed, logged and
carried to the worker's line for the image; a hostile one is replaced.

The schemas are checked by a small validator for the subset of JSON
Schema the document uses; a keyword it does not know fails the test, so
the document cannot outgrow the check unnoticed.  (tests/openapi checks
the document against the route table and the declared statuses; the
harness fails any test whose server answered an undeclared status.)
"""
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

ROOT = os.environ.get("IMGPIPE_SOURCE_ROOT",
                      os.path.join(os.path.dirname(__file__), "..", ".."))
with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as _f:
    DOC = yaml.safe_load(_f)

PHOTO = harness.corpus("wine.jpg")
ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

# Keywords that only annotate; the validator skips them.
ANNOTATIONS = {"description", "example", "examples", "default", "format",
               "contentMediaType", "title", "deprecated"}


def resolve(ref):
    assert ref.startswith("#/"), ref
    node = DOC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def type_ok(value, t):
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[t]


def validate(value, schema, where="$"):
    """The list of problems of value against schema (empty when valid)."""
    if "$ref" in schema:
        return validate(value, resolve(schema["$ref"]), where)
    errs = []
    unknown = set(schema) - ANNOTATIONS - {
        "type", "properties", "required", "additionalProperties", "items",
        "enum", "pattern", "minimum", "maximum", "minLength", "maxLength",
        "maxItems", "oneOf"}
    if unknown:
        return [f"{where}: the validator does not know {sorted(unknown)}"]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(type_ok(value, t) for t in types):
            return [f"{where}: {value!r:.80} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{where}: {value!r:.80} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{where}: more than {schema['maxItems']} items")
        for i, v in enumerate(value):
            if "items" in schema:
                errs += validate(v, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{where}: lacks {k!r}")
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                errs += validate(v, props[k], f"{where}.{k}")
            elif extra is False:
                errs.append(f"{where}: undocumented {k!r}")
            elif isinstance(extra, dict):
                errs += validate(v, extra, f"{where}.{k}")
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not validate(value, s, where)]
        if len(ok) != 1:
            errs.append(f"{where}: matches {len(ok)} of oneOf, not 1")
    return errs


def poll(fn, seconds=30):
    """fn() until it returns something true, for at most `seconds`: a
    line is logged once the answer is sent, so it may trail the answer."""
    deadline = time.monotonic() + seconds
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def find_operation(method, path):
    """The document's path template and operation for a request path."""
    path = path.split("?", 1)[0]
    method = "GET" if method == "HEAD" else method  # HEAD answers as GET
    for template, item in DOC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            op = item.get(method.lower())
            if op is not None:
                return template, op
    return None, None


class Checker:
    """Sends requests and holds each answer to the document."""

    def __init__(self, test, server):
        self.test = test
        self.server = server
        self.seen = set()  # (template, method, status)

    def __call__(self, method, path, body=None, headers=None, status=None):
        r = self.server.request(method, path, body, headers)
        t = self.test
        if status is not None:
            t.assertEqual(r.status, status, (method, path, r))
        t.assertRegex(r.header("X-Request-Id") or "", r"^[A-Za-z0-9._:-]{1,64}$", r)
        template, op = find_operation(method, path)
        if template is None:  # answered before a route is known
            t.assertIn(r.status, (400, 404, 405), (method, path, r))
            t.assertEqual(validate(r.json(), {"$ref": "#/components/schemas/Error"}), [])
            return r
        responses = op["responses"]
        t.assertIn(str(r.status), responses,
                   f"{method} {path}: {r.status} is not documented for {template}")
        self.seen.add((template, "get" if method == "HEAD" else method.lower(),
                       r.status))
        resp = responses[str(r.status)]
        if "$ref" in resp:
            resp = resolve(resp["$ref"])
        for name in resp.get("headers", {}):
            if name in ("ETag", "Location", "Content-Range", "Retry-After",
                        "WWW-Authenticate", "Allow", "Accept-Ranges"):
                t.assertIsNotNone(r.header(name),
                                  f"{method} {path} {r.status}: no {name}")
        content = resp.get("content", {})
        if "application/json" in content and method != "HEAD":
            t.assertTrue(r.header("Content-Type").startswith("application/json"), r)
            problems = validate(r.json(), content["application/json"]["schema"])
            t.assertEqual(problems, [], f"{method} {path} {r.status}")
        elif not content:
            t.assertEqual(r.body, b"", f"{method} {path} {r.status}: a body")
        return r

    def operations(self):
        return {(tpl, m) for tpl, m, _ in self.seen}


def documented_operations():
    return {(tpl, m) for tpl, item in DOC["paths"].items()
            for m in ("get", "put", "post", "delete", "options") if m in item}


def multipart(name, data):
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n".encode())
    body.write(data)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class OpenApiLiveTest(harness.ServerTest):
    server_args = ("--set", "server.accept_events=true")

    def test_served_document_is_the_yaml(self):
        check = Checker(self, self.server)
        r = check("GET", "/openapi.json", status=200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json(), DOC)
        self.assertIn("max-age", r.header("Cache-Control"))
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]{64}"$')
        r = check("GET", "/openapi.json", headers={"If-None-Match": etag}, status=304)
        self.assertEqual(r.header("ETag"), etag)
        r = check("GET", "/openapi.json", headers={"If-None-Match": '"other"'}, status=200)
        r = check("HEAD", "/openapi.json", status=200)
        self.assertEqual(r.body, b"")

    def test_every_operation_answers_as_documented(self):
        check = Checker(self, self.server)
        check("GET", "/healthz", status=200)
        check("GET", "/readyz", status=200)
        check("GET", "/metrics", status=200)
        check("GET", "/openapi.json", status=200)
        check("GET", "/", status=200)
        check("GET", "/ui/app.js", status=200)
        check("GET", "/ui/nothing.js", status=404)

        done = check("PUT", "/v1/images/wine.jpg?wait=60", PHOTO,
                     {"Content-Type": "image/jpeg"}, status=201).json()
        self.assertEqual(done["status"], "done", done)
        body, headers = multipart("form.jpg", PHOTO)
        pending = check("POST", "/v1/images", body, headers, status=202).json()
        check("POST", "/v1/images?name=raw.jpg", PHOTO,
              {"Content-Type": "image/jpeg"}, status=202)
        check("POST", "/v1/images", b"hello", {"Content-Type": "text/plain"}, status=415)
        check("PUT", "/v1/images/empty.jpg", b"", status=400)
        check("PUT", "/v1/images/notes.txt", b"not an image at all", status=415)
        check("GET", "/v1/images/%s?wait=60" % pending["id"], status=200)

        check("GET", "/v1/images?limit=2", status=200)
        check("GET", "/v1/images?limit=0", status=400)
        check("GET", "/v1/images?cursor=bogus", status=400)
        check("GET", "/v1/images/" + done["id"], status=200)
        check("GET", "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0", status=404)
        check("GET", "/v1/images/%s?wait=soon" % done["id"], status=400)

        orig = "/v1/images/%s/original" % done["id"]
        r = check("GET", orig, status=200)
        self.assertEqual(r.body, PHOTO)
        check("GET", orig, headers={"Range": "bytes=0-99"}, status=206)
        check("GET", orig, headers={"If-None-Match": r.header("ETag")}, status=304)
        check("GET", orig, headers={"Range": "bytes=%d-" % (len(PHOTO) + 10)}, status=416)
        thumb = "/v1/images/%s/variants/thumb" % done["id"]
        r = check("GET", thumb, status=200)
        check("GET", thumb, headers={"Range": "bytes=0-9"}, status=206)
        check("GET", thumb, headers={"If-None-Match": r.header("ETag")}, status=304)
        check("GET", thumb, headers={"Range": "bytes=%d-" % (len(r.body) + 1)}, status=416)
        check("GET", "/v1/images/%s/variants/poster" % done["id"], status=404)
        # every preset is current: nothing to queue
        rep = "/v1/images/%s/reprocess" % done["id"]
        check("POST", rep, status=200)
        check("POST", rep + "?variant=poster", status=400)
        check("POST", "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0/reprocess",
              status=404)

        check("POST", "/v1/uploads", b'{"name":"a.jpg","bytes":10}',
              {"Content-Type": "application/json"}, status=501)
        check("POST", "/v1/uploads", b'[1]', {"Content-Type": "application/json"},
              status=400)
        check("POST", "/v1/uploads", b'{"bytes":1,"name":"' + b"x" * 5000 + b'"}',
              {"Content-Type": "application/json"}, status=413)

        check("POST", "/v1/events", b'{"Records":[]}',
              {"Content-Type": "application/json"}, status=200)
        check("POST", "/v1/events", b'{"nope":', {"Content-Type": "application/json"},
              status=400)

        check("DELETE", "/v1/images/" + done["id"], status=204)
        check("DELETE", "/v1/images/" + done["id"], status=404)

        for path in {tpl for tpl, _ in documented_operations()}:
            concrete = path.replace("{image}", pending["id"]).replace(
                "{id}", pending["id"]).replace("{variant}", "thumb").replace(
                "{file}", "app.js")
            r = check("OPTIONS", concrete, status=204)
            self.assertIn("OPTIONS", r.header("Allow"))
        check("PATCH", "/v1/images", b"", status=405)
        check("GET", "/v1/nothing-here", status=404)
        check("GET", "/v1/images/a%zz", status=400)

        self.assertEqual(sorted(documented_operations() - check.operations()), [],
                         "documented operations this test never exercised")


class OpenApiFailedImageTest(harness.ServerTest):
    """A failed image: its variants are a documented 409, and the worker's
    failure line names the upload's request id.  The helper fault hook
    (src/imgproc/helper_child.h) makes every attempt on it abort."""

    def setUp(self):
        self.server = harness.Server(
            env={"IMGPIPE_TEST_HELPER_FAULT": "abort:always:f-abort-always"}).start()

    def test_variant_of_a_failed_image_is_409(self):
        check = Checker(self, self.server)
        rid = "fails-1"
        rec = check("PUT", "/v1/images/f-abort-always.jpg", PHOTO,
                    {"X-Request-Id": rid}, status=202).json()
        rec = self.server.wait_done(rec["id"], 120)
        self.assertEqual(rec["status"], "failed", rec)
        r = check("GET", "/v1/images/%s/variants/thumb" % rec["id"], status=409)
        self.assertEqual(r.json()["error"]["code"], "conflict")
        failed = poll(lambda: [line for line in self.server.read_all_log().splitlines()
                               if ("image %s failed" % rec["id"]) in line])
        self.assertEqual(len(failed), 1, self.server.read_log())
        self.assertIn("request=" + rid, failed[0])


class OpenApiKeysTest(harness.ServerTest):
    """With keys on: the refusals are documented too."""
    server_args = ("--set", "server.auth=on", "--set", "auth.key_cache=0")

    def test_refusals(self):
        check = Checker(self, self.server)
        reader = self.server.create_key("read", "site")
        check("GET", "/v1/images", status=401)
        check("GET", "/metrics", status=401)
        check("GET", "/v1/images", headers={"Authorization": "Bearer " + reader},
              status=200)
        check("DELETE", "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0",
              headers={"X-Api-Key": reader}, status=403)
        check("POST", "/v1/uploads", b'{"bytes":1}',
              {"Authorization": "Bearer " + reader}, status=403)
        check("GET", "/healthz", status=200)
        check("GET", "/openapi.json", status=200)


class RequestIdTest(harness.ServerTest):
    def access_line(self, request_id):
        """The access-log lines of request_id, once there is one."""
        pattern = re.compile(r" http .* id=%s( |$)" % re.escape(request_id))
        return poll(lambda: [line for line in self.server.read_all_log().splitlines()
                             if pattern.search(line)])

    def test_client_id_is_echoed_logged_and_stored(self):
        rid = "order-42.upload:7_A"
        r = self.server.request("PUT", "/v1/images/wine.jpg?wait=60", PHOTO,
                                {"X-Request-Id": rid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("X-Request-Id"), rid)
        rec = r.json()
        self.assertEqual(rec["status"], "done", rec)
        self.assertEqual(rec["request_id"], rid)
        # Later reads keep the upload's id in the record, under their own.
        r = self.server.request("GET", "/v1/images/" + rec["id"])
        self.assertEqual(r.json()["request_id"], rid)
        self.assertNotEqual(r.header("X-Request-Id"), rid)
        access = self.access_line(rid)
        self.assertEqual(len(access), 1, self.server.read_log())
        self.assertIn("image=" + rec["id"], access[0])
        worker = poll(lambda: [line for line in self.server.read_all_log().splitlines()
                               if ("image %s done" % rec["id"]) in line])
        self.assertEqual(len(worker), 1, self.server.read_log())
        self.assertIn("request=" + rid, worker[0])

    def test_hostile_ids_are_replaced_not_refused(self):
        for hostile in ("evil\x01id", "a b", "x" * 10240, "", "id;rm", "é"):
            r = self.server.request("GET", "/healthz",
                                    headers={"X-Request-Id": hostile})
            self.assertEqual(r.status, 200, (hostile[:20], r))
            got = r.header("X-Request-Id")
            self.assertNotEqual(got, hostile)
            self.assertRegex(got, ID_RE)
            self.assertEqual(len(self.access_line(got)), 1)
        # The longest id allowed is kept whole; one more byte is not.
        ok = "A" * 64
        self.assertEqual(self.server.request(
            "GET", "/healthz", headers={"X-Request-Id": ok}).header("X-Request-Id"), ok)
        self.assertRegex(self.server.request(
            "GET", "/healthz", headers={"X-Request-Id": ok + "A"}).header("X-Request-Id"),
            ID_RE)
        self.assertNotIn("x" * 100, self.server.read_all_log())


class RequestIdJsonLogTest(harness.ServerTest):
    """server.log_format = json: the lines of a request carry its id as
    requestId (the HTTP thread's log context), the worker's line for the
    image names it too."""

    def setUp(self):
        self.server = harness.Server()  # a data dir; started by hand below
        self.out_path = os.path.join(self.server.data_dir, "stdout.log")

    def lines(self):
        # JSON log lines go to stderr (docs/OPERATIONS.md); stdout has
        # only the "listening on" line.
        with open(self.server.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        return [json.loads(line) for line in text.splitlines()
                if line.startswith("{")]

    def test_json_lines_carry_the_request_id(self):
        os.makedirs(self.server.data_dir, exist_ok=True)
        with open(self.out_path, "wb") as out, \
                open(self.server.log_path, "ab") as err:
            proc = subprocess.Popen(
                [harness.BIN, "serve", "--port", "0", "--data-dir",
                 self.server.data_dir, "--log-level", "info",
                 "--set", "server.log_format=json"],
                stdout=out, stderr=err)
        try:
            def url():
                with open(self.out_path, "rb") as f:
                    m = re.search(rb"listening on http://[^:]+:(\d+)", f.read())
                return m and int(m.group(1))
            self.server.port = poll(url)
            self.assertTrue(self.server.port, self.server.read_log())
            rid = "json-7:x"
            r = self.server.request("PUT", "/v1/images/wine.jpg?wait=60", PHOTO,
                                    {"X-Request-Id": rid})
            self.assertEqual(r.status, 201, r)
            image = r.json()["id"]
            access = poll(lambda: [o for o in self.lines()
                                   if o.get("msg") == "http" and o.get("id") == rid])
            self.assertEqual(len(access), 1, self.lines()[-5:])
            self.assertEqual(access[0].get("requestId"), rid)
            done = poll(lambda: [o for o in self.lines()
                                 if ("image %s done" % image) in o.get("msg", "")])
            self.assertEqual(len(done), 1, self.lines()[-5:])
            self.assertIn("request=" + rid, done[0]["msg"])
            # The next request on another thread does not inherit it.
            r = self.server.request("GET", "/healthz")
            other = r.header("X-Request-Id")
            line = poll(lambda: [o for o in self.lines() if o.get("id") == other])
            self.assertEqual(line[0].get("requestId"), other)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=60), 0, self.server.read_log())

    def tearDown(self):
        self.server.cleanup()


if __name__ == "__main__":
    harness.main()
