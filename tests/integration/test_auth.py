"""Who may call what (docs/SECURITY.md): API keys and their scopes, signed
URLs, private originals, CORS preflights and cross-site writes, and the
refusal to listen beyond loopback without keys.  Each test starts the real
binary and speaks HTTP to it; keys are made with `imgpipe keys`, as a user
would."""
import hashlib
import hmac
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SECRET = "k1:" + "s" * 40
PHOTO = harness.corpus("bridge.jpg")


def sign(path, expires, kid="k1", secret="s" * 40, method="GET"):
    """A signed URL built as docs/SECURITY.md tells a client to."""
    msg = f"{method}\n{path}\n{expires}".encode()
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return f"{path}?expires={expires}&kid={kid}&sig={sig}"


def bearer(token):
    return {"Authorization": "Bearer " + token}


class KeysTest(harness.ServerTest):
    """server.auth = on: every route but health needs a key of its scope."""
    server_args = ("--set", "server.auth=on", "--set", "auth.key_cache=0",
                   "--set", "auth.signing_secrets=" + SECRET)

    def setUp(self):
        super().setUp()
        self.admin = self.server.create_key("admin", "ops")
        self.writer = self.server.create_key("write", "uploader")
        self.reader = self.server.create_key("read", "site")

    def upload(self, token=None, wait=60):
        return self.server.put("bridge.jpg", PHOTO, wait=wait, headers={
            "Content-Type": "image/jpeg",
            **bearer(token or self.writer)})

    def test_no_key_is_401_and_health_is_open(self):
        for method, path in (("GET", "/v1/images"), ("PUT", "/v1/images/a.jpg"),
                             ("GET", "/metrics"), ("POST", "/v1/uploads")):
            r = self.server.request(method, path, b"x" if method != "GET" else None)
            self.assertJsonError(r, 401, "unauthorized")
            self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="imgpipe"')
            self.assertIn("Authorization: Bearer", r.json()["error"]["message"])
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        self.assertEqual(self.server.request("GET", "/readyz").status, 200)
        self.assertEqual(self.server.files_under("input"), [])

    def test_bad_keys_are_401(self):
        fake = "ipk_" + "a" * 16 + "_" + "b" * 43
        real_id_wrong_secret = self.reader[:21] + "c" * 43
        for token in ("nonsense", fake, real_id_wrong_secret):
            r = self.server.request("GET", "/v1/images", headers=bearer(token))
            self.assertJsonError(r, 401, "unauthorized")
            self.assertNotIn(token, r.body.decode())

    def test_scopes(self):
        r = self.server.put("bridge.jpg", PHOTO[:100], headers=bearer(self.reader))
        self.assertJsonError(r, 403, "forbidden")
        self.assertIn("scope read", r.json()["error"]["message"])
        self.assertEqual(self.server.files_under("input"), [])
        r = self.upload()
        self.assertEqual(r.status, 201, r)  # done within ?wait=
        rec = r.json()
        self.assertEqual(rec["status"], "done", rec)
        iid = rec["id"]
        # read: the record, the list, the bytes
        for path in (f"/v1/images/{iid}", "/v1/images",
                     f"/v1/images/{iid}/variants/thumb",
                     f"/v1/images/{iid}/original"):
            self.assertEqual(self.server.request(
                "GET", path, headers=bearer(self.reader)).status, 200, path)
        # admin only: DELETE and /metrics
        for token in (self.reader, self.writer):
            self.assertJsonError(self.server.request(
                "DELETE", f"/v1/images/{iid}", headers=bearer(token)), 403)
            self.assertJsonError(self.server.request(
                "GET", "/metrics", headers=bearer(token)), 403)
        self.assertEqual(self.server.request(
            "GET", "/metrics", headers=bearer(self.admin)).status, 200)
        self.assertEqual(self.server.request(
            "DELETE", f"/v1/images/{iid}", headers=bearer(self.admin)).status, 204)

    def test_access_log_names_the_key_never_the_token(self):
        self.assertEqual(self.server.request(
            "GET", "/v1/images", headers=bearer(self.reader)).status, 200)
        self.assertEqual(self.server.request(
            "GET", "/v1/images",
            headers=bearer(self.reader[:-1] + ("B" if self.reader.endswith("A") else "A"))).status,
            401)
        self.assertEqual(self.server.stop(), 0)  # every line is written
        log = self.server.read_log()
        lines = [ln for ln in log.splitlines() if "path=/v1/images " in ln]
        self.assertEqual(len(lines), 2, log)
        # a line is written when its request ends, in whatever order
        ok = [ln for ln in lines if "status=200" in ln]
        refused = [ln for ln in lines if "status=401" in ln]
        self.assertEqual(len(ok), 1, lines)
        self.assertEqual(len(refused), 1, lines)
        self.assertIn("key=site", ok[0])
        self.assertNotIn("key=", refused[0])
        self.assertNotIn(self.reader[21:], log)

    def test_header_alternatives(self):
        r = self.server.request("GET", "/v1/images",
                                headers={"X-Api-Key": self.reader})
        self.assertEqual(r.status, 200, r)
        # Basic with the token as password, as a store's push URL can carry
        import base64
        basic = base64.b64encode(b"imgpipe:" + self.reader.encode()).decode()
        r = self.server.request("GET", "/v1/images",
                                headers={"Authorization": "Basic " + basic})
        self.assertEqual(r.status, 200, r)

    def test_revoked_key(self):
        self.assertEqual(self.upload().status, 201)
        out = subprocess.run(
            [harness.BIN, "keys", "revoke", "uploader", "--data-dir",
             self.server.data_dir], capture_output=True, check=True)
        self.assertIn(b"revoked key", out.stdout)
        # (a small body: the refusal answers at the headers and closes)
        r = self.server.put("bridge.jpg", PHOTO[:100], headers=bearer(self.writer))
        self.assertJsonError(r, 401, "unauthorized")
        self.assertIn("uploader is revoked", r.json()["error"]["message"])
        listing = subprocess.run(
            [harness.BIN, "keys", "list", "--data-dir", self.server.data_dir],
            capture_output=True, check=True).stdout.decode()
        self.assertIn('"name":"uploader"', listing)
        self.assertIn('"state":"revoked"', listing)
        self.assertNotIn(self.writer[21:], listing)  # never the secret

    def test_expired_key(self):
        short = self.server.create_key("read", "short", expires="1h")
        self.assertEqual(self.server.request(
            "GET", "/v1/images", headers=bearer(short)).status, 200)
        # Move its expiry into the past in the table itself.
        db = sqlite3.connect(os.path.join(self.server.data_dir, "imgpipe.db"))
        with db:
            db.execute("UPDATE api_keys SET doc = json_set(doc, '$.expires_ms', 1000)"
                       " WHERE json_extract(doc, '$.name') = 'short'")
        db.close()
        r = self.server.request("GET", "/v1/images", headers=bearer(short))
        self.assertJsonError(r, 401, "unauthorized")
        self.assertIn("short is expired", r.json()["error"]["message"])

    def test_signed_urls(self):
        rec = self.upload().json()
        iid = rec["id"]
        path = f"/v1/images/{iid}/variants/thumb"
        later = int(time.time()) + 600
        r = self.server.request("GET", sign(path, later), headers={"Authorization": ""})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(harness.sha256(r.body), rec["variants"][2]["sha256"])
        r = self.server.request("HEAD", sign(path, later), headers={"Authorization": ""})
        self.assertEqual(r.status, 200, r)
        # the CLI's link works too
        out = subprocess.run(
            [harness.BIN, "sign", f"/v1/images/{iid}/original", "--expires", "5m",
             "--set", "auth.signing_secrets=" + SECRET],
            capture_output=True, check=True).stdout.decode().strip()
        r = self.server.request("GET", out, headers={"Authorization": ""})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, PHOTO)
        self.assertTrue(r.header("Cache-Control").startswith("private"), r.headers)
        good = sign(path, later)
        refused = [
            sign(path, int(time.time()) - 1),                  # expired
            good[:-1] + ("1" if good.endswith("0") else "0"),  # tampered sig
            sign(path, later).replace("expires=", "expires=1"),  # tampered time
            sign(f"/v1/images/{iid}/variants/large", later).replace(
                "/large", "/thumb"),                           # another path
            sign(path, later, kid="k2"),                       # unknown kid
            sign(path, later, secret="t" * 40),                # wrong secret
            sign(path, int(time.time()) + 40 * 86400),         # too long a life
        ]
        for url in refused:
            r = self.server.request("GET", url, headers={"Authorization": ""})
            self.assertEqual(r.status, 401, (url, r))
        # a signature opens the bytes routes only
        r = self.server.request("GET", sign(f"/v1/images/{iid}", later),
                                headers={"Authorization": ""})
        self.assertEqual(r.status, 401, r)


