"""The Lambda package, proven without AWS (docs/AWS.md, "The Lambda
artifact").

scripts/lambda-package.sh packages the binary under test; the zip is
unpacked at /var/task of an otherwise empty root: /proc, /dev, /tmp, a CA
bundle at Amazon Linux 2023's path /etc/pki/tls/certs/ca-bundle.crt, and a
/lib64 holding a broken libc.so.6 and libglib-2.0.so.0 on Lambda's
LD_LIBRARY_PATH (in Lambda, /lib64 holds Amazon Linux's own libraries, which
the package must not pick up).  No /usr, no /etc/fonts, no shell.
`bootstrap` runs there (chroot in a private mount namespace; needs root)
under a Runtime API host written here, and handles one S3 event per corpus
photo against radosgw, reached only through a TLS proxy whose CA is the one
at the AL2023 path, and dynalite.

Asserted: every photo's record is `done`; the AVIF variant exists; the
watermarked variant's pixels match the same variant made by `imgpipe
process` on the host, and differ from a render without fonts (tofu); the
proxy carried the S3 traffic.  Printed: sizes, cold start, time and peak
RSS per photo (the numbers docs/AWS.md quotes).
"""
import http.server
import json
import os
import queue
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402

from PIL import Image, ImageChops  # noqa: E402

SOURCE = os.environ.get("IMGPIPE_SOURCE_ROOT", ".")
# What Lambda's provided.al2023 sets (the AL2023 libraries live in /lib64).
LAMBDA_LD_PATH = ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:"
                  "/var/runtime/lib:/var/task:/var/task/lib:/opt/lib")
WATERMARKED = "medium"  # a default variant with the text watermark



