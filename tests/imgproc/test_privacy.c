/*
 * test_privacy.c - no private metadata leaves the processor.
 *
 * A JPEG is given GPS position, camera and lens serial numbers, an owner
 * name, make/model, comments, artist and copyright in EXIF, XMP and IPTC,
 * and an ICC profile, by exiftool.  Its variants in every format that can
 * carry metadata are then read back by exiftool (an independent reader):
 * by default none of it is there; with output.keep_copyright only Artist
 * and Copyright are, and still nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "imgtest.h"

/* Everything exiftool sees in path (all groups, duplicates too). */
static char *
exiftool_dump(const char *path)
{
	char cmd[1024];
	char *out = NULL;
	size_t len = 0;
	size_t cap = 0;
	char chunk[4096];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "exiftool -a -u -G1 -s '%s' 2>&1", path);
	p = popen(cmd, "r");
	if (p == NULL)
		fail_msg(
		    "cannot run exiftool (package libimage-exiftool-perl)");
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		memcpy(out + len, chunk, n);
		len += n;
	}
	if (pclose(p) != 0 || out == NULL)
		fail_msg("exiftool failed on %s: %s", path, out ? out : "");
	out[len] = '\0';
	return out;
}

static void
run_cmd(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* The private source photo. */
static void
make_source(struct imgtest *t, char *path, size_t len)
{
	static const double gb[2] = {90, 160};
	VipsImage *noise = NULL;
	VipsImage *grey = NULL;
	VipsImage *tagged = NULL;
	VipsBlob *srgb = NULL;
	char cmd[2048];
	int fd;

	if (vips_gaussnoise(&noise, 640, 480, "sigma", 30.0, "mean", 128.0,
			    NULL) ||
	    vips_cast(noise, &grey, VIPS_FORMAT_UCHAR, NULL) ||
	    vips_bandjoin_const(grey, &tagged, (double *)gb, 2, NULL) ||
	    vips_profile_load("srgb", &srgb, NULL))
		fail_msg("source: %s", vips_error_buffer());
	tagged->Type = VIPS_INTERPRETATION_sRGB;
	{
		size_t n = 0;
		const void *d = vips_blob_get(srgb, &n);

		vips_image_set_blob_copy(tagged, VIPS_META_ICC_NAME, d, n);
	}
	vips_area_unref(VIPS_AREA(srgb));
	fd = imgtest_save_fd(t, tagged, "private.jpg[Q=90]");
	close(fd);
	imgtest_path(t, "private.jpg", path, len);
	snprintf(cmd, sizeof(cmd),
		 "exiftool -q -overwrite_original "
		 "-Artist='Jane Doe' -Copyright='(c) 2026 Jane Doe' "
		 "-GPSLatitude=48.8566 -GPSLatitudeRef=N "
		 "-GPSLongitude=2.3522 -GPSLongitudeRef=E -GPSAltitude=35 "
		 "-SerialNumber=CAM-SN-778899 -LensSerialNumber=LENS-4455 "
		 "-OwnerName='Owner Person' -Make=Canon -Model='EOS Test' "
		 "-ImageDescription='private description' "
		 "-UserComment='secret comment' "
		 "-XMP-dc:Creator='Xmp Creator' -XMP-dc:Rights='Xmp Rights' "
		 "-XMP-exif:GPSLatitude=48.8566 "
		 "-IPTC:By-line='Iptc Byline' "
		 "-IPTC:CopyrightNotice='Iptc Notice' '%s' 2>&1",
		 path);
	run_cmd(cmd);
	g_object_unref(tagged);
	g_object_unref(grey);
	g_object_unref(noise);
}

static const char *const secrets[] = {
    "GPS",
    "CAM-SN-778899",
    "LENS-4455",
    "Owner Person",
    "Canon",
    "EOS Test",
    "private description",
    "secret comment",
    "Xmp Creator",
    "Xmp Rights",
    "Iptc",
    "[XMP",
    "[IPTC",
    "[ICC",
    "MakerNote",
    "[IFD1]", /* embedded thumbnail */
};

static void
check_variants(struct imgtest *t, const struct imgproc_result *res, bool keep)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct imgproc_variant *v = &res->variants[i];
		char path[512];
		char name[CONFIG_VARIANT_NAME_MAX + 16];
		char *dump;
		int fd;

		snprintf(name, sizeof(name), "out-%s.%s", v->name,
			 config_format_ext(v->format));
		fd = imgtest_write_fd(t, name, v->data, v->len);
		close(fd);
		imgtest_path(t, name, path, sizeof(path));
		dump = exiftool_dump(path);
		if (getenv("IMGTEST_DUMP") != NULL)
			fprintf(stderr, "=== %s\n%s", name, dump);
		for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]);
		     k++)
			if (strstr(dump, secrets[k]) != NULL)
				fail_msg("%s leaks \"%s\":\n%s", name,
					 secrets[k], dump);
		if (keep && v->format != FORMAT_GIF) { /* GIF has no EXIF */
			if (strstr(dump, "Artist                          : "
					 "Jane Doe") == NULL ||
			    strstr(dump, "Copyright                       : "
					 "(c) 2026 Jane Doe") == NULL)
				fail_msg("%s lost artist/copyright:\n%s", name,
					 dump);
		} else if (strstr(dump, "Jane Doe") != NULL ||
			   strstr(dump, "[IFD0]") != NULL ||
			   strstr(dump, "[ExifIFD]") != NULL) {
			fail_msg("%s has EXIF:\n%s", name, dump);
		}
		free(dump);
	}
}

static void
privacy_run(bool keep)
{
	struct imgtest t;
	struct variant_spec specs[5];
	struct imgproc_result res;
	struct ip_error err = {0};
	char path[512];
	char *dump;
	int fd;

	imgtest_begin(&t);
	t.cfg.keep_copyright = keep;
	imgtest_open_proc(&t);
	specs[0] = t.cfg.variants[0]; /* large: JPEG + watermark */
	specs[1] = imgtest_spec("png", 200, 200, FIT_INSIDE, FORMAT_PNG);
	specs[2] = imgtest_spec("webp", 200, 200, FIT_INSIDE, FORMAT_WEBP);
	specs[3] = imgtest_spec("avif", 200, 200, FIT_INSIDE, FORMAT_AVIF);
	specs[4] = imgtest_spec("gif", 100, 100, FIT_INSIDE, FORMAT_GIF);
	make_source(&t, path, sizeof(path));
	/* The source really carries all of it. */
	dump = exiftool_dump(path);
	assert_non_null(strstr(dump, "GPSLatitude"));
	assert_non_null(strstr(dump, "CAM-SN-778899"));
	assert_non_null(strstr(dump, "Owner Person"));
	assert_non_null(strstr(dump, "Jane Doe"));
	assert_non_null(strstr(dump, "[XMP-dc]"));
	assert_non_null(strstr(dump, "[IPTC]"));
	assert_non_null(strstr(dump, "[ICC"));
	free(dump);

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(imgproc_process(t.ip, fd, specs, 5, &res, &err),
			 IP_OK);
	close(fd);
	check_variants(&t, &res, keep);
	imgproc_result_clear(&res);
	imgtest_end(&t);
}

static void
test_privacy_default_strips_everything(void **state)
{
	(void)state;
	privacy_run(false);
}

static void
test_privacy_keep_copyright_only(void **state)
{
	(void)state;
	privacy_run(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_privacy_default_strips_everything),
	    cmocka_unit_test(test_privacy_keep_copyright_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
