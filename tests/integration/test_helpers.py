"""Image work in sandboxed helper processes (docs/ARCHITECTURE.md, "Image
helpers"): a helper that crashes, aborts, spins, allocates without bound
or breaks its confinement costs one attempt of one job; the job is retried
(the fault hook fires on the first attempt only) or fails with the reason
(it fires on every attempt); other jobs and the server carry on, and no
helper outlives the server.

The fault hook is IMGPIPE_TEST_HELPER_FAULT (src/imgproc/helper_child.h),
compiled in test builds only (meson -Dtest_hooks)."""
import io
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from PIL import Image  # noqa: E402

FAULTS = ",".join([
    "segv:once:f-segv-once", "abort:once:f-abort-once",
    "loop:once:f-loop-once", "oom:once:f-oom-once",
    "segv:always:f-segv-always", "abort:always:f-abort-always",
    "loop:always:f-loop-always", "oom:always:f-oom-always",
    "open:always:f-open-always", "socket:always:f-socket-always",
])

# The ASan build sets IMGPIPE_WORKER_HELPER_MEMORY_MB=0 (tests/meson.build):
# no RLIMIT_AS there, so a helper that allocates without bound is stopped by
# the deadline instead ("timed out").
MEMORY_LIMITED = os.environ.get("IMGPIPE_WORKER_HELPER_MEMORY_MB") != "0"

# Short limits so a job that fails three times ends within seconds.
ARGS = ("--workers", "2",
        "--set", "limits.timeout=2",
        "--set", "worker.backoff=50",
        "--set", "worker.backoff_max=200",
        "--set", "worker.max_attempts=3") + (
        ("--set", "worker.helper_memory_mb=512") if MEMORY_LIMITED else ())

# Under ASan its own SEGV/abort handlers would report (reading
# /proc/self/maps, which the confinement refuses) before the kernel's
# signal: let the signals through as in a plain build.
ASAN_PLAIN_SIGNALS = ":handle_segv=0:handle_sigbus=0:handle_abort=0"


def small_jpeg():
    """A photo small enough to take milliseconds under limits.timeout=2
    on a loaded machine."""
    out = io.BytesIO()
    Image.open(io.BytesIO(harness.corpus("bridge.jpg"))).resize(
        (640, 360)).save(out, "JPEG", quality=85)
    return out.getvalue()


PHOTO = small_jpeg()


def helper_pids(server_pid, probe=False):
    """The server's helpers: the pool's, or (probe) the gateway's probe
    helper, `imgpipe __helper probe`."""
    pids = set()
    task_dir = f"/proc/{server_pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            pass
    return {p for p in pids if is_probe(p) == probe}


