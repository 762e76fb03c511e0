/*
 * imgtest.c - see imgtest.h.
 */
#include "imgtest.h"

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

#include "core/util.h"
#include "imgproc/imgproc_helper.h"

static void *
count_object(VipsObject *object, void *a, void *b)
{
	(void)b;
	/* Images only: regions and sources live in per-thread caches that
	 * libvips frees lazily. */
	if (VIPS_IS_IMAGE(object))
		(*(int *)a)++;
	return NULL;
}

int
imgtest_vips_alive(void)
{
	int n = 0;

	vips_object_map((VipsSListMap2Fn)count_object, &n, NULL);
	return n;
}

void
imgtest_begin(struct imgtest *t)
{
	static int started;

	if (!started) {
		if (VIPS_INIT("imgtest"))
			fail_msg("VIPS_INIT failed");
		vips_leak_set(FALSE);
		/* As imgproc_vips_open does: no operation cache, so objects
		 * alive at the end are leaks, not cache entries. */
		vips_cache_set_max(0);
		started = 1;
	}
	memset(t, 0, sizeof(*t));
	t->alive = imgtest_vips_alive();
	snprintf(t->dir, sizeof(t->dir), "/tmp/imgtest-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		fail_msg("mkdtemp failed");
	config_defaults(&t->cfg);
	t->cfg.vips_threads = 1;
}

void
imgtest_open_proc(struct imgtest *t)
{
	struct ip_error err = {0};
	int rc;

	imgproc_close(t->ip);
	t->ip = NULL;
	/* IMGPIPE_TEST_HELPERS=<imgpipe binary>: the same cases through the
	 * sandboxed helpers (imgproc_helper.h), confinement included. */
	if (getenv("IMGPIPE_TEST_HELPERS") != NULL) {
		/* The explicit settings of the environment, as the binary
		 * reads them: the ASan build's helper_memory_mb = 0. */
		if (config_load_env(&t->cfg, environ, &err) != IP_OK)
			fail_msg("environment: %s", err.msg);
		imgproc_helper_set_exe(getenv("IMGPIPE_TEST_HELPERS"));
		rc = imgproc_helper_open(&t->cfg, &t->ip, &err);
	} else {
		rc = imgproc_vips_open(&t->cfg, &t->ip, &err);
	}
	if (rc != IP_OK)
		fail_msg("imgproc open: %s", err.msg);
}

void
imgtest_end(struct imgtest *t)
{
	imgproc_close(t->ip);
	t->ip = NULL;
	if (t->dir[0] != '\0')
		util_rm_tree(t->dir);
	t->dir[0] = '\0';
	if (imgtest_vips_alive() != t->alive)
		fail_msg("%d libvips objects leaked",
			 imgtest_vips_alive() - t->alive);
}

void
imgtest_path(struct imgtest *t, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", t->dir, name);
}

int
imgtest_save_fd(struct imgtest *t, VipsImage *im, const char *name)
{
	char path[512];
	char plain[512];
	char *bracket;
	int fd;

	imgtest_path(t, name, path, sizeof(path));
	if (vips_image_write_to_file(im, path, NULL))
		fail_msg("write %s: %s", path, vips_error_buffer());
	util_strlcpy(plain, path, sizeof(plain));
	bracket = strchr(plain, '[');
	if (bracket != NULL)
		*bracket = '\0';
	fd = open(plain, O_RDONLY);
	if (fd < 0)
		fail_msg("open %s", plain);
	return fd;
}

int
imgtest_write_fd(struct imgtest *t, const char *name, const void *data,
		 size_t len)
{
	char path[512];
	int fd;

	imgtest_path(t, name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || util_write_all(fd, data, len) != 0)
		fail_msg("write %s", path);
	close(fd);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("open %s", path);
	return fd;
}

void *
imgtest_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("read %s", path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

VipsImage *
imgtest_solid(int w, int h, int bands, const double *v)
{
	VipsImage *black = NULL;
	VipsImage *img;
	VipsImage *out = NULL;

	if (vips_black(&black, w, h, "bands", bands, NULL))
		fail_msg("vips_black: %s", vips_error_buffer());
	img = vips_image_new_from_image(black, v, bands);
	g_object_unref(black);
	if (img == NULL)
		fail_msg("new_from_image: %s", vips_error_buffer());
	if (vips_copy(img, &out, "interpretation",
		      bands <= 2 ? VIPS_INTERPRETATION_B_W
				 : VIPS_INTERPRETATION_sRGB,
		      NULL))
		fail_msg("copy: %s", vips_error_buffer());
	g_object_unref(img);
	return out;
}

VipsImage *
imgtest_decode(const struct imgproc_variant *v, bool all_frames)
{
	VipsImage *im;
	VipsImage *mem;
	bool frames =
	    all_frames && (v->format == FORMAT_GIF || v->format == FORMAT_WEBP);

	im = vips_image_new_from_buffer(v->data, v->len, frames ? "[n=-1]" : "",
					NULL);
	if (im == NULL)
		fail_msg("decode %s: %s", v->name, vips_error_buffer());
	mem = vips_image_copy_memory(im);
	g_object_unref(im);
	if (mem == NULL)
		fail_msg("decode %s: %s", v->name, vips_error_buffer());
	return mem;
}

void
imgtest_pixel(VipsImage *im, int x, int y, double *v, int max)
{
	double *p = NULL;
	int n = 0;

	if (vips_getpoint(im, &p, &n, x, y, NULL))
		fail_msg("getpoint %d,%d: %s", x, y, vips_error_buffer());
	for (int i = 0; i < max; i++)
		v[i] = i < n ? p[i] : 0.0;
	g_free(p);
}

double
imgtest_pixel_diff(VipsImage *im, int x, int y, const double *want, int n)
{
	double v[8];
	double worst = 0.0;

	imgtest_pixel(im, x, y, v, 8);
	for (int i = 0; i < n && i < 8; i++)
		if (fabs(v[i] - want[i]) > worst)
			worst = fabs(v[i] - want[i]);
	return worst;
}

struct variant_spec
imgtest_spec(const char *name, int w, int h, enum fit f, enum out_format fmt)
{
	struct variant_spec s;

	memset(&s, 0, sizeof(s));
	util_strlcpy(s.name, name, sizeof(s.name));
	s.width = w;
	s.height = h;
	s.fit = f;
	s.gravity = GRAVITY_CENTRE;
	s.format = fmt;
	s.quality = 90;
	s.max_frames = 100;
	return s;
}
