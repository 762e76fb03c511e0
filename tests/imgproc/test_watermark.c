/*
 * test_watermark.c - the watermark engine, by pixels: where the mark
 * lands for each gravity, how opacity blends, that tiling covers the
 * image, that adaptive contrast picks light on dark and dark on light,
 * and that a mark is rendered once per size and shared across threads.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "imgproc/watermark.h"
#include "imgtest.h"

#define W 400
#define H 300
#define BASE 100.0

/* Pixels that differ from the flat base grey. */
struct change {
	int x0, y0, x1, y1; /* bounding box, inclusive */
	long count;
	double max; /* highest value in band 0 */
	double min; /* lowest value in band 0 */
	bool cells[4][5]; /* [row][col] of a 5x4 grid: any change */
};

static void
changes(VipsImage *im, double base, struct change *c)
{
	size_t len = 0;
	unsigned char *px = vips_image_write_to_memory(im, &len);
	int bands = im->Bands;

	assert_non_null(px);
	memset(c, 0, sizeof(*c));
	c->x0 = im->Xsize;
	c->y0 = im->Ysize;
	c->x1 = c->y1 = -1;
	c->min = 255;
	for (int y = 0; y < im->Ysize; y++) {
		for (int x = 0; x < im->Xsize; x++) {
			const unsigned char *p =
			    px + ((size_t)y * im->Xsize + x) * bands;
			bool changed = false;

			for (int b = 0; b < bands && b < 3; b++)
				if (fabs(p[b] - base) > 6)
					changed = true;
			if (!changed)
				continue;
			c->count++;
			c->x0 = x < c->x0 ? x : c->x0;
			c->y0 = y < c->y0 ? y : c->y0;
			c->x1 = x > c->x1 ? x : c->x1;
			c->y1 = y > c->y1 ? y : c->y1;
			c->max = p[0] > c->max ? p[0] : c->max;
			c->min = p[0] < c->min ? p[0] : c->min;
			c->cells[y * 4 / im->Ysize][x * 5 / im->Xsize] = true;
		}
	}
	g_free(px);
}

/* A white, fully opaque 80x40 logo as the watermark image. */
static void
use_block_logo(struct imgtest *t)
{
	static const double white[4] = {255, 255, 255, 255};
	VipsImage *logo = imgtest_solid(80, 40, 4, white);
	int fd = imgtest_save_fd(t, logo, "logo.png");

	close(fd);
	imgtest_path(t, "logo.png", t->cfg.watermark.image,
		     sizeof(t->cfg.watermark.image));
	g_object_unref(logo);
}

/* Watermark a flat W x H grey image of `level` with the current config
 * and measure what changed. */
static void
mark_flat(struct imgtest *t, double level, struct change *c)
{
	double grey[3] = {level, level, level};
	struct variant_spec s = imgtest_spec("v", W, H, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct ip_error err = {0};
	VipsImage *src = imgtest_solid(W, H, 3, grey);
	VipsImage *im;
	int fd;

	s.watermark = true;
	imgtest_open_proc(t);
	fd = imgtest_save_fd(t, src, "flat.png");
	if (imgproc_process(t->ip, fd, &s, 1, &res, &err) != IP_OK)
		fail_msg("process: %s", err.msg);
	im = imgtest_decode(&res.variants[0], false);
	changes(im, level, c);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
}

static void
test_gravities(void **state)
{
	static const struct {
		enum gravity g;
		int col; /* -1 west, 0 centre, 1 east */
		int row; /* -1 north, 0 centre, 1 south */
	} cases[] = {
	    {GRAVITY_NORTH_WEST, -1, -1}, {GRAVITY_NORTH, 0, -1},
	    {GRAVITY_NORTH_EAST, 1, -1},  {GRAVITY_WEST, -1, 0},
	    {GRAVITY_CENTRE, 0, 0},	  {GRAVITY_EAST, 1, 0},
	    {GRAVITY_SOUTH_WEST, -1, 1},  {GRAVITY_SOUTH, 0, 1},
	    {GRAVITY_SOUTH_EAST, 1, 1},
	};
	struct imgtest t;
	const int mw = 100, mh = 50, m = 20; /* scale .25, margin .05 */

	(void)state;
	imgtest_begin(&t);
	use_block_logo(&t);
	t.cfg.watermark.opacity = 1.0;
	t.cfg.watermark.scale = 0.25;
	t.cfg.watermark.margin = 0.05;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct change c;
		int ex = cases[i].col < 0    ? m
			 : cases[i].col == 0 ? (W - mw) / 2
					     : W - mw - m;
		int ey = cases[i].row < 0    ? m
			 : cases[i].row == 0 ? (H - mh) / 2
					     : H - mh - m;

		t.cfg.watermark.position = cases[i].g;
		mark_flat(&t, BASE, &c);
		/* The changed pixels are the logo's box, give or take the
		 * resampled edge. */
		if (abs(c.x0 - ex) > 1 || abs(c.y0 - ey) > 1 ||
		    abs(c.x1 - (ex + mw - 1)) > 1 ||
		    abs(c.y1 - (ey + mh - 1)) > 1)
			fail_msg(
			    "gravity %s: box %d,%d-%d,%d, want %d,%d-%d,%d",
			    config_gravity_name(cases[i].g), c.x0, c.y0, c.x1,
			    c.y1, ex, ey, ex + mw - 1, ey + mh - 1);
		assert_true(c.max >= 250);
	}
	imgtest_end(&t);
}