def is_probe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[2:3] == [b"probe"]
    except FileNotFoundError:
        return False


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class HelperFaultTest(harness.ServerTest):
    server_args = ARGS

    def setUp(self):
        self.server = harness.Server(
            args=self.server_args,
            # MALLOC_PERTURB_ (set by meson test) makes glibc fill every
            # allocation: the oom fault would spend seconds writing 512 MB
            # on a loaded machine and meet the deadline instead.
            env={"IMGPIPE_TEST_HELPER_FAULT": FAULTS,
                 "MALLOC_PERTURB_": "0",
                 "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                 ASAN_PLAIN_SIGNALS}).start()

    def upload(self, name):
        r = self.server.put(name + ".jpg", PHOTO)
        self.assertEqual(r.status, 202, r)
        return r.json()["id"]

    def test_faults_retry_or_fail_with_reason(self):
        expect = {
            "f-segv-once": ("done", None),
            "f-abort-once": ("done", None),
            "f-loop-once": ("done", None),
            "f-oom-once": ("done", None),
            "f-segv-always": ("failed", "crashed: signal 11"),
            "f-abort-always": ("failed", "crashed: signal 6"),
            "f-loop-always": ("failed", "timed out"),
            "f-oom-always": ("failed", "out of memory" if MEMORY_LIMITED
                             else "timed out"),
            # confinement: a denied call kills the helper with SIGSYS
            "f-open-always": ("failed", "crashed: signal 31"),
            "f-socket-always": ("failed", "crashed: signal 31"),
        }
        ids = {name: self.upload(name) for name in expect}
        plain = [self.upload(f"plain-{i}") for i in range(4)]
        seen = set()
        for name, (status, reason) in expect.items():
            rec = self.server.wait_done(ids[name], 120)
            seen |= helper_pids(self.server.proc.pid)
            why = (name, rec, self.server.read_log())
            self.assertEqual(rec["status"], status, why)
            if status == "done":
                self.assertEqual(rec["attempts"], 2, why)
                self.assertEqual(len(rec["variants"]), 3, why)
            else:
                self.assertEqual(rec["attempts"], 3, why)
                self.assertIn(reason, rec["error"], why)
        for image_id in plain:
            rec = self.server.wait_done(image_id, 120)
            self.assertEqual(rec["status"], "done", rec)
            self.assertEqual(rec["attempts"], 1, rec)
        # the server lives and answers
        r = self.server.request("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertIn("image helper", self.server.read_log())
        seen |= helper_pids(self.server.proc.pid)
        seen |= helper_pids(self.server.proc.pid, probe=True)
        self.assertTrue(seen, "no helper process was seen")
        self.assertEqual(self.server.stop(), 0)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([p for p in seen if alive(p)], [],
                         "helpers outlived the server")

    def test_kill_9_leaves_no_helper(self):
        rec = self.server.wait_done(self.upload("plain"), 60)
        self.assertEqual(rec["status"], "done", rec)
        pids = helper_pids(self.server.proc.pid)
        self.assertTrue(pids)
        probe = helper_pids(self.server.proc.pid, probe=True)
        self.assertEqual(len(probe), 1, "no probe helper")
        pids |= probe
        self.server.stop(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual([p for p in pids if alive(p)], [])


class ProbeHelperTest(harness.ServerTest):
    """The gateway reads an upload's header in a helper of its own: a
    decoder that crashes there costs that upload a 422, never the
    server, and nothing is stored."""
    server_args = ("--workers", "1")

    def setUp(self):
        # Every upload's temp file is data/tmp/upload-...: the probe of
        # each one crashes.
        self.server = harness.Server(
            args=self.server_args,
            env={"IMGPIPE_TEST_HELPER_FAULT": "segv:probe:/upload-",
                 "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                 ASAN_PLAIN_SIGNALS}).start()

    def test_probe_crash_is_422_and_contained(self):
        first = helper_pids(self.server.proc.pid, probe=True)
        self.assertEqual(len(first), 1, "the probe helper starts with the server")
        for name in ("a.jpg", "b.jpg"):
            r = self.server.put(name, PHOTO)
            self.assertJsonError(r, 422, "unprocessable_image")
            self.assertIn("crashed its decoder", r.json()["error"]["message"])
            self.assertIn("signal 11", r.json()["error"]["message"])
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        self.assertEqual(self.server.files_under("input"), [])
        self.assertEqual(self.server.request("GET", "/v1/images").json()["items"], [])
        self.assertFalse(any(alive(p) for p in first),
                         "the crashed probe helper was not reaped")


class HelperRecycleTest(harness.ServerTest):
    """worker.helper_jobs: a helper is replaced after that many jobs."""
    server_args = ("--workers", "1", "--set", "worker.helper_jobs=2")

    def test_recycled(self):
        alive_after = []
        for i in range(5):
            r = self.server.put(f"r{i}.jpg", PHOTO, wait=60)
            self.assertEqual(r.json()["status"], "done", r)
            alive_after.append(helper_pids(self.server.proc.pid))
        # jobs 1-2 one helper (retired after its 2nd), 3-4 a second, 5 a
        # third
        self.assertEqual([len(p) for p in alive_after], [1, 0, 1, 0, 1],
                         alive_after)
        self.assertEqual(len(alive_after[0] | alive_after[2] |
                             alive_after[4]), 3, alive_after)


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return [v.decode() for v in f.read().split(b"\0") if v]


class HelperEnvironmentTest(harness.ServerTest):
    """Helpers run malloc in transparent huge pages (docs/ARCHITECTURE.md,
    "A helper's allocator"): the host adds glibc's tunable to their
    environment, and an operator's own GLIBC_TUNABLES wins."""
    server_args = ("--workers", "1")

    def helper_environ(self, server):
        r = server.put("env.jpg", PHOTO, wait=60)
        self.assertEqual(r.json()["status"], "done", r)
        (pid,) = helper_pids(server.proc.pid)
        (probe,) = helper_pids(server.proc.pid, probe=True)
        return environ_of(pid), environ_of(probe)

    def test_helpers_get_the_tunable(self):
        for env in self.helper_environ(self.server):
            self.assertIn("GLIBC_TUNABLES=glibc.malloc.hugetlb=1", env)
        # the server's own environment is not changed
        self.assertNotIn("GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
                         environ_of(self.server.proc.pid))

    def test_operator_tunables_win(self):
        own = harness.Server(args=self.server_args,
                             env={"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
        self.addCleanup(own.cleanup)
        own.start()
        for env in self.helper_environ(own):
            tunables = [v for v in env if v.startswith("GLIBC_TUNABLES=")]
            self.assertEqual(tunables, ["GLIBC_TUNABLES=glibc.malloc.hugetlb=0"])


if __name__ == "__main__":
    harness.main()
