"""docs/OPERATIONS.md's backup and restore, as written: the backup commands
run against a serving imgpipe while it works, the restore commands on the
stopped directory, and a server started on the restored directory has
every image the backup held, bytes unchanged, and nothing newer."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SOURCE_ROOT = os.environ.get(
    "IMGPIPE_SOURCE_ROOT",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def doc_block(marker):
    """The sh block of docs/OPERATIONS.md that holds marker, as lines."""
    with open(os.path.join(SOURCE_ROOT, "docs", "OPERATIONS.md")) as f:
        text = f.read()
    for body in re.findall(r"```sh\n(.*?)```", text, re.S):
        if marker in body:
            return [line for line in body.splitlines() if line.strip()]
    raise AssertionError(f"docs/OPERATIONS.md: no sh block with {marker!r}")


class BackupRestoreTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-backup-")
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.cleanup()
            shutil.rmtree(self.server.data_dir, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_doc_lines(self, lines, data_dir, skip=()):
        """Each line with the service's paths replaced by the test's; the
        service's user is this user."""
        backup = os.path.join(self.tmp, "backup")
        for line in lines:
            if line.startswith(skip):
                continue
            cmd = (line.replace("/var/lib/imgpipe", data_dir)
                   .replace("/backup/imgpipe", backup)
                   .replace("sudo -u imgpipe ", "")
                   .replace("-o imgpipe -g imgpipe ", ""))
            r = subprocess.run(["bash", "-c", cmd], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, f"{line}\n{r.stderr}")

    def variant(self, image_id, name="thumb"):
        r = self.server.request("GET", f"/v1/images/{image_id}/variants/{name}")
        self.assertEqual(r.status, 200, r)
        return r.body

    def test_online_backup_then_restore(self):
        self.server = harness.Server().start()
        data = self.server.data_dir
        kept = {}
        for name in ("wine.jpg", "bridge.jpg"):
            r = self.server.put(name, harness.corpus(name), wait=60)
            self.assertEqual(r.status, 201, r)
            kept[r.json()["id"]] = self.variant(r.json()["id"])
        # The backup, while the server runs and takes one more upload.
        self.run_doc_lines(doc_block("VACUUM INTO"), data)
        r = self.server.put("later.jpg", harness.corpus("wine.jpg"), wait=60)
        self.assertEqual(r.status, 201, r)
        later = r.json()["id"]
        self.assertEqual(self.server.stop(), 0)

        # The restore, on the stopped directory; systemctl is this test.
        self.run_doc_lines(doc_block("systemctl stop imgpipe"), data,
                           skip=("systemctl",))
        self.server = harness.Server(data_dir=data).start()
        listed = self.server.request("GET", "/v1/images").json()["items"]
        self.assertEqual({x["id"] for x in listed}, set(kept))
        for x in listed:
            self.assertEqual(x["status"], "done")
            self.assertEqual(self.variant(x["id"]), kept[x["id"]])
        self.assertEqual(self.server.request("GET", f"/v1/images/{later}")
                         .status, 404)
        self.assertEqual(self.server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