/* The default text mark lands bottom-right, inside the margin. */
static void
test_text_mark_default(void **state)
{
	struct imgtest t;
	struct change c;

	(void)state;
	imgtest_begin(&t);
	assert_true(t.cfg.watermark.enabled);
	assert_int_equal(t.cfg.watermark.position, GRAVITY_SOUTH_EAST);
	t.cfg.watermark.opacity = 1.0;
	mark_flat(&t, BASE, &c);
	assert_true(c.count > 200);
	assert_true(c.x0 > W / 2);
	assert_true(c.y0 > H / 2);
	/* margin 0.03 of the width = 12 px */
	assert_true(c.x1 <= W - 12);
	assert_true(c.y1 <= H - 12);
	/* scale 0.2: the text is about 80 px wide. */
	assert_true(c.x1 - c.x0 + 1 >= 60);
	assert_true(c.x1 - c.x0 + 1 <= 82);
	assert_true(c.max > 240); /* white */
	imgtest_end(&t);
}

static void
test_opacity_blend(void **state)
{
	struct imgtest t;
	struct change full, light;

	(void)state;
	imgtest_begin(&t);
	use_block_logo(&t);
	t.cfg.watermark.scale = 0.25;
	t.cfg.watermark.opacity = 1.0;
	mark_flat(&t, BASE, &full);
	t.cfg.watermark.opacity = 0.3;
	mark_flat(&t, BASE, &light);
	/* white over 100 at 30 %: 100 + 0.3 * 155 = 146.5 */
	assert_true(full.max >= 254);
	assert_true(fabs(light.max - 146.5) <= 2.0);
	assert_int_equal(light.count, full.count);
	imgtest_end(&t);
}

static void
test_tiling_covers(void **state)
{
	struct imgtest t;
	struct change c;

	(void)state;
	imgtest_begin(&t);
	use_block_logo(&t);
	t.cfg.watermark.opacity = 1.0;
	t.cfg.watermark.scale = 0.1; /* 40x20 marks */
	t.cfg.watermark.tile = true;
	t.cfg.watermark.spacing = 0.5; /* 20 px gaps: 60x40 cells */
	mark_flat(&t, BASE, &c);
	for (int r = 0; r < 4; r++)
		for (int k = 0; k < 5; k++)
			if (!c.cells[r][k])
				fail_msg("tile cell %d,%d has no mark", r, k);
	/* 800 of every 2400 pixels: a third, give or take the borders. */
	assert_true(c.count > W * H / 4);
	assert_true(c.count < W * H / 2);

	/* Diagonal marks still cover the picture. */
	t.cfg.watermark.angle = 30;
	mark_flat(&t, BASE, &c);
	for (int r = 0; r < 4; r++)
		for (int k = 0; k < 5; k++)
			if (!c.cells[r][k])
				fail_msg("rotated tile cell %d,%d empty", r, k);
	assert_true(c.count > W * H / 6);
	imgtest_end(&t);
}

static void
test_adaptive_contrast(void **state)
{
	struct imgtest t;
	struct change dark, light;

	(void)state;
	imgtest_begin(&t);
	util_strlcpy(t.cfg.watermark.colour, "auto",
		     sizeof(t.cfg.watermark.colour));
	t.cfg.watermark.opacity = 0.8;
	mark_flat(&t, 20, &dark);
	mark_flat(&t, 235, &light);
	assert_true(dark.count > 100);
	assert_true(light.count > 100);
	/* Light mark on a night picture, dark mark on snow. */
	assert_true(dark.min >= 20 - 6);
	assert_true(dark.max > 150);
	assert_true(light.max <= 235 + 6);
	assert_true(light.min < 100);

	/* The same with a logo: a light or dark silhouette. */
	use_block_logo(&t);
	t.cfg.watermark.adaptive = true;
	mark_flat(&t, 20, &dark);
	mark_flat(&t, 235, &light);
	assert_true(dark.max > 150);
	assert_true(light.min < 100);
	imgtest_end(&t);
}

