/*
 * imgproc_vips.c - the libvips image processor (see imgproc.h).
 *
 * Called by the gateway (probe, before an upload is committed) and by the
 * function (process, on worker threads).  One struct imgproc_vips is shared
 * by every thread: it holds only read-only settings and the watermark
 * engine, whose cache locks itself.
 *
 * DESIGN
 *
 * Untrusted bytes never choose their loader: sniff.c names the format from
 * the magic bytes and we call that loader by name ("jpegload_source"...),
 * so a file that claims to be a JPEG cannot reach the SVG, PDF or
 * ImageMagick loaders.  libvips itself is set up once per process:
 * untrusted loaders blocked, SVG/PDF blocked unless enabled, operation
 * cache off, a bounded number of threads.
 *
 * probe = header only: libvips opens lazily, so building the loader reads
 * the header and no pixel is decoded.  Limits (pixels per frame, frames,
 * pixels in all frames) are checked there, by probe and again by process.
 *
 * process = decode once:
 *   1. plan every variant from the displayed size (after EXIF orientation)
 *      and find the largest scale any of them needs;
 *   2. load with shrink-on-load towards that scale (JPEG "shrink" 2/4/8,
 *      WebP "scale", SVG/PDF "scale"), convert to sRGB (embedded ICC
 *      profile, or the built-in CMYK profile for a CMYK file without one;
 *      no ICC work at all for plain RGB), 8 bits, resize (Lanczos 3, with
 *      premultiplied alpha) to exactly the largest variant's size, copy to
 *      memory, then rotate upright by EXIF orientation;
 *   3. every variant is derived from that in-memory base: resize, crop
 *      (cover: gravity or attention), watermark, flatten for JPEG, encode.
 *   The largest variant usually needs no resize at all.
 * Animated GIF/WebP: the first frame by default; when a variant asks for
 * all frames (GIF or WebP out), the base holds up to max_frames frames
 * stacked vertically ("page-height") and each frame goes through the same
 * steps.
 *
 * Time limit: a deadline (vipsutil.h) watches the loaded image and the
 * in-memory base; libvips' eval signal kills whatever sink is running once
 * it passes, and the job returns IP_ETIMEOUT with everything released.
 *
 * fail_on (limits.fail_on) goes to the loader as libvips' fail_on: none,
 * truncated, error (the default) or warning.  See docs/IMAGES.md for what
 * each does with truncated files and trailing garbage.
 */
#include "imgproc/imgproc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>
#include <vips/vector.h>

#include "core/log.h"
#include "core/util.h"
#include "imgproc/decodemem.h"
#include "imgproc/encode.h"
#include "imgproc/placeholder.h"
#include "imgproc/sniff.h"
#include "imgproc/vipsmsg.h"
#include "imgproc/vipsutil.h"
#include "imgproc/watermark.h"

/* Shrink-on-load keeps at least this much more resolution than the target
 * so the final Lanczos resize still does real anti-aliasing. */
#ifndef SHRINK_MARGIN
#define SHRINK_MARGIN 1.0
#endif
/* The placeholder is computed from the smallest variant shrunk to this. */
#define PLACEHOLDER_SIZE 32
/* Longest text we keep from an EXIF Artist/Copyright. */
#define RIGHTS_MAX 256
/* Most frames an animated variant keeps, whatever max_frames says. */
#define FRAMES_MAX 256
/* The largest variant (bytes of pixels, every frame) computed into
 * memory before its encode, so the two are timed apart. */
#define TIMED_VARIANT_MAX ((guint64)32 << 20)

struct imgproc_vips {
	struct imgproc base;
	int vips_threads; /* worker.vips_threads: 0 = adaptive */
	int64_t max_pixels;
	int64_t max_total_pixels;
	int max_pages;
	int64_t max_image_memory;
	int timeout_s;
	bool allow_svg;
	bool allow_pdf;
	VipsFailOn fail_on;
	bool fail_on_warning; /* a warning fails the job */
	double background[3];
	bool keep_copyright;
	bool progressive;
	struct watermark *wm; /* NULL: watermarking disabled */
};

/* What one variant needs, in displayed (upright) coordinates. */
struct plan {
	int rs_w, rs_h; /* after resize, before crop */
	int out_w, out_h; /* final */
	bool crop; /* cover */
	double need; /* scale of the displayed image it needs */
};

/* Facts of a job gathered from the header. */
struct job {
	struct format sn;
	struct image_info info;
	bool has_icc;
	bool is_cmyk;
	bool flatten_early; /* alpha, but every variant is JPEG */
	int64_t decode_bytes; /* decodemem_estimate */
	char artist[RIGHTS_MAX];
	char copyright[RIGHTS_MAX];
	struct vipsutil_deadline deadline;
};

static pthread_once_t imgproc_vips_once = PTHREAD_ONCE_INIT;
static int imgproc_vips_init_failed;

static void
imgproc_vips_init_once(void)
{
	if (VIPS_INIT("imgpipe")) {
		imgproc_vips_init_failed = 1;
		return;
	}
	vips_block_untrusted_set(TRUE);
	vips_leak_set(FALSE);
	vipsmsg_init();
}

static struct imgproc_vips *
imgproc_vips_cast(struct imgproc *p)
{
	return (struct imgproc_vips *)p;
}

/* ---- loading ------------------------------------------------------ */

struct load_req {
	const struct format *sn;
	int n; /* frames to load, 1 = first only */
	int jpeg_shrink; /* 1, 2, 4 or 8 */
	double scale; /* webp/svg/pdf "scale", 1.0 = none */
};

