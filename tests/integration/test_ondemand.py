"""Variants on demand (docs/API.md "Variants on demand", issue 14): a spec
outside the rules is refused and nothing is stored; within them it is made
once and then served from the store (ETag, 304, Range); a signed spec under
20 concurrent requests is rendered once; `format = auto` answers by Accept
with Vary: Accept; a preset added after an upload is made on its first
request.  The real binary on 127.0.0.1, the embedded backends."""
import hashlib
import hmac
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PHOTO = harness.corpus("bridge.jpg")
SECRET = "k1:" + "s" * 40


def sign(path, expires=None):
    """A signed URL built as docs/SECURITY.md tells a client to."""
    expires = expires or int(time.time()) + 3600
    msg = f"GET\n{path}\n{expires}".encode()
    sig = hmac.new(b"s" * 40, msg, hashlib.sha256).hexdigest()
    return f"{path}?expires={expires}&kid=k1&sig={sig}"


def renders(server, result):
    """imgpipe_on_demand_renders_total{result=...} from /metrics."""
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    m = re.search(r'^imgpipe_on_demand_renders_total\{result="%s"\} (\d+)$'
                  % result, r.body.decode(), re.M)
    assert m, r.body[:2000]
    return int(m.group(1))


class OnDemandTest(harness.ServerTest):
    server_args = ("--set", "auth.signing_secrets=" + SECRET)

    def upload(self, data=PHOTO, name="bridge.jpg"):
        r = self.server.put(name, data, wait=60)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["status"], "done", r)
        return r.json()["id"]

    def record(self, iid):
        r = self.server.request("GET", f"/v1/images/{iid}")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def names(self, iid):
        return sorted((v["name"], v["format"], v["on_demand"])
                      for v in self.record(iid)["variants"])

    def get(self, iid, variant, headers=None, path=None):
        return self.server.request(
            "GET", path or f"/v1/images/{iid}/variants/{variant}",
            headers=headers)


class RefusedTest(OnDemandTest):
    """on_demand.enabled off (the default): only presets and signed specs."""

    def test_refused_and_nothing_stored(self):
        iid = self.upload()
        before_files = self.server.files_under("buckets", "output")
        before = self.names(iid)
        cases = [
            ("w_300", 403, "forbidden", "on_demand.enabled"),
            ("w_300,foo", 400, "invalid_request", "unknown token 'foo'"),
            ("w_0", 400, "invalid_request", "bad token 'w_0'"),
            ("w_300,fit_cover", 400, "invalid_request", "needs both"),
            ("hero", 404, "not_found", "no variant"),
        ]
        for spec, status, code, words in cases:
            r = self.get(iid, spec)
            self.assertJsonError(r, status, code)
            self.assertIn(words, r.json()["error"]["message"], spec)
        # ?w=300 was silently ignored before: now it says where a size goes
        r = self.get(iid, None, path=f"/v1/images/{iid}/variants/large?w=300")
        self.assertJsonError(r, 400, "invalid_request")
        self.assertIn("variants/w_300", r.json()["error"]["message"])
        r = self.get(iid, None, path=f"/v1/images/{iid}/original?w=300")
        self.assertJsonError(r, 400, "invalid_request")
        # a bad signature is no signature: the rules apply
        bad = sign(f"/v1/images/{iid}/variants/w_300").replace("sig=", "sig=0")
        r = self.get(iid, None, path=bad)
        self.assertJsonError(r, 403, "forbidden")
        self.assertEqual(self.server.files_under("buckets", "output"),
                         before_files)
        self.assertEqual(self.names(iid), before)
        self.assertEqual(renders(self.server, "made"), 0)
        self.assertGreaterEqual(renders(self.server, "refused"), 2)

    def test_spec_of_a_preset_is_the_preset(self):
        """w_200,h_200,fit_cover spells the thumb preset: served, not
        made, even with on-demand specs off."""
        iid = self.upload()
        thumb = self.get(iid, "thumb")
        r = self.get(iid, "h_200,fit_cover,w_200")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, thumb.body)
        self.assertEqual(renders(self.server, "made"), 0)


