/*
 * decodemem.c - what a decode will hold in memory, from the header (see
 * decodemem.h).  Called by imgproc_vips.c when a job opens (probe and
 * process), on the job's thread.
 *
 * DESIGN
 *
 * imgpipe decodes top to bottom in strips, so a sequential JPEG or a
 * plain PNG needs a few rows at a time whatever its size, plus the base
 * (at most the largest variant).  Two kinds of file defeat that, because
 * their decoder must see the whole file before the first row is final:
 *
 * - progressive (multi-scan) JPEG: libjpeg-turbo keeps the DCT
 *   coefficients of the whole image, 64 JCOEFs (2 bytes) per 8x8 block of
 *   every component, in memory (jdcoefct.c "whole_image" virtual arrays;
 *   jmemnobs.c has no backing store).  The blocks are counted at each
 *   component's own sampling factors (4:4:4 = 6 bytes a pixel, 4:2:0 =
 *   3), read from the SOF segment.  Shrink-on-load does not help: the
 *   scaled IDCT runs on the full coefficient set.
 * - interlaced (Adam7) PNG: libpng returns rows only after the seventh
 *   pass, so libvips reads the whole image into memory first
 *   (width x height x bands x bytes per sample).
 */
#include "imgproc/decodemem.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define JPEG_COMPS_MAX 4
/* Segments walked before giving up on finding the SOF. */
#define JPEG_SEGMENTS_MAX 512

struct jpeg_sof {
	int n; /* components */
	int h[JPEG_COMPS_MAX];
	int v[JPEG_COMPS_MAX];
};

static bool
read_at(int fd, off_t off, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static bool
is_sof(int m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* The sampling factors of the frame header; false if not found. */
static bool
jpeg_read_sof(int fd, struct jpeg_sof *sof)
{
	unsigned char b[4 + 6 + 3 * JPEG_COMPS_MAX];
	off_t off = 2; /* after SOI */

	for (int i = 0; i < JPEG_SEGMENTS_MAX; i++) {
		int len;

		if (!read_at(fd, off, b, 4) || b[0] != 0xff)
			return false;
		if (b[1] == 0xff) { /* fill byte */
			off++;
			continue;
		}
		len = b[2] << 8 | b[3];
		if (len < 2)
			return false;
		if (is_sof(b[1])) {
			if (!read_at(fd, off + 4, b + 4, 6))
				return false;
			sof->n = b[9];
			if (sof->n < 1 || sof->n > JPEG_COMPS_MAX ||
			    !read_at(fd, off + 10, b + 10, 3 * (size_t)sof->n))
				return false;
			for (int c = 0; c < sof->n; c++) {
				sof->h[c] = b[10 + 3 * c + 1] >> 4;
				sof->v[c] = b[10 + 3 * c + 1] & 15;
				if (sof->h[c] < 1 || sof->v[c] < 1)
					return false;
			}
			return true;
		}
		off += 2 + len;
	}
	return false;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

static int64_t
jpeg_coefficients(int fd, int64_t w, int64_t h, int bands)
{
	struct jpeg_sof sof;
	int hmax = 1;
	int vmax = 1;
	int64_t bytes = 0;

	if (!jpeg_read_sof(fd, &sof)) {
		/* Unknown sampling: count every component at full size. */
		sof.n = bands;
		for (int c = 0; c < sof.n && c < JPEG_COMPS_MAX; c++)
			sof.h[c] = sof.v[c] = 1;
	}
	for (int c = 0; c < sof.n; c++) {
		hmax = sof.h[c] > hmax ? sof.h[c] : hmax;
		vmax = sof.v[c] > vmax ? sof.v[c] : vmax;
	}
	for (int c = 0; c < sof.n; c++) {
		/* Blocks of the component, padded to whole MCUs as
		 * libjpeg allocates them. */
		int64_t bw = ceil_div(ceil_div(w * sof.h[c], hmax), 8);
		int64_t bh = ceil_div(ceil_div(h * sof.v[c], vmax), 8);

		bw = ceil_div(bw, sof.h[c]) * sof.h[c];
		bh = ceil_div(bh, sof.v[c]) * sof.v[c];
		bytes += bw * bh * 64 * 2;
	}
	return bytes;
}

static bool
meta_true(VipsImage *hdr, const char *name)
{
	int v = 0;

	return vips_image_get_typeof(hdr, name) != 0 &&
	       vips_image_get_int(hdr, name, &v) == 0 && v != 0;
}

int64_t
decodemem_estimate(int fd, const char *format, VipsImage *hdr)
{
	int64_t w = hdr->Xsize;
	int64_t h = hdr->Ysize;

	if (strcmp(format, "jpeg") == 0 && meta_true(hdr, "jpeg-multiscan"))
		return jpeg_coefficients(fd, w, h, hdr->Bands);
	if (strcmp(format, "png") == 0 && meta_true(hdr, "interlaced"))
		return w * h * hdr->Bands *
		       (int64_t)vips_format_sizeof(hdr->BandFmt);
	return 0;
}
