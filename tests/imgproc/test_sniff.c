/*
 * test_sniff.c - unit tests of the pure parts of the image processor:
 * magic-byte sniffing (sniff.c) and the placeholder encoders
 * (placeholder.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgproc/placeholder.h"
#include "imgproc/sniff.h"

static int
sniff(const void *buf, size_t len, bool svg, bool pdf, struct format *out,
      char *why, size_t why_len)
{
	return sniff_detect(buf, len, svg, pdf, out, why, why_len);
}

static void
test_sniff_formats(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *format;
		const char *type;
	} cases[] = {
	    {"\xff\xd8\xff\xe0\0\x10JFIF", 10, "jpeg", "image/jpeg"},
	    {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "png", "image/png"},
	    {"GIF89a\x01\0\x01\0", 10, "gif", "image/gif"},
	    {"GIF87a\x01\0\x01\0", 10, "gif", "image/gif"},
	    {"RIFF\x10\0\0\0WEBPVP8 ", 16, "webp", "image/webp"},
	    {"II*\0\x08\0\0\0", 8, "tiff", "image/tiff"},
	    {"MM\0*\0\0\0\x08", 8, "tiff", "image/tiff"},
	    {"\0\0\0\x1c"
	     "ftypavif\0\0\0\0avifmif1miaf",
	     28, "avif", "image/avif"},
	    {"\0\0\0\x18"
	     "ftypmif1\0\0\0\0mif1avif",
	     24, "avif", "image/avif"},
	    {"\0\0\0\x18"
	     "ftypheic\0\0\0\0mif1heic",
	     24, "heif", "image/heic"},
	    {"\0\0\0\x14"
	     "ftypmif1\0\0\0\0mif1",
	     20, "heif", "image/heif"},
	};
	struct format s;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(sniff(cases[i].bytes, cases[i].len, false,
				       false, &s, why, sizeof(why)),
				 0);
		assert_string_equal(s.format, cases[i].format);
		assert_string_equal(s.content_type, cases[i].type);
		assert_non_null(s.loader);
	}
}

static void
test_sniff_refusals(void **state)
{
	struct format s;
	char why[128];
	const char svg[] = "\xef\xbb\xbf<?xml version=\"1.0\"?>\n<svg "
			   "xmlns=\"http://www.w3.org/2000/svg\"/>";

	(void)state;
	assert_int_equal(sniff("", 0, true, true, &s, why, sizeof(why)), -1);
	assert_string_equal(why, "empty file");

	assert_int_equal(
	    sniff("<html><body>", 12, false, false, &s, why, sizeof(why)), -1);
	assert_string_equal(why, "unrecognised data (starts 3c 68 74 6d 6c "
				 "3e 3c 62)");

	assert_int_equal(
	    sniff("BM\x36\0\0\0", 6, true, true, &s, why, sizeof(why)), -1);
	assert_string_equal(why, "BMP is not a supported format");

	/* SVG and PDF only when allowed. */
	assert_int_equal(
	    sniff(svg, sizeof(svg) - 1, false, true, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "SVG input is disabled"));
	assert_int_equal(
	    sniff(svg, sizeof(svg) - 1, true, false, &s, why, sizeof(why)), 0);
	assert_string_equal(s.format, "svg");
	assert_int_equal(
	    sniff("%PDF-1.7\n", 9, true, false, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "PDF input is disabled"));
	assert_int_equal(
	    sniff("%PDF-1.7\n", 9, false, true, &s, why, sizeof(why)), 0);
	assert_string_equal(s.format, "pdf");

	/* A RIFF that is not WebP, an ftyp that is not HEIF (MP4 video). */
	assert_int_equal(sniff("RIFF\x10\0\0\0WAVEfmt ", 16, false, false, &s,
			       why, sizeof(why)),
			 -1);
	assert_int_equal(sniff("\0\0\0\x18"
			       "ftypisom\0\0\0\0isomiso2",
			       24, false, false, &s, why, sizeof(why)),
			 -1);
	/* Truncated signatures. */
	assert_int_equal(
	    sniff("\xff\xd8", 2, false, false, &s, why, sizeof(why)), -1);
	assert_int_equal(
	    sniff("\x89PNG\r\n", 6, false, false, &s, why, sizeof(why)), -1);
}