class RulesTest(OnDemandTest):
    server_args = OnDemandTest.server_args + (
        "--set", "on_demand.enabled=true", "--set", "on_demand.max_width=1000",
        "--set", "on_demand.max_per_image=2", "--set",
        "on_demand.formats=jpeg,webp")

    def test_made_once_then_served_from_the_store(self):
        iid = self.upload()
        r1 = self.get(iid, "w_300")
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.header("Content-Type"), "image/jpeg")
        self.assertIsNone(r1.header("Vary"))
        key = f"{iid}/w_300.jpg"
        self.assertIn(key, self.server.files_under("buckets", "output"))
        with open(os.path.join(self.server.data_dir, "buckets", "output",
                               key), "rb") as f:
            self.assertEqual(f.read(), r1.body)
        v = [v for v in self.record(iid)["variants"] if v["name"] == "w_300"]
        self.assertEqual(len(v), 1, v)
        self.assertTrue(v[0]["on_demand"])
        self.assertEqual(v[0]["width"], 300)
        self.assertEqual(len(v[0]["fingerprint"]), 16)
        self.assertEqual(renders(self.server, "made"), 1)
        # another spelling is the same variant, served from the store
        r2 = self.get(iid, "q_82,w_0300")
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.header("ETag"), r1.header("ETag"))
        self.assertEqual(r2.body, r1.body)
        r = self.get(iid, "w_300", {"If-None-Match": r1.header("ETag")})
        self.assertEqual(r.status, 304, r)
        r = self.get(iid, "w_300", {"Range": "bytes=0-99"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, r1.body[:100])
        self.assertEqual(renders(self.server, "made"), 1)

    def test_rules(self):
        iid = self.upload()
        for spec, words in [("w_1200", "on_demand.max_width"),
                            ("w_300,f_avif", "on_demand.formats")]:
            r = self.get(iid, spec)
            self.assertJsonError(r, 403, "forbidden")
            self.assertIn(words, r.json()["error"]["message"])
        self.assertEqual(self.get(iid, "w_100").status, 200)
        self.assertEqual(self.get(iid, "w_120,f_webp").status, 200)
        # max_per_image = 2: a third spec is refused, the two made stay
        r = self.get(iid, "w_140")
        self.assertJsonError(r, 403, "forbidden")
        self.assertIn("on_demand.max_per_image", r.json()["error"]["message"])
        self.assertEqual(self.get(iid, "w_100").status, 200)
        # ...but a signed one passes the rules (not the formats)
        path = f"/v1/images/{iid}/variants/w_1200"
        r = self.get(iid, None, path=sign(path))
        self.assertEqual(r.status, 200, r)
        made = sorted(n for n, _, od in self.names(iid) if od)
        self.assertEqual(made, ["w_100", "w_120,f_webp", "w_1200"])
        self.assertNotIn(f"{iid}/w_140.jpg",
                         self.server.files_under("buckets", "output"))


class SignedConcurrentTest(OnDemandTest):
    """A signed spec under 20 concurrent first requests: one render."""

    def test_twenty_at_once(self):
        iid = self.upload()
        url = sign(f"/v1/images/{iid}/variants/w_640,h_480,fit_cover,q_70")
        results = [None] * 20
        start = threading.Barrier(20)

        def fetch(i):
            start.wait()
            results[i] = self.server.request("GET", url)

        threads = [threading.Thread(target=fetch, args=(i,))
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r.status for r in results], [200] * 20, results)
        self.assertEqual(len({r.body for r in results}), 1)
        self.assertEqual(renders(self.server, "made"), 1)
        self.assertEqual(
            [n for n, _, od in self.names(iid) if od],
            ["w_640,h_480,fit_cover,q_70"])


