/*
 * test_corpus.c - the default job (config_defaults: large 1600 inside +
 * watermark, medium 800 inside + watermark, thumb 200x200 cover, JPEG q82)
 * on every photograph of the shared corpus (env IMGPIPE_CORPUS).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtest.h"

static const struct {
	const char *file;
	const char *format;
	int display_w;
	int display_h;
	int orientation;
	bool alpha;
} corpus[] = {
    {"kleiber.jpg", "jpeg", 6028, 3391, 1, false},
    {"seeding.jpg", "jpeg", 5312, 2988, 1, false},
    {"dragonfly.jpg", "jpeg", 4224, 3168, 1, false},
    {"sunset-exif6.jpg", "jpeg", 4272, 2848, 6, false},
    {"bridge.jpg", "jpeg", 4352, 2448, 1, false},
    {"wine.jpg", "jpeg", 2560, 3837, 1, false},
    {"picos-alpha.png", "png", 3264, 2448, 1, true},
    {"life.webp", "webp", 3088, 2056, 1, false},
};

static int
open_corpus(const char *file)
{
	const char *dir = getenv("IMGPIPE_CORPUS");
	char path[1024];
	int fd;

	if (dir == NULL)
		fail_msg("IMGPIPE_CORPUS is not set");
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("cannot open %s", path);
	return fd;
}

/* The size a photo must have inside a box, computed independently. */
static void
expect_inside(int w, int h, int box, int *ew, int *eh)
{
	if (w >= h) {
		*ew = box;
		*eh = (int)((double)h * box / w + 0.5);
	} else {
		*eh = box;
		*ew = (int)((double)w * box / h + 0.5);
	}
}

static void
check_photo(struct imgtest *t, size_t k)
{
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err = {0};
	int fd = open_corpus(corpus[k].file);
	int rc;

	rc = imgproc_probe(t->ip, fd, &info, &err);
	assert_int_equal(rc, IP_OK);
	assert_string_equal(info.format, corpus[k].format);
	assert_int_equal(info.display_width, corpus[k].display_w);
	assert_int_equal(info.display_height, corpus[k].display_h);
	assert_int_equal(info.orientation, corpus[k].orientation);
	assert_int_equal(info.has_alpha, corpus[k].alpha);
	assert_int_equal(info.pages, 1);

	rc = imgproc_process(t->ip, fd, t->cfg.variants, t->cfg.n_variants,
			     &res, &err);
	if (rc != IP_OK)
		fail_msg("%s: %s", corpus[k].file, err.msg);
	assert_int_equal(res.n, 3);
	assert_int_equal(res.info.display_width, corpus[k].display_w);
	for (size_t i = 0; i < res.n; i++) {
		struct imgproc_variant *v = &res.variants[i];
		VipsImage *im = imgtest_decode(v, false);
		gchar *hex;
		int ew, eh;

		assert_int_equal(v->format, FORMAT_JPEG);
		assert_int_equal(im->Xsize, v->width);
		assert_int_equal(im->Ysize, v->height);
		assert_int_equal(im->Bands, 3);
		if (strcmp(v->name, "thumb") == 0) {
			assert_int_equal(v->width, 200);
			assert_int_equal(v->height, 200);
		} else {
			int box = strcmp(v->name, "large") == 0 ? 1600 : 800;

			expect_inside(corpus[k].display_w, corpus[k].display_h,
				      box, &ew, &eh);
			assert_int_equal(v->width, ew);
			assert_int_equal(v->height, eh);
		}
		hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, v->data,
						  v->len);
		assert_string_equal(hex, v->sha256);
		g_free(hex);
		/* The transparent corner of the PNG is flattened on white. */
		if (corpus[k].alpha) {
			double white[3] = {255, 255, 255};

			assert_true(imgtest_pixel_diff(im, 2, 2, white, 3) < 8);
		}
		g_object_unref(im);
	}
	assert_int_equal(strlen(res.placeholder), 28);
	assert_int_equal(strlen(res.dominant), 7);
	assert_int_equal(res.dominant[0], '#');
	if (corpus[k].orientation == 6)
		assert_true(res.variants[0].width > res.variants[0].height);
	imgproc_result_clear(&res);
	close(fd);
}

static void
test_corpus_default_job(void **state)
{
	struct imgtest t;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	assert_int_equal(t.cfg.n_variants, 3);
	for (size_t k = 0; k < sizeof(corpus) / sizeof(corpus[0]); k++)
		check_photo(&t, k);
	imgtest_end(&t);
}

/* sunset-exif6.jpg is stored portrait with Orientation=6: its variants
 * must be landscape, and the sky (top) brighter than the ground. */
static void
test_corpus_sunset_upright(void **state)
{
	struct imgtest t;
	struct imgproc_result res;
	struct ip_error err = {0};
	struct variant_spec s =
	    imgtest_spec("v", 400, 400, FIT_INSIDE, FORMAT_JPEG);
	VipsImage *im;
	double top[3], bottom[3];
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = open_corpus("sunset-exif6.jpg");
	assert_int_equal(imgproc_process(t.ip, fd, &s, 1, &res, &err), IP_OK);
	assert_int_equal(res.variants[0].width, 400);
	assert_int_equal(res.variants[0].height, 267);
	im = imgtest_decode(&res.variants[0], false);
	imgtest_pixel(im, 100, 20, top, 3);
	imgtest_pixel(im, 100, 250, bottom, 3);
	assert_true(top[0] + top[1] + top[2] >
		    bottom[0] + bottom[1] + bottom[2]);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	imgtest_end(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus_default_job),
	    cmocka_unit_test(test_corpus_sunset_upright),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
