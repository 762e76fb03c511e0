/*
 * test_imgproc.c - image correctness and safety of the libvips processor,
 * on inputs generated here with libvips: orientation, colour (CMYK, ICC,
 * 16-bit, greyscale), alpha into every format, animation, fit modes,
 * limits (bomb, frames), the time limit, corrupt and truncated files.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <lcms2.h>

#include "core/util.h"
#include "imgtest.h"

/* ---- helpers ------------------------------------------------------ */

static int
run(struct imgtest *t, int fd, const struct variant_spec *specs, size_t n,
    struct imgproc_result *res, struct ip_error *err)
{
	memset(err, 0, sizeof(*err));
	return imgproc_process(t->ip, fd, specs, n, res, err);
}

/* An upright 64x48 test card: red, green / blue, white quadrants. */
static VipsImage *
card(void)
{
	static const double q[4][3] = {
	    {220, 30, 30}, {30, 200, 30}, {30, 30, 220}, {240, 240, 240}};
	VipsImage *parts[4];
	VipsImage *out = NULL;

	for (int i = 0; i < 4; i++)
		parts[i] = imgtest_solid(32, 24, 3, q[i]);
	if (vips_arrayjoin(parts, &out, 4, "across", 2, NULL))
		fail_msg("arrayjoin: %s", vips_error_buffer());
	for (int i = 0; i < 4; i++)
		g_object_unref(parts[i]);
	return out;
}

static void
check_card(VipsImage *im, int scale)
{
	static const double q[4][3] = {
	    {220, 30, 30}, {30, 200, 30}, {30, 30, 220}, {240, 240, 240}};
	static const int at[4][2] = {{16, 12}, {48, 12}, {16, 36}, {48, 36}};

	assert_int_equal(im->Xsize, 64 * scale);
	assert_int_equal(im->Ysize, 48 * scale);
	for (int i = 0; i < 4; i++) {
		double d = imgtest_pixel_diff(im, at[i][0] * scale,
					      at[i][1] * scale, q[i], 3);

		if (d > 40)
			fail_msg("quadrant %d off by %.0f", i, d);
	}
}

/* The stored image that displays as `up` under EXIF orientation o. */
static VipsImage *
store_for_orientation(VipsImage *up, int o)
{
	VipsImage *a = NULL;
	VipsImage *b = NULL;
	int rc = 0;

	switch (o) {
	case 1:
		rc = vips_copy(up, &b, NULL);
		break;
	case 2:
		rc = vips_flip(up, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
		break;
	case 3:
		rc = vips_rot(up, &b, VIPS_ANGLE_D180, NULL);
		break;
	case 4:
		rc = vips_flip(up, &b, VIPS_DIRECTION_VERTICAL, NULL);
		break;
	case 5: /* transpose */
		rc = vips_rot(up, &a, VIPS_ANGLE_D90, NULL) ||
		     vips_flip(a, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
		break;
	case 6: /* displayed = stored turned 90 degrees clockwise */
		rc = vips_rot(up, &b, VIPS_ANGLE_D270, NULL);
		break;
	case 7: /* transverse */
		rc = vips_rot(up, &a, VIPS_ANGLE_D270, NULL) ||
		     vips_flip(a, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
		break;
	case 8:
		rc = vips_rot(up, &b, VIPS_ANGLE_D90, NULL);
		break;
	default:
		break;
	}
	if (rc)
		fail_msg("orient: %s", vips_error_buffer());
	if (a != NULL)
		g_object_unref(a);
	vips_image_set_int(b, "orientation", o);
	return b;
}

/* ---- orientation -------------------------------------------------- */

static void
test_orientation_matrix(void **state)
{
	struct imgtest t;
	VipsImage *up;
	struct variant_spec specs[2] = {
	    imgtest_spec("same", 600, 600, FIT_INSIDE, FORMAT_PNG),
	    imgtest_spec("double", 128, 128, FIT_INSIDE, FORMAT_PNG),
	};

	(void)state;
	specs[1].enlarge = true;
	imgtest_begin(&t);
	up = card();
	imgtest_open_proc(&t);
	for (int o = 1; o <= 8; o++) {
		struct imgproc_result res;
		struct image_info info;
		struct ip_error err;
		VipsImage *stored = store_for_orientation(up, o);
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "o%d.jpg[Q=98]", o);
		fd = imgtest_save_fd(&t, stored, name);
		assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
		assert_int_equal(info.orientation, o);
		assert_int_equal(info.width, o >= 5 ? 48 : 64);
		assert_int_equal(info.display_width, 64);
		assert_int_equal(info.display_height, 48);
		assert_int_equal(run(&t, fd, specs, 2, &res, &err), IP_OK);
		for (int i = 0; i < 2; i++) {
			VipsImage *im = imgtest_decode(&res.variants[i], false);

			check_card(im, i + 1);
			g_object_unref(im);
		}
		imgproc_result_clear(&res);
		close(fd);
		g_object_unref(stored);
	}
	g_object_unref(up);
	imgtest_end(&t);
}

/* HEIF/AVIF and TIFF input.  In HEIF the container's irot/imir boxes are
 * applied by libheif; an EXIF Orientation tag inside is ignored, as the
 * HEIF specification and browsers do, so it never rotates twice. */
static void
test_heif_and_tiff_input(void **state)
{
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 64, 64, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *up;
	VipsImage *tagged = NULL;
	VipsImage *im;
	int fd;

	(void)state;
	imgtest_begin(&t);
	up = card();
	imgtest_open_proc(&t);

	if (vips_copy(up, &tagged, NULL))
		fail_msg("copy");
	vips_image_set_int(tagged, "orientation", 6);
	fd = imgtest_save_fd(&t, tagged, "card.avif[Q=95,compression=av1]");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_string_equal(info.format, "avif");
	assert_string_equal(info.content_type, "image/avif");
	assert_int_equal(info.orientation, 1);
	assert_int_equal(info.display_width, 64);
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	check_card(im, 1);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);

	fd = imgtest_save_fd(&t, up, "card.tif");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_string_equal(info.format, "tiff");
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	check_card(im, 1);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(tagged);
	g_object_unref(up);
	imgtest_end(&t);
}

/* ---- colour ------------------------------------------------------- */

/* sRGB of a patch after a round trip through CMYK, with and without the
 * embedded profile (the built-in CMYK profile is the fallback). */
static void
test_cmyk(void **state)
{
	static const double colour[3] = {200, 60, 40};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 64, 64, FIT_INSIDE, FORMAT_PNG);
	VipsImage *src;
	VipsImage *cmyk = NULL;
	VipsImage *bare = NULL;

	(void)state;
	imgtest_begin(&t);
	src = imgtest_solid(64, 64, 3, colour);
	imgtest_open_proc(&t);
	if (vips_icc_transform(src, &cmyk, "cmyk", "input_profile", "srgb",
			       NULL) ||
	    vips_copy(cmyk, &bare, NULL))
		fail_msg("cmyk: %s", vips_error_buffer());
	assert_true(vips_image_get_typeof(cmyk, VIPS_META_ICC_NAME) != 0);
	vips_image_remove(bare, VIPS_META_ICC_NAME);
	for (int with = 0; with < 2; with++) {
		struct imgproc_result res;
		struct image_info info;
		struct ip_error err;
		VipsImage *im;
		int fd = imgtest_save_fd(&t, with ? cmyk : bare,
					 with ? "p.jpg[Q=98]" : "n.jpg[Q=98]");

		assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
		assert_string_equal(info.colourspace, "cmyk");
		assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
		im = imgtest_decode(&res.variants[0], false);
		assert_int_equal(im->Bands, 3);
		if (imgtest_pixel_diff(im, 32, 32, colour, 3) > 20)
			fail_msg("CMYK %s profile: colour off",
				 with ? "with" : "without");
		g_object_unref(im);
		imgproc_result_clear(&res);
		close(fd);
	}
	g_object_unref(bare);
	g_object_unref(cmyk);
	g_object_unref(src);
	imgtest_end(&t);
}