/* Decode one base-83 digit string. */
static long
dec83(const char *s, int n)
{
	static const char chars[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "#$%*+,-.:;=?@[]^_{|}~";
	long v = 0;

	for (int i = 0; i < n; i++)
		v = v * 83 + (long)(strchr(chars, s[i]) - chars);
	return v;
}

/* A solid colour: the DC term is the colour itself, exactly. */
static void
test_blurhash_solid(void **state)
{
	unsigned char px[16 * 12 * 3];
	char hash[PLACEHOLDER_BLURHASH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(px); i += 3) {
		px[i] = 255;
		px[i + 1] = 128;
		px[i + 2] = 0;
	}
	assert_int_equal(
	    placeholder_blurhash(px, 16, 12, 3, 4, 3, hash, sizeof(hash)), 0);
	assert_int_equal(strlen(hash), 28);
	assert_int_equal(hash[0], 'L'); /* (4 - 1) + (3 - 1) * 9 = 21 */
	assert_int_equal(dec83(hash + 2, 4), 0xff8000);
	assert_non_null(strspn(hash, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@"
				     "[]^_{|}~") == 28
			    ? hash
			    : NULL);
	/* 1x1 components: size flag, zero maximum, DC only. */
	assert_int_equal(
	    placeholder_blurhash(px, 16, 12, 3, 1, 1, hash, sizeof(hash)), 0);
	assert_int_equal(strlen(hash), 6);
	assert_int_equal(hash[0], '0');
	assert_int_equal(hash[1], '0');
}

/* Quantised red of the AC component at index n. */
static long
ac_red(const char *hash, int n)
{
	return dec83(hash + 6 + 2 * (n - 1), 2) / 361;
}

/* Bright on the left: the first horizontal AC term is positive (above
 * the zero code 9); mirrored, it is negative.  Grey input accepted. */
static void
test_blurhash_gradient(void **state)
{
	unsigned char left[32 * 8];
	unsigned char right[32 * 8];
	char hl[PLACEHOLDER_BLURHASH_MAX];
	char hr[PLACEHOLDER_BLURHASH_MAX];

	(void)state;
	for (int y = 0; y < 8; y++) {
		for (int x = 0; x < 32; x++) {
			left[y * 32 + x] = (unsigned char)(255 - x * 8);
			right[y * 32 + x] = (unsigned char)(x * 8);
		}
	}
	assert_int_equal(
	    placeholder_blurhash(left, 32, 8, 1, 4, 3, hl, sizeof(hl)), 0);
	assert_int_equal(
	    placeholder_blurhash(right, 32, 8, 1, 4, 3, hr, sizeof(hr)), 0);
	assert_int_equal(strlen(hl), 28);
	assert_true(ac_red(hl, 1) > 12);
	assert_true(ac_red(hr, 1) < 6);
	/* Bad arguments. */
	assert_int_equal(
	    placeholder_blurhash(left, 32, 8, 1, 10, 3, hl, sizeof(hl)), -1);
	assert_int_equal(placeholder_blurhash(left, 32, 8, 1, 4, 3, hl, 10),
			 -1);
	assert_int_equal(
	    placeholder_blurhash(left, 0, 8, 1, 4, 3, hl, sizeof(hl)), -1);
}

static void
test_dominant(void **state)
{
	unsigned char px[10 * 10 * 4];
	char out[8];

	(void)state;
	/* 70 pixels of (200, 20, 20), 30 of (10, 10, 250). */
	for (int i = 0; i < 100; i++) {
		unsigned char *p = px + i * 4;

		p[0] = i < 70 ? 200 : 10;
		p[1] = i < 70 ? 20 : 10;
		p[2] = i < 70 ? 20 : 250;
		p[3] = 255;
	}
	assert_int_equal(placeholder_dominant(px, 10, 10, 4, out, sizeof(out)),
			 0);
	assert_string_equal(out, "#c81414");
	assert_int_equal(placeholder_dominant(px, 10, 10, 4, out, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff_formats),
	    cmocka_unit_test(test_sniff_refusals),
	    cmocka_unit_test(test_blurhash_solid),
	    cmocka_unit_test(test_blurhash_gradient),
	    cmocka_unit_test(test_dominant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