static bool
op_has(VipsOperation *op, const char *name)
{
	return g_object_class_find_property(G_OBJECT_GET_CLASS(op), name) !=
	       NULL;
}

static int
read_head(int fd, unsigned char *buf, size_t cap, size_t *got)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

static int
sniff_fd(struct imgproc_vips *p, int fd, struct format *sn,
	 struct ip_error *err)
{
	unsigned char head[SNIFF_BYTES];
	char why[160];
	size_t got = 0;
	int rc = read_head(fd, head, sizeof(head), &got);

	if (rc != 0)
		return ip_error_set(err, IP_EIO, "read image: %s",
				    strerror(-rc));
	if (sniff_detect(head, got, p->allow_svg, p->allow_pdf, sn, why,
			 sizeof(why)) != 0)
		return ip_error_set(err, IP_EMEDIA,
				    "not an image imgpipe can load: %s", why);
	return IP_OK;
}

/* Run the sniffed loader on fd with the options of rq.  libvips opens
 * lazily: this reads the header only. */
static int
load_image(struct imgproc_vips *p, int fd, const struct load_req *rq,
	   VipsImage **out, struct ip_error *err)
{
	VipsSource *src = NULL;
	VipsOperation *op = NULL;
	VipsImage *img = NULL;
	int rc = IP_OK;

	*out = NULL;
	src = vipsutil_source_fd(fd);
	if (src == NULL)
		return vipsutil_error(err, IP_EIO, "open image");
	op = vips_operation_new(rq->sn->loader);
	if (op == NULL) {
		rc = vipsutil_error(err, IP_EMEDIA,
				    "not an image imgpipe can load");
		goto out;
	}
	g_object_set(op, "source", src, "access", VIPS_ACCESS_SEQUENTIAL,
		     "fail_on", p->fail_on, NULL);
	if (rq->n != 1 && op_has(op, "n"))
		g_object_set(op, "n", rq->n, NULL);
	if (rq->jpeg_shrink > 1 && op_has(op, "shrink"))
		g_object_set(op, "shrink", rq->jpeg_shrink, NULL);
	if (rq->scale != 1.0 && op_has(op, "scale"))
		g_object_set(op, "scale", rq->scale, NULL);
	if (vips_cache_operation_buildp(&op)) {
		char what[96];

		snprintf(what, sizeof(what), "corrupt or unreadable %s image",
			 rq->sn->format);
		rc = vipsutil_error(err, IP_EUNPROCESSABLE, what);
		vips_object_unref_outputs(VIPS_OBJECT(op));
		goto out;
	}
	g_object_get(op, "out", &img, NULL);
	vips_object_unref_outputs(VIPS_OBJECT(op));
	*out = img;
out:
	VIPSUTIL_UNREF(op);
	VIPSUTIL_UNREF(src);
	return rc;
}

static void
info_fill(VipsImage *img, const struct format *sn, struct image_info *info)
{
	const char *cs;

	memset(info, 0, sizeof(*info));
	util_strlcpy(info->format, sn->format, sizeof(info->format));
	util_strlcpy(info->content_type, sn->content_type,
		     sizeof(info->content_type));
	info->width = img->Xsize;
	info->height = vips_image_get_page_height(img);
	info->pages = vips_image_get_n_pages(img);
	if (info->pages < 1)
		info->pages = 1;
	info->orientation = vips_image_get_orientation(img);
	if (info->orientation < 1 || info->orientation > 8)
		info->orientation = 1;
	if (info->orientation >= 5) {
		info->display_width = info->height;
		info->display_height = info->width;
	} else {
		info->display_width = info->width;
		info->display_height = info->height;
	}
	info->has_alpha = vips_image_hasalpha(img);
	cs = vips_enum_nick(VIPS_TYPE_INTERPRETATION, img->Type);
	util_strlcpy(info->colourspace, cs != NULL ? cs : "unknown",
		     sizeof(info->colourspace));
}

static int
check_limits(struct imgproc_vips *p, const struct job *job,
	     struct ip_error *err)
{
	const struct image_info *info = &job->info;
	int64_t frame = (int64_t)info->width * info->height;
	int64_t total;

	if (info->width < 1 || info->height < 1)
		return ip_error_set(err, IP_EUNPROCESSABLE,
				    "image has no pixels (%dx%d)", info->width,
				    info->height);
	if (frame > p->max_pixels)
		return ip_error_set(err, IP_EUNPROCESSABLE,
				    "image is %dx%d = %lld pixels, above the "
				    "limit of %lld pixels (limits.max_pixels)",
				    info->width, info->height, (long long)frame,
				    (long long)p->max_pixels);
	if (info->pages > p->max_pages)
		return ip_error_set(err, IP_EUNPROCESSABLE,
				    "image has %d pages, above the limit of %d "
				    "(limits.max_pages)",
				    info->pages, p->max_pages);
	if (__builtin_mul_overflow(frame, (int64_t)info->pages, &total))
		total = INT64_MAX;
	if (total > p->max_total_pixels)
		return ip_error_set(err, IP_EUNPROCESSABLE,
				    "image has %lld pixels in %d pages, above "
				    "the limit of %lld pixels "
				    "(limits.max_total_pixels)",
				    (long long)total, info->pages,
				    (long long)p->max_total_pixels);
	if (job->decode_bytes > p->max_image_memory)
		return ip_error_set(
		    err, IP_EUNPROCESSABLE,
		    "decoding this %dx%d %s %s would need %lld MiB at once, "
		    "above the limit of %lld MiB (limits.max_image_memory)",
		    info->width, info->height,
		    strcmp(info->format, "jpeg") == 0 ? "progressive"
						      : "interlaced",
		    info->format, (long long)(job->decode_bytes >> 20),
		    (long long)(p->max_image_memory >> 20));
	return IP_OK;
}