static double
srgb_encode(double v)
{
	v = v < 0 ? 0 : v > 1 ? 1 : v;
	return 255.0 *
	       (v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055);
}

/* Adobe RGB (1998) -> sRGB by the published matrices, D65 both sides. */
static void
adobe_to_srgb(const double in[3], double out[3])
{
	static const double to_xyz[3][3] = {{0.5767309, 0.1855540, 0.1881852},
					    {0.2973769, 0.6273491, 0.0752741},
					    {0.0270343, 0.0706872, 0.9911085}};
	static const double to_rgb[3][3] = {{3.2404542, -1.5371385, -0.4985314},
					    {-0.9692660, 1.8760108, 0.0415560},
					    {0.0556434, -0.2040259, 1.0572252}};
	double lin[3], xyz[3];

	for (int i = 0; i < 3; i++)
		lin[i] = pow(in[i] / 255.0, 563.0 / 256.0);
	for (int i = 0; i < 3; i++)
		xyz[i] = to_xyz[i][0] * lin[0] + to_xyz[i][1] * lin[1] +
			 to_xyz[i][2] * lin[2];
	for (int i = 0; i < 3; i++)
		out[i] =
		    srgb_encode(to_rgb[i][0] * xyz[0] + to_rgb[i][1] * xyz[1] +
				to_rgb[i][2] * xyz[2]);
}

/* An Adobe RGB (1998) ICC profile built with lcms2. */
static void *
adobe_profile(size_t *len)
{
	cmsCIExyY d65 = {0.3127, 0.3290, 1.0};
	cmsCIExyYTRIPLE prim = {
	    {0.64, 0.33, 1.0}, {0.21, 0.71, 1.0}, {0.15, 0.06, 1.0}};
	cmsToneCurve *g = cmsBuildGamma(NULL, 563.0 / 256.0);
	cmsToneCurve *curves[3] = {g, g, g};
	cmsHPROFILE h = cmsCreateRGBProfile(&d65, &prim, curves);
	cmsUInt32Number n = 0;
	void *buf;

	if (h == NULL || !cmsSaveProfileToMem(h, NULL, &n))
		fail_msg("lcms profile");
	buf = malloc(n);
	if (buf == NULL || !cmsSaveProfileToMem(h, buf, &n))
		fail_msg("lcms save");
	cmsCloseProfile(h);
	cmsFreeToneCurve(g);
	*len = n;
	return buf;
}

/* Pixels tagged Adobe RGB come out as the sRGB the matrices predict,
 * not as the same numbers (which would be a visible colour shift). */
