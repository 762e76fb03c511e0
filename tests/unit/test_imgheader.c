/*
 * test_imgheader.c - the header parser (core/imgheader.c): each format's
 * declared size, the ways a header hides it (JPEG segments before SOF,
 * HEIF's several ispe, a 64-bit box size), and that every truncation of
 * a valid header is either the right answer or "unknown", never a read
 * past the end (the ASan build checks that part).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/imgheader.h"

struct bytes {
	unsigned char b[512];
	size_t n;
};

static void
put(struct bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void
be16(struct bytes *o, uint32_t v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	put(o, b, 2);
}

static void
be32(struct bytes *o, uint32_t v)
{
	be16(o, v >> 16);
	be16(o, v & 0xffff);
}

static void
le16(struct bytes *o, uint32_t v)
{
	unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

	put(o, b, 2);
}

static void
le32(struct bytes *o, uint32_t v)
{
	le16(o, v & 0xffff);
	le16(o, v >> 16);
}

/* Parse o whole, then every prefix: each gives the answer or -1. */
static void
expect(const struct bytes *o, const char *format, uint32_t w, uint32_t h,
       uint32_t frames)
{
	struct imgheader hd;

	assert_int_equal(imgheader_parse(o->b, o->n, &hd), 0);
	assert_string_equal(hd.format, format);
	assert_int_equal(hd.width, w);
	assert_int_equal(hd.height, h);
	assert_int_equal(hd.frames, frames);
	for (size_t n = 0; n < o->n; n++) {
		unsigned char *cut = malloc(n > 0 ? n : 1);

		memcpy(cut, o->b, n);
		if (imgheader_parse(cut, n, &hd) == 0) {
			assert_int_equal(hd.width, w);
			assert_int_equal(hd.height, h);
		}
		free(cut);
	}
}

static void
png_ihdr(struct bytes *o, uint32_t w, uint32_t h)
{
	put(o, "\x89PNG\r\n\x1a\n", 8);
	be32(o, 13);
	put(o, "IHDR", 4);
	be32(o, w);
	be32(o, h);
	put(o, "\x08\x02\0\0\0", 5);
	be32(o, 0); /* CRC: not checked here */
}

static void
test_png(void **state)
{
	struct bytes o = {0};

	(void)state;
	png_ihdr(&o, 10000, 10000);
	expect(&o, "png", 10000, 10000, 1);
	assert_int_equal(imgheader_pixels(&(struct imgheader){
			     .width = 10000, .height = 10000, .frames = 1}),
			 100000000);
	/* APNG: acTL before IDAT gives the frames. */
	be32(&o, 8);
	put(&o, "acTL", 4);
	be32(&o, 12);
	be32(&o, 0);
	be32(&o, 0);
	be32(&o, 0);
	put(&o, "IDAT", 4);
	expect(&o, "png", 10000, 10000, 12);
}

static void
test_jpeg(void **state)
{
	struct bytes o = {0};
	struct imgheader hd;

	(void)state;
	put(&o, "\xff\xd8", 2);
	put(&o, "\xff\xe1", 2); /* APP1 of 40 bytes before the SOF */
	be16(&o, 40);
	for (int i = 0; i < 38; i++)
		put(&o, "E", 1);
	put(&o, "\xff\xff\xff\xc2", 4); /* fill bytes, then progressive SOF */
	be16(&o, 11);
	put(&o, "\x08", 1);
	be16(&o, 9000); /* height */
	be16(&o, 7000); /* width */
	put(&o, "\x01\x01\x11\x00", 4);
	expect(&o, "jpeg", 7000, 9000, 1);

	/* DHT (C4) is not a SOF; SOS before any SOF is unknown. */
	memset(&o, 0, sizeof(o));
	put(&o, "\xff\xd8\xff\xc4", 4);
	be16(&o, 7);
	put(&o, "\x08\x00\x10\x00\x10", 5);
	put(&o, "\xff\xda", 2);
	be16(&o, 2);
	assert_int_equal(imgheader_parse(o.b, o.n, &hd), -1);
	assert_string_equal(hd.format, "jpeg");
}