/* Sniff, read the header, fill the job, check the limits. */
static int
open_job(struct imgproc_vips *p, int fd, struct job *job, struct ip_error *err)
{
	struct load_req rq = {.n = 1, .jpeg_shrink = 1, .scale = 1.0};
	VipsImage *hdr = NULL;
	int rc;

	rc = sniff_fd(p, fd, &job->sn, err);
	if (rc != IP_OK)
		return rc;
	rq.sn = &job->sn;
	rc = load_image(p, fd, &rq, &hdr, err);
	if (rc != IP_OK)
		return rc;
	info_fill(hdr, &job->sn, &job->info);
	job->has_icc = vips_image_get_typeof(hdr, VIPS_META_ICC_NAME) != 0;
	job->is_cmyk = hdr->Type == VIPS_INTERPRETATION_CMYK;
	job->decode_bytes = decodemem_estimate(fd, job->sn.format, hdr);
	if (p->keep_copyright) {
		encode_exif_ascii(hdr, "exif-ifd0-Artist", job->artist,
				  sizeof(job->artist));
		encode_exif_ascii(hdr, "exif-ifd0-Copyright", job->copyright,
				  sizeof(job->copyright));
	}
	g_object_unref(hdr);
	return check_limits(p, job, err);
}

static int
imgproc_vips_probe(struct imgproc *base, int fd, struct image_info *out,
		   struct ip_error *err)
{
	struct imgproc_vips *p = imgproc_vips_cast(base);
	struct vipsmsg msgs;
	struct job job;
	int rc;

	memset(&job, 0, sizeof(job));
	vipsmsg_begin(&msgs);
	rc = open_job(p, fd, &job, err);
	vipsmsg_end(&msgs);
	*out = job.info;
	return rc;
}

/* ---- planning ----------------------------------------------------- */

static int
at_least_1(double v)
{
	long r = lround(v);

	return r < 1 ? 1 : r > VIPS_MAX_COORD ? VIPS_MAX_COORD : (int)r;
}

static void
plan_variant(const struct variant_spec *s, int dw, int dh, struct plan *pl)
{
	double bw = s->width > 0 ? s->width : 1;
	double bh = s->height > 0 ? s->height : 1;
	double sx = bw / dw;
	double sy = bh / dh;
	double sc;

	memset(pl, 0, sizeof(*pl));
	switch (s->fit) {
	case FIT_COVER:
		sc = fmax(sx, sy);
		pl->out_w = (int)bw;
		pl->out_h = (int)bh;
		if (!s->enlarge && sc > 1.0) {
			/* Too small to fill the box: keep the box's shape,
			 * as large as the image allows. */
			pl->out_w = at_least_1(bw / sc);
			pl->out_h = at_least_1(bh / sc);
			sc = 1.0;
		}
		pl->rs_w = at_least_1(dw * sc);
		pl->rs_h = at_least_1(dh * sc);
		if (pl->rs_w < pl->out_w)
			pl->rs_w = pl->out_w;
		if (pl->rs_h < pl->out_h)
			pl->rs_h = pl->out_h;
		pl->crop = true;
		break;
	case FIT_FILL:
		if (!s->enlarge && fmax(sx, sy) > 1.0) {
			double f = fmax(sx, sy);

			sx /= f;
			sy /= f;
		}
		pl->rs_w = pl->out_w = at_least_1(dw * sx);
		pl->rs_h = pl->out_h = at_least_1(dh * sy);
		break;
	case FIT_INSIDE:
	default:
		sc = fmin(sx, sy);
		if (!s->enlarge && sc > 1.0)
			sc = 1.0;
		pl->rs_w = at_least_1(dw * sc);
		pl->rs_h = at_least_1(dh * sc);
		if (sc <= 1.0 || s->enlarge) {
			if (pl->rs_w > bw)
				pl->rs_w = (int)bw;
			if (pl->rs_h > bh)
				pl->rs_h = (int)bh;
		}
		pl->out_w = pl->rs_w;
		pl->out_h = pl->rs_h;
		break;
	}
	pl->need = fmax((double)pl->rs_w / dw, (double)pl->rs_h / dh);
}

static bool
format_animates(enum out_format f)
{
	return f == FORMAT_GIF || f == FORMAT_WEBP || f == FORMAT_AUTO;
}

static enum out_format
resolve_format(const struct variant_spec *s, bool has_alpha, bool animated)
{
	if (s->format != FORMAT_AUTO)
		return s->format;
	return format_auto_resolve(has_alpha, animated);
}

/* ---- decode once -------------------------------------------------- */