static void
test_icc_adobe_rgb(void **state)
{
	static const double adobe[3] = {150, 100, 70};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 32, 32, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct ip_error err;
	double want[3];
	size_t plen;
	void *profile = adobe_profile(&plen);
	VipsImage *src;
	VipsImage *im;
	int fd;

	(void)state;
	adobe_to_srgb(adobe, want);
	/* The conversion matters: the numbers differ by more than noise. */
	assert_true(fabs(want[1] - adobe[1]) > 5 ||
		    fabs(want[0] - adobe[0]) > 5);
	imgtest_begin(&t);
	src = imgtest_solid(32, 32, 3, adobe);
	imgtest_open_proc(&t);
	vips_image_set_blob_copy(src, VIPS_META_ICC_NAME, profile, plen);
	fd = imgtest_save_fd(&t, src, "adobe.png");
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	if (imgtest_pixel_diff(im, 16, 16, want, 3) > 3) {
		double got[3];

		imgtest_pixel(im, 16, 16, got, 3);
		fail_msg("Adobe RGB: got %.0f %.0f %.0f want %.1f %.1f %.1f",
			 got[0], got[1], got[2], want[0], want[1], want[2]);
	}
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
	free(profile);
	imgtest_end(&t);
}

/* A saturated sRGB colour encoded in Display P3 (libvips' built-in p3
 * profile) comes back to its sRGB values. */
static void
test_icc_display_p3(void **state)
{
	static const double colour[3] = {210, 50, 40};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 32, 32, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct ip_error err;
	VipsImage *src;
	VipsImage *p3 = NULL;
	VipsImage *im;
	int fd;

	(void)state;
	imgtest_begin(&t);
	src = imgtest_solid(32, 32, 3, colour);
	imgtest_open_proc(&t);
	if (vips_icc_transform(src, &p3, "p3", "input_profile", "srgb", NULL))
		fail_msg("p3: %s", vips_error_buffer());
	fd = imgtest_save_fd(&t, p3, "p3.png");
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	assert_true(imgtest_pixel_diff(im, 16, 16, colour, 3) <= 3);
	g_object_unref(im);
	{
		/* The stored P3 numbers really are different. */
		double stored[3];

		imgtest_pixel(p3, 0, 0, stored, 3);
		assert_true(fabs(stored[1] - colour[1]) > 10);
	}
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(p3);
	g_object_unref(src);
	imgtest_end(&t);
}

/* 16 bits per channel in, 8 out, same colour. */
static void
test_16bit_png(void **state)
{
	static const double v16[3] = {40000, 20000, 10000};
	const double want[3] = {40000 / 257.0, 20000 / 257.0, 10000 / 257.0};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 64, 64, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *black = NULL;
	VipsImage *img;
	VipsImage *src = NULL;
	VipsImage *im;
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	/* The constant image takes the format of its model: make that
	 * 16-bit first. */
	if (vips_black(&img, 64, 64, "bands", 3, NULL) ||
	    vips_cast(img, &black, VIPS_FORMAT_USHORT, NULL))
		fail_msg("black");
	g_object_unref(img);
	img = vips_image_new_from_image(black, v16, 3);
	if (img == NULL || vips_copy(img, &src, "interpretation",
				     VIPS_INTERPRETATION_RGB16, NULL))
		fail_msg("copy");
	fd = imgtest_save_fd(&t, src, "deep.png[bitdepth=16]");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_string_equal(info.colourspace, "rgb16");
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	assert_int_equal(im->BandFmt, VIPS_FORMAT_UCHAR);
	assert_int_equal(im->Bands, 3);
	if (imgtest_pixel_diff(im, 10, 10, want, 3) > 2) {
		double got[3];

		imgtest_pixel(im, 10, 10, got, 3);
		fail_msg("16-bit: got %.0f %.0f %.0f", got[0], got[1], got[2]);
	}
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
	g_object_unref(img);
	g_object_unref(black);
	imgtest_end(&t);
}

/* Greyscale stays one band (JPEG and PNG), watermark included. */
static void
test_greyscale(void **state)
{
	static const double grey[1] = {90};
	struct imgtest t;
	struct variant_spec specs[2] = {
	    imgtest_spec("j", 200, 200, FIT_INSIDE, FORMAT_JPEG),
	    imgtest_spec("p", 100, 100, FIT_INSIDE, FORMAT_PNG),
	};
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *src;
	int fd;

	(void)state;
	specs[0].watermark = true;
	imgtest_begin(&t);
	src = imgtest_solid(300, 200, 1, grey);
	imgtest_open_proc(&t);
	fd = imgtest_save_fd(&t, src, "grey.jpg");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_string_equal(info.colourspace, "b-w");
	assert_int_equal(run(&t, fd, specs, 2, &res, &err), IP_OK);
	for (int i = 0; i < 2; i++) {
		VipsImage *im = imgtest_decode(&res.variants[i], false);

		assert_int_equal(im->Bands, 1);
		assert_true(imgtest_pixel_diff(im, 5, 5, grey, 1) <= 3);
		g_object_unref(im);
	}
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);

	/* Grey with alpha keeps both through a watermarked PNG. */
	{
		static const double ga[2] = {90, 128};
		struct variant_spec s =
		    imgtest_spec("ga", 300, 300, FIT_INSIDE, FORMAT_PNG);
		VipsImage *im;

		s.watermark = true;
		src = imgtest_solid(300, 200, 2, ga);
		fd = imgtest_save_fd(&t, src, "grey-alpha.png");
		assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
		im = imgtest_decode(&res.variants[0], false);
		assert_int_equal(im->Bands, 2);
		assert_true(imgtest_pixel_diff(im, 5, 5, ga, 2) <= 1);
		g_object_unref(im);
		imgproc_result_clear(&res);
		close(fd);
		g_object_unref(src);
	}
	imgtest_end(&t);
}

