/*
 * watermark.c - render, cache and composite watermarks (see watermark.h).
 *
 * Design:
 * - A mark is kept in memory as it will be blended: for text, a one-band
 *   coverage mask (vips_text) with the opacity already applied and the
 *   rotation done; for a logo, straight-alpha RGBA resized with
 *   premultiplied alpha (no dark fringes), rotated, opacity applied to the
 *   alpha band.  The colour of a text mark is not part of the render: it is
 *   a constant image joined to the mask at blend time, which is what lets
 *   adaptive contrast pick light or dark without a second render.
 * - Text is laid out at the dpi that makes it the wanted width (known from
 *   one layout at 72 dpi in watermark_new), so it stays crisp at any size;
 *   this costs a Pango layout, hence the cache.
 * - The cache maps mark width -> rendered mark.  It holds at most
 *   WATERMARK_CACHE_MAX entries and evicts the least recently used.  Two
 *   threads missing the same width may both render; the second keeps the
 *   first one's entry.  Cached images are only read once published
 *   (libvips allows concurrent reads of one image), never modified.
 */
#include "imgproc/watermark.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "imgproc/vipsutil.h"

/* Narrower marks are unreadable: skip them rather than smudge. */
#define WATERMARK_MIN_WIDTH 8
/* The largest logo we accept, in pixels. */
#define WATERMARK_LOGO_MAX_PIXELS (16 * 1000 * 1000)

struct wm_entry {
	int width; /* key: wanted mark width before rotation */
	VipsImage *mark; /* NULL = free slot */
	unsigned long used; /* LRU tick */
};

struct watermark {
	struct watermark_spec spec;
	bool is_image;
	bool adaptive;
	int rgb[3]; /* fixed colour of a text mark */
	VipsImage *logo; /* RGBA, in memory (image marks) */
	double text_w72; /* layout width at 72 dpi (text marks) */
	pthread_mutex_t lock;
	struct wm_entry cache[WATERMARK_CACHE_MAX];
	unsigned long tick;
	unsigned long hits;
	unsigned long misses;
};

static int
parse_hex_colour(const char *s, int rgb[3])
{
	unsigned int r, g, b;
	char tail;

	if (strlen(s) != 7 || s[0] != '#' ||
	    strspn(s + 1, "0123456789abcdefABCDEF") != 6)
		return -1;
	if (sscanf(s + 1, "%2x%2x%2x%c", &r, &g, &b, &tail) != 3)
		return -1;
	rgb[0] = (int)r;
	rgb[1] = (int)g;
	rgb[2] = (int)b;
	return 0;
}