class AcceptTest(OnDemandTest):
    """A preset with format = auto answers by Accept (AVIF, WebP, else its
    upload format) with Vary: Accept; each format is made once."""
    server_args = OnDemandTest.server_args + (
        "--set", "variant.card.width=320", "--set", "variant.card.height=320",
        "--set", "variant.card.format=auto")

    def test_accept_matrix(self):
        iid = self.upload()
        self.assertEqual(self.names(iid).count(("card", "jpeg", False)), 1)
        matrix = [
            ("image/avif,image/webp,image/apng,*/*;q=0.8", "image/avif"),
            ("image/webp,*/*", "image/webp"),
            ("image/jpeg", "image/jpeg"),
            (None, "image/jpeg"),
            ("*/*", "image/jpeg"),
            ("image/*", "image/jpeg"),
            ("image/avif;q=0,image/webp;q=0", "image/jpeg"),
            ("image/avif;q=0, image/webp", "image/webp"),
        ]
        etags = {}
        for accept, ctype in matrix:
            headers = {"Accept": accept} if accept is not None else {}
            r = self.get(iid, "card", headers)
            self.assertEqual(r.status, 200, (accept, r))
            self.assertEqual(r.header("Content-Type"), ctype, accept)
            self.assertEqual(r.header("Vary"), "Accept", accept)
            etags.setdefault(ctype, r.header("ETag"))
            self.assertEqual(etags[ctype], r.header("ETag"), accept)
            # a 304 says Vary too
            headers["If-None-Match"] = r.header("ETag")
            r = self.get(iid, "card", headers)
            self.assertEqual(r.status, 304, r)
            self.assertEqual(r.header("Vary"), "Accept")
        self.assertEqual(len(set(etags.values())), 3)
        cards = [(n, f, od) for n, f, od in self.names(iid) if n == "card"]
        self.assertEqual(cards, [("card", "avif", True), ("card", "jpeg", False),
                                 ("card", "webp", True)])
        fps = {v["fingerprint"] for v in self.record(iid)["variants"]
               if v["name"] == "card"}
        self.assertEqual(len(fps), 1)
        self.assertEqual(renders(self.server, "made"), 2)
        # a preset of a fixed format does not vary
        r = self.get(iid, "large", {"Accept": "image/avif"})
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertIsNone(r.header("Vary"))

    def test_auto_spec(self):
        """A signed f_auto spec: its fallback and its WebP, each made once."""
        iid = self.upload()
        path = f"/v1/images/{iid}/variants/w_200,f_auto"
        r = self.get(iid, None, path=sign(path), headers={"Accept": "*/*"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertEqual(r.header("Vary"), "Accept")
        r = self.get(iid, None, path=sign(path),
                     headers={"Accept": "image/webp"})
        self.assertEqual(r.header("Content-Type"), "image/webp")
        self.assertEqual(r.header("Vary"), "Accept")
        self.assertEqual(renders(self.server, "made"), 2)
        self.assertIn(f"{iid}/w_200,f_auto.webp",
                      self.server.files_under("buckets", "output"))


class LaterPresetTest(unittest.TestCase):
    """After adding variant.hero, an image uploaded before answers it: made
    on its first request, kept in the record, then served."""

    def test_preset_added_after_upload(self):
        first = harness.Server().start()
        try:
            r = first.put("bridge.jpg", PHOTO, wait=60)
            self.assertEqual(r.status, 201, r)
            iid = r.json()["id"]
            self.assertEqual(first.stop(), 0)
            later = harness.Server(
                data_dir=first.data_dir,
                args=("--set", "variant.hero.width=500",
                      "--set", "variant.hero.height=300",
                      "--set", "variant.hero.fit=cover")).start()
            try:
                r = later.request("GET", f"/v1/images/{iid}/variants/hero")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "image/jpeg")
                rec = later.request("GET", f"/v1/images/{iid}").json()
                hero = [v for v in rec["variants"] if v["name"] == "hero"]
                self.assertEqual(len(hero), 1, rec["variants"])
                self.assertEqual((hero[0]["width"], hero[0]["height"]),
                                 (500, 300))
                self.assertTrue(hero[0]["on_demand"])
                again = later.request("GET",
                                      f"/v1/images/{iid}/variants/hero")
                self.assertEqual(again.header("ETag"), r.header("ETag"))
                self.assertEqual(renders(later, "made"), 1)
            finally:
                self.assertEqual(later.stop(), 0)
                later.cleanup()
        finally:
            first.cleanup()


if __name__ == "__main__":
    harness.main()
