"""The seed architecture on real third-party parts: `imgpipe gateway`
(API Gateway role, storage.events=store) puts the original into s3rver
(S3); s3rver's ObjectCreated event goes to Architect Sandbox's event bus,
which invokes `imgpipe lambda` as a provided.al2023 custom-runtime
`bootstrap` over the Lambda Runtime API (Lambda); the function writes the
variants to s3rver and the record to Sandbox's DynamoDB (dynalite).

Uses ../shared/peers/servers/{s3rver,arc-sandbox}-{start,stop}.sh, which
install what they need (npm s3rver, @architect/sandbox).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

PEERS = os.path.join(os.environ.get("IMGPIPE_SOURCE_ROOT", "."), "..", "shared",
                     "peers", "servers")


def free_ports(n):
    """A base port with n free ports after it."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n >= 65000:
            continue
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    raise RuntimeError("no free ports")


APP_ARC = """@app
imgpipe

@events
image-created

@tables
placeholder
  pk *String

@plugins
c-runtime

@aws
runtime c-rapi-go
# Sandbox's default is Lambda's 3-5 s; a 12 MB PNG on a loaded 2-core
# machine takes longer (the deadline itself is issue 9's subject).
timeout 60
"""

PLUGIN = """module.exports = { set: { runtimes () {
  return { name: 'c-rapi-go', type: 'compiled', build: 'build', baseRuntime: 'provided.al2023' }
} } }
"""


class SandboxStack:
    """A TestCase mixin: s3rver + Architect Sandbox (its tables as
    DynamoDB) around an Architect project whose functions (FUNCTIONS,
    as Architect names them) all have `imgpipe lambda` as bootstrap."""

    ARC = APP_ARC
    FUNCTIONS = ["events/image-created"]

    def start_stack(self):
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-lambda-")
        # addCleanup, not tearDown: it also runs when setUp fails later
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.sfx = uuid.uuid4().hex[:8]
        self.port = free_ports(4)          # sandbox: http, events, tables, runtime
        self.s3port = free_ports(1)
        env = {
            "IMGPIPE_STORAGE_OBJSTORE":
                f"s3+http://127.0.0.1:{self.s3port}/?region=us-east-1&path_style=1"
                "&list_sort=1&serialize=1",
            "IMGPIPE_STORAGE_TABLE":
                f"dynamodb+http://127.0.0.1:{self.port + 2}/?region=us-east-1"
                f"&table=imgpipe-{self.sfx}",
            "IMGPIPE_STORAGE_INPUT_BUCKET": "images-in",
            "IMGPIPE_STORAGE_OUTPUT_BUCKET": "images-out",
            "IMGPIPE_STORAGE_EVENTS": "store",
            "IMGPIPE_AWS_ACCESS_KEY_ID": "S3RVER",
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": "S3RVER",
            # text lines on stderr, which bootstrap sends to lambda.log
            # (under Lambda the default is JSON on stdout)
            "IMGPIPE_SERVER_LOG_FORMAT": "text",
        }
        self.env = env
        # the Architect project: each function's bootstrap is us
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(os.path.join(proj, "src", "plugins"))
        with open(os.path.join(proj, "app.arc"), "w") as f:
            f.write(self.ARC)
        with open(os.path.join(proj, "src", "plugins", "c-runtime.js"), "w") as f:
            f.write(PLUGIN)
        exports = dict(env)
        for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                exports[k] = os.environ[k]
        for fn in self.FUNCTIONS:
            os.makedirs(os.path.join(proj, "src", fn))
            os.makedirs(os.path.join(proj, "build", fn))
            boot = os.path.join(proj, "build", fn, "bootstrap")
            with open(boot, "w") as f:
                f.write("#!/bin/sh\n")
                for k, v in exports.items():
                    f.write(f"export {k}='{v}'\n")
                f.write(f"exec '{os.path.abspath(harness.BIN)}' lambda "
                        f"--data-dir '{self.tmp}/lambda' 2>>'{self.tmp}/lambda.log'\n")
            os.chmod(boot, 0o755)
        self.proj = proj
        self.run_peer("arc-sandbox-start.sh", str(self.port), proj)
        self.addCleanup(self.stop_peer, "arc-sandbox-stop.sh", str(self.port))
        penv = {"S3RVER_FRESH": "1",
                "S3RVER_EVENTS_URL": f"http://127.0.0.1:{self.port + 1}/events",
                "S3RVER_EVENTS_ARC_NAME": "image-created"}
        self.run_peer("s3rver-start.sh", str(self.s3port), "images-in", "images-out", env=penv)
        self.addCleanup(self.stop_peer, "s3rver-stop.sh", str(self.s3port))
        e = dict(os.environ)
        e.update(env)
        init = subprocess.run([harness.BIN, "init", "--data-dir", self.tmp],
                              env=e, capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)

    def run_peer(self, script, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run([os.path.join(PEERS, script)] + list(args), env=e,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, f"{script}: {r.stdout}\n{r.stderr}")

    def stop_peer(self, script, port):
        subprocess.run([os.path.join(PEERS, script), port],
                       capture_output=True, timeout=120)

    def lambda_log(self):
        try:
            with open(os.path.join(self.tmp, "lambda.log")) as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return "(no lambda log)"


class LambdaTest(SandboxStack, unittest.TestCase):
    def setUp(self):
        self.start_stack()
        self.gw = harness.Server(env=self.env, command="gateway")
        self.addCleanup(self.gw.cleanup)
        self.gw.start()

    def test_upload_triggers_the_lambda(self):
        ids = []
        for name in ["sunset-exif6.jpg", "picos-alpha.png", "life.webp"]:
            r = self.gw.put(name, harness.corpus(name))
            self.assertEqual(r.status, 202, r)
            ids.append(r.json()["id"])
        for i in ids:
            rec = self.gw.wait_done(i, 120)
            self.assertEqual(rec["status"], "done",
                             f"{rec}\nlambda log:\n{self.lambda_log()}")
            self.assertEqual([v["name"] for v in rec["variants"]],
                             ["large", "medium", "thumb"])
            r = self.gw.request("GET", f"/v1/images/{i}/variants/thumb")
            self.assertEqual(r.status, 200)
            self.assertEqual(harness.sha256(r.body), rec["variants"][2]["sha256"])
        # the recursive-trigger trap: s3rver also announced the variants
        # written to "images-out"; the function ignored them (no records for them)
        listed = self.gw.request("GET", "/v1/images?limit=100").json()["items"]
        self.assertEqual(sorted(x["id"] for x in listed), sorted(ids))
        self.assertIn("event ignored", self.lambda_log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