/* ---- alpha and output formats ------------------------------------- */

/* Left half opaque orange, right half fully transparent. */
static VipsImage *
half_transparent(void)
{
	static const double opaque[4] = {240, 120, 20, 255};
	static const double clear[4] = {0, 0, 0, 0};
	VipsImage *parts[2];
	VipsImage *out = NULL;

	parts[0] = imgtest_solid(100, 80, 4, opaque);
	parts[1] = imgtest_solid(100, 80, 4, clear);
	if (vips_arrayjoin(parts, &out, 2, "across", 2, NULL))
		fail_msg("join");
	g_object_unref(parts[0]);
	g_object_unref(parts[1]);
	return out;
}

static void
test_alpha_each_format(void **state)
{
	static const struct {
		enum out_format format;
		enum out_format resolved;
		bool alpha;
		const char *loader;
	} cases[] = {
	    {FORMAT_JPEG, FORMAT_JPEG, false, "jpegload_buffer"},
	    {FORMAT_PNG, FORMAT_PNG, true, "pngload_buffer"},
	    {FORMAT_WEBP, FORMAT_WEBP, true, "webpload_buffer"},
	    {FORMAT_AVIF, FORMAT_AVIF, true, "heifload_buffer"},
	    {FORMAT_GIF, FORMAT_GIF, true, "gifload_buffer"},
	    {FORMAT_AUTO, FORMAT_WEBP, true, "webpload_buffer"},
	};
	static const double orange[3] = {240, 120, 20};
	static const double green[3] = {0, 255, 0};
	struct imgtest t;
	struct variant_spec specs[6];
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *src;
	int fd;

	(void)state;
	imgtest_begin(&t);
	src = half_transparent();
	util_strlcpy(t.cfg.background, "#00ff00", sizeof(t.cfg.background));
	imgtest_open_proc(&t);
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "v%d", i);
		specs[i] =
		    imgtest_spec(name, 100, 100, FIT_INSIDE, cases[i].format);
	}
	fd = imgtest_save_fd(&t, src, "alpha.png");
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_true(info.has_alpha);
	assert_int_equal(run(&t, fd, specs, 6, &res, &err), IP_OK);
	assert_int_equal(res.n, 6);
	for (int i = 0; i < 6; i++) {
		struct imgproc_variant *v = &res.variants[i];
		VipsImage *im = imgtest_decode(v, false);
		const char *loader = NULL;
		double px[4];

		assert_int_equal(v->format, cases[i].resolved);
		assert_int_equal(v->width, 100);
		assert_int_equal(v->height, 40);
		assert_int_equal(im->Xsize, 100);
		assert_int_equal(im->Ysize, 40);
		if (vips_image_get_string(im, "vips-loader", &loader) == 0)
			assert_string_equal(loader, cases[i].loader);
		assert_int_equal(vips_image_hasalpha(im), cases[i].alpha);
		assert_true(imgtest_pixel_diff(im, 10, 20, orange, 3) <= 24);
		imgtest_pixel(im, 90, 20, px, 4);
		if (cases[i].alpha)
			assert_true(px[3] < 10);
		else
			assert_true(imgtest_pixel_diff(im, 90, 20, green, 3) <=
				    24);
		g_object_unref(im);
	}
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
	imgtest_end(&t);
}

/* Every output format of an opaque photo-like image decodes with the
 * declared size; JPEG honours progressive. */
static void
test_formats_declared_size(void **state)
{
	static const enum out_format fmts[] = {FORMAT_JPEG, FORMAT_WEBP,
					       FORMAT_AVIF, FORMAT_PNG,
					       FORMAT_GIF,  FORMAT_AUTO};
	struct imgtest t;
	struct variant_spec specs[6];
	struct imgproc_result res;
	struct ip_error err;
	VipsImage *up;
	int fd;

	(void)state;
	imgtest_begin(&t);
	up = card();
	t.cfg.progressive = true;
	imgtest_open_proc(&t);
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		specs[i] =
		    imgtest_spec(name, 40 + i, 40 + i, FIT_FILL, fmts[i]);
	}
	fd = imgtest_save_fd(&t, up, "card.png");
	assert_int_equal(run(&t, fd, specs, 6, &res, &err), IP_OK);
	for (int i = 0; i < 6; i++) {
		VipsImage *im = imgtest_decode(&res.variants[i], false);

		assert_int_equal(im->Xsize, 40 + i);
		assert_int_equal(im->Ysize, 40 + i);
		assert_int_equal(res.variants[i].width, 40 + i);
		assert_int_equal(res.variants[i].height, 40 + i);
		assert_int_not_equal(res.variants[i].format, FORMAT_AUTO);
		if (fmts[i] == FORMAT_JPEG) {
			int interlaced = 0;

			assert_int_equal(
			    vips_image_get_int(im, "interlaced", &interlaced),
			    0);
			assert_true(interlaced);
		}
		g_object_unref(im);
	}
	assert_int_equal(res.variants[5].format, FORMAT_JPEG);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(up);
	imgtest_end(&t);
}

/* ---- animation ---------------------------------------------------- */

static const double frame_colour[5][3] = {
    {250, 0, 0}, {0, 250, 0}, {0, 0, 250}, {250, 250, 0}, {0, 250, 250}};