/* Too small for a legible mark: the variant is left alone. */
static void
test_tiny_image_unmarked(void **state)
{
	static const double grey[3] = {BASE, BASE, BASE};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 30, 30, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct ip_error err = {0};
	struct change c;
	VipsImage *src;
	VipsImage *im;
	int fd;

	(void)state;
	imgtest_begin(&t);
	src = imgtest_solid(W, H, 3, grey);
	s.watermark = true;
	imgtest_open_proc(&t);
	fd = imgtest_save_fd(&t, src, "flat.png");
	assert_int_equal(imgproc_process(t.ip, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	assert_int_equal(im->Xsize, 30);
	changes(im, BASE, &c);
	assert_int_equal(c.count, 0);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
	imgtest_end(&t);
}

/* ---- the render cache --------------------------------------------- */

struct worker_arg {
	struct watermark *wm;
	VipsImage *images[3];
	int failures;
};

static void *
worker(void *p)
{
	struct worker_arg *a = p;

	for (int i = 0; i < 30; i++) {
		VipsImage *out = NULL;
		struct ip_error err = {0};
		VipsImage *mem;

		if (watermark_apply(a->wm, a->images[i % 3], &out, &err) !=
		    IP_OK) {
			a->failures++;
			continue;
		}
		mem = vips_image_copy_memory(out);
		if (mem == NULL)
			a->failures++;
		else
			g_object_unref(mem);
		g_object_unref(out);
	}
	return NULL;
}

static void
test_render_cache(void **state)
{
	static const double grey[3] = {BASE, BASE, BASE};
	struct imgtest t;
	struct watermark *wm = NULL;
	struct ip_error err = {0};
	struct worker_arg args[4];
	pthread_t threads[4];
	VipsImage *a800, *b800, *c400, *out;
	unsigned long hits, misses;
	size_t entries;

	(void)state;
	imgtest_begin(&t);
	a800 = imgtest_solid(800, 600, 3, grey);
	b800 = imgtest_solid(800, 200, 3, grey);
	c400 = imgtest_solid(400, 300, 3, grey);
	assert_int_equal(watermark_new(&t.cfg.watermark, &wm, &err), IP_OK);

	/* Two images of one width share one render; a new width renders. */
	assert_int_equal(watermark_apply(wm, a800, &out, &err), IP_OK);
	g_object_unref(out);
	assert_int_equal(watermark_apply(wm, b800, &out, &err), IP_OK);
	g_object_unref(out);
	watermark_cache_stats(wm, &hits, &misses, &entries);
	assert_int_equal(misses, 1);
	assert_int_equal(hits, 1);
	assert_int_equal(entries, 1);
	assert_int_equal(watermark_apply(wm, c400, &out, &err), IP_OK);
	g_object_unref(out);
	watermark_cache_stats(wm, &hits, &misses, &entries);
	assert_int_equal(misses, 2);
	assert_int_equal(entries, 2);

	/* Four threads at once on three widths. */
	for (int i = 0; i < 4; i++) {
		args[i].wm = wm;
		args[i].images[0] = a800;
		args[i].images[1] = c400;
		args[i].images[2] = b800;
		args[i].failures = 0;
		assert_int_equal(
		    pthread_create(&threads[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	watermark_cache_stats(wm, &hits, &misses, &entries);
	assert_int_equal(hits + misses, 3 + 4 * 30);
	assert_int_equal(entries, 2);

	/* Bounded: many widths never keep more than the limit. */
	for (int k = 0; k < 2 * WATERMARK_CACHE_MAX; k++) {
		/* scale 0.2: marks of 20, 22, 24... px */
		VipsImage *img = imgtest_solid(100 + 10 * k, 100, 3, grey);

		assert_int_equal(watermark_apply(wm, img, &out, &err), IP_OK);
		g_object_unref(out);
		g_object_unref(img);
	}
	watermark_cache_stats(wm, NULL, NULL, &entries);
	assert_int_equal(entries, WATERMARK_CACHE_MAX);
	watermark_free(wm);
	g_object_unref(c400);
	g_object_unref(b800);
	g_object_unref(a800);
	imgtest_end(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gravities),
	    cmocka_unit_test(test_text_mark_default),
	    cmocka_unit_test(test_opacity_blend),
	    cmocka_unit_test(test_tiling_covers),
	    cmocka_unit_test(test_adaptive_contrast),
	    cmocka_unit_test(test_tiny_image_unmarked),
	    cmocka_unit_test(test_render_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
