/*
 * imgheader.c - declared dimensions from an image header (imgheader.h).
 * Called by the gateway (api/admission.c) on an HTTP thread, and by the
 * fuzz target; touches nothing but its arguments.
 *
 * DESIGN.  One function per format, each reading through rd_* helpers that
 * check every offset against len, so no input can make a read leave the
 * buffer; each loop has a fixed bound of steps as well, so no input can
 * make it long.  Anything unexpected is "unknown", never a guess.
 */
#include "core/imgheader.h"

#include <stdbool.h>
#include <string.h>

#define JPEG_MARKERS_MAX 1024
#define PNG_CHUNKS_MAX 64
#define BMFF_BOXES_MAX 4096
#define BMFF_DEPTH_MAX 4
#define TIFF_ENTRIES_MAX 1024

struct rd {
	const unsigned char *p;
	size_t len;
};

static bool
rd_has(const struct rd *r, size_t off, size_t n)
{
	return off <= r->len && n <= r->len - off;
}

static uint32_t
rd_be16(const struct rd *r, size_t off)
{
	return (uint32_t)r->p[off] << 8 | r->p[off + 1];
}

static uint32_t
rd_be32(const struct rd *r, size_t off)
{
	return rd_be16(r, off) << 16 | rd_be16(r, off + 2);
}

static uint32_t
rd_le16(const struct rd *r, size_t off)
{
	return (uint32_t)r->p[off + 1] << 8 | r->p[off];
}

static uint32_t
rd_le32(const struct rd *r, size_t off)
{
	return rd_le16(r, off + 2) << 16 | rd_le16(r, off);
}

static bool
rd_is(const struct rd *r, size_t off, const char *s, size_t n)
{
	return rd_has(r, off, n) && memcmp(r->p + off, s, n) == 0;
}

static int
found(struct imgheader *out, uint32_t w, uint32_t h)
{
	if (w == 0 || h == 0)
		return -1;
	out->width = w;
	out->height = h;
	return 0;
}

/* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
static bool
jpeg_is_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

static int
parse_jpeg(const struct rd *r, struct imgheader *out)
{
	size_t pos = 2;

	for (int i = 0; i < JPEG_MARKERS_MAX; i++) {
		unsigned m;
		uint32_t seg;

		if (!rd_has(r, pos, 1) || r->p[pos] != 0xff)
			return -1;
		while (rd_has(r, pos, 1) && r->p[pos] == 0xff)
			pos++; /* fill bytes */
		if (!rd_has(r, pos, 1))
			return -1;
		m = r->p[pos++];
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd8))
			continue; /* markers without a length */
		if (m == 0xd9 || m == 0xda || !rd_has(r, pos, 2))
			return -1; /* image data before any SOF */
		seg = rd_be16(r, pos);
		if (seg < 2)
			return -1;
		if (jpeg_is_sof(m))
			return rd_has(r, pos, 7)
				   ? found(out, rd_be16(r, pos + 5),
					   rd_be16(r, pos + 3))
				   : -1;
		pos += seg;
	}
	return -1;
}

static int
parse_png(const struct rd *r, struct imgheader *out)
{
	size_t pos = 8;

	if (!rd_is(r, 12, "IHDR", 4) || !rd_has(r, 16, 8) ||
	    found(out, rd_be32(r, 16), rd_be32(r, 20)) != 0)
		return -1;
	/* APNG: acTL (frame count) comes before the first IDAT. */
	for (int i = 0; i < PNG_CHUNKS_MAX && rd_has(r, pos, 8); i++) {
		uint32_t n = rd_be32(r, pos);

		if (rd_is(r, pos + 4, "IDAT", 4))
			break;
		if (rd_is(r, pos + 4, "acTL", 4) && n >= 8 &&
		    rd_has(r, pos + 8, 4) && rd_be32(r, pos + 8) > 0)
			out->frames = rd_be32(r, pos + 8);
		if (n > r->len)
			break;
		pos += 12 + (size_t)n;
	}
	return 0;
}

static int
parse_gif(const struct rd *r, struct imgheader *out)
{
	return rd_has(r, 6, 4) ? found(out, rd_le16(r, 6), rd_le16(r, 8)) : -1;
}

static int
parse_webp(const struct rd *r, struct imgheader *out)
{
	const size_t d = 20; /* the first chunk's data */

	if (rd_is(r, 12, "VP8 ", 4) && rd_is(r, d + 3, "\x9d\x01\x2a", 3) &&
	    rd_has(r, d + 6, 4))
		return found(out, rd_le16(r, d + 6) & 0x3fff,
			     rd_le16(r, d + 8) & 0x3fff);
	if (rd_is(r, 12, "VP8L", 4) && rd_has(r, d, 5) && r->p[d] == 0x2f) {
		uint32_t bits = rd_le32(r, d + 1);

		return found(out, (bits & 0x3fff) + 1,
			     ((bits >> 14) & 0x3fff) + 1);
	}
	if (rd_is(r, 12, "VP8X", 4) && rd_has(r, d + 4, 6))
		return found(out, (rd_le32(r, d + 4) & 0xffffff) + 1,
			     (rd_le32(r, d + 6) >> 8) + 1);
	return -1;
}