/* 5 frames of 60x40, one colour each, as an animated GIF. */
static int
animated_gif(struct imgtest *t)
{
	VipsImage *frames[5];
	VipsImage *roll = NULL;
	int delay[5] = {100, 200, 300, 400, 500};
	int fd;

	for (int i = 0; i < 5; i++)
		frames[i] = imgtest_solid(60, 40, 3, frame_colour[i]);
	if (vips_arrayjoin(frames, &roll, 5, "across", 1, NULL))
		fail_msg("join");
	vips_image_set_int(roll, "page-height", 40);
	vips_image_set_array_int(roll, "delay", delay, 5);
	vips_image_set_int(roll, "loop", 0);
	fd = imgtest_save_fd(t, roll, "anim.gif");
	for (int i = 0; i < 5; i++)
		g_object_unref(frames[i]);
	g_object_unref(roll);
	return fd;
}

static void
test_animated_gif(void **state)
{
	struct imgtest t;
	struct variant_spec specs[3] = {
	    imgtest_spec("still", 30, 30, FIT_INSIDE, FORMAT_PNG),
	    imgtest_spec("gif", 30, 30, FIT_INSIDE, FORMAT_GIF),
	    imgtest_spec("webp", 30, 30, FIT_COVER, FORMAT_WEBP),
	};
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *im;
	int fd;

	(void)state;
	specs[1].animated = true;
	specs[2].animated = true;
	specs[2].max_frames = 3;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = animated_gif(&t);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_int_equal(info.pages, 5);
	assert_int_equal(info.height, 40);
	assert_int_equal(run(&t, fd, specs, 3, &res, &err), IP_OK);

	/* First frame only by default. */
	im = imgtest_decode(&res.variants[0], true);
	assert_int_equal(vips_image_get_n_pages(im), 1);
	assert_int_equal(im->Xsize, 30);
	assert_int_equal(im->Ysize, 20);
	assert_true(imgtest_pixel_diff(im, 15, 10, frame_colour[0], 3) <= 10);
	g_object_unref(im);

	/* All frames, in order, as GIF. */
	im = imgtest_decode(&res.variants[1], true);
	assert_int_equal(vips_image_get_n_pages(im), 5);
	assert_int_equal(vips_image_get_page_height(im), 20);
	assert_int_equal(res.variants[1].height, 20);
	for (int i = 0; i < 5; i++)
		assert_true(imgtest_pixel_diff(im, 15, i * 20 + 10,
					       frame_colour[i], 3) <= 16);
	g_object_unref(im);

	/* max_frames bounds the WebP; cover crops every frame. */
	im = imgtest_decode(&res.variants[2], true);
	assert_int_equal(vips_image_get_n_pages(im), 3);
	assert_int_equal(vips_image_get_page_height(im), 30);
	assert_int_equal(im->Xsize, 30);
	for (int i = 0; i < 3; i++)
		assert_true(imgtest_pixel_diff(im, 15, i * 30 + 15,
					       frame_colour[i], 3) <= 16);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	imgtest_end(&t);
}

/* ---- fit modes ---------------------------------------------------- */

static void
test_fit_modes(void **state)
{
	struct imgtest t;
	VipsImage *up; /* 64x48 */
	struct variant_spec specs[7] = {
	    imgtest_spec("inside", 32, 32, FIT_INSIDE, FORMAT_PNG),
	    imgtest_spec("cover_w", 24, 48, FIT_COVER, FORMAT_PNG),
	    imgtest_spec("cover_e", 24, 48, FIT_COVER, FORMAT_PNG),
	    imgtest_spec("fill", 20, 40, FIT_FILL, FORMAT_PNG),
	    imgtest_spec("small", 640, 640, FIT_INSIDE, FORMAT_PNG),
	    imgtest_spec("small_cover", 200, 100, FIT_COVER, FORMAT_PNG),
	    imgtest_spec("attention", 32, 32, FIT_COVER, FORMAT_PNG),
	};
	static const double red[3] = {220, 30, 30};
	static const double green[3] = {30, 200, 30};
	struct imgproc_result res;
	struct ip_error err;
	VipsImage *im;
	int fd;

	(void)state;
	specs[1].gravity = GRAVITY_WEST;
	specs[2].gravity = GRAVITY_EAST;
	specs[6].gravity = GRAVITY_ATTENTION;
	imgtest_begin(&t);
	up = card();
	imgtest_open_proc(&t);
	fd = imgtest_save_fd(&t, up, "card.png");
	assert_int_equal(run(&t, fd, specs, 7, &res, &err), IP_OK);
	assert_int_equal(res.variants[0].width, 32);
	assert_int_equal(res.variants[0].height, 24);
	/* Cover 24x48 of a 64x48: height fits, the width is cropped. */
	for (int i = 1; i <= 2; i++) {
		im = imgtest_decode(&res.variants[i], false);
		assert_int_equal(im->Xsize, 24);
		assert_int_equal(im->Ysize, 48);
		assert_true(imgtest_pixel_diff(im, 12, 10, i == 1 ? red : green,
					       3) <= 30);
		g_object_unref(im);
	}
	/* Fill: exact box, distorted. */
	assert_int_equal(res.variants[3].width, 20);
	assert_int_equal(res.variants[3].height, 40);
	/* Never enlarged unless asked. */
	assert_int_equal(res.variants[4].width, 64);
	assert_int_equal(res.variants[4].height, 48);
	/* Cover of a small image keeps the box's shape at the image's size. */
	assert_int_equal(res.variants[5].width, 64);
	assert_int_equal(res.variants[5].height, 32);
	assert_int_equal(res.variants[6].width, 32);
	assert_int_equal(res.variants[6].height, 32);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(up);
	imgtest_end(&t);
}

