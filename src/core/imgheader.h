/*
 * imgheader.h - the dimensions an image declares in its header, read by a
 * small pure parser: no decoder, no allocation, no I/O.
 *
 * The gateway uses it to cost an upload before admitting it (api/admission.h):
 * what a job costs is the pixels it declares, not its bytes (a 300-byte
 * PNG may declare 100 MP).  It is not a validator: the worker's decoder
 * (and, today, the gateway's probe) still checks everything; a header this
 * parser cannot read is "unknown" and the caller costs it conservatively.
 *
 * Formats: JPEG (markers scanned to the first SOFn), PNG (IHDR; frames from
 * an APNG acTL before the first IDAT), GIF (logical screen), WebP (VP8,
 * VP8L, VP8X canvas), TIFF (IFD0 ImageWidth/ImageLength), HEIF/AVIF (the
 * largest ispe property in meta/iprp/ipco).  Every walk is bounded by the
 * bytes given and by a count of markers, chunks or boxes.
 *
 * Thread-safety: reentrant.
 */
#ifndef IMGPIPE_CORE_IMGHEADER_H
#define IMGPIPE_CORE_IMGHEADER_H

#include <stddef.h>
#include <stdint.h>

/* How many leading bytes of a file a caller should hand over: enough for
 * a JPEG's EXIF and ICC segments before its SOF, or a HEIF meta box after
 * a short ftyp. */
#define IMGHEADER_PREFIX_MAX (256 * 1024)

struct imgheader {
	const char *format; /* "jpeg", "png", ...: a literal, for logs */
	uint32_t width;
	uint32_t height;
	uint32_t frames; /* 1 unless the header says (APNG) */
};

/* Read the declared dimensions from the first len bytes of a file.
 * Returns 0 with out filled (width, height > 0), or -1 when the format is
 * not one of the above or its dimensions are not within these bytes
 * (out->format may still name the format). */
int imgheader_parse(const unsigned char *buf, size_t len,
		    struct imgheader *out);

/* width x height x frames, saturating at INT64_MAX. */
int64_t imgheader_pixels(const struct imgheader *h);

#endif