class FailedKeysTest(harness.ServerTest):
    """auth.max_failures: a client that keeps sending wrong keys is
    answered 429 before any key is looked up, and only that client."""
    server_args = ("--set", "server.auth=on", "--set", "auth.key_cache=0",
                   "--set", "auth.max_failures=3",
                   "--set", "metrics.public=true")

    def test_guessing_is_throttled(self):
        reader = self.server.create_key("read", "site")
        fake = "ipk_" + "a" * 16 + "_" + "b" * 43
        for _ in range(3):
            r = self.server.request("GET", "/v1/images", headers=bearer(fake))
            self.assertJsonError(r, 401, "unauthorized")
        r = self.server.request("GET", "/v1/images", headers=bearer(fake))
        self.assertJsonError(r, 429, "too_many_requests")
        self.assertIn("auth.max_failures", r.json()["error"]["message"])
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        # The whole address waits, whatever key it sends next...
        r = self.server.request("GET", "/v1/images", headers=bearer(reader))
        self.assertEqual(r.status, 429, r)
        # ...but a request without a key is not a guess, and health is open.
        r = self.server.request("GET", "/v1/images")
        self.assertJsonError(r, 401, "unauthorized")
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        m = self.server.request("GET", "/metrics").body.decode()
        self.assertRegex(m, r"(?m)^imgpipe_auth_refused_total [2-9]")


