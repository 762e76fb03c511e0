"""The HTTP edge (docs/SECURITY.md): one client cannot take every
connection (a per-address cap, a header deadline that trickling does not
restart, a floor on body rate); headers libmicrohttpd would let through
are refused with a JSON 400 before any body is read; and every request
leaves one escaped access-log line at info.

The attackers bind 127.0.0.2 (Linux routes 127/8 to lo) and connect to
the server on 127.0.0.1, so the server sees them as another client than
the probes, which come from 127.0.0.1.  Nothing sleeps to synchronise:
the trickle loop waits on select() between rounds as load, and the
probes start on an Event the loop sets once the attack is in place.
"""
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

ATTACKER = "127.0.0.2"
ATTACKERS = 600
CAP = 32  # server.max_connections_per_client in the attack test
HEADER_TIMEOUT = 2  # server.header_timeout in these tests, seconds
TICK = 0.5  # a byte per open attacker socket per tick
PROBE_TIMEOUT = 5  # bound on /healthz under attack, seconds
UPLOAD_TIMEOUT = 40  # bound on an upload with ?wait=20 under attack
DRAIN_BOUND = 20  # all attackers closed by then, trickling or not
ACCESS = re.compile(rb" info  http (client=.*)$")


def read_all(s):
    """Everything the server sends until it closes (or resets)."""
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        data += b
    return data


def closed_by_peer(s):
    """True if the non-blocking socket s was closed by the server."""
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def reaper_totals(log):
    """Sums of the guard's summary lines: (past deadline, slow bodies,
    refused)."""
    pat = re.compile(r"closed (\d+) connection\(s\) past the header deadline"
                     r" \(\d+ ms\), (\d+) with a body slower than \d+ B/s; "
                     r"refused (\d+)")
    tot = [0, 0, 0]
    for m in pat.finditer(log):
        for i in range(3):
            tot[i] += int(m.group(i + 1))
    return tuple(tot)


class Attack:
    """ATTACKERS sockets from ATTACKER, each sending a request line, then
    one header byte per tick; a socket the server closes is reopened while
    `reconnect` is true."""

    def __init__(self, port):
        self.port = port
        self.open = {}  # socket -> tick of its connect
        self.connects = 0
        self.refused_connect = 0
        self.max_alive = 0  # open sockets at least 2 ticks old
        self.lifetimes = []  # seconds, of the sockets the server held
        self.born = {}

    def connect(self, tick):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((ATTACKER, 0))
        s.settimeout(5)
        self.connects += 1
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        except OSError:
            self.refused_connect += 1
            s.close()
            return
        s.setblocking(False)
        self.open[s] = tick
        self.born[s] = time.monotonic()

    def round(self, tick, reconnect):
        alive = 0
        for s, t in list(self.open.items()):
            if closed_by_peer(s):
                if t <= tick - 2:  # was held, not refused at once
                    self.lifetimes.append(time.monotonic() - self.born[s])
                del self.open[s], self.born[s]
                s.close()
                continue
            if t <= tick - 2:
                alive += 1
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                del self.open[s], self.born[s]
                s.close()
        self.max_alive = max(self.max_alive, alive)
        if reconnect:
            for _ in range(ATTACKERS - len(self.open)):
                self.connect(tick)

    def close(self):
        for s in self.open:
            s.close()
        self.open.clear()