/* Convert to 8-bit sRGB (or B_W for one- and two-band images). */
static int
to_srgb8(struct job *job, VipsImage *in, VipsImage **out)
{
	VipsImage *t[3] = {NULL, NULL, NULL};
	VipsImage *cur = in;
	int rc = -1;

	if (in->Bands >= 3 && (job->has_icc || job->is_cmyk)) {
		const char *fallback = job->is_cmyk ? "cmyk" : "srgb";

		if (vips_icc_transform(cur, &t[0], "srgb", "input_profile",
				       fallback, "embedded", TRUE, "intent",
				       VIPS_INTENT_RELATIVE, "depth", 8, NULL))
			goto out;
		cur = t[0];
	} else {
		VipsInterpretation want = in->Bands < 3
					      ? VIPS_INTERPRETATION_B_W
					      : VIPS_INTERPRETATION_sRGB;

		if (vips_colourspace(cur, &t[0], want, NULL))
			goto out;
		cur = t[0];
	}
	if (cur->BandFmt == VIPS_FORMAT_USHORT) {
		if (vips_rshift_const1(cur, &t[1], 8, NULL))
			goto out;
		cur = t[1];
	}
	if (cur->BandFmt != VIPS_FORMAT_UCHAR) {
		if (vips_cast(cur, &t[2], VIPS_FORMAT_UCHAR, NULL))
			goto out;
		cur = t[2];
	}
	g_object_ref(cur);
	*out = cur;
	rc = 0;
out:
	for (int i = 2; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return rc;
}

/* Flatten alpha onto the configured background (for JPEG). */
static int
flatten(struct imgproc_vips *p, VipsImage *in, VipsImage **out)
{
	VipsImage *t = NULL;
	int rc;

	if (!vips_image_hasalpha(in)) {
		g_object_ref(in);
		*out = in;
		return 0;
	}
	if (in->Bands <= 2) {
		double grey = 0.2126 * p->background[0] +
			      0.7152 * p->background[1] +
			      0.0722 * p->background[2];
		VipsArrayDouble *bg = vips_array_double_new(&grey, 1);

		rc = vips_flatten(in, &t, "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
	} else {
		VipsArrayDouble *bg = vips_array_double_new(p->background, 3);

		rc = vips_flatten(in, &t, "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
	}
	if (rc)
		return -1;
	rc = vips_cast(t, out, VIPS_FORMAT_UCHAR, NULL);
	g_object_unref(t);
	return rc;
}

/* Resize in to exactly w x h (per frame of page_h rows when frames > 1),
 * with premultiplied alpha. */
static int
resize_exact(VipsImage *in, int frames, int w, int h, VipsImage **out)
{
	VipsImage *t[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	VipsImage *cur = in;
	int in_h = in->Ysize;
	int want_h = h * frames;
	bool alpha = vips_image_hasalpha(in);
	int rc = -1;

	if (in->Xsize == w && in_h == want_h) {
		g_object_ref(in);
		*out = in;
		return 0;
	}
	if (alpha) {
		/* Premultiplied, but back in the input's 8 bits: resizing
		 * uchar is several times faster than float, and the alpha
		 * rounding is what vips_thumbnail does too. */
		if (vips_premultiply(cur, &t[0], NULL) ||
		    vips_cast(t[0], &t[5], in->BandFmt, NULL))
			goto out;
		cur = t[5];
	}
	if (vips_resize(cur, &t[1], (double)w / in->Xsize, "vscale",
			(double)want_h / in_h, "kernel", VIPS_KERNEL_LANCZOS3,
			NULL))
		goto out;
	cur = t[1];
	if (alpha) {
		if (vips_unpremultiply(cur, &t[2], NULL) ||
		    vips_cast(t[2], &t[3], VIPS_FORMAT_UCHAR, NULL))
			goto out;
		cur = t[3];
	}
	/* vips_resize rounds; make the size exact (at most a pixel off). */
	if (cur->Xsize != w || cur->Ysize != want_h) {
		if (vips_embed(cur, &t[4], 0, 0, w, want_h, "extend",
			       VIPS_EXTEND_COPY, NULL))
			goto out;
		cur = t[4];
	}
	g_object_ref(cur);
	*out = cur;
	rc = 0;
out:
	for (int i = 5; i >= 0; i--)
		VIPSUTIL_UNREF(t[i]);
	return rc;
}

/* Copy to memory under the job's deadline; the copy is watched too. */
static VipsImage *
to_memory(struct job *job, VipsImage *in)
{
	VipsImage *mem = vips_image_copy_memory(in);

	if (mem != NULL)
		vipsutil_deadline_attach(&job->deadline, mem);
	return mem;
}

static void
release(struct job *job, VipsImage **img)
{
	if (*img == NULL)
		return;
	vipsutil_deadline_detach(&job->deadline, *img);
	g_object_unref(*img);
	*img = NULL;
}

static int
job_fail(struct job *job, struct ip_error *err, int code, const char *what)
{
	if (vipsutil_deadline_over(&job->deadline))
		return vipsutil_deadline_error(&job->deadline, err);
	return vipsutil_error(err, code, what);
}

/* Decode the image once into memory: upright, 8-bit sRGB/B_W, exactly
 * base_w x base_h per frame (displayed orientation), `frames` frames. */
static int
decode_base(struct imgproc_vips *p, int fd, struct job *job, int base_w,
	    int base_h, int frames, VipsImage **out, struct ip_error *err)
{
	struct load_req rq = {
	    .sn = &job->sn, .n = frames, .jpeg_shrink = 1, .scale = 1.0};
	VipsImage *loaded = NULL;
	VipsImage *srgb = NULL;
	VipsImage *flat = NULL;
	VipsImage *sized = NULL;
	VipsImage *mem = NULL;
	VipsImage *rot = NULL;
	VipsImage *upright = NULL;
	bool swap = job->info.orientation >= 5 && frames == 1;
	int tw = swap ? base_h : base_w; /* target in stored orientation */
	int th = swap ? base_w : base_h;
	int sw = job->info.width;
	int sh = job->info.height;
	int rc;

	*out = NULL;
	if (strcmp(job->sn.format, "jpeg") == 0) {
		for (int s = 8; s >= 2; s /= 2) {
			if (sw / s >= tw * SHRINK_MARGIN &&
			    sh / s >= th * SHRINK_MARGIN) {
				rq.jpeg_shrink = s;
				break;
			}
		}
	} else if (strcmp(job->sn.format, "webp") == 0) {
		double sc =
		    fmax((double)tw / sw, (double)th / sh) * SHRINK_MARGIN;

		if (sc < 1.0)
			rq.scale = sc;
	} else if (strcmp(job->sn.format, "svg") == 0 ||
		   strcmp(job->sn.format, "pdf") == 0) {
		rq.scale = fmax((double)tw / sw, (double)th / sh);
	}
	rc = load_image(p, fd, &rq, &loaded, err);
	if (rc != IP_OK)
		goto out;
	vipsutil_deadline_attach(&job->deadline, loaded);
	if (vips_image_get_page_height(loaded) * frames != loaded->Ysize &&
	    frames > 1) {
		rc =
		    ip_error_set(err, IP_EUNPROCESSABLE,
				 "frames of different sizes are not supported");
		goto out;
	}
	/* Flattening first is the same picture as resizing with
	 * premultiplied alpha and flattening after, and cheaper. */
	if (to_srgb8(job, loaded, &srgb) ||
	    (job->flatten_early && flatten(p, srgb, &flat)) ||
	    resize_exact(flat != NULL ? flat : srgb, frames, tw, th, &sized)) {
		rc = job_fail(job, err, IP_EUNPROCESSABLE,
			      "cannot convert image");
		goto out;
	}
	/* One job at a time in this process (a helper): libvips' threads
	 * decode and resize at once, the decoder on one, the resize and
	 * colour work on the others (about 15% off a photo on two cores),
	 * and every thread's messages are this job's (vipsmsg.h).  Jobs
	 * sharing the process: on this thread, so that the decoder's
	 * messages are said where this job's capture is. */
	if (vipsmsg_is_exclusive()) {
		vipsutil_deadline_attach(&job->deadline, sized);
		mem = to_memory(job, sized);
		vipsutil_deadline_detach(&job->deadline, sized);
	} else {
		mem = vipsutil_pull(sized, &job->deadline);
		if (mem != NULL)
			vipsutil_deadline_attach(&job->deadline, mem);
	}
	if (mem == NULL) {
		rc = job_fail(job, err, IP_EUNPROCESSABLE,
			      "cannot decode image");
		goto out;
	}
	if (frames > 1)
		vips_image_set_int(mem, VIPS_META_PAGE_HEIGHT, th);
	if (frames == 1 && job->info.orientation != 1) {
		/* vips_autorot reads the tag from the image itself. */
		vips_image_set_int(mem, VIPS_META_ORIENTATION,
				   job->info.orientation);
		if (vips_autorot(mem, &rot, NULL)) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE,
				      "cannot rotate image");
			goto out;
		}
		upright = to_memory(job, rot);
		if (upright == NULL) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE,
				      "cannot rotate image");
			goto out;
		}
		vips_image_remove(upright, VIPS_META_ORIENTATION);
		*out = upright;
		upright = NULL;
	} else {
		vips_image_remove(mem, VIPS_META_ORIENTATION);
		*out = mem;
		mem = NULL;
	}
	rc = IP_OK;
out:
	release(job, &upright);
	VIPSUTIL_UNREF(rot);
	release(job, &mem);
	VIPSUTIL_UNREF(sized);
	VIPSUTIL_UNREF(flat);
	VIPSUTIL_UNREF(srgb);
	release(job, &loaded);
	return rc;
}