class PublicVariantsTest(harness.ServerTest):
    server_args = ("--set", "server.auth=on", "--set", "output.public_variants=true",
                   "--set", "metrics.public=true")

    def test_variants_open_originals_closed(self):
        w = self.server.create_key("write", "up")
        rec = self.server.put("p.jpg", PHOTO, wait=60, headers=bearer(w)).json()
        self.assertEqual(rec["status"], "done", rec)
        r = self.server.request("GET", f"/v1/images/{rec['id']}/variants/medium")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Cache-Control").startswith("public"))
        r = self.server.request("GET", f"/v1/images/{rec['id']}/original")
        self.assertJsonError(r, 401)
        r = self.server.request("GET", f"/v1/images/{rec['id']}")
        self.assertJsonError(r, 401)
        self.assertEqual(self.server.request("GET", "/metrics").status, 200)


class CorsTest(harness.ServerTest):
    server_args = ("--set", "server.cors_origins=https://shop.example, https://admin.example",)

    def preflight(self, origin, method, headers=None, path="/v1/images"):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            h["Access-Control-Request-Headers"] = headers
        return self.server.request("OPTIONS", path, headers=h)

    def test_preflight_matrix(self):
        r = self.preflight("https://shop.example", "POST", "content-type, authorization")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://shop.example")
        self.assertIn("POST", r.header("Access-Control-Allow-Methods"))
        self.assertIn("Authorization", r.header("Access-Control-Allow-Headers"))
        self.assertIn("Origin", r.header("Vary"))
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")
        r = self.preflight("https://admin.example", "DELETE",
                           path="/v1/images/01J00000000000000000000000")
        self.assertEqual(r.status, 204, r)
        for origin, method, hdrs, path in (
                ("https://evil.example", "POST", None, "/v1/images"),
                ("https://shop.example.evil", "GET", None, "/v1/images"),
                ("null", "GET", None, "/v1/images"),
                ("https://shop.example", "PATCH", None, "/v1/images"),
                ("https://shop.example", "POST", "x-forwarded-for", "/v1/images")):
            r = self.preflight(origin, method, hdrs, path)
            self.assertJsonError(r, 403, "forbidden")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"), (origin, method))
            # A cache keys the refusal as it keys a grant.
            self.assertIn("Origin", r.header("Vary") or "", (origin, method))
        self.assertJsonError(self.preflight("https://shop.example", "GET",
                                            path="/nowhere"), 404)

    def test_plain_options_lists_methods(self):
        r = self.server.request("OPTIONS", "/v1/images/01J00000000000000000000000")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Allow"), "GET, HEAD, PUT, DELETE, OPTIONS")

    def test_answers_carry_cors_headers(self):
        r = self.server.request("GET", "/v1/images", headers={"Origin": "https://shop.example"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://shop.example")
        self.assertIn("ETag", r.header("Access-Control-Expose-Headers"))
        self.assertEqual(r.header("Vary"), "Origin")
        r = self.server.request("GET", "/v1/images", headers={"Origin": "https://evil.example"})
        self.assertEqual(r.status, 200)  # the browser, not the server, withholds it
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_cross_site_writes_refused(self):
        """Without keys (loopback), a form on another site's page must not
        be able to upload through the visitor's browser."""
        # (small bodies: a refusal answers at the headers and closes)
        for origin in ("https://evil.example", "null"):
            r = self.server.put("x.jpg", PHOTO[:100], headers={
                "Content-Type": "image/jpeg", "Origin": origin})
            self.assertJsonError(r, 403, "forbidden")
            self.assertIn("server.cors_origins", r.json()["error"]["message"])
        r = self.server.request("POST", "/v1/images", PHOTO[:100], {
            "Content-Type": "image/jpeg", "Sec-Fetch-Site": "cross-site"})
        self.assertJsonError(r, 403, "forbidden")
        self.assertEqual(self.server.files_under("input"), [])
        # listed origin, and the server's own page (Origin = Host) may
        r = self.server.put("a.jpg", PHOTO, headers={
            "Content-Type": "image/jpeg", "Origin": "https://shop.example"})
        self.assertEqual(r.status, 202, r)
        r = self.server.put("b.jpg", PHOTO, headers={
            "Content-Type": "image/jpeg",
            "Origin": f"http://127.0.0.1:{self.server.port}"})
        self.assertEqual(r.status, 202, r)


class StarCorsTest(harness.ServerTest):
    server_args = ("--set", "server.cors_origins=*",)

    def test_star_opens_reads_only(self):
        h = {"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
        r = self.server.request("OPTIONS", "/v1/images", headers=h)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        h["Access-Control-Request-Method"] = "POST"
        self.assertJsonError(self.server.request("OPTIONS", "/v1/images", headers=h), 403)
        r = self.server.put("x.jpg", PHOTO[:100], headers={
            "Content-Type": "image/jpeg", "Origin": "https://any.example"})
        self.assertJsonError(r, 403)


def with_gps(tmpdir):
    """The corpus' rotated photo with a GPS position, a serial number and
    an Artist written into its EXIF by exiftool (what a phone leaves)."""
    path = os.path.join(tmpdir, "gps.jpg")
    with open(path, "wb") as f:
        f.write(harness.corpus("sunset-exif6.jpg"))
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    "-GPSLatitude=48.8584", "-GPSLatitudeRef=N",
                    "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
                    "-SerialNumber=SN-12345", "-Artist=Jane Doe", path],
                   check=True, timeout=60)
    with open(path, "rb") as f:
        return f.read()


def exif_of(data, tmpdir):
    path = os.path.join(tmpdir, "got.bin")
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["exiftool", "-j", "-a", "-G1", path],
                         capture_output=True, check=True, timeout=60)
    import json
    return json.loads(out.stdout)[0]


