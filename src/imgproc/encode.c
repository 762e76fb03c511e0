/*
 * encode.c - output encoders and the metadata policy (see encode.h).
 *
 * How the metadata policy is enforced: the image handed to the saver is a
 * copy whose every metadata item is removed except the few that describe
 * pixels (frame height, frame delays, loop count).  Without an artist or
 * copyright the saver also runs with "strip", so nothing is written at
 * all.  With them, a new EXIF block is made from scratch holding only
 * those two tags and the structural fields EXIF requires (see
 * set_rights_exif), so no byte of the source's EXIF can reach the output.
 */
#include "imgproc/encode.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "imgproc/vipsmsg.h"
#include "imgproc/vipsutil.h"

/* Metadata that describes pixels and is kept. */
static const char *const keep_fields[] = {"page-height", "delay", "loop",
					  "gif-loop", "gif-delay"};

static void *
collect_field(VipsImage *image, const char *field, GValue *value, void *a)
{
	GPtrArray *names = a;

	(void)image;
	(void)value;
	g_ptr_array_add(names, g_strdup(field));
	return NULL;
}

static bool
field_kept(const char *name)
{
	for (size_t i = 0; i < sizeof(keep_fields) / sizeof(keep_fields[0]);
	     i++)
		if (strcmp(name, keep_fields[i]) == 0)
			return true;
	return false;
}

/* Remove every metadata item of image (a private copy) not in
 * keep_fields.  Built-in header fields are not metadata items and stay. */
static void
strip_all(VipsImage *image)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);

	vips_image_map(image, collect_field, names);
	for (guint i = 0; i < names->len; i++) {
		const char *name = g_ptr_array_index(names, i);

		if (!field_kept(name))
			(void)vips_image_remove(image, name);
	}
	g_ptr_array_free(names, TRUE);
}