/* ---- limits ------------------------------------------------------- */

static long
peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Patch a 16x16 baseline JPEG's SOF0 to declare w x h. */
static void
patch_jpeg_size(unsigned char *buf, size_t len, int w, int h)
{
	for (size_t i = 2; i + 9 < len; i++) {
		if (buf[i] == 0xff && buf[i + 1] == 0xc0) {
			buf[i + 5] = (unsigned char)(h >> 8);
			buf[i + 6] = (unsigned char)h;
			buf[i + 7] = (unsigned char)(w >> 8);
			buf[i + 8] = (unsigned char)w;
			return;
		}
	}
	fail_msg("no SOF0");
}

static uint32_t
crc32_png(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return c ^ 0xffffffffu;
}

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A few hundred bytes declaring 20000 x 20000 = 400 MP: refused from the
 * header by probe and by process, without the memory a decode needs. */
static void
test_bomb_refused_before_decode(void **state)
{
	static const double grey[3] = {128, 128, 128};
	struct imgtest t;
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *small;
	void *buf = NULL;
	size_t len = 0;
	long rss_before;
	int fd;

	(void)state;
	imgtest_begin(&t);
	small = imgtest_solid(16, 16, 3, grey);
	imgtest_open_proc(&t);
	rss_before = peak_rss_kb();

	if (vips_jpegsave_buffer(small, &buf, &len, NULL))
		fail_msg("jpeg");
	patch_jpeg_size(buf, len, 20000, 20000);
	fd = imgtest_write_fd(&t, "bomb.jpg", buf, len);
	g_free(buf);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "20000x20000"));
	assert_non_null(strstr(err.msg, "400000000"));
	assert_non_null(strstr(err.msg, "limits.max_pixels"));
	assert_int_equal(
	    run(&t, fd, t.cfg.variants, t.cfg.n_variants, &res, &err),
	    IP_EUNPROCESSABLE);
	assert_int_equal(res.n, 0);
	close(fd);

	/* The same as a PNG (IHDR rewritten, CRC fixed). */
	buf = NULL;
	if (vips_pngsave_buffer(small, &buf, &len, NULL))
		fail_msg("png");
	put_be32((unsigned char *)buf + 16, 20000);
	put_be32((unsigned char *)buf + 20, 20000);
	put_be32((unsigned char *)buf + 29,
		 crc32_png((unsigned char *)buf + 12, 17));
	fd = imgtest_write_fd(&t, "bomb.png", buf, len);
	g_free(buf);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "400000000"));
	assert_int_equal(
	    run(&t, fd, t.cfg.variants, t.cfg.n_variants, &res, &err),
	    IP_EUNPROCESSABLE);
	close(fd);
	/* A decode would need 1.2 GB; allow 64 MB of noise. */
	assert_true(peak_rss_kb() - rss_before < 64 * 1024);
	g_object_unref(small);
	imgtest_end(&t);
}

/* Frame count and total pixels are limits of their own. */
static void
test_frame_limits(void **state)
{
	struct imgtest t;
	struct image_info info;
	struct ip_error err;
	int fd;

	(void)state;
	imgtest_begin(&t);
	t.cfg.max_pages = 4;
	imgtest_open_proc(&t);
	fd = animated_gif(&t);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "limits.max_pages"));
	t.cfg.max_pages = 10;
	t.cfg.max_total_pixels = 60 * 40 * 4;
	imgtest_open_proc(&t);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "limits.max_total_pixels"));
	t.cfg.max_total_pixels = 60 * 40 * 5;
	imgtest_open_proc(&t);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	close(fd);
	imgtest_end(&t);
}

/* Threads per image (worker.vips_threads = 0): one image alone gets
 * every core, N jobs share them out, at saturation one each; a fixed
 * setting is kept whatever the load. */
static void
test_threads_follow_load(void **state)
{
	int cores = util_cores();

	(void)state;
	assert_true(cores >= 1);
	assert_int_equal(imgproc_threads(0, 1), cores);
	assert_int_equal(imgproc_threads(0, 0), cores);
	assert_int_equal(imgproc_threads(0, 2), cores / 2 > 1 ? cores / 2 : 1);
	assert_int_equal(imgproc_threads(0, cores), 1);
	assert_int_equal(imgproc_threads(0, cores * 4), 1);
	assert_int_equal(imgproc_threads(3, 1), 3);
	assert_int_equal(imgproc_threads(3, 64), 3);
}

/* A job that needs about 14 s (a 64x64 JPEG enlarged to fill
 * 14000x14000) is cancelled by a 1 s limit: it ends in IP_ETIMEOUT naming
 * the limit, with no output, and the processor is free for the next image
 * at once.  The outcome is asserted, not the wall time: under parallel
 * load a duration says nothing about the limit. */
