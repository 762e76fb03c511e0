/*
 * test_damaged.c - damaged images and decode memory (issue 12, items 3
 * and 5):
 * - a corpus JPEG with bit flips in its entropy-coded data is done with
 *   warnings naming the corrupt data, and fails with limits.fail_on =
 *   warning; the intact photo has no warnings;
 * - messages never travel between jobs: a broken PNG after a damaged
 *   JPEG on the same thread carries no JPEG text and the other way round;
 *   the same with two threads working at once;
 * - limits.max_image_memory: a 10000x10000 progressive 4:4:4 JPEG and an
 *   interlaced PNG are refused from the header (probe and process), a
 *   sequential one is not, and the estimate of a small progressive JPEG
 *   sits between two limits either side of it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/record.h"
#include "imgtest.h"

#define FLIPS 6
#define THREAD_ROUNDS 8

static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Offset of the first entropy-coded byte: walk the segments from SOI by
 * their lengths (an EXIF thumbnail inside APP1 has its own SOS). */
static size_t
jpeg_scan_start(const unsigned char *b, size_t len)
{
	size_t at = 2;

	while (at + 4 < len && b[at] == 0xff) {
		size_t seg = (size_t)(b[at + 2] << 8 | b[at + 3]);

		if (b[at + 1] == 0xda)
			return at + 2 + seg;
		at += 2 + seg;
	}
	fail_msg("no SOS segment");
	return 0;
}

/* Flip one bit in each of FLIPS bytes of the entropy-coded data, in its
 * second quarter, never making or touching a marker (0xff). */
static void
damage_jpeg(unsigned char *b, size_t len, uint32_t seed)
{
	size_t start = jpeg_scan_start(b, len);
	size_t span = (len - start) / 4;

	for (int k = 0; k < FLIPS;) {
		size_t at = start + span + next_rand(&seed) % span;
		unsigned char v =
		    (unsigned char)(b[at] ^ (1u << (next_rand(&seed) % 8)));

		if (b[at] == 0xff || b[at - 1] == 0xff || v == 0xff)
			continue;
		b[at] = v;
		k++;
	}
}

/* The corpus photo dragonfly.jpg (baseline, 13.4 MP) with bit flips that
 * libjpeg reports as "Corrupt JPEG data: bad Huffman code" (seed chosen
 * so; most flips of entropy-coded data decode silently). */
static int
damaged_jpeg_fd(struct imgtest *t, const char *name)
{
	const char *dir = getenv("IMGPIPE_CORPUS");
	char path[512];
	unsigned char *buf;
	size_t len = 0;
	int fd;

	if (dir == NULL)
		fail_msg("IMGPIPE_CORPUS is not set");
	snprintf(path, sizeof(path), "%s/dragonfly.jpg", dir);
	buf = imgtest_read_file(path, &len);
	damage_jpeg(buf, len, 99);
	fd = imgtest_write_fd(t, name, buf, len);
	free(buf);
	return fd;
}

/* A PNG whose compressed data is overwritten in the middle: zlib fails. */
static int
broken_png_fd(struct imgtest *t, const char *name)
{
	VipsImage *noise = NULL;
	VipsImage *grey = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	int fd;

	if (vips_gaussnoise(&noise, 256, 256, "sigma", 50.0, NULL) ||
	    vips_cast(noise, &grey, VIPS_FORMAT_UCHAR, NULL) ||
	    vips_pngsave_buffer(grey, (void **)&buf, &len, NULL))
		fail_msg("png: %s", vips_error_buffer());
	for (size_t i = len / 2; i < len / 2 + 64; i++)
		buf[i] = (unsigned char)(i * 37);
	fd = imgtest_write_fd(t, name, buf, len);
	g_free(buf);
	g_object_unref(grey);
	g_object_unref(noise);
	return fd;
}

static bool
warnings_mention(const struct imgproc_result *res, const char *text)
{
	for (size_t i = 0; i < res->n_warnings; i++)
		if (strcasestr(res->warnings[i], text) != NULL)
			return true;
	return false;
}