size_t
encode_exif_ascii(VipsImage *im, const char *field, char *out, size_t out_len)
{
	const char *s = NULL;
	const char *tail = NULL;
	const char *p;
	long comps = 0;
	size_t best = 0;
	bool found = false;
	size_t n = 0;

	if (out_len == 0)
		return 0;
	out[0] = '\0';
	if (vips_image_get_typeof(im, field) == 0 ||
	    vips_image_get_string(im, field, &s) != 0 || s == NULL) {
		vipsmsg_clear();
		return 0;
	}
	/* libvips writes "RAW (SHOWN, ASCII, N components, M bytes)": RAW is
	 * the tag's text (at most N - 1 bytes), SHOWN libexif's rendering of
	 * it, which starts with RAW (Copyright adds " (Photographer)..."). */
	for (p = strstr(s, ", ASCII, "); p != NULL;
	     p = strstr(p + 1, ", ASCII, "))
		tail = p;
	if (tail == NULL ||
	    sscanf(tail, ", ASCII, %ld components", &comps) != 1 || comps < 1)
		return 0;
	for (p = strstr(s, " ("); p != NULL && p < tail;
	     p = strstr(p + 1, " (")) {
		size_t at = (size_t)(p - s);

		if ((long)at > comps - 1)
			break;
		if (strncmp(p + 2, s, at) == 0) {
			best = at;
			found = true;
			break;
		}
		best = at;
		found = true;
	}
	if (!found)
		return 0;
	for (size_t i = 0; i < best && n + 1 < out_len; i++)
		if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
			out[n++] = s[i];
	/* Trailing blanks are padding in many cameras' fields. */
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

/* libvips 8.14's WebP saver writes a (structural) EXIF chunk even when
 * asked to strip.  Remove EXIF, XMP and ICC chunks from a WebP file in
 * place and clear their VP8X flags; *len shrinks accordingly. */
static void
webp_drop_metadata(unsigned char *buf, size_t *len)
{
	unsigned char *vp8x_flags = NULL;
	size_t in = 12;
	size_t out = 12;
	uint32_t riff;

	if (*len < 12 || memcmp(buf, "RIFF", 4) != 0 ||
	    memcmp(buf + 8, "WEBP", 4) != 0)
		return;
	while (in + 8 <= *len) {
		uint32_t size =
		    (uint32_t)buf[in + 4] | (uint32_t)buf[in + 5] << 8 |
		    (uint32_t)buf[in + 6] << 16 | (uint32_t)buf[in + 7] << 24;
		size_t whole = 8 + (size_t)size + (size & 1);

		if (whole > *len - in)
			return; /* malformed: leave the file as it is */
		if (memcmp(buf + in, "EXIF", 4) == 0 ||
		    memcmp(buf + in, "XMP ", 4) == 0 ||
		    memcmp(buf + in, "ICCP", 4) == 0) {
			in += whole;
			continue;
		}
		memmove(buf + out, buf + in, whole);
		if (memcmp(buf + out, "VP8X", 4) == 0 && size >= 1)
			vp8x_flags = buf + out + 8;
		out += whole;
		in += whole;
	}
	if (vp8x_flags != NULL)
		*vp8x_flags &= (unsigned char)~(0x20 | 0x08 | 0x04);
	riff = (uint32_t)(out - 8);
	buf[4] = (unsigned char)riff;
	buf[5] = (unsigned char)(riff >> 8);
	buf[6] = (unsigned char)(riff >> 16);
	buf[7] = (unsigned char)(riff >> 24);
	*len = out;
}

static void
set_exif_text(VipsImage *image, const char *field, const char *value)
{
	char *v;

	if (value == NULL || value[0] == '\0')
		return;
	/* libvips drops a trailing " (...)" it believes it added itself;
	 * an empty one protects a value that ends in parentheses. */
	v = g_strdup_printf("%s ()", value);
	vips_image_set_string(image, field, v);
	g_free(v);
}

static void *
copy_exif_field(VipsImage *from, const char *field, GValue *value, void *a)
{
	VipsImage *to = a;

	(void)from;
	if (vips_isprefix("exif-", field))
		vips_image_set(to, field, value);
	return NULL;
}

/* Give image an EXIF block made from scratch that holds only the artist
 * and copyright: libvips writes them into a 1x1 JPEG, which is read back;
 * its "exif-data" and "exif-*" items (ours alone) are copied to image.
 * Savers that only write an existing "exif-data" (PNG, AVIF) then have
 * one, and the JPEG and WebP savers find nothing else to add. */
static int
set_rights_exif(VipsImage *image, const struct encode_opts *o)
{
	VipsImage *px = NULL;
	VipsImage *back = NULL;
	void *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if (vips_black(&px, 1, 1, NULL))
		goto out;
	set_exif_text(px, "exif-ifd0-Artist", o->artist);
	set_exif_text(px, "exif-ifd0-Copyright", o->copyright);
	if (vips_jpegsave_buffer(px, &buf, &len, NULL))
		goto out;
	back = vips_image_new_from_buffer(buf, len, "", NULL);
	if (back == NULL)
		goto out;
	vips_image_map(back, copy_exif_field, image);
	rc = 0;
out:
	VIPSUTIL_UNREF(back);
	g_free(buf);
	VIPSUTIL_UNREF(px);
	return rc;
}

static int
save(VipsImage *im, const struct encode_opts *o, bool strip, void **buf,
     size_t *len)
{
	switch (o->format) {
	case FORMAT_JPEG:
		return vips_jpegsave_buffer(
		    im, buf, len, "Q", o->quality, "interlace", o->progressive,
		    "optimize_coding", TRUE, "strip", strip, NULL);
	case FORMAT_WEBP:
		return vips_webpsave_buffer(im, buf, len, "Q", o->quality,
					    "effort", 4, "strip", strip, NULL);
	case FORMAT_AVIF:
		return vips_heifsave_buffer(
		    im, buf, len, "Q", o->quality, "compression",
		    VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort",
		    ENCODE_AVIF_EFFORT, "strip", strip, NULL);
	case FORMAT_PNG:
		return vips_pngsave_buffer(im, buf, len, "compression", 6,
					   "strip", strip, NULL);
	case FORMAT_GIF:
		return vips_gifsave_buffer(im, buf, len, "strip", strip, NULL);
	case FORMAT_AUTO:
	default:
		vips_error("imgpipe", "no encoder for format %d", o->format);
		return -1;
	}
}

int
encode_image(VipsImage *in, const struct encode_opts *o, void **data,
	     size_t *len, struct ip_error *err)
{
	VipsImage *copy = NULL;
	void *buf = NULL;
	size_t n = 0;
	bool keep = (o->artist != NULL && o->artist[0] != '\0') ||
		    (o->copyright != NULL && o->copyright[0] != '\0');
	int rc = IP_OK;

	*data = NULL;
	*len = 0;
	if (vips_copy(in, &copy, NULL)) {
		rc = vipsutil_error(err, IP_EUNPROCESSABLE, "encode");
		goto out;
	}
	strip_all(copy);
	if (keep && set_rights_exif(copy, o) != 0) {
		rc = vipsutil_error(err, IP_EUNPROCESSABLE, "encode metadata");
		goto out;
	}
	if (save(copy, o, !keep, &buf, &n)) {
		rc = vipsutil_error(err, IP_EUNPROCESSABLE, "encode");
		goto out;
	}
	*data = malloc(n > 0 ? n : 1);
	if (*data == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "encode: out of memory");
		goto out;
	}
	memcpy(*data, buf, n);
	*len = n;
	if (o->format == FORMAT_WEBP && !keep)
		webp_drop_metadata(*data, len);
out:
	g_free(buf);
	VIPSUTIL_UNREF(copy);
	return rc;
}
