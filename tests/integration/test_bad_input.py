"""Hostile and broken uploads: each class gets its status and a JSON error,
and leaves nothing behind (no object, no record, no temp file)."""
import os
import socket
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def png_declaring(width, height):
    """A valid PNG signature + IHDR declaring width x height, with a tiny
    IDAT: a decompression bomb as far as the header is concerned."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def raw_request(port, head, body_chunks):
    """Send a request by hand (so the body can outrun the answer) and
    return (status, body).  Send errors after an early answer are fine."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(head)
        for c in body_chunks:
            try:
                s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


class BadInputTest(harness.ServerTest):
    server_args = ("--set", "limits.max_body=2M")

    def assertNothingLeft(self):
        self.assertEqual(self.server.files_under("buckets", "input"), [])
        self.assertEqual(self.server.files_under("buckets", "output"), [])
        self.assertEqual(self.server.files_under("tmp"), [])
        r = self.server.request("GET", "/v1/images")
        self.assertEqual(r.json()["items"], [])

    def test_empty_body(self):
        self.assertJsonError(self.server.put("a.jpg", b""), 400)
        self.assertNothingLeft()

    def test_too_big_by_content_length(self):
        port = self.server.port
        head = (b"PUT /v1/images/big.jpg HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 104857600\r\n\r\n")
        status, body = raw_request(port, head, [b"\xff\xd8" + b"\0" * 65534] * 4)
        self.assertEqual(status, 413)
        self.assertIn(b'"payload_too_large"', body)
        self.assertNothingLeft()

    def test_too_big_streamed_chunked(self):
        port = self.server.port
        head = (b"PUT /v1/images/big.jpg HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"\0" * 65536
        chunks = [b"%x\r\n" % len(piece) + piece + b"\r\n"] * 48  # 3 MiB
        chunks.append(b"0\r\n\r\n")
        status, body = raw_request(port, head, chunks)
        self.assertEqual(status, 413)
        self.assertIn(b'"payload_too_large"', body)
        self.assertNothingLeft()

    def test_not_an_image(self):
        for name, data in [("notes.txt", b"hello, world\n" * 100),
                           ("fake.jpg", b"%PDF-1.4\n" + b"x" * 1000),
                           ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg"'
                                          b' width="10" height="10"/>'),
                           ("zeros.png", b"\0" * 4096)]:
            with self.subTest(name=name):
                r = self.server.put(name, data)
                self.assertJsonError(r, 415, "unsupported_media_type")
        self.assertNothingLeft()

    def test_decompression_bomb(self):
        r = self.server.put("bomb.png", png_declaring(20000, 20000))
        self.assertJsonError(r, 422, "unprocessable_image")
        self.assertIn("pixels", r.json()["error"]["message"])
        self.assertNothingLeft()

    def test_truncated_image_fails_cleanly(self):
        data = harness.corpus("bridge.jpg")[:20000]
        r = self.server.put("cut.jpg", data)
        # the header is intact, so it is accepted; the function fails it
        self.assertEqual(r.status, 202, r)
        rec = self.server.wait_done(r.json()["id"], 60)
        self.assertEqual(rec["status"], "failed", rec)
        self.assertTrue(rec["error"])
        self.assertEqual(rec["variants"], [])
        self.assertEqual(self.server.files_under("buckets", "output"), [])
        # and the server is still fine
        ok = self.server.put("wine.jpg", harness.corpus("wine.jpg"))
        self.assertEqual(self.server.wait_done(ok.json()["id"], 60)["status"], "done")

    def test_hostile_file_names(self):
        data = harness.corpus("wine.jpg")
        r = self.server.post_multipart("../../etc/pass\x01wd.jpg", data)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["name"], "passwd.jpg")
        long_name = "a" * 400 + ".jpg"
        r = self.server.put(long_name, data)
        self.assertEqual(r.status, 202, r)
        self.assertLessEqual(len(r.json()["name"].encode()), 255)

    def test_multipart_without_file_field(self):
        boundary = "xyz"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"other\""
                f"\r\n\r\nvalue\r\n--{boundary}--\r\n").encode()
        r = self.server.request(
            "POST", "/v1/images", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertJsonError(r, 400)
        self.assertNothingLeft()

    def test_post_wrong_content_type(self):
        r = self.server.request("POST", "/v1/images", b"hello",
                                {"Content-Type": "text/plain"})
        self.assertJsonError(r, 415)
        self.assertNothingLeft()


if __name__ == "__main__":
    harness.main()
