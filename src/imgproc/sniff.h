/*
 * sniff.h - recognise an image format from its first bytes.
 *
 * Called by imgproc_vips.c before anything is handed to libvips, so the
 * loader that runs is the one the bytes name, never one picked from a
 * file name or a Content-Type.  Pure functions on a caller's buffer: any
 * thread.
 */
#ifndef IMGPIPE_SNIFF_H
#define IMGPIPE_SNIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/format.h"

/* How many leading bytes sniff_detect wants (it copes with fewer). */
#define SNIFF_BYTES 512

/* Look at buf[0..len).  Returns 0 and fills out (a copy of the row of
 * the format table, core/format.h) for a format imgpipe may
 * load (SVG and PDF only when allowed); otherwise -1 and a short reason
 * in why ("unrecognised data (starts 3c 68 74 6d)", "BMP is not a
 * supported format", "SVG input is disabled (limits.allow_svg)"). */
int sniff_detect(const unsigned char *buf, size_t len, bool allow_svg,
		 bool allow_pdf, struct format *out, char *why, size_t why_len);

#endif
