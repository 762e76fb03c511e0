/*
 * test_hostile.c - hostile input: small valid images of every format
 * imgpipe loads are mutated (bit flips, overwritten headers, truncation)
 * with a fixed seed, and each mutant goes through probe and process.
 * Every answer must be IP_OK, IP_EMEDIA or IP_EUNPROCESSABLE with a
 * message; under AddressSanitizer any memory error fails the run, and no
 * libvips image may be left alive.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtest.h"

#define MUTANTS_PER_FORMAT 60

/* xorshift: the same mutants on every run. */
static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void *
make_seed(const char *suffix, size_t *len)
{
	static const double extra[3] = {40, 160, 255};
	VipsImage *noise = NULL;
	VipsImage *grey = NULL;
	VipsImage *rgba = NULL;
	VipsImage *rgb = NULL;
	void *buf = NULL;

	if (vips_gaussnoise(&noise, 96, 64, "sigma", 60.0, "mean", 128.0,
			    NULL) ||
	    vips_cast(noise, &grey, VIPS_FORMAT_UCHAR, NULL) ||
	    vips_bandjoin_const(grey, &rgba, (double *)extra, 3, NULL) ||
	    vips_extract_band(rgba, &rgb, 0, "n", 3, NULL))
		fail_msg("seed: %s", vips_error_buffer());
	rgba->Type = VIPS_INTERPRETATION_sRGB;
	rgb->Type = VIPS_INTERPRETATION_sRGB;
	vips_image_set_int(rgb, "orientation", 6);
	if (vips_image_write_to_buffer(strcmp(suffix, ".png") == 0 ||
					       strcmp(suffix, ".webp") == 0
					   ? rgba
					   : rgb,
				       suffix, &buf, len, NULL))
		fail_msg("seed %s: %s", suffix, vips_error_buffer());
	g_object_unref(rgb);
	g_object_unref(rgba);
	g_object_unref(grey);
	g_object_unref(noise);
	return buf;
}

static void
test_mutants_never_crash(void **state)
{
	static const char *const suffixes[] = {".jpg", ".png", ".webp",
					       ".gif", ".tif", ".avif"};
	struct imgtest t;
	struct variant_spec specs[2];
	uint32_t seed = 0x1badb002u;
	int counts[3] = {0, 0, 0};

	(void)state;
	imgtest_begin(&t);
	t.cfg.timeout_s = 10;
	imgtest_open_proc(&t);
	specs[0] = t.cfg.variants[0];
	specs[1] = imgtest_spec("t", 32, 32, FIT_COVER, FORMAT_WEBP);
	for (size_t f = 0; f < sizeof(suffixes) / sizeof(suffixes[0]); f++) {
		size_t len = 0;
		unsigned char *orig = make_seed(suffixes[f], &len);
		unsigned char *buf = malloc(len);

		assert_non_null(buf);
		for (int i = 0; i < MUTANTS_PER_FORMAT; i++) {
			struct imgproc_result res;
			struct image_info info;
			struct ip_error err = {0};
			size_t n = len;
			int kind = (int)(next_rand(&seed) % 4);
			int flips = 1 + (int)(next_rand(&seed) % 8);
			int fd;
			int rc;

			memcpy(buf, orig, len);
			if (kind == 0)
				n = 1 + next_rand(&seed) % len;
			for (int k = 0; k < flips; k++)
				buf[next_rand(&seed) % n] ^=
				    (unsigned char)(1u
						    << (next_rand(&seed) % 8));
			if (kind == 1)
				for (int k = 0; k < 4; k++)
					buf[next_rand(&seed) %
					    (n < 64 ? n : 64)] =
					    (unsigned char)next_rand(&seed);
			fd = imgtest_write_fd(&t, "mutant", buf, n);
			rc = imgproc_probe(t.ip, fd, &info, &err);
			if (rc == IP_OK)
				rc = imgproc_process(t.ip, fd, specs, 2, &res,
						     &err);
			if (rc == IP_OK)
				imgproc_result_clear(&res);
			else if (rc != IP_EMEDIA && rc != IP_EUNPROCESSABLE)
				fail_msg("%s mutant %d: code %d (%s)",
					 suffixes[f], i, rc, err.msg);
			else if (err.msg[0] == '\0')
				fail_msg("%s mutant %d: no message",
					 suffixes[f], i);
			counts[rc == IP_OK ? 0 : rc == IP_EMEDIA ? 1 : 2]++;
			close(fd);
		}
		free(buf);
		g_free(orig);
	}
	/* The mutations reach every outcome. */
	assert_true(counts[0] > 0);
	assert_true(counts[1] > 0);
	assert_true(counts[2] > 0);
	imgtest_end(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutants_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