static int
run(struct imgtest *t, int fd, struct imgproc_result *res, struct ip_error *err)
{
	memset(err, 0, sizeof(*err));
	return imgproc_process(t->ip, fd, t->cfg.variants, t->cfg.n_variants,
			       res, err);
}

static void
test_corpus_jpeg_warns(void **state)
{
	struct imgproc_result res;
	struct ip_error err;
	struct imgtest t;
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = damaged_jpeg_fd(&t, "dragonfly-damaged.jpg");

	/* The default (fail_on = error): done, and the record says why it
	 * may look wrong. */
	assert_int_equal(run(&t, fd, &res, &err), IP_OK);
	assert_true(res.n_warnings >= 1);
	assert_true(res.n_warnings <= RECORD_WARNINGS_MAX);
	assert_true(warnings_mention(&res, "Corrupt JPEG data"));
	for (size_t i = 0; i < res.n_warnings; i++) {
		assert_true(strlen(res.warnings[i]) < RECORD_WARNING_MAX);
		for (const char *p = res.warnings[i]; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
	}
	imgproc_result_clear(&res);

	/* fail_on = warning: the same file fails, with the reason. */
	t.cfg.fail_on = FAIL_ON_WARNING;
	imgtest_open_proc(&t);
	assert_int_equal(run(&t, fd, &res, &err), IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "Corrupt JPEG data"));
	assert_int_equal(res.n, 0);
	close(fd);
	imgtest_end(&t);
}

static void
test_intact_jpeg_has_no_warnings(void **state)
{
	const char *dir = getenv("IMGPIPE_CORPUS");
	struct imgproc_result res;
	struct ip_error err;
	struct imgtest t;
	char path[512];
	int fd;

	(void)state;
	if (dir == NULL)
		fail_msg("IMGPIPE_CORPUS is not set");
	snprintf(path, sizeof(path), "%s/dragonfly.jpg", dir);
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(run(&t, fd, &res, &err), IP_OK);
	assert_int_equal(res.n_warnings, 0);
	imgproc_result_clear(&res);
	close(fd);
	imgtest_end(&t);
}

/* A processor with the defaults, a damaged JPEG and a broken PNG. */
static void
begin_pair(struct imgtest *t, int *jpg, int *png)
{
	imgtest_begin(t);
	imgtest_open_proc(t);
	*jpg = damaged_jpeg_fd(t, "damaged.jpg");
	*png = broken_png_fd(t, "broken.png");
}

static void
test_messages_stay_with_their_job(void **state)
{
	struct imgproc_result res;
	struct ip_error err;
	struct imgtest t;
	int jpg;
	int png;

	(void)state;
	begin_pair(&t, &jpg, &png);

	/* A damaged JPEG that decodes, then a PNG that fails. */
	assert_int_equal(run(&t, jpg, &res, &err), IP_OK);
	assert_true(warnings_mention(&res, "Corrupt JPEG data"));
	imgproc_result_clear(&res);
	assert_int_equal(run(&t, png, &res, &err), IP_EUNPROCESSABLE);
	assert_non_null(strcasestr(err.msg, "png"));
	assert_null(strcasestr(err.msg, "jpeg"));
	assert_int_equal(res.n_warnings, 0);

	/* And the other way round. */
	assert_int_equal(run(&t, jpg, &res, &err), IP_OK);
	assert_true(res.n_warnings >= 1);
	assert_false(warnings_mention(&res, "png"));
	assert_false(warnings_mention(&res, "IDAT"));
	imgproc_result_clear(&res);

	/* A probe (header only) leaves nothing behind either. */
	assert_int_equal(imgproc_probe(t.ip, jpg, &res.info, &err), IP_OK);
	assert_int_equal(run(&t, png, &res, &err), IP_EUNPROCESSABLE);
	assert_null(strcasestr(err.msg, "jpeg"));
	close(png);
	close(jpg);
	imgtest_end(&t);
}

