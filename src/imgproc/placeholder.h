/*
 * placeholder.h - tiny stand-ins for an image, shown while it loads.
 *
 * - placeholder_blurhash: a BlurHash (https://blurha.sh, the public
 *   algorithm by Wolt): the image's low-frequency DCT components in
 *   linear light, quantised and written in base 83.  With 4x3 components
 *   (3x4 for portrait) it is 28 ASCII characters.
 * - placeholder_dominant: the most common colour, as "#rrggbb".
 *
 * Both read a small packed 8-bit buffer (the caller shrinks the smallest
 * variant to at most 32x32 first, so the cost is a few microseconds).
 * Pure functions: any thread.
 */
#ifndef IMGPIPE_PLACEHOLDER_H
#define IMGPIPE_PLACEHOLDER_H

#include <stddef.h>

/* The longest BlurHash we write (9x9 components) plus the NUL. */
#define PLACEHOLDER_BLURHASH_MAX (2 + 4 + 2 * 80 + 1)

/* px: w*h pixels of `bands` bytes (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA;
 * alpha is ignored), rows packed.  nx, ny: components, 1..9.  Writes a
 * NUL-terminated hash to out.  Returns 0, or -1 if an argument is out of
 * range or out is too small. */
int placeholder_blurhash(const unsigned char *px, int w, int h, int bands,
			 int nx, int ny, char *out, size_t out_len);

/* The dominant colour of the same kind of buffer: pixels are binned by the
 * top 4 bits of each channel, the fullest bin wins, and its mean is
 * written as "#rrggbb" (out needs 8 bytes).  Returns 0 or -1. */
int placeholder_dominant(const unsigned char *px, int w, int h, int bands,
			 char *out, size_t out_len);

#endif