class FairnessTest(harness.ServerTest):
    server_args = ("--listen", "127.0.0.1",
                   "--set", f"server.header_timeout={HEADER_TIMEOUT}",
                   "--set", f"server.max_connections_per_client={CAP}",
                   "--set", "server.min_body_rate=1024")

    def probe(self, started, results):
        started.wait(60)
        t0 = time.monotonic()
        r = self.server.request("GET", "/healthz", timeout=PROBE_TIMEOUT)
        results["healthz"] = (r.status, time.monotonic() - t0)
        t0 = time.monotonic()
        r = self.server.request(
            "PUT", "/v1/images/bridge.jpg?wait=20",
            harness.corpus("bridge.jpg"),
            {"Content-Type": "application/octet-stream"},
            timeout=UPLOAD_TIMEOUT)
        results["upload"] = (r, time.monotonic() - t0)
        t0 = time.monotonic()
        r = self.server.request("GET", "/healthz", timeout=PROBE_TIMEOUT)
        results["healthz2"] = (r.status, time.monotonic() - t0)

    def test_slowloris_from_one_address(self):
        attack = Attack(self.server.port)
        started = threading.Event()
        results = {}
        errors = []

        def run_probe():
            try:
                self.probe(started, results)
            except Exception as e:  # reported below, in this thread
                errors.append(e)

        th = threading.Thread(target=run_probe)
        th.start()
        tick = 0
        end = time.monotonic() + 60
        try:
            while th.is_alive() and time.monotonic() < end:
                attack.round(tick, reconnect=True)
                if tick == 2:
                    started.set()  # 600 tried, refused ones seen closed
                tick += 1
                select.select([], [], [], TICK)
            started.set()
            th.join(UPLOAD_TIMEOUT + 2 * PROBE_TIMEOUT)
            # Stop reconnecting but keep trickling: the server must close
            # what is left by its header deadline, not by idleness.
            drain_end = time.monotonic() + DRAIN_BOUND
            while attack.open and time.monotonic() < drain_end:
                attack.round(tick, reconnect=False)
                tick += 1
                select.select([], [], [], TICK)
            left = len(attack.open)
        finally:
            attack.close()
        self.assertFalse(errors, errors)
        self.assertEqual(results["healthz"][0], 200)
        self.assertEqual(results["healthz2"][0], 200)
        r, upload_s = results["upload"]
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["status"], "done", r)
        self.assertEqual(left, 0, "attack sockets still open after "
                         f"{DRAIN_BOUND} s of trickling")
        self.assertLessEqual(attack.max_alive, CAP)
        rc = self.server.stop()
        self.assertEqual(rc, 0)
        with open(self.server.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        deadline, _, refused = reaper_totals(log)
        self.assertGreater(deadline, 0, log[-2000:])
        self.assertGreater(refused, 0, log[-2000:])
        lt = sorted(attack.lifetimes)
        print(f"\nslowloris: {attack.connects} connects from {ATTACKER}, "
              f"{attack.refused_connect} refused at connect; at most "
              f"{attack.max_alive} held at once (cap {CAP}); server closed "
              f"{deadline} past the {HEADER_TIMEOUT} s header deadline and "
              f"refused {refused} over the cap; held sockets lived "
              f"{lt[0] if lt else 0:.1f}..{lt[-1] if lt else 0:.1f} s; "
              f"/healthz {results['healthz'][1] * 1000:.0f} ms and "
              f"{results['healthz2'][1] * 1000:.0f} ms, upload+wait "
              f"{upload_s * 1000:.0f} ms", file=sys.stderr)

    def test_slow_body_is_dropped(self):
        data = harness.corpus("bridge.jpg")
        s = socket.create_connection(("127.0.0.1", self.server.port),
                                     timeout=5)
        s.sendall(b"PUT /v1/images/slow.jpg HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(data))
        s.setblocking(False)
        end = time.monotonic() + DRAIN_BOUND
        sent = 0
        closed = False
        while time.monotonic() < end and not closed:
            try:
                s.send(data[sent:sent + 4])  # 8 B/s, far below 1024
                sent += 4
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            closed = closed_by_peer(s)
            select.select([], [], [], TICK)
        s.close()
        self.assertTrue(closed, f"a {sent}-byte trickle is still open")
        self.assertLess(sent, len(data))
        r = self.server.request("GET", "/v1/images")
        self.assertEqual(r.json()["items"], [])
        self.assertEqual(self.server.files_under("buckets", "input"), [])
        self.assertEqual(self.server.files_under("tmp"), [])


def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_all(s)
    finally:
        s.close()


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


class StrictHttpTest(harness.ServerTest):
    """Each request carries a valid image: without the rule it would be
    stored, so "nothing stored" means it was refused before its body."""

    def cases(self, img):
        head = (b"PUT /v1/images/a.jpg HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/octet-stream\r\n")
        n = len(img)
        cl = b"Content-Length: %d\r\n" % n
        return {
            "two Content-Lengths": head + cl +
            b"Content-Length: %d\r\n\r\n" % (n - 10) + img,
            "a repeated Content-Length": head + cl + cl + b"\r\n" + img,
            "Content-Length and chunked": head + cl +
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked(img),
            "chunked and Content-Length": head +
            b"Transfer-Encoding: chunked\r\n" + cl + b"\r\n" + chunked(img),
            "a coding other than chunked": head +
            b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(img),
            "a control character in a value": head + cl +
            b"X-Note: a\x01b\r\n\r\n" + img,
            "an escape in a value": head + cl +
            b"X-Note: \x1b[31mred\r\n\r\n" + img,
            "DEL in a value": head + cl + b"X-Note: a\x7fb\r\n\r\n" + img,
            "a space before the colon": head + cl +
            b"X-Note : a\r\n\r\n" + img,
            "a name that is not a token": head + cl +
            b"X(Note): a\r\n\r\n" + img,
        }

    def test_refused_before_the_body(self):
        img = harness.corpus("wine.jpg")
        for name, req in self.cases(img).items():
            with self.subTest(name):
                data = raw(self.server.port, req)
                self.assertEqual(data.count(b"HTTP/1."), 1, data[:600])
                head, _, body = data.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 400 "), head)
                self.assertIn(b"\r\nConnection: close", head)
                err = json.loads(body)["error"]
                self.assertEqual(err["code"], "invalid_request")
                self.assertTrue(err["message"])
        r = self.server.request("GET", "/v1/images")
        self.assertEqual(r.json()["items"], [])
        self.assertEqual(self.server.files_under("buckets", "input"), [])

    def test_a_clean_request_still_passes(self):
        img = harness.corpus("wine.jpg")
        data = raw(self.server.port,
                   b"PUT /v1/images/a.jpg HTTP/1.1\r\nHost: x\r\n"
                   b"X-Note: caf\xc3\xa9 \tok\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(img) + img)
        self.assertTrue(data.startswith(b"HTTP/1.1 202 "), data[:300])


class AccessLogTest(unittest.TestCase):
    def requests(self, port, server):
        """The requests, and the number of access lines they make."""
        r = server.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        r = server.put("wine.jpg", harness.corpus("wine.jpg"), wait=30)
        self.assertEqual(r.status, 201, r)
        image = r.json()["id"]
        self.assertEqual(server.request("GET", f"/v1/images/{image}").status,
                         200)
        data = raw(port, b"GET /\x1b[31mred\"\\ HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 404 "), data[:200])
        data = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                   b"X-A : b\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:200])
        # a body cut short: the request ends early, and is logged too
        data = raw(port, b"PUT /v1/images/cut.jpg HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 100000\r\n\r\n\xff\xd8\xff")
        return image, 6

    def test_text_lines(self):
        server = harness.Server().start()
        try:
            image, n = self.requests(server.port, server)
            self.assertEqual(server.stop(), 0)
            with open(server.log_path, "rb") as f:
                log = f.read()
        finally:
            server.cleanup()
        self.assertNotIn(b"\x1b", log)
        lines = [m.group(1).decode() for m in
                 map(ACCESS.search, log.splitlines()) if m]
        self.assertEqual(len(lines), n, "\n".join(lines))
        fields = [dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', ln))
                  for ln in lines]
        for f in fields:
            for k in ("client", "method", "path", "status", "bytes", "ms",
                      "id"):
                self.assertIn(k, f, f)
            self.assertEqual(f["client"], "127.0.0.1")
            self.assertNotIn("key", f)  # no API key in these requests
        # a line is written when its request ends, which may be after the
        # client has sent the next one: find lines by what they are
        def one(**want):
            found = [f for f in fields
                     if all(f.get(k) == v for k, v in want.items())]
            self.assertEqual(len(found), 1, (want, fields))
            return found[0]
        self.assertEqual(one(path="/healthz", status="200")["bytes"], "16")
        self.assertEqual(sorted(f["status"] for f in fields
                                if f.get("image") == image), ["200", "201"])
        one(path=r'/\x1b[31mred\"\\', status="404")
        one(path="/healthz", status="400")
        cut = one(method="PUT", path="/v1/images/cut.jpg")
        self.assertIn(cut["end"], ("client_abort", "read_error", "error"))

    def test_json_lines(self):
        # JSON lines go to stderr, as text lines do: stdout carries only
        # the "listening on" line
        server = harness.Server(
            args=["--set", "server.log_format=json"]).start()
        try:
            image, n = self.requests(server.port, server)
            self.assertEqual(server.stop(), 0)
            with open(server.log_path, "rb") as f:
                out = f.read().splitlines(keepends=True)
        finally:
            server.cleanup()
        # every line of stderr is one JSON object
        self.assertTrue(out)
        for ln in out:
            rec = json.loads(ln)
            for k in ("time", "level", "msg"):
                self.assertIn(k, rec, rec)
        self.assertNotIn(b"\x1b", b"".join(out))
        recs = [json.loads(ln) for ln in out if ln.startswith(b"{")]
        acc = [r for r in recs if r.get("msg") == "http"]
        self.assertEqual(len(acc), n, acc)
        # a line is written when its request ends, which may be after the
        # client has sent the next one: find lines by what they are
        self.assertEqual(sorted(r["status"] for r in acc
                                if r.get("image") == image), [200, 201])
        esc = [r for r in acc if r["path"] == r'/\x1b[31mred\"\\']
        self.assertEqual([r["status"] for r in esc], [404])
        for r in acc:
            for k in ("client", "method", "path", "status", "bytes", "ms",
                      "id", "level", "time"):
                self.assertIn(k, r, r)
        # the request id beside the image id, in the context fields too
        up = [r for r in acc if r.get("image") == image
              and r["method"] == "PUT"]
        self.assertEqual(len(up), 1, acc)
        self.assertEqual(up[0]["requestId"], up[0]["id"])
        self.assertEqual(up[0]["imageId"], image)


if __name__ == "__main__":
    harness.main()
