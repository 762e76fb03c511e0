"""deploy/systemd/imgpipe.service: systemd accepts it, it has the
hardening docs/OPERATIONS.md promises, its command line parses with the
real binary, and `imgpipe serve` as that command line, under the unit's
system-call filter (@system-service + seccomp, other calls EPERM, no new
privileges), takes an upload to `done` (image helpers included) and
drains on SIGTERM.

No systemd runs in the test's container, so the filter is applied the way
systemd applies it: libseccomp, through ctypes, between fork and exec.
"""
import configparser
import ctypes
import errno
import http.client
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

ROOT = os.environ.get(
    "IMGPIPE_SOURCE_ROOT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UNIT = os.path.join(ROOT, "deploy", "systemd", "imgpipe.service")
BIN = os.path.abspath(os.environ.get("IMGPIPE_BIN", "build/imgpipe"))
CORPUS = os.environ.get("IMGPIPE_CORPUS", "../shared/corpus")
OPERATIONS = os.path.join(ROOT, "docs", "OPERATIONS.md")


def unit():
    """The unit as {key: [values]} of its [Service] section, and the
    parser (a key may repeat: SystemCallFilter)."""
    values = {}
    section = None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                section = m[1]
                continue
            k, _, v = line.partition("=")
            values.setdefault((section, k.strip()), []).append(v.strip())
    return values


def service_ini():
    """The /etc/imgpipe/imgpipe.ini docs/OPERATIONS.md shows."""
    with open(OPERATIONS) as f:
        text = f.read()
    m = re.search(r"```ini\n(# /etc/imgpipe/imgpipe.ini\n.*?)```", text,
                  re.S)
    if m is None:
        raise AssertionError("docs/OPERATIONS.md shows no "
                             "/etc/imgpipe/imgpipe.ini block")
    return m[1]


def syscall_groups():
    """{"@group": [members]} from systemd-analyze's own tables."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"],
                         capture_output=True, text=True, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and \
                not line.strip().startswith("#"):
            cur.append(line.strip())
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n not in seen:
                seen.add(n)
                out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


class Filter:
    """A seccomp allow-list built in the parent, loaded in the child."""
    SCMP_ACT_ALLOW = 0x7FFF0000

    def __init__(self, syscalls, errno_value):
        self.lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                              ctypes.c_int, ctypes.c_uint]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.ctx = self.lib.seccomp_init(0x00050000 | errno_value)
        assert self.ctx, "seccomp_init failed"
        self.allowed = 0
        for name in sorted(syscalls):
            nr = self.lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # not a system call of this architecture
            assert self.lib.seccomp_rule_add(self.ctx, self.SCMP_ACT_ALLOW,
                                             nr, 0) == 0, name
            self.allowed += 1

    def load(self):  # in the child, between fork and exec
        if self.libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            os._exit(120)
        if self.lib.seccomp_load(self.ctx) != 0:
            os._exit(121)


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-systemd-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def exec_start(self):
        argv = shlex.split(unit()[("Service", "ExecStart")][0])
        self.assertEqual(argv[0], "/usr/local/bin/imgpipe")
        return argv

    def test_systemd_analyze_verify(self):
        # The unit as installed, but naming this build's binary (verify
        # checks that ExecStart is executable).
        text = open(UNIT).read().replace("/usr/local/bin/imgpipe", BIN)
        path = os.path.join(self.tmp, "imgpipe.service")
        with open(path, "w") as f:
            f.write(text)
        if shutil.which("systemd-analyze") is None:
            self.fail("systemd-analyze missing: Debian's systemd package "
                      "(scripts/deps.sh test)")
        r = subprocess.run(["systemd-analyze", "verify", path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        # verify exits 0 on unknown keys and bad values: it only warns
        self.assertEqual(r.stderr.strip(), "", "systemd-analyze warned")

    def test_hardening(self):
        u = unit()

        def one(key):
            self.assertIn(("Service", key), u, key)
            return u[("Service", key)][-1]

        for key, want in (("User", "imgpipe"), ("StateDirectory", "imgpipe"),
                          ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                          ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                          ("Restart", "on-failure"),
                          ("CapabilityBoundingSet", "")):
            with self.subTest(key=key):
                self.assertEqual(one(key), want)
        self.assertEqual(set(one("RestrictAddressFamilies").split()),
                         {"AF_UNIX", "AF_INET", "AF_INET6"})
        self.assertIn("@system-service", u[("Service", "SystemCallFilter")])
        self.assertRegex(one("MemoryMax"), r"^\d+[KMG]?$")
        self.assertGreaterEqual(int(one("LimitNOFILE")), 4096)
        # The drain fits: TimeoutStopSec above server.shutdown_grace.
        r = subprocess.run([BIN, "config"], capture_output=True, text=True,
                           cwd=self.tmp, timeout=60)
        grace = int(re.search(r"^shutdown_grace = (\d+)$", r.stdout,
                              re.M)[1])
        self.assertGreater(int(one("TimeoutStopSec")), grace)
        argv = self.exec_start()
        self.assertEqual(argv[1], "serve")
        self.assertEqual(argv[argv.index("--data-dir") + 1],
                         "/var/lib/imgpipe")
        self.assertEqual(argv[argv.index("--config") + 1],
                         "/etc/imgpipe/imgpipe.ini")

    def test_exec_start_parses_with_the_binary(self):
        r = subprocess.run([BIN] + self.exec_start()[1:] + ["--help"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--data-dir", r.stdout)

    def test_serve_under_the_units_syscall_filter(self):
        u = unit()
        groups = syscall_groups()
        allowed = expand(u[("Service", "SystemCallFilter")], groups)
        err = getattr(errno, u[("Service", "SystemCallErrorNumber")][0])
        filt = Filter(allowed, err)
        self.assertGreater(filt.allowed, 200)
        # The filter is in force: chroot(2) is not in @system-service.
        self.assertNotIn("chroot", allowed)
        r = subprocess.run(["chroot", "/", "true"], capture_output=True,
                           text=True, preexec_fn=filt.load, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Operation not permitted", r.stderr)
        ini = os.path.join(self.tmp, "imgpipe.ini")
        with open(ini, "w") as f:
            f.write(service_ini())
        data = os.path.join(self.tmp, "var")
        os.mkdir(data)
        argv = [BIN] + [{"/etc/imgpipe/imgpipe.ini": ini,
                         "/var/lib/imgpipe": data}.get(a, a)
                        for a in self.exec_start()[1:]] + ["--port", "0"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("IMGPIPE_")}
        log = open(os.path.join(self.tmp, "serve.log"), "wb")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                             env=env, cwd=data, preexec_fn=filt.load)
        try:
            line = p.stdout.readline().decode()
            self.assertIn("listening on", line, self.log())
            port = int(line.strip().rsplit(":", 1)[1])
            with open(os.path.join(CORPUS, "wine.jpg"), "rb") as f:
                photo = f.read()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("PUT", "/v1/images/photo.jpg?wait=60", body=photo)
            resp = conn.getresponse()
            body = resp.read().decode()
            conn.close()
            self.assertEqual(resp.status, 201, body + self.log())
            self.assertIn('"status":"done"', body)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=60), 0, self.log())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            log.close()

    def log(self):
        with open(os.path.join(self.tmp, "serve.log"), "rb") as f:
            return "\n" + f.read().decode(errors="replace")[-3000:]


if __name__ == "__main__":
    unittest.main(verbosity=2)