static void
test_timeout_cancels(void **state)
{
	static const double grey[3] = {120, 130, 140};
	struct imgtest t;
	struct variant_spec huge =
	    imgtest_spec("huge", 14000, 14000, FIT_FILL, FORMAT_JPEG);
	struct variant_spec small =
	    imgtest_spec("small", 32, 32, FIT_INSIDE, FORMAT_JPEG);
	struct imgproc_result res;
	struct ip_error err;
	VipsImage *src;
	int fd;

	(void)state;
	huge.enlarge = true;
	imgtest_begin(&t);
	src = imgtest_solid(64, 64, 3, grey);
	t.cfg.timeout_s = 1;
	imgtest_open_proc(&t);
	fd = imgtest_save_fd(&t, src, "small.jpg");
	assert_int_equal(run(&t, fd, &huge, 1, &res, &err), IP_ETIMEOUT);
	/* The cancellation is the 1 s limit's, said so to the user. */
	assert_non_null(strstr(err.msg, "limit of 1 s (limits.timeout)"));
	assert_non_null(strstr(err.msg, "cancelled"));
	assert_int_equal(res.n, 0);
	assert_null(res.variants[0].data);
	/* Free again straight away. */
	assert_int_equal(run(&t, fd, &small, 1, &res, &err), IP_OK);
	assert_int_equal(res.variants[0].width, 32);
	imgproc_result_clear(&res);
	close(fd);
	g_object_unref(src);
	imgtest_end(&t);
}

/* ---- corrupt input ------------------------------------------------ */

static void
test_corrupt_and_truncated(void **state)
{
	static const double grey[3] = {100, 150, 200};
	struct imgtest t;
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *src;
	VipsImage *noise = NULL;
	VipsImage *photo = NULL;
	unsigned char *buf = NULL;
	unsigned char *big;
	size_t len = 0;
	int fd;

	(void)state;
	imgtest_begin(&t);
	src = imgtest_solid(256, 256, 3, grey);
	imgtest_open_proc(&t);

	/* Not an image at all. */
	fd = imgtest_write_fd(&t, "a.html", "<html>hi</html>", 15);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_EMEDIA);
	assert_non_null(strstr(err.msg, "not an image imgpipe can load"));
	assert_int_equal(run(&t, fd, t.cfg.variants, 1, &res, &err), IP_EMEDIA);
	close(fd);
	fd = imgtest_write_fd(&t, "empty", "", 0);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_EMEDIA);
	close(fd);

	/* A noisy photo-sized JPEG, so truncation cuts real data. */
	if (vips_gaussnoise(&noise, 256, 256, "sigma", 40.0, NULL) ||
	    vips_bandjoin_const1(noise, &photo, 128, NULL))
		fail_msg("noise");
	if (vips_jpegsave_buffer(photo, (void **)&buf, &len, "Q", 90, NULL))
		fail_msg("jpeg");

	/* Magic bytes only: the header is unreadable. */
	fd = imgtest_write_fd(&t, "head.jpg", buf, 20);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err),
			 IP_EUNPROCESSABLE);
	assert_non_null(strstr(err.msg, "corrupt or unreadable jpeg"));
	close(fd);

	/* Half the file: the header is fine, the pixels are not. */
	fd = imgtest_write_fd(&t, "half.jpg", buf, len / 2);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_int_equal(
	    run(&t, fd, t.cfg.variants, t.cfg.n_variants, &res, &err),
	    IP_EUNPROCESSABLE);
	assert_true(strlen(err.msg) > 10);
	assert_int_equal(res.n, 0);
	/* With fail_on = none the same file is accepted (grey bottom). */
	t.cfg.fail_on = FAIL_ON_NONE;
	imgtest_open_proc(&t);
	assert_int_equal(run(&t, fd, t.cfg.variants, 1, &res, &err), IP_OK);
	imgproc_result_clear(&res);
	t.cfg.fail_on = FAIL_ON_ERROR;
	imgtest_open_proc(&t);
	close(fd);

	/* Trailing garbage after the end of the image: processed. */
	big = malloc(len + 4096);
	assert_non_null(big);
	memcpy(big, buf, len);
	for (size_t i = 0; i < 4096; i++)
		big[len + i] = (unsigned char)(i * 7);
	fd = imgtest_write_fd(&t, "tail.jpg", big, len + 4096);
	assert_int_equal(
	    run(&t, fd, t.cfg.variants, t.cfg.n_variants, &res, &err), IP_OK);
	assert_int_equal(res.n, 3);
	imgproc_result_clear(&res);
	close(fd);
	free(big);

	/* Bytes flipped in the middle of the entropy-coded data. */
	for (size_t i = len / 3; i < len / 3 + 64; i++)
		buf[i] ^= 0x5a;
	fd = imgtest_write_fd(&t, "flip.jpg", buf, len);
	{
		int rc =
		    run(&t, fd, t.cfg.variants, t.cfg.n_variants, &res, &err);

		/* Never a crash; either refused cleanly or decoded. */
		assert_true(rc == IP_OK || rc == IP_EUNPROCESSABLE);
		imgproc_result_clear(&res);
	}
	close(fd);
	g_free(buf);

	/* A PNG with a broken IHDR checksum. */
	buf = NULL;
	if (vips_pngsave_buffer(src, (void **)&buf, &len, NULL))
		fail_msg("png");
	buf[29] ^= 0xff;
	fd = imgtest_write_fd(&t, "crc.png", buf, len);
	assert_int_not_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_int_equal(run(&t, fd, t.cfg.variants, 1, &res, &err),
			 IP_EUNPROCESSABLE);
	close(fd);
	g_free(buf);
	g_object_unref(photo);
	g_object_unref(noise);
	g_object_unref(src);
	imgtest_end(&t);
}