struct worker {
	struct imgtest *t;
	int fd;
	bool is_jpeg;
	atomic_int *wrong;
	char first_wrong[IP_ERROR_MSG_MAX + RECORD_WARNING_MAX + 16];
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < THREAD_ROUNDS; i++) {
		struct imgproc_result res;
		struct ip_error err;
		int rc = run(w->t, w->fd, &res, &err);
		bool bad;

		if (w->is_jpeg)
			bad = rc != IP_OK ||
			      !warnings_mention(&res, "Corrupt JPEG data") ||
			      warnings_mention(&res, "png") ||
			      warnings_mention(&res, "IDAT");
		else
			bad = rc != IP_EUNPROCESSABLE ||
			      strcasestr(err.msg, "jpeg") != NULL ||
			      res.n_warnings != 0;
		if (bad && atomic_fetch_add(w->wrong, 1) == 0)
			snprintf(w->first_wrong, sizeof(w->first_wrong),
				 "rc %d: %s / %s", rc, err.msg,
				 res.n_warnings > 0 ? res.warnings[0] : "");
		if (rc == IP_OK)
			imgproc_result_clear(&res);
	}
	return NULL;
}

static void
test_messages_stay_with_their_job_threads(void **state)
{
	struct worker w[4];
	pthread_t th[4];
	atomic_int wrong = 0;
	struct imgtest t;
	int jpg;
	int png;

	(void)state;
	begin_pair(&t, &jpg, &png);
	for (int i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].t = &t;
		w[i].is_jpeg = i % 2 == 0;
		w[i].fd = w[i].is_jpeg ? jpg : png;
		w[i].wrong = &wrong;
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		if (w[i].first_wrong[0] != '\0')
			print_message("worker %d: %s\n", i, w[i].first_wrong);
	assert_int_equal(atomic_load(&wrong), 0);
	close(png);
	close(jpg);
	imgtest_end(&t);
}

/* A 10000x10000 flat image saved to DIR/name with libvips options. */
static int
big_fd(struct imgtest *t, const char *name, bool jpeg)
{
	VipsImage *black = NULL;
	VipsImage *img = NULL;
	char path[512];
	int fd;

	imgtest_path(t, name, path, sizeof(path));
	if (vips_black(&black, 10000, 10000, "bands", 3, NULL) ||
	    vips_linear1(black, &img, 1.0, 120.0, "uchar", TRUE, NULL))
		fail_msg("big: %s", vips_error_buffer());
	img->Type = VIPS_INTERPRETATION_sRGB;
	if (jpeg ? vips_jpegsave(img, path, "interlace", TRUE, "subsample_mode",
				 VIPS_FOREIGN_SUBSAMPLE_OFF, NULL)
		 : vips_pngsave(img, path, "interlace", TRUE, "compression", 1,
				NULL))
		fail_msg("big %s: %s", name, vips_error_buffer());
	g_object_unref(img);
	g_object_unref(black);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void
assert_refused(struct imgtest *t, int fd, const char *what)
{
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err = {0};

	assert_int_equal(imgproc_probe(t->ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "limits.max_image_memory"));
	assert_non_null(strstr(err.msg, what));
	assert_int_equal(run(t, fd, &res, &err), IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "limits.max_image_memory"));
	assert_int_equal(res.n, 0);
}

static void
test_big_whole_image_decodes_refused(void **state)
{
	struct image_info info;
	struct ip_error err;
	struct imgtest t;
	VipsImage *img;
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t); /* the default limit, 256 MiB */

	/* 10000 x 10000 x 3 components x 2 bytes = 572 MiB. */
	fd = big_fd(&t, "prog444.jpg", true);
	assert_refused(&t, fd, "572 MiB");
	close(fd);
	/* 10000 x 10000 x 3 bytes = 286 MiB. */
	fd = big_fd(&t, "interlaced.png", false);
	assert_refused(&t, fd, "286 MiB");
	close(fd);

	/* The same pixels decoded in strips are fine. */
	img = imgtest_solid(10000, 10000, 3, (const double[3]){120, 120, 120});
	fd = imgtest_save_fd(&t, img, "plain.png[compression=1]");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	close(fd);
	g_object_unref(img);
	imgtest_end(&t);
}

