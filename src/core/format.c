/*
 * format.c - the format table (format.h).  Called by config.c,
 * function.c and imgproc/sniff.c; constant data, any thread.
 */
#include "core/format.h"

#include <glib.h>
#include <string.h>

#include "core/util.h"

static const struct format formats[FORMAT_ID_COUNT] = {
    [FORMAT_ID_JPEG] = {"jpeg", "image/jpeg", "jpegload_source", false, "jpg",
			FORMAT_JPEG, "jpg jpeg jpe jfif"},
    [FORMAT_ID_PNG] = {"png", "image/png", "pngload_source", false, "png",
		       FORMAT_PNG, "png"},
    [FORMAT_ID_WEBP] = {"webp", "image/webp", "webpload_source", true, "webp",
			FORMAT_WEBP, "webp"},
    [FORMAT_ID_GIF] = {"gif", "image/gif", "gifload_source", true, "gif",
		       FORMAT_GIF, "gif"},
    [FORMAT_ID_AVIF] = {"avif", "image/avif", "heifload_source", false, "avif",
			FORMAT_AVIF, "avif"},
    [FORMAT_ID_HEIF] = {"heif", "image/heif", "heifload_source", false, "heif",
			-1, "heif hif"},
    [FORMAT_ID_HEIC] = {"heif", "image/heic", "heifload_source", false, "heic",
			-1, "heic"},
    [FORMAT_ID_TIFF] = {"tiff", "image/tiff", "tiffload_source", false, "tiff",
			-1, "tif tiff"},
    [FORMAT_ID_SVG] = {"svg", "image/svg+xml", "svgload_source", false, "svg",
		       -1, "svg svgz"},
    [FORMAT_ID_PDF] = {"pdf", "application/pdf", "pdfload_source", false, "pdf",
		       -1, "pdf"},
};

const struct format *
format_get(enum format_id id)
{
	return &formats[(unsigned)id < FORMAT_ID_COUNT ? id : FORMAT_ID_JPEG];
}

const struct format *
format_output(enum out_format f)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(formats); i++)
		if (formats[i].output >= 0 && formats[i].output == (int)f)
			return &formats[i];
	return &formats[FORMAT_ID_JPEG];
}

int
format_of_file_ext(const char *ext)
{
	size_t len = strlen(ext);

	for (size_t i = 0; i < UTIL_ARRAY_LEN(formats); i++) {
		const char *p = formats[i].file_exts;

		while (*p != '\0') {
			size_t n = strcspn(p, " ");

			if (n == len && g_ascii_strncasecmp(p, ext, n) == 0)
				return (int)i;
			p += n + (p[n] == ' ');
		}
	}
	return -1;
}

int
format_parse_output(const char *s)
{
	if (g_ascii_strcasecmp(s, "auto") == 0)
		return FORMAT_AUTO;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(formats); i++)
		if (formats[i].output >= 0 &&
		    (g_ascii_strcasecmp(s, formats[i].format) == 0 ||
		     g_ascii_strcasecmp(s, formats[i].ext) == 0))
			return formats[i].output;
	return -1;
}

const char *
format_output_name(enum out_format f)
{
	return f == FORMAT_AUTO ? "auto" : format_output(f)->format;
}

enum out_format
format_auto_resolve(bool has_alpha, bool animated)
{
	return has_alpha || animated ? FORMAT_WEBP : FORMAT_JPEG;
}