class PrivateOriginalsTest(harness.unittest.TestCase):
    def run_with(self, strip):
        s = harness.Server(args=["--set", f"input.strip_original={str(strip).lower()}"],
                           keys=False).start()
        try:
            data = with_gps(s.data_dir)
            self.assertTrue(any("GPSLatitude" in k for k in exif_of(data, s.data_dir)))
            rec = s.put("gps.jpg", data, wait=60).json()
            self.assertEqual(rec["status"], "done", rec)
            r = s.request("GET", f"/v1/images/{rec['id']}/original")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.header("Cache-Control").startswith("private"))
            return rec, data, r.body, exif_of(r.body, s.data_dir)
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()

    def test_default_keeps_the_bytes_as_uploaded(self):
        rec, data, body, _ = self.run_with(False)
        self.assertEqual(body, data)
        self.assertFalse(rec["original_stripped"])

    def test_strip_original(self):
        rec, data, body, tags = self.run_with(True)
        self.assertTrue(rec["original_stripped"], rec)
        leaked = [k for k in tags if any(
            w in k for w in ("GPS", "SerialNumber", "Artist", "Make", "Model"))]
        self.assertEqual(leaked, [], tags)
        self.assertNotEqual(body, data)
        self.assertEqual(rec["sha256"], harness.sha256(body))
        self.assertEqual(rec["bytes"], len(body))
        from PIL import Image
        import io
        img = Image.open(io.BytesIO(body))
        self.assertEqual(img.format, "JPEG")
        # rotated as displayed (the EXIF orientation 6 is applied), full size
        self.assertEqual(img.size, (rec["width"], rec["height"]))
        self.assertEqual((rec["stored_width"], rec["stored_height"]), img.size)
        self.assertEqual(rec["orientation"], 1)