/* ---- variants ----------------------------------------------------- */

/* One frame of a variant: resize, crop, watermark. */
static int
variant_frame(struct imgproc_vips *p, VipsImage *frame,
	      const struct variant_spec *s, const struct plan *pl,
	      VipsImage **out, struct ip_error *err)
{
	VipsImage *sized = NULL;
	VipsImage *cropped = NULL;
	VipsImage *cur;
	int rc = IP_OK;

	*out = NULL;
	if (resize_exact(frame, 1, pl->rs_w, pl->rs_h, &sized))
		return vipsutil_error(err, IP_EUNPROCESSABLE, "resize");
	cur = sized;
	if (pl->crop && (pl->out_w != pl->rs_w || pl->out_h != pl->rs_h)) {
		int x, y;

		if (s->gravity == GRAVITY_ATTENTION) {
			if (vips_smartcrop(cur, &cropped, pl->out_w, pl->out_h,
					   "interesting",
					   VIPS_INTERESTING_ATTENTION, NULL)) {
				rc = vipsutil_error(err, IP_EUNPROCESSABLE,
						    "crop");
				goto out;
			}
		} else {
			vipsutil_place(s->gravity, pl->rs_w, pl->rs_h,
				       pl->out_w, pl->out_h, 0, &x, &y);
			if (vips_extract_area(cur, &cropped, x, y, pl->out_w,
					      pl->out_h, NULL)) {
				rc = vipsutil_error(err, IP_EUNPROCESSABLE,
						    "crop");
				goto out;
			}
		}
		cur = cropped;
	}
	if (s->watermark && p->wm != NULL) {
		rc = watermark_apply(p->wm, cur, out, err);
		goto out;
	}
	g_object_ref(cur);
	*out = cur;
out:
	VIPSUTIL_UNREF(cropped);
	VIPSUTIL_UNREF(sized);
	return rc;
}

/* Build, encode and describe one variant.  *shown gets a reference to the
 * first frame as encoded (for the placeholder). */
