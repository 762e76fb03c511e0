/*
 * imgtest.h - helpers shared by the imgproc tests: temporary directories,
 * writing libvips images to files, decoding variants, sampling pixels.
 *
 * Every test executable of tests/imgproc/ compiles imgtest.c; the helpers
 * abort the test (cmocka fail_msg) on setup errors, so a test body only
 * holds what it checks.
 */
#ifndef IMGPIPE_IMGTEST_H
#define IMGPIPE_IMGTEST_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "core/config.h"
#include "imgproc/imgproc.h"

struct imgtest {
	char dir[256]; /* mkdtemp'd, removed by imgtest_end */
	struct config cfg; /* config_defaults, 1 vips thread */
	struct imgproc *ip; /* made by imgtest_open_proc */
	int alive; /* libvips objects alive at begin */
};

/* Start libvips (once) and make a temp dir; cfg gets the defaults. */
void imgtest_begin(struct imgtest *t);
/* Number of libvips images alive now. */
int imgtest_vips_alive(void);
/* (Re)build t->ip from t->cfg. */
void imgtest_open_proc(struct imgtest *t);
/* Close t->ip, remove the temp dir, and fail if libvips objects made
 * since imgtest_begin are still alive (LSan cannot see those: glib's
 * allocations are suppressed in tests/lsan.supp). */
void imgtest_end(struct imgtest *t);

/* Save im to DIR/name (format from the suffix, libvips options after it,
 * e.g. "a.jpg[Q=95]") and return a read-only fd on it. */
int imgtest_save_fd(struct imgtest *t, VipsImage *im, const char *name);
/* Path of DIR/name. */
void imgtest_path(struct imgtest *t, const char *name, char *out, size_t len);
/* Write bytes to DIR/name and return a read-only fd. */
int imgtest_write_fd(struct imgtest *t, const char *name, const void *data,
		     size_t len);
/* Read a whole file (malloc'd). */
void *imgtest_read_file(const char *path, size_t *len);

/* A w x h sRGB (or B_W with bands 1) uchar image of one colour. */
VipsImage *imgtest_solid(int w, int h, int bands, const double *v);

/* Decode a variant into memory (all frames when n_all). */
VipsImage *imgtest_decode(const struct imgproc_variant *v, bool all_frames);
/* Pixel (x, y), every band, into v[0..bands). */
void imgtest_pixel(VipsImage *im, int x, int y, double *v, int max);
/* Largest absolute channel difference of pixel (x, y) and want. */
double imgtest_pixel_diff(VipsImage *im, int x, int y, const double *want,
			  int n);

/* One variant spec with sane defaults. */
struct variant_spec imgtest_spec(const char *name, int w, int h, enum fit f,
				 enum out_format fmt);

#endif
