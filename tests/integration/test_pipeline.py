"""The whole embedded pipeline, end to end, on every corpus photo:
upload (PUT and multipart POST) -> 202 -> worker -> done record whose
variants decode (with Pillow, an independent decoder) to what it says."""
import io
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from PIL import Image  # noqa: E402


def expected_inside(w, h, box):
    s = min(box / w, box / h, 1.0)
    return round(w * s), round(h * s)


class PipelineTest(harness.ServerTest):
    def check_done(self, rec, data, name):
        self.assertEqual(rec["status"], "done", rec)
        self.assertEqual(rec["bytes"], len(data))
        self.assertEqual(rec["sha256"], harness.sha256(data))
        self.assertEqual(rec["name"], name)
        self.assertEqual(rec["input_bucket"], "input")
        self.assertEqual(rec["input_key"], f"{rec['id']}/{name}")
        self.assertIsNone(rec["error"])
        self.assertGreaterEqual(rec["attempts"], 1)
        self.assertIsInstance(rec["processing_ms"], int)
        self.assertTrue(rec["processed_at"].endswith("Z"))
        src = Image.open(io.BytesIO(data))
        self.assertEqual((rec["stored_width"], rec["stored_height"]), src.size)
        w, h = rec["width"], rec["height"]
        if rec["orientation"] in (5, 6, 7, 8):
            self.assertEqual((w, h), (src.size[1], src.size[0]))
        else:
            self.assertEqual((w, h), src.size)
        names = [v["name"] for v in rec["variants"]]
        self.assertEqual(names, ["large", "medium", "thumb"])
        for v in rec["variants"]:
            r = self.server.request(
                "GET", f"/v1/images/{rec['id']}/variants/{v['name']}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Type"), "image/jpeg")
            self.assertEqual(len(r.body), v["bytes"])
            self.assertEqual(harness.sha256(r.body), v["sha256"])
            self.assertEqual(v["key"], f"{rec['id']}/{v['name']}.jpg")
            self.assertEqual(v["bucket"], "output")
            img = Image.open(io.BytesIO(r.body))
            img.load()
            self.assertEqual(img.format, "JPEG")
            self.assertEqual(img.size, (v["width"], v["height"]))
            # stripped: no EXIF, no ICC, no XMP/comment
            self.assertEqual(len(img.getexif()), 0, v)
            self.assertNotIn("icc_profile", img.info)
            if v["name"] == "thumb":
                self.assertEqual(img.size, (200, 200))
            else:
                box = 1600 if v["name"] == "large" else 800
                ew, eh = expected_inside(w, h, box)
                self.assertLessEqual(abs(img.size[0] - ew), 1, (v, ew, eh))
                self.assertLessEqual(abs(img.size[1] - eh), 1, (v, ew, eh))
        # the variant files are where the record says
        on_disk = self.server.files_under("buckets", "output", rec["id"])
        self.assertEqual(on_disk, ["large.jpg", "medium.jpg", "thumb.jpg"])

    def test_put_every_corpus_photo(self):
        for name in harness.PHOTOS:
            with self.subTest(photo=name):
                data = harness.corpus(name)
                r = self.server.put(name, data)
                self.assertEqual(r.status, 202, r)
                rec = r.json()
                self.assertIn(rec["status"], ("pending", "processing", "done"))
                self.assertTrue(r.header("Location").endswith(rec["id"]))
                done = self.server.wait_done(rec["id"], 120)
                self.check_done(done, data, name)
                if name == "sunset-exif6.jpg":
                    self.assertEqual(done["orientation"], 6)
                    self.assertGreater(done["width"], done["height"])
                    large = done["variants"][0]
                    self.assertGreater(large["width"], large["height"])
                if name == "picos-alpha.png":
                    self.assertTrue(done["has_alpha"])
                    self.assertEqual(done["format"], "png")

    def test_multipart_post_every_corpus_photo(self):
        for name in harness.PHOTOS:
            with self.subTest(photo=name):
                data = harness.corpus(name)
                r = self.server.post_multipart(name, data)
                self.assertEqual(r.status, 202, r)
                done = self.server.wait_done(r.json()["id"], 120)
                self.check_done(done, data, name)

    def test_original_served_back(self):
        data = harness.corpus("wine.jpg")
        rec = self.server.put("wine.jpg", data).json()
        r = self.server.request("GET", f"/v1/images/{rec['id']}/original")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertEqual(self.server.files_under("buckets", "input"),
                         [f"{rec['id']}/wine.jpg"])


if __name__ == "__main__":
    harness.main()
