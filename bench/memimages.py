#!/usr/bin/python3
"""memimages.py SIDE OUTDIR - the images of `make bench`'s memory part.

Writes four SIDE x SIDE RGB images into OUTDIR, the same bytes on every
run (a fixed seed, no clock), for bench/run.sh (part `memory`,
docs/BENCHMARKS.md):

  progressive-444.jpg  progressive JPEG, 4:4:4 (no chroma subsampling):
                       libjpeg-turbo holds the coefficients of the whole
                       image (6 bytes a pixel) whatever the output size
  interlaced.png       Adam7-interlaced 8-bit RGB PNG: the whole image is
                       decoded before the first row comes out (3 bytes a
                       pixel)
  baseline.jpg         sequential JPEG, 4:2:0: decoded in strips, with
                       shrink-on-load (a 100 MP image within the limits)
  plain.png            non-interlaced RGB PNG: decoded in strips, but at
                       full size (PNG has no shrink-on-load): the other
                       100 MP image within the limits

At SIDE = 10000 (100 MP) the first two are the images of issue 12 (its
JPEG was ~1.1 MB, this one is 1.3 MB: a 100 MP JPEG cannot be much
smaller, some 7 bits for every 8x8 block; its PNG ~389 KB, this one 368
KB).  Pillow cannot write an interlaced PNG, so the PNGs are written here
(zlib, filter Up: their rows repeat, so most filtered rows are zeros).
Needs Debian's python3-pil.  Takes ~15 s and ~1 GB of memory at 10000.
"""
import os
import random
import struct
import sys
import zlib

from PIL import Image

SEED = 12
TILE = 16  # the texture: a TILE x TILE random image blown up


def photo(side):
    """Smooth gradients plus a soft texture, at side x side."""
    small = max(64, side // 10)
    rnd = random.Random(SEED)
    tex = Image.frombytes("RGB", (TILE, TILE),
                          bytes(rnd.randrange(256) for _ in range(TILE * TILE * 3)))
    grad = Image.merge("RGB", [
        Image.linear_gradient("L").resize((small, small)),
        Image.linear_gradient("L").rotate(90).resize((small, small)),
        Image.radial_gradient("L").resize((small, small))])
    img = Image.blend(grad, tex.resize((small, small), Image.BICUBIC), 0.3)
    return img.resize((side, side), Image.BICUBIC)


def chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data +
            struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff))


# Adam7: (x0, y0, dx, dy) of each pass
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(side, path, interlace):
    """An RGB PNG (Adam7 or not) whose rows depend on x and on a band."""
    bands = 8
    band_h = (side + bands - 1) // bands
    rnd = random.Random(SEED + 1)
    # one full-width row per band: a ramp in red, waves in green and blue
    rows = []
    for b in range(bands):
        off = rnd.randrange(256)
        rows.append(bytes(
            v for x in range(side)
            for v in (x * 255 // max(1, side - 1),
                      (x // 7 + off) & 255,
                      (b * 32 + x // 13) & 255)))
    z = zlib.compressobj(9)
    parts = []
    for x0, y0, dx, dy in ADAM7 if interlace else [(0, 0, 1, 1)]:
        cols = range(x0, side, dx)
        if not cols or y0 >= side:
            continue
        sub = []
        for r in rows:  # this pass's columns of each band's row
            px = bytearray()
            for x in cols:
                px += r[3 * x:3 * x + 3]
            sub.append(bytes(px))
        prev = None
        zero = bytes(len(sub[0]))
        for y in range(y0, side, dy):
            cur = sub[y // band_h]
            if prev is None:
                line = b"\x00" + cur
            elif cur is prev:
                line = b"\x02" + zero  # Up: the same as the row above
            else:
                line = b"\x02" + bytes((a - p) & 255 for a, p in zip(cur, prev))
            parts.append(z.compress(line))
            prev = cur
    parts.append(z.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        # width, height, bit depth 8, colour type 2 (RGB), deflate,
        # filter method 0, interlace 1 (Adam7) or 0
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0,
                                           1 if interlace else 0)))
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))


def main():
    if len(sys.argv) != 3 or not sys.argv[1].isdigit() or not 64 <= int(sys.argv[1]) <= 20000:
        sys.exit("usage: memimages.py SIDE(64..20000) OUTDIR")
    side, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    img = photo(side)
    img.save(os.path.join(out, "progressive-444.jpg"), "JPEG", quality=55,
             progressive=True, subsampling=0)
    img.save(os.path.join(out, "baseline.jpg"), "JPEG", quality=70,
             progressive=False, subsampling=2)
    del img
    png(side, os.path.join(out, "interlaced.png"), True)
    png(side, os.path.join(out, "plain.png"), False)
    for name in ("progressive-444.jpg", "interlaced.png", "baseline.jpg", "plain.png"):
        print(f"{name}\t{side}x{side}\t{os.path.getsize(os.path.join(out, name))}")


if __name__ == "__main__":
    main()
