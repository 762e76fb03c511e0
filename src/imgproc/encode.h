/*
 * encode.h - write a finished variant to memory in its output format,
 * with the metadata policy of imgpipe.
 *
 * Privacy: every output is written without EXIF, XMP, IPTC or ICC (pixels
 * are sRGB, which is what a viewer assumes without a profile).  When the
 * caller passes an artist or copyright (output.keep_copyright), a fresh
 * EXIF block holding only those two tags (plus the structural fields EXIF
 * requires: resolution, orientation 1, dimensions) is written instead;
 * nothing of the source's EXIF (GPS, serial numbers, owner, maker notes,
 * thumbnail) is carried over, whatever the settings.
 *
 * Called by imgproc_vips.c on the job's thread.
 */
#ifndef IMGPIPE_ENCODE_H
#define IMGPIPE_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "core/config.h"
#include "core/error.h"

/* Encoder effort for AVIF (libaom through libheif), 0 fastest .. 9
 * slowest.  Kept low so one AVIF cannot hold a worker for minutes. */
#define ENCODE_AVIF_EFFORT 2

struct encode_opts {
	enum out_format format; /* never FORMAT_AUTO */
	int quality; /* 1..100 */
	bool progressive; /* JPEG */
	const char *artist; /* NULL or "" = none */
	const char *copyright; /* NULL or "" = none */
};

/* Encode in (8-bit sRGB or B_W, with alpha unless JPEG; a multi-frame
 * image carries "page-height") into a malloc'd buffer.  Returns IP_OK, or
 * IP_EUNPROCESSABLE / IP_ENOMEM with a message. */
int encode_image(VipsImage *in, const struct encode_opts *o, void **data,
		 size_t *len, struct ip_error *err);

/* Recover the text of an EXIF ASCII tag as libvips exposes it
 * ("text (text, ASCII, n components, m bytes)") into out, keeping
 * printable ASCII only.  Returns the length written (0 if absent). */
size_t encode_exif_ascii(VipsImage *im, const char *field, char *out,
			 size_t out_len);

#endif