static void
test_estimate_brackets_progressive_jpeg(void **state)
{
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	struct imgtest t;
	VipsImage *img;
	int fd444;
	int fd420;

	(void)state;
	imgtest_begin(&t);
	img = imgtest_solid(2000, 2000, 3, (const double[3]){10, 200, 90});
	/* 4:4:4: 2000 x 2000 x 3 x 2 = 24,000,000 bytes (22.9 MiB);
	 * 4:2:0: 2000 x 2000 x 1.5 x 2 = 12,000,000 bytes (11.4 MiB). */
	fd444 =
	    imgtest_save_fd(&t, img, "p444.jpg[interlace,subsample-mode=off]");
	fd420 =
	    imgtest_save_fd(&t, img, "p420.jpg[interlace,subsample-mode=on]");
	g_object_unref(img);

	t.cfg.max_image_memory = 22LL << 20;
	imgtest_open_proc(&t);
	assert_int_equal(imgproc_probe(t.ip, fd444, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "22 MiB at once"));
	assert_int_equal(imgproc_probe(t.ip, fd420, &info, &err), IP_OK);

	t.cfg.max_image_memory = 11LL << 20;
	imgtest_open_proc(&t);
	assert_int_equal(imgproc_probe(t.ip, fd420, &info, &err),
			 IP_EUNPROCESSABLE);

	t.cfg.max_image_memory = 23LL << 20;
	imgtest_open_proc(&t);
	assert_int_equal(run(&t, fd444, &res, &err), IP_OK);
	imgproc_result_clear(&res);
	close(fd420);
	close(fd444);
	imgtest_end(&t);
}

static void
test_record_carries_warnings(void **state)
{
	static const char bad[] = "{\"id\":\"01M8THM6CPHRQ0562XFGEGSQYE\","
				  "\"status\":\"done\",\"warnings\":[1]}";
	struct record r;
	struct record back;
	struct ip_error err;
	char *text;

	(void)state;
	memset(&r, 0, sizeof(r));
	util_strlcpy(r.id, "01M8THM6CPHRQ0562XFGEGSQYE", sizeof(r.id));
	r.status = RECORD_DONE;
	text = record_to_string(&r);
	assert_non_null(strstr(text, "\"warnings\":[]"));
	free(text);

	r.n_warnings = 2;
	util_strlcpy(r.warnings[0], "VipsJpeg: Corrupt JPEG data: bad",
		     sizeof(r.warnings[0]));
	util_strlcpy(r.warnings[1], "second", sizeof(r.warnings[1]));
	text = record_to_string(&r);
	assert_non_null(text);
	assert_int_equal(record_from_string(text, strlen(text), &back, &err),
			 IP_OK);
	assert_int_equal(back.n_warnings, 2);
	assert_string_equal(back.warnings[0], r.warnings[0]);
	assert_string_equal(back.warnings[1], "second");
	free(text);

	/* Stored rows are outside input too: bounded and typed. */
	assert_int_equal(record_from_string(bad, strlen(bad), &back, &err),
			 IP_EINVAL);
	assert_non_null(strstr(err.msg, "record.warnings"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus_jpeg_warns),
	    cmocka_unit_test(test_intact_jpeg_has_no_warnings),
	    cmocka_unit_test(test_messages_stay_with_their_job),
	    cmocka_unit_test(test_messages_stay_with_their_job_threads),
	    cmocka_unit_test(test_big_whole_image_decodes_refused),
	    cmocka_unit_test(test_estimate_brackets_progressive_jpeg),
	    cmocka_unit_test(test_record_carries_warnings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
