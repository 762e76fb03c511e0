"""`imgpipe process` on real batches: folders walked recursively, output
names that mirror the input's folders and never collide, parallel jobs,
--include, --json, the summary and the exit status, the progress line on a
terminal."""
import hashlib
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

VARIANTS = ("large", "medium", "thumb")


def photo(path, colour, size=(480, 320), fmt="JPEG"):
    """A small real image, different for each colour."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.new("RGB", size, colour)
    ImageDraw.Draw(img).ellipse((40, 40, size[0] - 60, size[1] - 30),
                                fill=(255 - colour[0], 90, colour[2] // 2))
    img.save(path, fmt)


def tree(root):
    """root/a/IMG.jpg, root/b/IMG.jpg (different photos), root/a/deep/
    pic.png, root/notes.jpg (not an image), a hidden folder and file, a
    text file.  Returns the good inputs relative to root."""
    photo(os.path.join(root, "a", "IMG.jpg"), (200, 30, 30))
    photo(os.path.join(root, "b", "IMG.jpg"), (30, 30, 200))
    photo(os.path.join(root, "a", "deep", "pic.png"), (30, 160, 30),
          fmt="PNG")
    with open(os.path.join(root, "notes.jpg"), "w") as f:
        f.write("not an image")
    photo(os.path.join(root, ".cache", "IMG.jpg"), (9, 9, 9))
    photo(os.path.join(root, "b", ".hidden.jpg"), (9, 9, 9))
    with open(os.path.join(root, "b", "readme.txt"), "w") as f:
        f.write("text")
    return ["a/IMG.jpg", "a/deep/pic.png", "b/IMG.jpg"]


def run(*args, **kw):
    return subprocess.run([harness.BIN, "process"] + list(args),
                          capture_output=True, text=True, timeout=600, **kw)


def outputs(out):
    """{relative path: sha256} of every file under out."""
    found = {}
    for dirpath, _, names in os.walk(out):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                found[os.path.relpath(p, out)] = hashlib.sha256(
                    f.read()).hexdigest()
    return found


def expected(rel_inputs):
    names = set()
    for rel in rel_inputs:
        stem = os.path.splitext(rel)[0]
        names.update(f"{stem}-{v}.jpg" for v in VARIANTS)
    return names


class ProcessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgpipe-process-")
        self.root = os.path.join(self.tmp, "photos")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_folder_tree_mirrored_with_a_failure(self):
        good = tree(self.root)
        r = run(self.root, "-o", self.out, "--jobs", "2")
        self.assertEqual(r.returncode, 1, r.stderr)  # notes.jpg failed
        # The good ones are written, mirroring their folders: the two
        # IMG.jpg land in different folders, and differ.
        found = outputs(self.out)
        self.assertEqual(set(found), expected(good))
        self.assertNotEqual(found["a/IMG-large.jpg"], found["b/IMG-large.jpg"])
        with Image.open(os.path.join(self.out, "a", "IMG-thumb.jpg")) as t:
            self.assertEqual(t.size, (200, 200))
        # Each line names its input file, not only an id.
        for rel in good:
            self.assertRegex(r.stdout, re.escape(os.path.join(self.root, rel))
                             + " -> ")
        self.assertIn(os.path.join(self.root, "notes.jpg") + ": not an image",
                      r.stderr)
        self.assertRegex(r.stderr, r"3 done, 1 failed in [0-9.]+ s")
        self.assertRegex(r.stderr, r"MB read, [0-9.]+ MB written")

    def test_json_records_and_summary(self):
        good = tree(self.root)
        r = run(self.root + "/", "-o", self.out + "/", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("//", r.stdout)  # a trailing / adds no empty step
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        summary = lines[-1]["summary"]
        recs = lines[:-1]
        self.assertEqual((summary["done"], summary["failed"]), (3, 1))
        by_input = {os.path.relpath(x["input"], self.root): x for x in recs}
        self.assertEqual(set(by_input), set(good) | {"notes.jpg"})
        self.assertEqual(by_input["notes.jpg"]["status"], "failed")
        self.assertIn("not an image", by_input["notes.jpg"]["error"])
        size_in = 0
        for rel in good:
            rec = by_input[rel]
            self.assertEqual(rec["status"], "done")
            self.assertEqual([v["name"] for v in rec["variants"]],
                             list(VARIANTS))
            for p in rec["outputs"]:
                self.assertTrue(os.path.isfile(p), p)
            size_in += os.path.getsize(os.path.join(self.root, rel))
            self.assertEqual(rec["bytes"],
                             os.path.getsize(os.path.join(self.root, rel)))
        self.assertEqual(summary["bytes_in"], size_in)
        self.assertEqual(summary["bytes_out"], sum(
            os.path.getsize(p) for rel in good
            for p in by_input[rel]["outputs"]))

    def test_jobs_2_writes_what_jobs_1_writes(self):
        tree(self.root)
        for n in range(4):
            photo(os.path.join(self.root, "c", f"{n}.jpg"),
                  (40 * n, 100, 255 - 40 * n))
        r1 = run(self.root, "-o", self.out + "1", "--jobs", "1")
        r2 = run(self.root, "-o", self.out + "2", "--jobs", "2")
        self.assertEqual((r1.returncode, r2.returncode), (1, 1),
                         r1.stderr + r2.stderr)
        self.assertIn("1 jobs", r1.stderr)
        self.assertIn("2 jobs", r2.stderr)
        one, two = outputs(self.out + "1"), outputs(self.out + "2")
        self.assertEqual(len(one), 7 * len(VARIANTS))
        self.assertEqual(one, two)

    def test_include_filters_folders_only(self):
        tree(self.root)
        r = run(self.root, "-o", self.out, "--include", "*.PNG", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(outputs(self.out)), expected(["a/deep/pic.png"]))
        # Repeatable; a file named as an argument is always taken.
        shutil.rmtree(self.out)
        r = run(self.root, os.path.join(self.root, "b", "readme.txt"),
                "-o", self.out, "-i", "*.png", "-i", "IMG.*", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)  # readme.txt fails
        self.assertEqual(set(outputs(self.out)),
                         expected(["a/IMG.jpg", "a/deep/pic.png",
                                   "b/IMG.jpg"]))
        self.assertIn("readme.txt: not an image", r.stderr)

    def test_colliding_outputs_are_refused_before_writing(self):
        tree(self.root)
        a = os.path.join(self.root, "a", "IMG.jpg")
        b = os.path.join(self.root, "b", "IMG.jpg")
        r = run(a, b, "-o", self.out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{a} and {b} would both write", r.stderr)
        self.assertFalse(os.path.exists(self.out))
        # Two arguments whose trees overlap in the output.
        r = run(os.path.join(self.root, "a"), os.path.join(self.root, "b"),
                "-o", self.out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertFalse(os.path.exists(self.out))
        # IMG.jpg beside IMG.png in one folder.
        photo(os.path.join(self.root, "a", "IMG.png"), (1, 2, 3), fmt="PNG")
        r = run(os.path.join(self.root, "a"), "-o", self.out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("would both write", r.stderr)

    def test_symlink_loop_and_dangling_link(self):
        photo(os.path.join(self.root, "x", "one.jpg"), (10, 200, 10))
        os.symlink("..", os.path.join(self.root, "x", "up"))
        os.symlink("missing.jpg", os.path.join(self.root, "gone.jpg"))
        r = run(self.root, "-o", self.out, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)  # the dangling link
        self.assertIn("symbolic link loop", r.stderr)
        self.assertIn("gone.jpg: dangling symbolic link", r.stderr)
        self.assertEqual(set(outputs(self.out)), expected(["x/one.jpg"]))

    def test_bad_arguments(self):
        r = run(self.root, "-o", self.out, "--jobs", "9999")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--jobs", r.stderr)
        r = run(os.path.join(self.tmp, "nothing-here"), "-o", self.out)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nothing-here: No such file or directory", r.stderr)

    def test_progress_line_on_a_terminal(self):
        for n in range(3):
            photo(os.path.join(self.root, f"{n}.jpg"), (80 * n, 50, 50))
        master, slave = pty.openpty()
        p = subprocess.Popen([harness.BIN, "process", self.root, "-o",
                              self.out], stdout=subprocess.PIPE,
                             stderr=slave)
        os.close(slave)
        seen = io.BytesIO()
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last writer closed it
                break
            if not chunk:
                break
            seen.write(chunk)
        os.close(master)
        stdout = p.stdout.read()
        self.assertEqual(p.wait(timeout=600), 0)
        text = seen.getvalue().decode()
        self.assertIn("\r", text)
        self.assertRegex(text, r"3/3, [0-9.]+ images/s, ETA \d+ s")
        self.assertRegex(text, r"3 done, 0 failed")
        self.assertEqual(stdout, b"")  # no per-file lines on a terminal
        self.assertEqual(len(outputs(self.out)), 3 * len(VARIANTS))


if __name__ == "__main__":
    unittest.main(verbosity=2)