static int
make_variant(struct imgproc_vips *p, struct job *job, VipsImage *base,
	     int base_frames, const struct variant_spec *s,
	     const struct plan *pl, struct imgproc_variant *v,
	     VipsImage **shown, struct imgproc_timings *t, struct ip_error *err)
{
	VipsImage *frames_out[FRAMES_MAX];
	VipsImage *joined = NULL;
	VipsImage *ready = NULL;
	VipsImage *pixels = NULL;
	int64_t t0 = util_mono_us();
	int64_t t1;
	VipsImage *single = NULL;
	struct encode_opts eo;
	int page_h = vips_image_get_page_height(base);
	int frames = 1;
	bool animated;
	int rc = IP_OK;
	int made = 0;

	*shown = NULL;
	animated = s->animated && base_frames > 1 && format_animates(s->format);
	if (animated) {
		frames = base_frames;
		if (s->max_frames > 0 && frames > s->max_frames)
			frames = s->max_frames;
		if (frames > (int)(sizeof(frames_out) / sizeof(frames_out[0])))
			frames =
			    (int)(sizeof(frames_out) / sizeof(frames_out[0]));
		if (frames < 2)
			animated = false;
	}
	for (int i = 0; i < frames; i++) {
		VipsImage *frame = NULL;

		if (base_frames > 1) {
			if (vips_extract_area(base, &frame, 0, i * page_h,
					      base->Xsize, page_h, NULL)) {
				rc = job_fail(job, err, IP_EUNPROCESSABLE,
					      "frame");
				goto out;
			}
		} else {
			g_object_ref(base);
			frame = base;
		}
		rc = variant_frame(p, frame, s, pl, &frames_out[i], err);
		g_object_unref(frame);
		if (rc != IP_OK) {
			if (vipsutil_deadline_over(&job->deadline))
				rc = vipsutil_deadline_error(&job->deadline,
							     err);
			goto out;
		}
		made++;
	}
	if (frames > 1) {
		if (vips_arrayjoin(frames_out, &joined, frames, "across", 1,
				   NULL)) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE, "frames");
			goto out;
		}
		vips_image_set_int(joined, VIPS_META_PAGE_HEIGHT, pl->out_h);
		if (vips_image_get_typeof(base, "delay")) {
			int *delay = NULL;
			int n = 0;

			if (vips_image_get_array_int(base, "delay", &delay,
						     &n) == 0 &&
			    n >= frames)
				vips_image_set_array_int(joined, "delay", delay,
							 frames);
		}
		if (vips_image_get_typeof(base, "loop")) {
			int loop = 0;

			if (vips_image_get_int(base, "loop", &loop) == 0)
				vips_image_set_int(joined, "loop", loop);
		}
	} else {
		g_object_ref(frames_out[0]);
		joined = frames_out[0];
	}

	v->format = resolve_format(s, vips_image_hasalpha(joined), animated);
	if (v->format == FORMAT_JPEG) {
		if (flatten(p, joined, &ready)) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE, "flatten");
			goto out;
		}
	} else {
		g_object_ref(joined);
		ready = joined;
	}
	/* The resize and the watermark are lazy: computed here, so that
	 * the encode's time is the encoder's alone (struct imgproc_timings),
	 * for a variant small enough to hold in memory once more; a larger
	 * one streams into its encoder, which then counts the resize. */
	if (VIPS_IMAGE_SIZEOF_IMAGE(ready) <= TIMED_VARIANT_MAX) {
		pixels = to_memory(job, ready);
		if (pixels == NULL) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE, "resize");
			goto out;
		}
	} else {
		g_object_ref(ready);
		pixels = ready;
	}
	t1 = util_mono_us();
	t->transform_us += t1 - t0;
	eo.format = v->format;
	eo.quality = s->quality >= 1 && s->quality <= 100 ? s->quality : 82;
	eo.progressive = p->progressive;
	eo.artist = job->artist;
	eo.copyright = job->copyright;
	rc = encode_image(pixels, &eo, &v->data, &v->len, err);
	t->encode_us += util_mono_us() - t1;
	if (rc != IP_OK) {
		if (vipsutil_deadline_over(&job->deadline))
			rc = vipsutil_deadline_error(&job->deadline, err);
		goto out;
	}
	util_strlcpy(v->name, s->name, sizeof(v->name));
	v->width = pl->out_w;
	v->height = pl->out_h;
	util_sha256_hex(v->data, v->len, v->sha256);
	if (frames > 1) {
		if (vips_extract_area(pixels, &single, 0, 0, pl->out_w,
				      pl->out_h, NULL)) {
			rc = job_fail(job, err, IP_EUNPROCESSABLE, "frame");
			goto out;
		}
		*shown = single;
		single = NULL;
	} else {
		g_object_ref(pixels);
		*shown = pixels;
	}
out:
	for (int i = 0; i < made; i++)
		g_object_unref(frames_out[i]);
	VIPSUTIL_UNREF(single);
	if (pixels != ready)
		release(job, &pixels);
	VIPSUTIL_UNREF(pixels);
	VIPSUTIL_UNREF(ready);
	VIPSUTIL_UNREF(joined);
	return rc;
}

/* BlurHash and dominant colour of a (small) variant. */
static void
placeholder_fill(struct imgproc_vips *p, VipsImage *shown,
		 struct imgproc_result *res)
{
	VipsImage *flat = NULL;
	VipsImage *small = NULL;
	void *px = NULL;
	size_t len = 0;
	double sc;
	int nx;
	int ny;

	sc = (double)PLACEHOLDER_SIZE /
	     (shown->Xsize > shown->Ysize ? shown->Xsize : shown->Ysize);
	if (sc > 1.0)
		sc = 1.0;
	if (flatten(p, shown, &flat) || vips_resize(flat, &small, sc, NULL))
		goto out;
	px = vips_image_write_to_memory(small, &len);
	if (px == NULL ||
	    len != (size_t)small->Xsize * small->Ysize * small->Bands)
		goto out;
	nx = small->Xsize >= small->Ysize ? 4 : 3;
	ny = small->Xsize >= small->Ysize ? 3 : 4;
	if (placeholder_blurhash(px, small->Xsize, small->Ysize, small->Bands,
				 nx, ny, res->placeholder,
				 sizeof(res->placeholder)) != 0)
		res->placeholder[0] = '\0';
	if (placeholder_dominant(px, small->Xsize, small->Ysize, small->Bands,
				 res->dominant, sizeof(res->dominant)) != 0)
		res->dominant[0] = '\0';
out:
	if (px == NULL)
		vipsmsg_clear(); /* the placeholder is optional */
	g_free(px);
	VIPSUTIL_UNREF(small);
	VIPSUTIL_UNREF(flat);
}