static int
load_logo(struct watermark *wm, struct ip_error *err)
{
	VipsImage *t[4] = {NULL, NULL, NULL, NULL};
	VipsImage *in;
	int rc = IP_OK;

	t[0] = vips_image_new_from_file(wm->spec.image, "access",
					VIPS_ACCESS_RANDOM, NULL);
	if (t[0] == NULL) {
		rc = vipsutil_error(err, IP_EINVAL, "watermark.image");
		goto out;
	}
	in = t[0];
	if ((int64_t)in->Xsize * in->Ysize > WATERMARK_LOGO_MAX_PIXELS) {
		rc =
		    ip_error_set(err, IP_EINVAL,
				 "watermark.image %s is %dx%d, above %d pixels",
				 wm->spec.image, in->Xsize, in->Ysize,
				 WATERMARK_LOGO_MAX_PIXELS);
		goto out;
	}
	if (vips_colourspace(in, &t[1], VIPS_INTERPRETATION_sRGB, NULL)) {
		rc = vipsutil_error(err, IP_EINVAL, "watermark.image");
		goto out;
	}
	in = t[1];
	if (!vips_image_hasalpha(in)) {
		if (vips_bandjoin_const1(in, &t[2], 255.0, NULL)) {
			rc = vipsutil_error(err, IP_EINVAL, "watermark.image");
			goto out;
		}
		in = t[2];
	}
	if (in->Bands != 4 || in->BandFmt != VIPS_FORMAT_UCHAR) {
		if (vips_cast(in, &t[3], VIPS_FORMAT_UCHAR, NULL)) {
			rc = vipsutil_error(err, IP_EINVAL, "watermark.image");
			goto out;
		}
		in = t[3];
	}
	if (in->Bands != 4) {
		rc = ip_error_set(err, IP_EINVAL,
				  "watermark.image %s: need RGB or RGBA",
				  wm->spec.image);
		goto out;
	}
	wm->logo = vips_image_copy_memory(in);
	if (wm->logo == NULL)
		rc = vipsutil_error(err, IP_EINVAL, "watermark.image");
out:
	for (int i = 3; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return rc;
}

static int
measure_text(struct watermark *wm, struct ip_error *err)
{
	VipsImage *t = NULL;

	if (vips_text(&t, wm->spec.text, "font", wm->spec.font, "dpi", 72,
		      NULL))
		return vipsutil_error(err, IP_EINVAL,
				      "watermark.text (markup or font)");
	wm->text_w72 = t->Xsize;
	g_object_unref(t);
	if (wm->text_w72 < 1)
		return ip_error_set(err, IP_EINVAL,
				    "watermark.text renders as nothing");
	return IP_OK;
}

int
watermark_new(const struct watermark_spec *spec, struct watermark **out,
	      struct ip_error *err)
{
	struct watermark *wm;
	int rc;

	*out = NULL;
	wm = calloc(1, sizeof(*wm));
	if (wm == NULL)
		return ip_error_set(err, IP_ENOMEM, "watermark: out of memory");
	wm->spec = *spec;
	wm->spec.text[sizeof(wm->spec.text) - 1] = '\0';
	wm->spec.font[sizeof(wm->spec.font) - 1] = '\0';
	wm->spec.image[sizeof(wm->spec.image) - 1] = '\0';
	if (wm->spec.text[0] == '\0')
		snprintf(wm->spec.text, sizeof(wm->spec.text), "imgpipe");
	if (wm->spec.font[0] == '\0')
		snprintf(wm->spec.font, sizeof(wm->spec.font), "sans bold");
	pthread_mutex_init(&wm->lock, NULL);
	wm->rgb[0] = wm->rgb[1] = wm->rgb[2] = 255;
	wm->adaptive = spec->adaptive;
	if (spec->colour[0] == '\0' || strcmp(spec->colour, "auto") == 0) {
		wm->adaptive = true;
	} else if (parse_hex_colour(spec->colour, wm->rgb) != 0) {
		rc = ip_error_set(err, IP_EINVAL,
				  "watermark.colour must be #rrggbb or auto, "
				  "not \"%.32s\"",
				  spec->colour);
		goto fail;
	}
	if (!(spec->opacity >= 0.0 && spec->opacity <= 1.0) ||
	    !(spec->scale > 0.0 && spec->scale <= 1.0) ||
	    !(spec->margin >= 0.0 && spec->margin <= 0.5) ||
	    !(spec->spacing >= 0.0 && spec->spacing <= 10.0) ||
	    !(spec->angle >= -360.0 && spec->angle <= 360.0)) {
		rc = ip_error_set(err, IP_EINVAL,
				  "watermark: opacity, scale, margin, spacing "
				  "or angle out of range");
		goto fail;
	}
	wm->is_image = wm->spec.image[0] != '\0';
	rc = wm->is_image ? load_logo(wm, err) : measure_text(wm, err);
	if (rc != IP_OK)
		goto fail;
	*out = wm;
	return IP_OK;
fail:
	watermark_free(wm);
	return rc;
}

void
watermark_free(struct watermark *wm)
{
	if (wm == NULL)
		return;
	for (size_t i = 0; i < WATERMARK_CACHE_MAX; i++)
		VIPSUTIL_UNREF(wm->cache[i].mark);
	VIPSUTIL_UNREF(wm->logo);
	pthread_mutex_destroy(&wm->lock);
	free(wm);
}

static bool
wants_rotation(const struct watermark *wm)
{
	return fmod(wm->spec.angle, 360.0) != 0.0;
}

/* Text: coverage mask at the dpi giving `width`, times the opacity,
 * rotated. */
static VipsImage *
render_text(struct watermark *wm, int width)
{
	VipsImage *t[3] = {NULL, NULL, NULL};
	VipsImage *in;
	VipsImage *mem = NULL;
	double dpi = 72.0 * width / wm->text_w72;

	if (dpi < 1.0)
		dpi = 1.0;
	if (vips_text(&t[0], wm->spec.text, "font", wm->spec.font, "dpi",
		      (int)lround(dpi), NULL))
		goto out;
	if (vips_linear1(t[0], &t[1], wm->spec.opacity, 0.0, "uchar", TRUE,
			 NULL))
		goto out;
	in = t[1];
	if (wants_rotation(wm)) {
		if (vips_rotate(in, &t[2], wm->spec.angle, NULL))
			goto out;
		in = t[2];
	}
	mem = vips_image_copy_memory(in);
out:
	for (int i = 2; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return mem;
}

/* Logo: resized with premultiplied alpha, rotated, opacity on alpha. */
static VipsImage *
render_logo(struct watermark *wm, int width)
{
	VipsImage *t[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	VipsImage *in;
	VipsImage *mem = NULL;
	double mul[4] = {1.0, 1.0, 1.0, wm->spec.opacity};
	double add[4] = {0.0, 0.0, 0.0, 0.0};

	if (vips_premultiply(wm->logo, &t[0], NULL) ||
	    vips_resize(t[0], &t[1], (double)width / wm->logo->Xsize, NULL))
		goto out;
	in = t[1];
	if (wants_rotation(wm)) {
		if (vips_rotate(in, &t[2], wm->spec.angle, NULL))
			goto out;
		in = t[2];
	}
	if (vips_unpremultiply(in, &t[3], NULL) ||
	    vips_cast(t[3], &t[4], VIPS_FORMAT_UCHAR, NULL) ||
	    vips_linear(t[4], &t[5], mul, add, 4, "uchar", TRUE, NULL))
		goto out;
	mem = vips_image_copy_memory(t[5]);
	if (mem != NULL)
		mem->Type = VIPS_INTERPRETATION_sRGB;
out:
	for (int i = 5; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return mem;
}

/* A new reference to the mark rendered at `width`, from the cache when
 * possible.  NULL with libvips' error set on failure. */
static VipsImage *
mark_get(struct watermark *wm, int width)
{
	VipsImage *mark = NULL;
	VipsImage *fresh;
	size_t slot = 0;

	pthread_mutex_lock(&wm->lock);
	for (size_t i = 0; i < WATERMARK_CACHE_MAX; i++) {
		if (wm->cache[i].mark != NULL && wm->cache[i].width == width) {
			wm->cache[i].used = ++wm->tick;
			wm->hits++;
			mark = wm->cache[i].mark;
			g_object_ref(mark);
			break;
		}
	}
	pthread_mutex_unlock(&wm->lock);
	if (mark != NULL)
		return mark;

	fresh = wm->is_image ? render_logo(wm, width) : render_text(wm, width);
	if (fresh == NULL)
		return NULL;

	pthread_mutex_lock(&wm->lock);
	wm->misses++;
	for (size_t i = 0; i < WATERMARK_CACHE_MAX; i++) {
		if (wm->cache[i].mark != NULL && wm->cache[i].width == width) {
			/* Another thread rendered it meanwhile. */
			mark = wm->cache[i].mark;
			g_object_ref(mark);
			break;
		}
		if (wm->cache[i].mark == NULL ||
		    (wm->cache[slot].mark != NULL &&
		     wm->cache[i].used < wm->cache[slot].used))
			slot = i;
	}
	if (mark == NULL) {
		/* The cache takes a reference; ours goes to the caller. */
		VIPSUTIL_UNREF(wm->cache[slot].mark);
		wm->cache[slot].mark = fresh;
		wm->cache[slot].width = width;
		wm->cache[slot].used = ++wm->tick;
		g_object_ref(fresh);
		mark = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&wm->lock);
	VIPSUTIL_UNREF(fresh);
	return mark;
}

void
watermark_cache_stats(struct watermark *wm, unsigned long *hits,
		      unsigned long *misses, size_t *entries)
{
	size_t n = 0;

	pthread_mutex_lock(&wm->lock);
	for (size_t i = 0; i < WATERMARK_CACHE_MAX; i++)
		if (wm->cache[i].mark != NULL)
			n++;
	if (hits != NULL)
		*hits = wm->hits;
	if (misses != NULL)
		*misses = wm->misses;
	if (entries != NULL)
		*entries = n;
	pthread_mutex_unlock(&wm->lock);
}

/* Mean luma (Rec. 709 weights on the encoded values, 0..255) of an area. */
static int
mean_luma(VipsImage *in, int x, int y, int w, int h, double *luma)
{
	VipsImage *area = NULL;
	VipsImage *stats = NULL;
	double mean[3] = {0.0, 0.0, 0.0};
	int colour_bands = in->Bands >= 3 ? 3 : 1;
	int rc = -1;

	if (vips_extract_area(in, &area, x, y, w, h, NULL) ||
	    vips_stats(area, &stats, NULL))
		goto out;
	for (int b = 0; b < colour_bands; b++) {
		double *v = NULL;
		int n = 0;

		/* Row 0 is all bands, row 1 + b band b; column 4 the mean. */
		if (vips_getpoint(stats, &v, &n, 4, 1 + b, NULL))
			goto out;
		mean[b] = n > 0 ? v[0] : 0.0;
		g_free(v);
	}
	*luma = colour_bands == 3
		    ? 0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2]
		    : mean[0];
	rc = 0;
out:
	VIPSUTIL_UNREF(stats);
	VIPSUTIL_UNREF(area);
	return rc;
}

/* Fetch the mark for an image w x h: scale of the width, shrunk when it
 * would not fit inside the margins.  *mark is NULL (and IP_OK) when no
 * legible mark fits. */
static int
mark_for(struct watermark *wm, int w, int h, int margin, VipsImage **mark)
{
	int mw = (int)lround(wm->spec.scale * w);
	int room_w = w - 2 * margin;
	int room_h = h - 2 * margin;

	*mark = NULL;
	for (int attempt = 0; attempt < 3; attempt++) {
		VipsImage *m;
		double f;

		if (mw < WATERMARK_MIN_WIDTH || room_w < 1 || room_h < 1)
			return IP_OK;
		m = mark_get(wm, mw);
		if (m == NULL)
			return -1;
		if (wm->spec.tile ||
		    (m->Xsize <= room_w && m->Ysize <= room_h)) {
			*mark = m;
			return IP_OK;
		}
		f = fmin((double)room_w / m->Xsize, (double)room_h / m->Ysize);
		g_object_unref(m);
		mw = (int)floor(mw * f) - attempt;
	}
	return IP_OK;
}

/* The RGBA (or grey+alpha) layer to blend: a coloured mask for text and
 * for adaptive logos (a silhouette), the logo itself otherwise. */
static int
make_overlay(struct watermark *wm, VipsImage *mark, bool grey, const int rgb[3],
	     VipsImage **out)
{
	VipsImage *t[4] = {NULL, NULL, NULL, NULL};
	VipsImage *alpha;
	int rc = -1;

	*out = NULL;
	if (wm->is_image && !wm->adaptive) {
		if (grey) {
			if (vips_colourspace(mark, out, VIPS_INTERPRETATION_B_W,
					     NULL))
				return -1;
		} else {
			g_object_ref(mark);
			*out = mark;
		}
		return 0;
	}
	if (wm->is_image) {
		if (vips_extract_band(mark, &t[0], 3, NULL))
			goto out;
		alpha = t[0];
	} else {
		alpha = mark;
	}
	if (grey) {
		double c = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];

		t[1] = vips_image_new_from_image(alpha, &c, 1);
	} else {
		double c[3] = {rgb[0], rgb[1], rgb[2]};

		t[1] = vips_image_new_from_image(alpha, c, 3);
	}
	if (t[1] == NULL || vips_bandjoin2(t[1], alpha, &t[2], NULL))
		goto out;
	if (vips_copy(t[2], out, "interpretation",
		      grey ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB,
		      NULL))
		goto out;
	rc = 0;
out:
	for (int i = 3; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return rc;
}

int
watermark_apply(struct watermark *wm, VipsImage *in, VipsImage **out,
		struct ip_error *err)
{
	VipsImage *mark = NULL;
	VipsImage *overlay = NULL;
	VipsImage *t[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	VipsImage *base;
	VipsImage *layer;
	bool grey = in->Bands <= 2;
	bool had_alpha = vips_image_hasalpha(in);
	int w = in->Xsize;
	int h = in->Ysize;
	int margin = wm->spec.tile ? 0 : (int)lround(wm->spec.margin * w);
	int rgb[3] = {wm->rgb[0], wm->rgb[1], wm->rgb[2]};
	int x = 0;
	int y = 0;
	int rc = IP_OK;

	*out = NULL;
	if (mark_for(wm, w, h, margin, &mark) != 0) {
		rc = vipsutil_error(err, IP_EUNPROCESSABLE, "watermark render");
		goto out;
	}
	if (mark == NULL) {
		g_object_ref(in);
		*out = in;
		goto out;
	}
	if (!wm->spec.tile)
		vipsutil_place(wm->spec.position, w, h, mark->Xsize,
			       mark->Ysize, margin, &x, &y);
	if (wm->adaptive) {
		double luma = 0.0;
		int v;
		int ok = wm->spec.tile ? mean_luma(in, 0, 0, w, h, &luma)
				       : mean_luma(in, x, y, mark->Xsize,
						   mark->Ysize, &luma);

		if (ok != 0) {
			rc = vipsutil_error(err, IP_EUNPROCESSABLE,
					    "watermark contrast");
			goto out;
		}
		/* Light mark on dark pixels, dark mark on light ones. */
		v = luma < 128.0 ? 255 : 0;
		rgb[0] = rgb[1] = rgb[2] = v;
	}
	if (make_overlay(wm, mark, grey, rgb, &overlay) != 0) {
		rc =
		    vipsutil_error(err, IP_EUNPROCESSABLE, "watermark overlay");
		goto out;
	}
	base = in;
	if (!had_alpha) {
		if (vips_bandjoin_const1(in, &t[0], 255.0, NULL))
			goto fail;
		base = t[0];
	}
	if (wm->spec.tile) {
		int gap = (int)lround(wm->spec.spacing * overlay->Xsize);
		int cw = overlay->Xsize + gap;
		int ch = overlay->Ysize + gap;

		if (vips_embed(overlay, &t[1], gap / 2, gap / 2, cw, ch,
			       "extend", VIPS_EXTEND_BLACK, NULL) ||
		    vips_replicate(t[1], &t[2], w / cw + 2, h / ch + 2, NULL) ||
		    vips_extract_area(t[2], &t[3], 0, 0, w, h, NULL))
			goto fail;
		layer = t[3];
		x = y = 0;
	} else {
		layer = overlay;
	}
	if (vips_composite2(base, layer, &t[4], VIPS_BLEND_MODE_OVER, "x", x,
			    "y", y, "compositing_space",
			    grey ? VIPS_INTERPRETATION_B_W
				 : VIPS_INTERPRETATION_sRGB,
			    NULL) ||
	    vips_cast(t[4], &t[5], VIPS_FORMAT_UCHAR, NULL))
		goto fail;
	if (!had_alpha) {
		if (vips_extract_band(t[5], out, 0, "n", in->Bands, NULL))
			goto fail;
	} else {
		g_object_ref(t[5]);
		*out = t[5];
	}
	goto out;
fail:
	rc = vipsutil_error(err, IP_EUNPROCESSABLE, "watermark");
out:
	for (int i = 6; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	VIPSUTIL_UNREF(overlay);
	VIPSUTIL_UNREF(mark);
	return rc;
}
