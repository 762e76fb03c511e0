"""The command line: --version/--help, `imgpipe process` (the function on
local files, no server), `config`, and refusals of bad flags and values."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from PIL import Image  # noqa: E402


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([harness.BIN] + list(args), capture_output=True,
                          text=True, env=e, timeout=300)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"imgpipe \d+\.\d+\.\d+")
        self.assertIn("libvips", r.stdout)
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for c in ("serve", "gateway", "worker", "process", "dlq", "lambda", "init"):
            self.assertIn(c, r.stdout)
        for c in ("serve", "process", "dlq", "worker"):
            r = run(c, "--help")
            self.assertEqual(r.returncode, 0, (c, r.stderr))
            self.assertIn("--config", r.stdout)
        r = run("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)

    def test_version_lists_built_backends(self):
        # IMGPIPE_BUILT_BACKENDS comes from meson (-Ds3=disabled ...).
        built = set(os.environ.get("IMGPIPE_BUILT_BACKENDS",
                                   "fs sqlite s3 dynamodb redis").split())
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        m = re.fullmatch(r"imgpipe \S+ \(objstore: ([^;]*); table: ([^;]*); "
                         r"queue: ([^;]*); libvips [^)]+\)\n", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(m.group(1).split(),
                         [b for b in ("fs", "s3") if b in built])
        self.assertEqual(m.group(2).split(),
                         [b for b in ("sqlite", "dynamodb") if b in built])
        self.assertEqual(m.group(3).split(),
                         [b for b in ("sqlite", "redis") if b in built])
        # A backend the build left out is refused by name when asked for.
        for cmd, key, url, name in (
                (["init"], "objstore", "s3://?region=r", "s3"),
                (["init"], "table", "dynamodb://?region=r", "dynamodb"),
                (["dlq", "list"], "queue", "redis://127.0.0.1:1/", "redis")):
            if name in built:
                continue
            r = run(*cmd, "--data-dir", self.tmp,
                    "--set", "storage.%s=%s" % (key, url))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("imgpipe was built without " + name, r.stderr)

    def test_process_files(self):
        out = os.path.join(self.tmp, "out")
        bad = os.path.join(self.tmp, "notes.jpg")
        with open(bad, "w") as f:
            f.write("not an image")
        photos = [os.path.join(harness.CORPUS, n)
                  for n in ("sunset-exif6.jpg", "picos-alpha.png")]
        r = run("process", *photos, bad, "-o", out, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)  # one file failed
        self.assertIn("notes.jpg", r.stderr)
        self.assertIn("not an image", r.stderr)
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        recs = [x for x in lines[:-1] if x["status"] == "done"]
        self.assertEqual(len(recs), 2)
        self.assertEqual(lines[-1]["summary"]["failed"], 1)
        self.assertEqual(sorted(os.listdir(out)), sorted(
            f"{stem}-{v}.jpg" for stem in ("sunset-exif6", "picos-alpha")
            for v in ("large", "medium", "thumb")))
        large = Image.open(os.path.join(out, "sunset-exif6-large.jpg"))
        self.assertEqual(large.size, (1600, 1067))  # upright landscape
        thumb = Image.open(os.path.join(out, "picos-alpha-thumb.jpg"))
        self.assertEqual(thumb.size, (200, 200))

    def test_process_with_config_file(self):
        ini = os.path.join(self.tmp, "imgpipe.ini")
        with open(ini, "w") as f:
            f.write("[variants]\nonly = tiny\n[variant.tiny]\nwidth = 64\n"
                    "height = 64\nfit = cover\nformat = webp\n")
        out = os.path.join(self.tmp, "out")
        r = run("process", "--config", ini,
                os.path.join(harness.CORPUS, "wine.jpg"), "-o", out, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout.splitlines()[0])
        self.assertEqual([v["name"] for v in rec["variants"]], ["tiny"])
        img = Image.open(os.path.join(out, "wine-tiny.webp"))
        self.assertEqual((img.format, img.size), ("WEBP", (64, 64)))

    def test_bad_configuration_is_refused(self):
        r = run("config", "--set", "server.port=99999")
        self.assertEqual(r.returncode, 2)
        self.assertIn("server.port", r.stderr)
        r = run("config", env={"IMGPIPE_WATERMARK_OPACITY": "2"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("opacity", r.stderr)
        r = run("serve", "--no-such-flag")
        self.assertEqual(r.returncode, 2)
        r = run("config", "--set", "variant.thumb.width=150")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[variant.thumb]\nwidth = 150", r.stdout)
        self.assertNotIn("secret_access_key", r.stdout)

    def test_variants_only_from_every_source(self):
        def variants(r):
            self.assertEqual(r.returncode, 0, r.stderr)
            return re.findall(r"^\[variant\.([^\]]+)\]$", r.stdout, re.M)

        ini = os.path.join(self.tmp, "imgpipe.ini")
        with open(ini, "w") as f:
            # [variants] before the variant it names: order is no matter
            f.write("[variants]\nonly = thumb, web\n"
                    "[variant.web]\nwidth = 1200\n")
        self.assertEqual(variants(run("config", "--config", ini)),
                         ["thumb", "web"])
        self.assertEqual(variants(run("config", "--set",
                                      "variants.only=large")), ["large"])
        self.assertEqual(variants(run("config", env={
            "IMGPIPE_VARIANTS_ONLY": "medium,thumb"})), ["medium", "thumb"])
        # --set beats the environment; a variant --set adds may be named
        self.assertEqual(variants(run(
            "config", "--set", "variant.tiny.width=32",
            "--set", "variants.only=tiny",
            env={"IMGPIPE_VARIANTS_ONLY": "medium"})), ["tiny"])
        # a variant given only a width keeps the documented 800 height
        r = run("config", "--config", ini)
        self.assertIn("[variant.web]\nwidth = 1200\nheight = 800\n",
                      r.stdout)
        r = run("config", "--set", "variants.only=thumb,thumbs")
        self.assertEqual(r.returncode, 2)
        self.assertIn("variants.only: no variant 'thumbs'", r.stderr)

    def test_unknown_environment_variable_is_refused(self):
        r = run("config", env={"IMGPIPE_PORT": "9000"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("IMGPIPE_PORT", r.stderr)
        self.assertIn("did you mean IMGPIPE_SERVER_PORT?", r.stderr)
        r = run("config", env={"IMGPIPE_VARIANTS_ONLY_X": "1"})
        self.assertEqual(r.returncode, 2)
        # the test suite's and scripts' own variables are not settings
        r = run("config", env={"IMGPIPE_TEST_ANYTHING": "1",
                               "IMGPIPE_SERVERS_KEEP": "1",
                               "IMGPIPE_CORPUS": "/nowhere"})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_value_aliases_take_effect(self):
        r = run("config", "--set", "variant.thumb.format=jpg",
                "--set", "output.progressive=yes",
                "--set", "variant.large.format=WEBP")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("progressive = true", r.stdout)
        thumb = r.stdout[r.stdout.index("[variant.thumb]"):]
        self.assertIn("format = jpeg", thumb)
        large = r.stdout[r.stdout.index("[variant.large]"):]
        self.assertRegex(large, r"^\[variant.large\]\n(.*\n)*format = webp")

    def test_unreadable_ca_file_is_refused(self):
        # aws.ca_file names the CA bundle for HTTPS to S3/DynamoDB; a path
        # that cannot be read stops start-up with its name, before any
        # request is made (nothing listens on port 1).
        missing = os.path.join(self.tmp, "no-such-ca.crt")
        r = run("init", "--data-dir", self.tmp, env={
            "IMGPIPE_STORAGE_OBJSTORE":
                "s3+https://127.0.0.1:1/?region=us-east-1&path_style=1",
            "IMGPIPE_AWS_ACCESS_KEY_ID": "k",
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": "s",
            "IMGPIPE_AWS_CA_FILE": missing})
        self.assertEqual(r.returncode, 1, r.stderr)
        if "s3" not in os.environ.get("IMGPIPE_BUILT_BACKENDS", "s3").split():
            self.assertIn("built without s3", r.stderr)
            return
        self.assertIn(f"aws.ca_file {missing}: No such file or directory",
                      r.stderr)

    def test_dlq_on_an_empty_store(self):
        r = run("dlq", "list", "--data-dir", self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        r = run("dlq", "redrive", "--data-dir", self.tmp)
        self.assertEqual(r.returncode, 2)  # needs an ID or --all
        r = run("dlq", "redrive", "--all", "--data-dir", self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 message", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
