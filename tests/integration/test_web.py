"""The web page's routes (docs/API.md, "The web page") over HTTP, without a
browser: every file the page names is served with its type and headers,
validators give 304, HEAD has no body, names outside the bundle are 404,
and with keys on the page stays public while the API it calls does not.
The page in a real browser is tests/browser (suite browser)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

TYPES = {".html": "text/html; charset=utf-8",
         ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8",
         ".svg": "image/svg+xml"}


def referenced(html):
    """The /ui/ URLs the page's HTML names (src=, href=)."""
    return sorted(set(re.findall(r'(?:src|href)="(/ui/[^"]+)"', html)))


def ext(url):
    return os.path.splitext(url.split("?")[0])[1] or ".html"


class WebPageTest(harness.ServerTest):

    def test_page_and_every_file_it_names(self):
        page = self.server.request("GET", "/")
        self.assertEqual(page.status, 200, page)
        self.assertEqual(page.header("Content-Type"), TYPES[".html"])
        self.assertEqual(page.header("Cache-Control"), "no-cache")
        html = page.body.decode()
        files = referenced(html)
        names = [f.split("?")[0] for f in files]
        self.assertIn("/ui/app.js", names)
        self.assertIn("/ui/app.css", names)
        # No inline script or style: the policy would block them.
        self.assertIsNone(re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html))
        self.assertNotIn("<style", html)
        self.assertNotIn(" style=", html)
        for path in ["/"] + files:
            r = self.server.request("GET", path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertGreater(len(r.body), 0, path)
            self.assertEqual(r.header("Content-Type"), TYPES[ext(path)], path)
            csp = r.header("Content-Security-Policy")
            self.assertIn("script-src 'self'", csp)
            self.assertIn("default-src 'none'", csp)
            self.assertNotIn("unsafe", csp)
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
            etag = r.header("ETag")
            self.assertRegex(etag, r'^"[0-9a-f]{64}"$')
            if path != "/":
                # Named by the hash of its bytes: immutable.
                name, version = path.split("?v=")
                self.assertEqual(version, harness.sha256(r.body)[:len(version)])
                self.assertGreaterEqual(len(version), 12)
                self.assertEqual(r.header("Cache-Control"),
                                 "public, max-age=31536000, immutable")
                for other in (name, name + "?v=" + "0" * len(version)):
                    o = self.server.request("GET", other)
                    self.assertEqual(o.status, 200, other)
                    self.assertEqual(o.body, r.body)
                    self.assertRegex(o.header("Cache-Control"), r"^public, max-age=\d+$")
            same = self.server.request("GET", path, headers={"If-None-Match": etag})
            self.assertEqual(same.status, 304, path)
            self.assertEqual(same.body, b"")
            self.assertEqual(same.header("ETag"), etag)
            other = self.server.request("GET", path, headers={"If-None-Match": '"x"'})
            self.assertEqual(other.status, 200, path)
            head = self.server.request("HEAD", path)
            self.assertEqual(head.status, 200, path)
            self.assertEqual(head.body, b"")
            self.assertEqual(head.header("Content-Length"), str(len(r.body)))
            self.assertEqual(head.header("ETag"), etag)

    def test_names_outside_the_bundle(self):
        for path in ["/ui/nope.js", "/ui/web.gresource.xml", "/ui/meson.build",
                     "/ui/.hidden.js", "/ui/..", "/ui/", "/index.html",
                     "/ui/app.js/x"]:
            self.assertJsonError(self.server.request("GET", path), 404,
                                 "not_found")
        self.assertJsonError(self.server.request("GET", "/ui/..%2Fapp.js"),
                             400, "invalid_request")
        r = self.server.request("POST", "/")
        self.assertJsonError(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "GET, HEAD")


class WebPageKeysTest(harness.ServerTest):
    """server.auth = on: the page is public, the API it calls is not."""
    server_args = ("--set", "server.auth=on", "--set", "auth.key_cache=0")

    def test_page_public_api_not(self):
        for path in ["/", "/ui/app.js", "/ui/app.css"]:
            r = self.server.request("GET", path, headers={"Authorization": ""})
            self.assertEqual(r.status, 200, (path, r))
        r = self.server.request("GET", "/v1/images",
                                headers={"Authorization": ""})
        self.assertJsonError(r, 401, "unauthorized")


if __name__ == "__main__":
    harness.main()