/* SVG is refused unless limits.allow_svg; then it is rendered. */
static void
test_svg_gate(void **state)
{
	static const char svg[] =
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" "
	    "height=\"50\"><rect width=\"100\" height=\"50\" "
	    "fill=\"#ff0000\"/></svg>";
	static const double red[3] = {255, 0, 0};
	struct imgtest t;
	struct variant_spec s =
	    imgtest_spec("v", 200, 200, FIT_INSIDE, FORMAT_PNG);
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	VipsImage *im;
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = imgtest_write_fd(&t, "a.svg", svg, sizeof(svg) - 1);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_EMEDIA);
	assert_non_null(strstr(err.msg, "SVG input is disabled"));
	t.cfg.allow_svg = true;
	imgtest_open_proc(&t);
	assert_int_equal(imgproc_probe(t.ip, fd, &info, &err), IP_OK);
	assert_string_equal(info.format, "svg");
	assert_string_equal(info.content_type, "image/svg+xml");
	assert_int_equal(run(&t, fd, &s, 1, &res, &err), IP_OK);
	im = imgtest_decode(&res.variants[0], false);
	assert_int_equal(im->Xsize, 100);
	assert_true(imgtest_pixel_diff(im, 50, 25, red, 3) <= 2);
	g_object_unref(im);
	imgproc_result_clear(&res);
	close(fd);
	/* Back to the default for the rest of the process. */
	t.cfg.allow_svg = false;
	imgtest_open_proc(&t);
	imgtest_end(&t);
}

/* Bad arguments and configuration. */
static void
test_bad_arguments(void **state)
{
	struct imgtest t;
	struct imgproc *ip = NULL;
	struct imgproc_result res;
	struct ip_error err;
	int fd;

	(void)state;
	imgtest_begin(&t);
	imgtest_open_proc(&t);
	fd = imgtest_write_fd(&t, "x.jpg", "\xff\xd8\xff", 3);
	assert_int_equal(run(&t, fd, t.cfg.variants, 0, &res, &err), IP_EINVAL);
	assert_int_equal(
	    run(&t, fd, t.cfg.variants, RECORD_VARIANTS_MAX + 1, &res, &err),
	    IP_EINVAL);
	close(fd);
	t.cfg.fail_on = (enum fail_on)99; /* config_set never makes one */
	assert_int_equal(imgproc_vips_open(&t.cfg, &ip, &err), IP_EINVAL);
	assert_null(ip);
	config_defaults(&t.cfg);
	util_strlcpy(t.cfg.watermark.colour, "blue",
		     sizeof(t.cfg.watermark.colour));
	assert_int_equal(imgproc_vips_open(&t.cfg, &ip, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "watermark.colour"));
	config_defaults(&t.cfg);
	util_strlcpy(t.cfg.watermark.text, "<b>unclosed",
		     sizeof(t.cfg.watermark.text));
	assert_int_equal(imgproc_vips_open(&t.cfg, &ip, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "watermark.text"));
	imgproc_result_clear(NULL);
	memset(&res, 0, sizeof(res));
	imgproc_result_clear(&res);
	imgtest_end(&t);
}

/* ---- threads ------------------------------------------------------ */

struct job_arg {
	struct imgtest *t;
	int fd;
	char sha[3][SHA256_HEX_SIZE];
	int failures;
};

static void *
job_thread(void *p)
{
	struct job_arg *a = p;

	for (int i = 0; i < 4; i++) {
		struct imgproc_result res;
		struct ip_error err = {0};

		if (imgproc_process(a->t->ip, a->fd, a->t->cfg.variants,
				    a->t->cfg.n_variants, &res,
				    &err) != IP_OK) {
			a->failures++;
			continue;
		}
		for (size_t v = 0; v < res.n && v < 3; v++)
			memcpy(a->sha[v], res.variants[v].sha256, 65);
		imgproc_result_clear(&res);
	}
	return NULL;
}

/* One processor shared by four threads (as the workers do): every job
 * succeeds and the same input gives the same bytes on every thread. */
static void
test_parallel_jobs(void **state)
{
	struct imgtest t;
	struct job_arg args[4];
	pthread_t th[4];
	VipsImage *up;
	VipsImage *big = NULL;
	int fd;

	(void)state;
	imgtest_begin(&t);
	up = card();
	if (vips_resize(up, &big, 20.0, NULL))
		fail_msg("resize");
	imgtest_open_proc(&t);
	fd = imgtest_save_fd(&t, big, "big.jpg");
	for (int i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].t = &t;
		/* Each thread its own descriptor, as each job has. */
		args[i].fd = dup(fd);
		assert_int_equal(
		    pthread_create(&th[i], NULL, job_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
		close(args[i].fd);
	}
	for (int i = 1; i < 4; i++)
		for (int v = 0; v < 3; v++)
			assert_string_equal(args[i].sha[v], args[0].sha[v]);
	close(fd);
	g_object_unref(big);
	g_object_unref(up);
	imgtest_end(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orientation_matrix),
	    cmocka_unit_test(test_heif_and_tiff_input),
	    cmocka_unit_test(test_cmyk),
	    cmocka_unit_test(test_icc_adobe_rgb),
	    cmocka_unit_test(test_icc_display_p3),
	    cmocka_unit_test(test_16bit_png),
	    cmocka_unit_test(test_greyscale),
	    cmocka_unit_test(test_alpha_each_format),
	    cmocka_unit_test(test_formats_declared_size),
	    cmocka_unit_test(test_animated_gif),
	    cmocka_unit_test(test_fit_modes),
	    cmocka_unit_test(test_bomb_refused_before_decode),
	    cmocka_unit_test(test_frame_limits),
	    cmocka_unit_test(test_threads_follow_load),
	    cmocka_unit_test(test_timeout_cancels),
	    cmocka_unit_test(test_corrupt_and_truncated),
	    cmocka_unit_test(test_svg_gate),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_parallel_jobs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
