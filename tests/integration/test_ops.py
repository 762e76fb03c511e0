"""What an operator relies on when something else goes wrong (issue 15):
one owner per data directory, and temp files of dead uploads removed even
when their pid was reused."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def start_ticks(pid):
    """Field 22 of /proc/PID/stat, as imgpipe reads it."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[19])


class DataDirLockTest(unittest.TestCase):
    def test_second_serve_on_one_data_dir_refuses(self):
        first = harness.Server().start()
        try:
            second = harness.Server(data_dir=first.data_dir)
            with self.assertRaises(RuntimeError) as cm:
                second.start()
            msg = str(cm.exception)
            self.assertIn("is in use by another imgpipe", msg)
            self.assertIn(f"pid {first.proc.pid}, imgpipe serve", msg)
            self.assertEqual(second.proc.returncode, 1)
            second.log.close()
            # the first is untouched, and works on
            r = first.put("a.jpg", harness.corpus("wine.jpg"), wait=60)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(first.stop(), 0)
            # once it is gone, the directory is free (kill -9 alike)
            third = harness.Server(data_dir=first.data_dir).start()
            self.assertEqual(third.request("GET", "/v1/images").json()["items"][0]["name"],
                             "a.jpg")
            self.assertEqual(third.stop(), 0)
        finally:
            first.cleanup()

    def test_killed_owner_frees_the_directory(self):
        first = harness.Server().start()
        try:
            first.stop(sig=9)
            second = harness.Server(data_dir=first.data_dir).start()
            self.assertEqual(second.request("GET", "/healthz").status, 200)
            self.assertEqual(second.stop(), 0)
        finally:
            first.cleanup()


class StaleTempFilesTest(unittest.TestCase):
    def test_reused_pid_does_not_keep_a_dead_upload(self):
        s = harness.Server()
        tmp = os.path.join(s.data_dir, "tmp")
        os.makedirs(tmp)
        me = os.getpid()  # alive: what a reused pid looks like
        names = {
            f"upload-{me}.1-aaaaaa": False,                  # same pid, other start: dead
            f"upload-{me}.{start_ticks(me)}-bbbbbb": True,   # this very process: alive
            "upload-999999999.5-cccccc": False,              # no such pid
        }
        for n in names:
            with open(os.path.join(tmp, n), "wb") as f:
                f.write(b"partial upload")
        s.start()
        try:
            left = sorted(os.listdir(tmp))
            self.assertEqual(left, sorted(n for n, keep in names.items() if keep))
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