class ListenTest(harness.unittest.TestCase):
    def refused(self, args, *words):
        s = harness.Server(args=args, keys=False)
        try:
            with self.assertRaises(RuntimeError) as cm:
                s.start()
            for w in words:
                self.assertIn(w, str(cm.exception))
            self.assertEqual(s.proc.returncode, 1)
        finally:
            s.proc = None
            s.log.close()
            s.cleanup()

    def test_public_listen_without_keys_refuses(self):
        """Beyond loopback keys are on (server.auth = auto) and must exist."""
        self.refused(["--listen", "0.0.0.0"], "needs API keys and there are none",
                     "imgpipe keys create", "server.insecure_public")
        self.refused(["--listen", "0.0.0.0", "--set", "server.auth=off"],
                     "without API keys", "server.insecure_public")

    def test_public_listen_with_a_key_starts(self):
        s = harness.Server(args=["--listen", "0.0.0.0"], keys=False)
        token = s.create_key("read", "site")
        s.start()
        try:
            self.assertEqual(s.request("GET", "/v1/images").status, 401)
            self.assertEqual(s.request("GET", "/v1/images",
                                       headers=bearer(token)).status, 200)
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()

    def test_insecure_public_starts_with_a_warning(self):
        s = harness.Server(args=["--listen", "0.0.0.0", "--set",
                                 "server.insecure_public=true"], keys=False).start()
        try:
            self.assertEqual(s.request("GET", "/healthz").status, 200)
            self.assertIn("server.insecure_public: anyone", s.read_log())
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()


if __name__ == "__main__":
    harness.main()