/* The decode is done: what the decoder complained of without failing
 * becomes the result's warnings, or the job's failure when
 * limits.fail_on = warning. */
static int
decode_warnings(struct imgproc_vips *p, struct vipsmsg *msgs,
		struct imgproc_result *res, struct ip_error *err)
{
	_Static_assert(sizeof(res->warnings) == sizeof(msgs->warnings),
		       "a result holds every captured warning");
	vipsmsg_errors_to_warnings(msgs);
	if (msgs->n_warnings > 0 && p->fail_on_warning)
		return vipsutil_error(err, IP_EUNPROCESSABLE,
				      "damaged image data (limits.fail_on = "
				      "warning)");
	res->n_warnings = (size_t)msgs->n_warnings;
	memcpy(res->warnings, msgs->warnings, sizeof(res->warnings));
	return IP_OK;
}

static int
process_job(struct imgproc_vips *p, int fd, const struct variant_spec *specs,
	    size_t n_specs, struct imgproc_result *res, struct vipsmsg *msgs,
	    struct ip_error *err)
{
	struct plan plans[RECORD_VARIANTS_MAX];
	struct job job;
	VipsImage *base = NULL;
	VipsImage *shown = NULL;
	size_t smallest = 0;
	size_t driver = 0;
	int frames = 1;
	int base_w;
	int base_h;
	int64_t t0;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&job, 0, sizeof(job));
	if (n_specs == 0 || n_specs > RECORD_VARIANTS_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "between 1 and %d variants, not %zu",
				    RECORD_VARIANTS_MAX, n_specs);
	vipsutil_deadline_init(&job.deadline, p->timeout_s);
	rc = open_job(p, fd, &job, err);
	res->info = job.info;
	if (rc != IP_OK)
		return rc;

	for (size_t i = 0; i < n_specs; i++) {
		plan_variant(&specs[i], job.info.display_width,
			     job.info.display_height, &plans[i]);
		if (plans[i].need > plans[driver].need)
			driver = i;
		if ((int64_t)plans[i].out_w * plans[i].out_h <
		    (int64_t)plans[smallest].out_w * plans[smallest].out_h)
			smallest = i;
		if (specs[i].animated && format_animates(specs[i].format) &&
		    job.sn.animatable && job.info.pages > 1) {
			int want = specs[i].max_frames > 0 ? specs[i].max_frames
							   : job.info.pages;

			if (want > frames)
				frames = want;
		}
	}
	job.flatten_early = job.info.has_alpha;
	for (size_t i = 0; i < n_specs; i++)
		if (specs[i].format != FORMAT_JPEG)
			job.flatten_early = false;
	if (frames > job.info.pages)
		frames = job.info.pages;
	if (frames > p->max_pages)
		frames = p->max_pages;
	if (frames > FRAMES_MAX)
		frames = FRAMES_MAX;
	/* The variant needing the most pixels fixes the base size, so it is
	 * usually taken from the base as is. */
	if (specs[driver].fit == FIT_FILL) {
		base_w =
		    at_least_1(job.info.display_width * plans[driver].need);
		base_h =
		    at_least_1(job.info.display_height * plans[driver].need);
	} else {
		base_w = plans[driver].rs_w;
		base_h = plans[driver].rs_h;
	}

	t0 = util_mono_us();
	rc = decode_base(p, fd, &job, base_w, base_h, frames, &base, err);
	res->timings.decode_us = util_mono_us() - t0;
	if (rc == IP_OK)
		rc = decode_warnings(p, msgs, res, err);
	if (rc != IP_OK)
		goto out;

	for (size_t i = 0; i < n_specs; i++) {
		VipsImage *img = NULL;

		if (vipsutil_deadline_over(&job.deadline)) {
			rc = vipsutil_deadline_error(&job.deadline, err);
			goto out;
		}
		rc = make_variant(p, &job, base, frames, &specs[i], &plans[i],
				  &res->variants[i], &img, &res->timings, err);
		if (rc != IP_OK) {
			ip_error_prefix(err, "variant %s", specs[i].name);
			goto out;
		}
		res->n = i + 1;
		if (i == smallest) {
			shown = img;
			img = NULL;
		}
		VIPSUTIL_UNREF(img);
	}
	if (shown != NULL)
		placeholder_fill(p, shown, res);
	rc = IP_OK;
out:
	VIPSUTIL_UNREF(shown);
	release(&job, &base);
	if (rc != IP_OK) {
		struct image_info keep = res->info;

		imgproc_result_clear(res);
		res->info = keep;
	}
	return rc;
}

static _Atomic int vips_busy; /* jobs in this process now */
static _Atomic int vips_job_threads; /* set by a helper's host, or 0 */

int
imgproc_threads(int vips_threads, int busy)
{
	static _Atomic int cores;
	int n = atomic_load(&cores);

	if (vips_threads > 0)
		return vips_threads;
	if (n <= 0) {
		n = util_cores();
		atomic_store(&cores, n);
	}
	n /= busy > 1 ? busy : 1;
	return n > 1 ? n : 1;
}

void
imgproc_vips_job_threads(int n)
{
	atomic_store(&vips_job_threads, n);
}