/* The value of a SHORT or LONG entry of a TIFF IFD. */
static uint32_t
tiff_value(const struct rd *r, size_t e, bool le)
{
	uint32_t type = le ? rd_le16(r, e + 2) : rd_be16(r, e + 2);

	if (type == 3)
		return le ? rd_le16(r, e + 8) : rd_be16(r, e + 8);
	if (type == 4)
		return le ? rd_le32(r, e + 8) : rd_be32(r, e + 8);
	return 0;
}

static int
parse_tiff(const struct rd *r, struct imgheader *out)
{
	bool le = r->p[0] == 'I';
	uint32_t ifd;
	uint32_t n;
	uint32_t w = 0;
	uint32_t h = 0;

	if (!rd_has(r, 4, 4))
		return -1;
	ifd = le ? rd_le32(r, 4) : rd_be32(r, 4);
	if (!rd_has(r, ifd, 2))
		return -1;
	n = le ? rd_le16(r, ifd) : rd_be16(r, ifd);
	for (uint32_t i = 0; i < n && i < TIFF_ENTRIES_MAX; i++) {
		size_t e = (size_t)ifd + 2 + (size_t)i * 12;
		uint32_t tag;

		if (!rd_has(r, e, 12))
			return -1;
		tag = le ? rd_le16(r, e) : rd_be16(r, e);
		if (tag == 256)
			w = tiff_value(r, e, le);
		else if (tag == 257)
			h = tiff_value(r, e, le);
	}
	return found(out, w, h);
}

struct bmff {
	int boxes; /* visited so far, bounded */
	uint64_t best; /* largest ispe area */
	uint32_t w;
	uint32_t h;
};

/* Walk the boxes in [start, end): descend into meta (a full box),
 * iprp and ipco; keep the largest ispe. */
static void
bmff_walk(const struct rd *r, size_t start, size_t end, int depth,
	  struct bmff *b)
{
	size_t pos = start;

	while (pos < end && rd_has(r, pos, 8) && b->boxes++ < BMFF_BOXES_MAX) {
		uint64_t size = rd_be32(r, pos);
		size_t hdr = 8;
		size_t next;

		if (size == 1) {
			if (!rd_has(r, pos + 8, 8))
				return;
			size = (uint64_t)rd_be32(r, pos + 8) << 32 |
			       rd_be32(r, pos + 12);
			hdr = 16;
		} else if (size == 0) {
			size = end - pos;
		}
		if (size < hdr || size > end - pos)
			return;
		next = pos + (size_t)size;
		if (depth < BMFF_DEPTH_MAX && rd_is(r, pos + 4, "meta", 4))
			bmff_walk(r, pos + hdr + 4, next, depth + 1, b);
		else if (depth < BMFF_DEPTH_MAX &&
			 (rd_is(r, pos + 4, "iprp", 4) ||
			  rd_is(r, pos + 4, "ipco", 4)))
			bmff_walk(r, pos + hdr, next, depth + 1, b);
		else if (rd_is(r, pos + 4, "ispe", 4) && size >= hdr + 12) {
			uint32_t w = rd_be32(r, pos + hdr + 4);
			uint32_t h = rd_be32(r, pos + hdr + 8);

			if ((uint64_t)w * h > b->best) {
				b->best = (uint64_t)w * h;
				b->w = w;
				b->h = h;
			}
		}
		pos = next;
	}
}

static int
parse_bmff(const struct rd *r, struct imgheader *out)
{
	struct bmff b = {0};

	bmff_walk(r, 0, r->len, 0, &b);
	return found(out, b.w, b.h);
}

static const struct {
	const char *magic;
	size_t off;
	size_t len;
	const char *format;
	int (*parse)(const struct rd *r, struct imgheader *out);
} parsers[] = {
    {"\xff\xd8\xff", 0, 3, "jpeg", parse_jpeg},
    {"\x89PNG\r\n\x1a\n", 0, 8, "png", parse_png},
    {"GIF87a", 0, 6, "gif", parse_gif},
    {"GIF89a", 0, 6, "gif", parse_gif},
    {"WEBP", 8, 4, "webp", parse_webp},
    {"II*\0", 0, 4, "tiff", parse_tiff},
    {"MM\0*", 0, 4, "tiff", parse_tiff},
    {"ftyp", 4, 4, "heif", parse_bmff},
};

int
imgheader_parse(const unsigned char *buf, size_t len, struct imgheader *out)
{
	struct rd r = {buf, len};

	memset(out, 0, sizeof(*out));
	out->frames = 1;
	for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++) {
		if (!rd_is(&r, parsers[i].off, parsers[i].magic,
			   parsers[i].len))
			continue;
		if (parsers[i].off == 8 && !rd_is(&r, 0, "RIFF", 4))
			continue;
		out->format = parsers[i].format;
		return parsers[i].parse(&r, out);
	}
	return -1;
}

int64_t
imgheader_pixels(const struct imgheader *h)
{
	uint64_t px = (uint64_t)h->width * h->height; /* < 2^64 */
	uint32_t frames = h->frames > 0 ? h->frames : 1;

	if (px > (uint64_t)INT64_MAX / frames)
		return INT64_MAX;
	return (int64_t)(px * frames);
}