static void
test_gif_webp_tiff(void **state)
{
	struct bytes o = {0};

	(void)state;
	put(&o, "GIF89a", 6);
	le16(&o, 640);
	le16(&o, 480);
	expect(&o, "gif", 640, 480, 1);

	memset(&o, 0, sizeof(o));
	put(&o, "RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a", 26);
	le16(&o, 4000 | 0x4000); /* the top two bits are the scale */
	le16(&o, 3000);
	expect(&o, "webp", 4000, 3000, 1);

	memset(&o, 0, sizeof(o));
	put(&o, "RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f", 21);
	le32(&o, (4000 - 1) | (3000 - 1) << 14);
	expect(&o, "webp", 4000, 3000, 1);

	memset(&o, 0, sizeof(o));
	put(&o, "RIFF\0\0\0\0WEBPVP8X\0\0\0\0\x02\0\0\0", 24);
	put(&o, "\xff\x3f\0\xff\x3f\0", 6); /* 16384 x 16384 */
	expect(&o, "webp", 16384, 16384, 1);

	memset(&o, 0, sizeof(o));
	put(&o, "MM\0*", 4);
	be32(&o, 8);
	be16(&o, 2);
	be16(&o, 256); /* ImageWidth, LONG */
	be16(&o, 4);
	be32(&o, 1);
	be32(&o, 5000);
	be16(&o, 257); /* ImageLength, SHORT */
	be16(&o, 3);
	be32(&o, 1);
	be16(&o, 6000);
	be16(&o, 0);
	expect(&o, "tiff", 5000, 6000, 1);
}

static void
box(struct bytes *o, const char *type, const struct bytes *inner)
{
	be32(o, (uint32_t)(8 + inner->n));
	put(o, type, 4);
	put(o, inner->b, inner->n);
}

static void
ispe(struct bytes *o, uint32_t w, uint32_t h)
{
	be32(o, 20);
	put(o, "ispe\0\0\0\0", 8);
	be32(o, w);
	be32(o, h);
}

static void
test_heif(void **state)
{
	struct bytes ipco = {0}, iprp = {0}, meta = {0}, o = {0};

	(void)state;
	ispe(&ipco, 512, 512); /* a tile or thumbnail */
	ispe(&ipco, 8000, 6000); /* the image */
	box(&iprp, "ipco", &ipco);
	put(&meta, "\0\0\0\0", 4); /* full box: version, flags */
	be32(&meta, 8 + 24);
	put(&meta, "hdlr", 4);
	for (int i = 0; i < 24; i++)
		put(&meta, "\0", 1);
	box(&meta, "iprp", &iprp);
	be32(&o, 20);
	put(&o, "ftypavif\0\0\0\0mif1", 16);
	/* meta with a 64-bit size */
	be32(&o, 1);
	put(&o, "meta", 4);
	be32(&o, 0);
	be32(&o, (uint32_t)(16 + meta.n));
	put(&o, meta.b, meta.n);
	expect(&o, "heif", 8000, 6000, 1);
}

static void
test_unknown(void **state)
{
	struct imgheader hd;
	struct bytes o = {0};

	(void)state;
	assert_int_equal(imgheader_parse((const unsigned char *)"", 0, &hd),
			 -1);
	assert_int_equal(
	    imgheader_parse((const unsigned char *)"BM\0\0\0\0", 6, &hd), -1);
	assert_null(hd.format);
	/* A zero dimension is not a size. */
	png_ihdr(&o, 0, 100);
	assert_int_equal(imgheader_parse(o.b, o.n, &hd), -1);
	/* A box that claims more than there is stops the walk. */
	memset(&o, 0, sizeof(o));
	be32(&o, 20);
	put(&o, "ftypheic\0\0\0\0mif1", 16);
	be32(&o, 0xffffff00);
	put(&o, "meta", 4);
	assert_int_equal(imgheader_parse(o.b, o.n, &hd), -1);
	/* Saturating product. */
	hd.width = hd.height = 0xffffffffu;
	hd.frames = 0xffffffffu;
	assert_true(imgheader_pixels(&hd) == INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_png),		  cmocka_unit_test(test_jpeg),
	    cmocka_unit_test(test_gif_webp_tiff), cmocka_unit_test(test_heif),
	    cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