void
imgproc_vips_one_job(void)
{
	vipsmsg_exclusive();
}

static int
imgproc_vips_process(struct imgproc *ip, int fd,
		     const struct variant_spec *specs, size_t n_specs,
		     struct imgproc_result *res, struct ip_error *err)
{
	struct imgproc_vips *p = imgproc_vips_cast(ip);
	int busy = atomic_fetch_add(&vips_busy, 1) + 1;
	int threads = atomic_load(&vips_job_threads);
	struct vipsmsg msgs;
	int rc;

	/* libvips reads its concurrency when a pipeline starts: jobs in
	 * threads of one process share the last value set, which is why
	 * the default runs image work in helpers, one job each. */
	vips_concurrency_set(
	    threads > 0 ? threads : imgproc_threads(p->vips_threads, busy));
	vipsmsg_begin(&msgs);
	rc = process_job(p, fd, specs, n_specs, res, &msgs, err);
	vipsmsg_end(&msgs);
	atomic_fetch_sub(&vips_busy, 1);
	return rc;
}

/* ---- life cycle --------------------------------------------------- */

static void
imgproc_vips_close(struct imgproc *ip)
{
	struct imgproc_vips *p = imgproc_vips_cast(ip);

	watermark_free(p->wm);
	free(p);
}

static const struct imgproc_ops imgproc_vips_ops = {
    .name = "vips",
    .close = imgproc_vips_close,
    .probe = imgproc_vips_probe,
    .process = imgproc_vips_process,
};

/* libvips' value for each enum fail_on (the names are in config.c). */
static int
vips_fail_on(enum fail_on f, VipsFailOn *out)
{
	static const VipsFailOn values[] = {
	    [FAIL_ON_NONE] = VIPS_FAIL_ON_NONE,
	    [FAIL_ON_TRUNCATED] = VIPS_FAIL_ON_TRUNCATED,
	    [FAIL_ON_ERROR] = VIPS_FAIL_ON_ERROR,
	    [FAIL_ON_WARNING] = VIPS_FAIL_ON_WARNING,
	};

	if ((unsigned)f >= sizeof(values) / sizeof(values[0]))
		return -1;
	*out = values[f];
	return 0;
}

int
imgproc_vips_open(const struct config *cfg, struct imgproc **out,
		  struct ip_error *err)
{
	struct imgproc_vips *p;
	unsigned int r = 255, g = 255, b = 255;
	int rc;

	*out = NULL;
	pthread_once(&imgproc_vips_once, imgproc_vips_init_once);
	if (imgproc_vips_init_failed)
		return vipsutil_error(err, IP_EIO, "libvips initialisation");

	/* Process-wide libvips settings: the last processor made wins. */
	if (cfg->vips_cache_mb > 0) {
		vips_cache_set_max(1000);
		vips_cache_set_max_mem((size_t)cfg->vips_cache_mb << 20);
	} else {
		vips_cache_set_max(0);
	}
	/* liborc's run-time code generation (libvips 8.14's SIMD path)
	 * crashed the server once in ~2,900 uploads under sustained load
	 * (segfault inside liborc, bench soak); libvips >= 8.15 replaced it
	 * with highway.  On by default since image work runs in helper
	 * processes (imgproc_helper.c): a crash there costs one attempt. */
	vips_vector_set_enabled(cfg->vips_vector ? TRUE : FALSE);
	vips_operation_block_set("VipsForeignLoadSvg", !cfg->allow_svg);
	vips_operation_block_set("VipsForeignLoadPdf", !cfg->allow_pdf);

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return ip_error_set(err, IP_ENOMEM, "imgproc: out of memory");
	p->base.ops = &imgproc_vips_ops;
	p->vips_threads = cfg->vips_threads;
	p->max_pixels = cfg->max_pixels > 0 ? cfg->max_pixels : INT64_MAX;
	p->max_total_pixels =
	    cfg->max_total_pixels > 0 ? cfg->max_total_pixels : INT64_MAX;
	p->max_pages = cfg->max_pages > 0 ? cfg->max_pages : 1;
	p->max_image_memory =
	    cfg->max_image_memory > 0 ? cfg->max_image_memory : INT64_MAX;
	p->timeout_s = cfg->timeout_s;
	p->allow_svg = cfg->allow_svg;
	p->allow_pdf = cfg->allow_pdf;
	p->keep_copyright = cfg->keep_copyright;
	p->progressive = cfg->progressive;
	p->fail_on_warning = cfg->fail_on == FAIL_ON_WARNING;
	if (vips_fail_on(cfg->fail_on, &p->fail_on) != 0) {
		rc =
		    ip_error_set(err, IP_EINVAL, "limits.fail_on: bad value %d",
				 (int)cfg->fail_on);
		goto fail;
	}
	if (cfg->background[0] != '\0' &&
	    (strlen(cfg->background) != 7 ||
	     sscanf(cfg->background, "#%2x%2x%2x", &r, &g, &b) != 3)) {
		rc = ip_error_set(err, IP_EINVAL,
				  "output.background must be #rrggbb");
		goto fail;
	}
	p->background[0] = r;
	p->background[1] = g;
	p->background[2] = b;
	if (cfg->watermark.enabled) {
		rc = watermark_new(&cfg->watermark, &p->wm, err);
		if (rc != IP_OK)
			goto fail;
	}
	*out = &p->base;
	return IP_OK;
fail:
	imgproc_vips_close(&p->base);
	return rc;
}

void
imgproc_result_clear(struct imgproc_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < RECORD_VARIANTS_MAX; i++)
		free(r->variants[i].data);
	memset(r, 0, sizeof(*r));
}
