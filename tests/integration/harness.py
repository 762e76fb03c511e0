"""Integration test harness: runs the real imgpipe binary on 127.0.0.1 with
a fresh data directory and speaks HTTP to it.

Nothing here sleeps to synchronise: the server prints its URL once it
listens (we block on that line), uploads are awaited with ?wait=, and
process exits with wait().
"""
import hashlib
import http.client
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.parse
import uuid

BIN = os.environ.get("IMGPIPE_BIN", "build/imgpipe")
SERVERS_ENV = os.environ.get("IMGPIPE_SERVERS_ENV", "/tmp/imgpipe-servers.env")


def servers(need=()):
    """The KEY='value' lines scripts/servers.sh wrote, as a dict.  Raises
    (so the test fails, never skips) when a key of `need` is missing."""
    env = {}
    try:
        with open(SERVERS_ENV) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep:
                    env[k] = shlex.split(v)[0] if v else ""
    except FileNotFoundError:
        pass
    missing = [k for k in need if k not in env]
    if missing:
        raise RuntimeError(f"servers not started ({SERVERS_ENV} lacks "
                           f"{missing}): run `scripts/servers.sh up` "
                           "(make test does)")
    return env
CORPUS = os.environ.get("IMGPIPE_CORPUS", "../shared/corpus")
PHOTOS = sorted(f for f in os.listdir(CORPUS)
                if f.endswith((".jpg", ".png", ".webp")) and f != "watermark.png")


def corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    """One imgpipe process. `args` are extra command-line flags."""

    def __init__(self, data_dir=None, args=(), env=None, command="serve",
                 keys=None):
        """keys: run with server.auth = on and an admin key that every
        request() carries (default: IMGPIPE_TEST_KEYS=1 in the
        environment, so a suite can be run again with keys on)."""
        if keys is None:
            keys = os.environ.get("IMGPIPE_TEST_KEYS") == "1"
        self.keys = keys
        self.token = None
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="imgpipe-it-")
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.command = command
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def create_key(self, scope, name=None, expires=None):
        """`imgpipe keys create` on this server's table: the token."""
        cmd = [BIN, "keys", "create", "--scope", scope, "--name",
               name or scope, "--data-dir", self.data_dir]
        if expires is not None:
            cmd += ["--expires", expires]
        for i, a in enumerate(self.args):
            if a in ("--set", "--config"):
                cmd += [a, self.args[i + 1]]
        out = subprocess.run(cmd, env=self.env, capture_output=True,
                             check=True, timeout=60)
        return out.stdout.decode().strip()

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        if self.keys and self.token is None:
            self.args += ["--set", "server.auth=on",
                          "--set", "auth.key_cache=0"]
            self.token = self.create_key("admin", "harness")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, self.command, "--port", "0", "--data-dir", self.data_dir,
             "--log-level", "info"] + self.args,
            stdout=subprocess.PIPE, stderr=self.log, env=self.env)
        line = self.proc.stdout.readline().decode()
        if "worker ready" in line:
            return self  # a worker without an HTTP port
        if "listening on" not in line:
            self.proc.wait(timeout=10)
            raise RuntimeError("server did not start: %r\n%s" %
                               (line, self.read_log()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        return self

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def read_all_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal the server and wait for it; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        self.check_contract()
        return rc

    def check_contract(self):
        """Fail on an answer the route does not declare: reply.c logs
        "undeclared status" for any status that src/api/statuses.c (and so
        docs/openapi.yaml, tests/openapi) lacks for the route."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:  # the test removed its data directory
            return
        bad = [line for line in text.splitlines() if "undeclared status" in line]
        if bad:
            raise AssertionError("answers outside the contract "
                                 "(docs/openapi.yaml):\n" + "\n".join(bad[:20]))

    def cleanup(self):
        if self.proc is not None:
            self.stop(signal.SIGKILL)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, timeout=120):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        headers = dict(headers or {})
        if self.token is not None and not any(
                k.lower() in ("authorization", "x-api-key") for k in headers):
            headers["Authorization"] = "Bearer " + self.token
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data)
        finally:
            conn.close()

    def put(self, name, data, wait=None, headers=None):
        q = f"?wait={wait}" if wait is not None else ""
        path = urllib.parse.quote(name, safe="")
        return self.request("PUT", f"/v1/images/{path}{q}", data,
                            headers or {"Content-Type": "application/octet-stream"})

    def post_multipart(self, name, data, wait=None):
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; "
                   f"name=\"note\"\r\n\r\nignored\r\n".encode())
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; "
                   f"name=\"file\"; filename=\"{name}\"\r\n"
                   f"Content-Type: application/octet-stream\r\n\r\n".encode())
        body.write(data)
        body.write(f"\r\n--{boundary}--\r\n".encode())
        q = f"?wait={wait}" if wait is not None else ""
        return self.request(
            "POST", f"/v1/images{q}", body.getvalue(),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def wait_done(self, image_id, seconds=60):
        r = self.request("GET", f"/v1/images/{image_id}?wait={seconds}")
        assert r.status == 200, r
        return r.json()

    # ---- what is on disk ----
    def files_under(self, *parts):
        root = os.path.join(self.data_dir, *parts)
        out = []
        for dirpath, _, files in os.walk(root):
            for f in files:
                out.append(os.path.relpath(os.path.join(dirpath, f), root))
        return sorted(out)


class ServerTest(unittest.TestCase):
    """A test case with one running server per test."""
    server_args = ()

    def setUp(self):
        self.server = Server(args=self.server_args).start()

    def tearDown(self):
        log = None
        if self.server.proc is not None:
            rc = self.server.stop()
            if rc != 0:
                log = self.server.read_log()
        self.server.cleanup()
        if log is not None:
            self.fail("server exited non-zero on SIGTERM:\n" + log)

    def assertJsonError(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        err = r.json()["error"]
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        if code is not None:
            self.assertEqual(err["code"], code, r)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main():
    unittest.main(verbosity=2)