class TlsProxy:
    """TLS in front of a plain TCP server; bytes pass through unchanged
    (so SigV4 signatures over Host stay valid).  Keeps the request lines
    it sees."""

    def __init__(self, cert, key, backend_port):
        self.backend = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            b = socket.create_connection(("127.0.0.1", self.backend))
        except (OSError, ssl.SSLError):
            c.close()
            return
        down = threading.Thread(target=self.pump, args=(b, t, False), daemon=True)
        down.start()
        self.pump(t, b, True)
        down.join()
        t.close()
        b.close()

    def pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    for m in re.finditer(rb"(?:^|\r\n)(GET|PUT|HEAD|POST|DELETE) (/\S*) HTTP/1\.1\r\n", data):
                        with self.lock:
                            self.requests.append(m.group(1).decode() + " " + m.group(2).decode())
                dst.sendall(data)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class RuntimeApi:
    """The Lambda Runtime API: hands out the queued events on GET next and
    records what the function answers, with timestamps."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = queue.Queue()
        self.first_next = None
        self.pid = None
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self.reply(404)
                if api.first_next is None:
                    api.first_next = time.monotonic()
                rid, event = api.events.get()
                api.reset_peak()
                api.started[rid] = time.monotonic()
                self.reply(200, json.dumps(event).encode(), [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 300000)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:000000000000:function:imgpipe")])

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                m = re.match(r"^/2018-06-01/runtime/(?:invocation/([A-Za-z0-9-]+)/)?(response|error)$",
                             self.path)
                self.reply(202 if m else 404)
                if m:
                    api.answers.put((m.group(1) or "init", m.group(2), body,
                                     time.monotonic(), api.peak_kb()))

        self.started = {}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset_peak(self):
        """VmHWM back to the current RSS (clear_refs 5), so each invocation
        gets its own peak."""
        if self.pid is not None:
            try:
                with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def peak_kb(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, TypeError):
            pass
        return 0

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def s3_event(bucket, key):
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key}}}]}


def pixels_differ(a, b):
    """Largest per-channel difference between two decoded images."""
    with Image.open(a) as x, Image.open(b) as y:
        x, y = x.convert("RGB"), y.convert("RGB")
        if x.size != y.size:
            return 255
        return max(hi for _, hi in ImageChops.difference(x, y).getextrema())


class LambdaPackageTest(unittest.TestCase):
    def setUp(self):
        srv = harness.servers(["IMGPIPE_TEST_RGW_URL", "IMGPIPE_SERVERS_RGW_PORT",
                               "IMGPIPE_SERVERS_DYNALITE_PORT"])
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-lambdapkg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        sfx = uuid.uuid4().hex[:10]
        self.input, self.output = f"in-{sfx}", f"out-{sfx}"
        self.config = {
            "IMGPIPE_STORAGE_TABLE":
                f"dynamodb+http://127.0.0.1:{srv['IMGPIPE_SERVERS_DYNALITE_PORT']}"
                f"/?region=us-east-1&table=imgpipe-{sfx}",
            "IMGPIPE_STORAGE_INPUT_BUCKET": self.input,
            "IMGPIPE_STORAGE_OUTPUT_BUCKET": self.output,
            "IMGPIPE_AWS_ACCESS_KEY_ID": srv["IMGPIPE_TEST_RGW_ACCESS_KEY"],
            "IMGPIPE_AWS_SECRET_ACCESS_KEY": srv["IMGPIPE_TEST_RGW_SECRET_KEY"],
            "IMGPIPE_VARIANT_HERO_WIDTH": "480",
            "IMGPIPE_VARIANT_HERO_FORMAT": "avif",
        }
        self.rgw = dict(self.config, IMGPIPE_STORAGE_OBJSTORE=srv["IMGPIPE_TEST_RGW_URL"],
                        IMGPIPE_STORAGE_EVENTS="store")
        env = dict(os.environ, **self.rgw)
        init = subprocess.run([harness.BIN, "init", "--data-dir", self.tmp],
                              env=env, capture_output=True, text=True)
        self.assertEqual(init.returncode, 0, init.stderr)
        self.rgw_port = int(srv["IMGPIPE_SERVERS_RGW_PORT"])

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.tmp,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def make_certs(self):
        self.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                     "-subj", "/CN=imgpipe test CA", "-keyout", "ca.key", "-out", "ca.crt")
        self.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                     "-keyout", "srv.key", "-out", "srv.csr")
        with open(os.path.join(self.tmp, "san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        self.openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                     "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "srv.crt")

    def make_root(self, zip_path):
        root = os.path.join(self.tmp, "root")
        task = os.path.join(root, "var", "task")
        for d in ("proc", "dev", "tmp", "lib64", "etc/pki/tls/certs", "var/task"):
            os.makedirs(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                z.extract(info, task)
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(os.path.join(task, info.filename), stat.S_IMODE(mode))
        shutil.copy(os.path.join(self.tmp, "ca.crt"),
                    os.path.join(root, "etc/pki/tls/certs/ca-bundle.crt"))
        for decoy in ("libc.so.6", "libglib-2.0.so.0"):
            with open(os.path.join(root, "lib64", decoy), "w") as f:
                f.write("not a library: the package must not load this\n")
        return root

    def host_process(self, photo, out, extra=None):
        env = dict(os.environ, **self.config, **(extra or {}))
        r = subprocess.run([harness.BIN, "process", photo, "-o", out, "--json",
                            "--data-dir", os.path.join(self.tmp, "hostdata")],
                           env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout.splitlines()[0])  # then the summary

    def test_package_runs_in_an_empty_root(self):
        # IMGPIPE_TEST_LAMBDA_ZIP: prove a zip already built (.ci/run passes the
        # one `make lambda` made); otherwise package the binary under test.
        zip_path = os.environ.get("IMGPIPE_TEST_LAMBDA_ZIP")
        if zip_path:
            self.assertTrue(os.path.isfile(zip_path), zip_path)
        else:
            zip_path = os.path.join(self.tmp, "imgpipe-lambda-x86_64.zip")
            pkg = subprocess.run(
                [os.path.join(SOURCE, "scripts", "lambda-package.sh"),
                 "--binary", harness.BIN, "--out", zip_path],
                capture_output=True, text=True)
            self.assertEqual(pkg.returncode, 0, pkg.stdout + pkg.stderr)
            print(pkg.stdout, end="")
        self.make_certs()
        root = self.make_root(zip_path)
        proxy = TlsProxy(os.path.join(self.tmp, "srv.crt"),
                         os.path.join(self.tmp, "srv.key"), self.rgw_port)
        self.addCleanup(proxy.close)
        rapi = RuntimeApi()
        self.addCleanup(rapi.close)

        # the originals, through a gateway on the host (plain HTTP to radosgw)
        gw = harness.Server(env=self.rgw, command="gateway")
        self.addCleanup(gw.cleanup)
        gw.start()
        uploads = {}
        for name in harness.PHOTOS:
            r = gw.put(name, harness.corpus(name))
            self.assertEqual(r.status, 202, r)
            rec = r.json()
            uploads[rec["id"]] = name
            rapi.events.put((f"req-{rec['id']}", s3_event(self.input, f"{rec['id']}/{name}")))

        env = dict(self.config,
                   IMGPIPE_STORAGE_OBJSTORE=f"s3+https://127.0.0.1:{proxy.port}/"
                                            "?region=us-east-1&path_style=1",
                   AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{rapi.port}",
                   LAMBDA_TASK_ROOT="/var/task", LD_LIBRARY_PATH=LAMBDA_LD_PATH,
                   TZ=":UTC", PATH="/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        log_path = os.path.join(self.tmp, "bootstrap.log")
        log = open(log_path, "wb")
        self.addCleanup(log.close)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
             'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && '
             'exec /usr/sbin/chroot "$1" /var/task/bootstrap', "sh", root],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        rapi.pid = proc.pid  # unshare, sh and chroot exec: the same process

        def stop():
            proc.kill()
            proc.wait()
        self.addCleanup(stop)

        def blog():
            with open(log_path, errors="replace") as f:
                return f.read()[-4000:]

        answers = {}
        while len(answers) < len(uploads):
            try:
                rid, kind, body, at, peak = rapi.answers.get(timeout=120)
            except queue.Empty:
                self.fail(f"no answer from bootstrap in 120 s\n{blog()}")
            self.assertEqual(kind, "response", f"{rid}: {body}\n{blog()}")
            answers[rid] = (json.loads(body), at - rapi.started[rid], peak)
        cold = rapi.first_next - t0

        host_dir = os.path.join(self.tmp, "host")
        nofont_dir = os.path.join(self.tmp, "nofont")
        nofont_conf = os.path.join(self.tmp, "nofont.conf")
        with open(nofont_conf, "w") as f:
            f.write('<?xml version="1.0"?><fontconfig>'
                    f'<cachedir>{self.tmp}/fc</cachedir></fontconfig>\n')
        rows = []
        for i, name in uploads.items():
            rec = gw.wait_done(i, 60)
            self.assertEqual(rec["status"], "done", f"{name}: {rec}\n{blog()}")
            self.assertEqual(answers[f"req-{i}"][0]["done"], 1)
            byname = {v["name"]: v for v in rec["variants"]}
            self.assertEqual(byname["hero"]["format"], "avif", rec)
            r = gw.request("GET", f"/v1/images/{i}/variants/hero")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body[4:12], b"ftypavif")
            # the watermarked variant: the same pixels as on the host
            r = gw.request("GET", f"/v1/images/{i}/variants/{WATERMARKED}")
            self.assertEqual(r.status, 200)
            ext = byname[WATERMARKED]["key"].rsplit(".", 1)[1]
            lam = os.path.join(self.tmp, f"lambda-{i}.{ext}")
            with open(lam, "wb") as f:
                f.write(r.body)
            stem = os.path.splitext(name)[0]
            host = self.host_process(os.path.join(harness.CORPUS, name), host_dir)
            diff = pixels_differ(lam, os.path.join(host_dir, f"{stem}-{WATERMARKED}.{ext}"))
            self.assertLessEqual(diff, 2, f"{name}: lambda and host differ by {diff}")
            ans, took, peak = answers[f"req-{i}"]
            rows.append((name, took, ans["processing_ms"], host["processing_ms"], peak))
        # no tofu: without fonts the watermark comes out different
        name = harness.PHOTOS[0]
        stem = os.path.splitext(name)[0]
        i = next(k for k, v in uploads.items() if v == name)
        ext = {v["name"]: v for v in gw.wait_done(i, 5)["variants"]}[WATERMARKED]["key"]
        ext = ext.rsplit(".", 1)[1]
        self.host_process(os.path.join(harness.CORPUS, name), nofont_dir,
                          {"FONTCONFIG_FILE": nofont_conf})
        self.assertGreater(pixels_differ(os.path.join(self.tmp, f"lambda-{i}.{ext}"),
                                         os.path.join(nofont_dir, f"{stem}-{WATERMARKED}.{ext}")),
                           16, "the watermark looks the same as with no fonts")
        # the S3 traffic went through TLS
        with proxy.lock:
            seen = list(proxy.requests)
        self.assertTrue(any(r.startswith(f"GET /{self.input}/") for r in seen), seen[:20])
        self.assertTrue(any(r.startswith(f"PUT /{self.output}/") for r in seen), seen[:20])

        print(f"cold start (exec to first /next): {cold * 1000:.0f} ms")
        print(f"{'photo':20} {'invocation ms':>13} {'lambda fn ms':>12} "
              f"{'host fn ms':>10} {'peak RSS MB':>11}")
        for name, took, fn_ms, host_ms, peak in rows:
            print(f"{name:20} {took * 1000:13.0f} {fn_ms:12d} {host_ms:10d} "
                  f"{peak / 1024:11.1f}")
        print(f"proxy: {len(seen)} S3 requests over TLS")


if __name__ == "__main__":
    unittest.main(verbosity=2)
