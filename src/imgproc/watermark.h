/*
 * watermark.h - the watermark engine of the image processor.
 *
 * A mark is a PNG logo (config watermark.image) or a line of Pango markup
 * (watermark.text, .font, .colour), placed by one of nine gravities with a
 * margin, at a width relative to the image, with an opacity; or tiled over
 * the whole image with a spacing and an angle.  With adaptive contrast the
 * mark is drawn light on dark pictures and dark on light ones, judged from
 * the mean luminance of the pixels under it.
 *
 * Rendering (text layout, logo resize, rotation) happens once per mark
 * width and is kept in a small locked cache shared by all workers, so a
 * mark is not rebuilt per image.  Used by imgproc_vips.c; watermark_apply
 * may run on many threads at once.
 */
#ifndef IMGPIPE_WATERMARK_H
#define IMGPIPE_WATERMARK_H

#include <vips/vips.h>

#include "core/config.h"
#include "core/error.h"

/* Entries kept in the render cache (one per mark width). */
#define WATERMARK_CACHE_MAX 32

struct watermark;

/* Validate spec and prepare the mark (load the logo or lay out the text
 * once to learn its proportions).  IP_EINVAL with a message naming the
 * key for a bad colour, unreadable logo or invalid markup. */
int watermark_new(const struct watermark_spec *spec, struct watermark **out,
		  struct ip_error *err);
void watermark_free(struct watermark *wm);

/* Mark one frame.  in: 8-bit sRGB (3 or 4 bands) or B_W (1 or 2 bands).
 * *out gets a new reference with the same bands and interpretation.  When
 * the image is too small to hold a legible mark, *out is in itself
 * (referenced).  Errors are libvips failures (IP_EUNPROCESSABLE). */
int watermark_apply(struct watermark *wm, VipsImage *in, VipsImage **out,
		    struct ip_error *err);

/* Cache counters, for tests and metrics. */
void watermark_cache_stats(struct watermark *wm, unsigned long *hits,
			   unsigned long *misses, size_t *entries);

#endif
