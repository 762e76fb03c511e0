"""Logs a machine reads: with server.log_format = json every line the
server writes to stderr is one JSON object (time, level, msg, and the
request and image ids when it concerns them); GLib's and libvips'
messages come out in the same format, from the image helpers too, with
their domain; control bytes never reach the log raw.

The GLib warning is the test hook IMGPIPE_TEST_HELPER_FAULT=warn:...
(src/imgproc/helper_child.h): the helper warns, as a library would,
in the middle of a job that then succeeds.
"""
import json

import harness

# a GLib warning in every job of logs-hook*; a confinement breach (the
# helper dies from its signal handler) in the first job of logs-open*
HOOK = "warn:always:logs-hook,open:once:logs-open"


class LogTest(harness.ServerTest):
    log_format = "json"

    def setUp(self):
        self.server = harness.Server(
            args=["--set", f"server.log_format={self.log_format}"],
            env={"IMGPIPE_TEST_HELPER_FAULT": HOOK}).start()

    def upload(self):
        r = self.server.put("logs-hook.jpg", harness.corpus("wine.jpg"),
                            wait=60)
        self.assertEqual(r.status, 201, r)
        return r.header("X-Request-Id"), r.json()["id"]

    def stderr(self):
        self.assertEqual(self.server.stop(), 0)
        with open(self.server.log_path, "rb") as f:
            return f.read()


class JsonLogTest(LogTest):
    def test_every_line_json_with_ids_and_glib(self):
        request_id, image = self.upload()
        r = self.server.put("logs-open.jpg", harness.corpus("wine.jpg"),
                            wait=60)
        self.assertEqual(r.status, 201, r)  # done on its second attempt
        open_request = r.header("X-Request-Id")
        raw = self.stderr()
        self.assertNotIn(b"\x1b", raw)
        lines = [json.loads(ln) for ln in raw.splitlines()]
        self.assertTrue(lines)
        for rec in lines:
            for k in ("time", "level", "msg"):
                self.assertIn(k, rec, rec)
            self.assertIn(rec["level"], ("debug", "info", "warn", "error"))
        # the helper's GLib warning: our format, its domain, both ids,
        # the escape byte escaped by the JSON encoder
        glib = [r for r in lines if "test hook" in r["msg"]]
        self.assertEqual(len(glib), 1, lines)
        self.assertEqual(glib[0]["level"], "warn")
        self.assertEqual(glib[0]["domain"], "GLib-GObject")
        self.assertEqual(glib[0]["msg"],
                         "test hook: a warning \x1b[31mred\x1b[0m")
        self.assertEqual(glib[0]["requestId"], request_id)
        self.assertEqual(glib[0]["imageId"], image)
        # the helper's last words from its SIGSYS handler: JSON too
        died = [r for r in lines if "confinement refused" in r["msg"]]
        self.assertEqual(len(died), 1, lines)
        self.assertEqual(died[0]["level"], "error")
        self.assertEqual(died[0]["requestId"], open_request)
        # the worker's line about the image names the upload's request
        done = [r for r in lines if r["msg"].startswith(f"image {image} done")]
        self.assertEqual(len(done), 1, lines)
        self.assertEqual(done[0]["requestId"], request_id)
        self.assertEqual(done[0]["imageId"], image)


class TextLogTest(LogTest):
    log_format = "text"

    def test_glib_warning_as_a_text_line(self):
        self.upload()
        raw = self.stderr()
        self.assertNotIn(b"\x1b", raw)
        hook = [ln for ln in raw.decode().splitlines() if "test hook" in ln]
        self.assertEqual(len(hook), 1, raw[-2000:])
        self.assertRegex(hook[0], r"^\d{4}-\d\d-\d\dT[\d:.]+Z warn  test "
                         r"hook: a warning \\x1b\[31mred\\x1b\[0m "
                         r"domain=GLib-GObject$")
        # nothing in GLib's own format ("(imgpipe:123): GLib-WARNING **")
        self.assertNotIn("**", raw.decode())


if __name__ == "__main__":
    harness.main()
