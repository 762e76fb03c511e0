/*
 * format.h - the image formats imgpipe knows: one row per format with
 * every fact about it (name, extension, content type, libvips loader,
 * whether it animates, whether imgpipe can write it).
 *
 * Read by config.c (variant.format names), function.c (the content type
 * and key extension of a variant) and imgproc/sniff.c (what magic bytes
 * name).  The table is constant: any thread.  No libvips here: the loader
 * is the name of a libvips operation, looked up by imgproc_vips.c.
 */
#ifndef IMGPIPE_FORMAT_H
#define IMGPIPE_FORMAT_H

#include <stdbool.h>

/* Output formats; FORMAT_AUTO = JPEG, or PNG/WebP when the source has
 * alpha (see docs/IMAGES.md). */
enum out_format {
	FORMAT_JPEG,
	FORMAT_WEBP,
	FORMAT_AVIF,
	FORMAT_PNG,
	FORMAT_GIF,
	FORMAT_AUTO
};

/* Every format imgpipe reads or writes: the rows of the table. */
enum format_id {
	FORMAT_ID_JPEG,
	FORMAT_ID_PNG,
	FORMAT_ID_WEBP,
	FORMAT_ID_GIF,
	FORMAT_ID_AVIF,
	FORMAT_ID_HEIF,
	FORMAT_ID_HEIC,
	FORMAT_ID_TIFF,
	FORMAT_ID_SVG,
	FORMAT_ID_PDF,
	FORMAT_ID_COUNT
};

struct format {
	const char *format; /* "jpeg", "png", "heif" (HEIC too), ... */
	const char *content_type; /* "image/jpeg", "image/heic", ... */
	const char *loader; /* libvips source loader, "jpegload_source" */
	bool animatable; /* may hold several frames (GIF, WebP) */
	const char *ext; /* extension of the variants we write, "jpg" */
	int output; /* its enum out_format, or -1: imgpipe never writes it */
	const char *file_exts; /* extensions its files carry, "jpg jpeg" */
};

/* The row of id (0 <= id < FORMAT_ID_COUNT). */
const struct format *format_get(enum format_id id);

/* The row of an output format; FORMAT_AUTO and unknown values give JPEG's
 * (what AUTO falls back to).  Never NULL. */
const struct format *format_output(enum out_format f);

/* The enum format_id whose files carry the extension ext ("JPG",
 * "tiff"; no dot), case-insensitive; -1 if none.  `imgpipe process`
 * picks the files of a folder by it. */
int format_of_file_ext(const char *ext);

/* The enum out_format named s ("jpeg" or "jpg", "webp", ..., "auto"),
 * case-insensitive; -1 if imgpipe cannot write it. */
int format_parse_output(const char *s);

/* What FORMAT_AUTO becomes for an image: WebP when it has alpha or
 * keeps several frames, else JPEG.  The one rule, for the image
 * processor (making) and the gateway (finding the stored one). */
enum out_format format_auto_resolve(bool has_alpha, bool animated);

/* The name of an output format as config prints it ("auto" for AUTO). */
const char *format_output_name(enum out_format f);

#endif
